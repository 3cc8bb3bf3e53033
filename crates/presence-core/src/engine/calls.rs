//! Calls: offers gated by presence (C1 to C6), ringing, answering, ending, caller look-up
//! (C8), outbound dialling (C3), and the one log of every call that must be logged (G1 to G5).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::calls::{
    display_text, gate_inbound, phone_digits, CallKind, CallOffer, CallProgress, CallerMatch,
    Disposition, OfferAnswer,
};
use crate::class::PresenceClass;
use crate::config::PresenceStateDef;
use crate::io::{CallLog, CallType, Effect, Source, UiEffect};
use crate::snapshot::{BlockedCall, CallRecord};

use super::call_writes::{CallRetry, CallWrite};
use super::Engine;

/// Finished call ids remembered, so a replayed offer or progress event is not taken again.
const FINISHED_CALLS_KEPT: usize = 256;

/// A call under way at this desk.
#[derive(Debug, Clone)]
pub(super) struct ActiveCall {
    pub(super) call_id: String,
    pub(super) kind: CallKind,
    /// The other party's number (display text).
    pub(super) number: String,
    /// The number called (display text).
    pub(super) to_number: String,
    pub(super) caller: Option<CallerMatch>,
    pub(super) outbound: bool,
    pub(super) ringing: bool,
    pub(super) answered_at: Option<Instant>,
    pub(super) call_waiting: bool,
    /// The call controller writes this call's Task.
    pub(super) controller_logs: bool,
}

/// Every call the engine knows of: under way, just finished, and listed for the panel.
#[derive(Debug, Default)]
pub(super) struct Calls {
    pub(super) active: Vec<ActiveCall>,
    finished: VecDeque<String>,
    pub(super) recent: VecDeque<CallRecord>,
    pub(super) blocked: VecDeque<BlockedCall>,
    /// Failed call writes waiting for their retry ([`super::timers::Timer::CallRetry`]).
    pub(super) retries: Vec<CallRetry>,
}

impl Calls {
    pub(super) fn find(&self, call_id: &str) -> Option<&ActiveCall> {
        self.active.iter().find(|call| call.call_id == call_id)
    }

    fn find_mut(&mut self, call_id: &str) -> Option<&mut ActiveCall> {
        self.active.iter_mut().find(|call| call.call_id == call_id)
    }

    /// Whether an answered call is under way.
    pub(super) fn any_connected(&self) -> bool {
        self.active.iter().any(|call| call.answered_at.is_some())
    }

    pub(super) fn any_ringing(&self) -> bool {
        self.active.iter().any(|call| call.ringing)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// Whether this call id was seen before (under way or finished): a replayed offer.
    fn seen(&self, call_id: &str) -> bool {
        self.find(call_id).is_some() || self.finished.iter().any(|id| id == call_id)
    }

    fn remember_finished(&mut self, call_id: &str) {
        self.finished.push_back(call_id.to_string());
        while self.finished.len() > FINISHED_CALLS_KEPT {
            self.finished.pop_front();
        }
    }
}

impl Engine {
    pub(super) fn on_call_offered(&mut self, offer: CallOffer) {
        if self.calls.seen(&offer.call_id) {
            return; // A replayed event: the offer was answered already.
        }
        let number = display_text(&offer.from_number);
        let logout_fallback = self.cc.logout().clone();
        let unknown_state;
        let state = match self.current_state() {
            Some(state) => state,
            None => {
                // Nothing read yet: ring rather than lose a call.
                unknown_state = PresenceStateDef {
                    label: "Unknown".into(),
                    class: PresenceClass::Unknown,
                    teams: None,
                    selectable: false,
                    signals_inbound: true,
                    allows_outbound: false,
                    sort_order: 0,
                };
                &unknown_state
            }
        };
        let class = if state.class == PresenceClass::LoggedOut {
            logout_fallback.class
        } else {
            state.class
        };
        let answer = gate_inbound(
            offer.kind,
            state,
            class,
            self.cc.settings().presence_routing,
        );
        self.send_call_write(
            CallWrite::Answer {
                call_id: offer.call_id.clone(),
                answer: answer.clone(),
            },
            1,
        );
        match answer {
            OfferAnswer::Signalled => self.ring(offer, number),
            OfferAnswer::NotSignalled { reason } => {
                self.calls.remember_finished(&offer.call_id);
                // G2/G5: a direct call blocked by presence is logged with its reason, except
                // while logged out. Queue calls go to another agent; internal calls are not ours
                // to log (C4).
                if offer.kind == CallKind::Direct && class != PresenceClass::LoggedOut {
                    let controller_logs = offer.controller_logs;
                    self.calls.blocked.push_front(BlockedCall::new(
                        offer.call_id.clone(),
                        offer.kind,
                        number.clone(),
                        None,
                        reason.clone(),
                    ));
                    self.calls.blocked.truncate(self.timing.recent_calls_kept);
                    if controller_logs {
                        return;
                    }
                    self.log_call(CallLog {
                        key: offer.call_id.clone(),
                        call_id: offer.call_id,
                        kind: offer.kind,
                        call_type: CallType::Inbound,
                        disposition: Disposition::NotSignalled(reason),
                        duration: Duration::ZERO,
                        from_number: number,
                        to_number: display_text(&offer.to_number),
                        caller: None,
                        subject: String::new(),
                        owner: None,
                        offer_record: None,
                    });
                }
            }
        }
    }

    /// A signalled offer: it rings, and its caller is looked up.
    fn ring(&mut self, offer: CallOffer, number: String) {
        let call_waiting = self.calls.any_connected();
        self.calls.active.push(ActiveCall {
            call_id: offer.call_id.clone(),
            kind: offer.kind,
            number: number.clone(),
            to_number: display_text(&offer.to_number),
            caller: None,
            outbound: false,
            ringing: true,
            answered_at: None,
            call_waiting,
            controller_logs: offer.controller_logs,
        });
        self.bump_activity();
        let title = match (call_waiting, offer.kind) {
            (true, _) => "Call waiting",
            (false, CallKind::Queue) => "Queue call",
            (false, CallKind::Internal) => "Teams call",
            _ => "Incoming call",
        };
        self.effects.push(Effect::Ui(UiEffect::Ring {
            call_id: offer.call_id.clone(),
            title: title.to_string(),
            body: number,
            call_waiting,
        }));
        let digits = phone_digits(&offer.from_number);
        if offer.kind != CallKind::Internal && !digits.is_empty() {
            self.send_call_write(
                CallWrite::Lookup {
                    call_id: offer.call_id,
                    digits,
                },
                1,
            );
        }
    }

    pub(super) fn on_call_progress(
        &mut self,
        call_id: &str,
        progress: CallProgress,
        controller_logs: bool,
    ) {
        let Some(call) = self.calls.find_mut(call_id) else {
            return; // Not ours, or finished already (a replayed event).
        };
        // G4: once the controller says it logs the call, it is the call's one writer.
        call.controller_logs |= controller_logs;
        match progress {
            CallProgress::Answered => {
                if call.answered_at.is_none() {
                    self.call_answered(call_id);
                }
            }
            CallProgress::NotPlaced(reason) => self.call_not_placed(call_id, &reason),
            other => self.call_finished(call_id, other),
        }
    }

    /// The controller would not place an outbound call: it leaves the panel with the
    /// controller's reason, and nothing is logged (it never was a call).
    fn call_not_placed(&mut self, call_id: &str, reason: &str) {
        let Some(index) = self
            .calls
            .active
            .iter()
            .position(|call| call.call_id == call_id && call.outbound)
        else {
            return;
        };
        let call = self.calls.active.remove(index);
        self.calls.remember_finished(call_id);
        self.bump_activity();
        self.notice(format!(
            "The call to {} was not placed: {}",
            call.number,
            display_text(reason)
        ));
    }

    pub(super) fn on_caller(&mut self, call_id: &str, caller: Option<CallerMatch>) {
        let Some(caller) = caller else {
            return;
        };
        let caller = CallerMatch {
            name: display_text(&caller.name),
            ..caller
        };
        if let Some(call) = self.calls.find_mut(call_id) {
            call.caller = Some(caller.clone());
            self.effects.push(Effect::Ui(UiEffect::CallerShown {
                call_id: call_id.to_string(),
                name: caller.name,
            }));
        }
    }

    pub(super) fn call_answered(&mut self, call_id: &str) {
        let first_connected = !self.calls.any_connected();
        let now = self.now;
        let Some(call) = self.calls.find_mut(call_id) else {
            return;
        };
        let was_ringing = call.ringing;
        call.ringing = false;
        call.answered_at = Some(now);
        if was_ringing {
            self.effects.push(Effect::Ui(UiEffect::StopRinging {
                call_id: call_id.to_string(),
            }));
        }
        if first_connected {
            self.first_call_connected();
            let on_call = self.cc.on_call().label.clone();
            self.set_current(&on_call, Source::CallInProgress);
        }
    }

    pub(super) fn call_finished(&mut self, call_id: &str, progress: CallProgress) {
        let Some(index) = self
            .calls
            .active
            .iter()
            .position(|call| call.call_id == call_id)
        else {
            return;
        };
        let call = self.calls.active.remove(index);
        self.calls.remember_finished(call_id);
        if call.ringing {
            self.effects.push(Effect::Ui(UiEffect::StopRinging {
                call_id: call_id.to_string(),
            }));
        }
        let duration = call
            .answered_at
            .map_or(Duration::ZERO, |at| self.now.saturating_duration_since(at));
        let answered = call.answered_at.is_some();
        let disposition = match (answered, call.outbound, progress) {
            (true, _, _) => Disposition::Completed,
            (false, true, _) => Disposition::NoAnswer,
            (false, false, CallProgress::Declined) => Disposition::Declined,
            (false, false, _) => Disposition::Missed,
        };
        self.calls.recent.push_front(CallRecord::new(
            call.call_id.clone(),
            call.kind,
            call.number.clone(),
            call.caller.clone(),
            disposition.clone(),
            duration.as_secs(),
        ));
        self.calls.recent.truncate(self.timing.recent_calls_kept);
        let call_type = if call.outbound {
            CallType::Outbound
        } else if call.kind == CallKind::Internal {
            CallType::Internal
        } else {
            CallType::Inbound
        };
        // C4: internal calls are never logged as missed. G1: missed calls only when enabled.
        let log = if disposition.is_missed_or_declined() {
            call.kind != CallKind::Internal && self.cc.settings().log_missed_calls
        } else {
            true
        };
        // The controller logs the calls it says it logs (G4: one writer per Task).
        if log && !self.logged_out() && !call.controller_logs {
            let (from_number, to_number) = if call.outbound {
                (call.to_number, call.number)
            } else {
                (call.number, call.to_number)
            };
            self.log_call(CallLog {
                key: call.call_id.clone(),
                call_id: call.call_id,
                kind: call.kind,
                call_type,
                disposition,
                duration,
                from_number,
                to_number,
                caller: call.caller,
                subject: String::new(),
                owner: None,
                offer_record: None,
            });
        }
        if answered && !self.calls.any_connected() {
            self.after_last_call();
        }
    }

    pub(super) fn on_dial(&mut self, call_id: String, number: &str) {
        if let Some(refusal) = self.outbound_refusal() {
            self.notice(refusal);
            return;
        }
        let digits = phone_digits(number);
        if digits.is_empty() {
            self.notice(format!("{:?} is not a phone number", display_text(number)));
            return;
        }
        if self.calls.find(&call_id).is_some() {
            return;
        }
        self.calls.active.push(ActiveCall {
            call_id: call_id.clone(),
            kind: CallKind::Outbound,
            number: display_text(number),
            to_number: display_text(number),
            caller: None,
            outbound: true,
            ringing: false,
            answered_at: None,
            call_waiting: false,
            controller_logs: false,
        });
        self.bump_activity();
        self.send_call_write(
            CallWrite::Place {
                call_id,
                number: digits,
            },
            1,
        );
    }

    /// C3: why an outbound call would be refused now, if it would.
    pub(super) fn outbound_refusal(&self) -> Option<String> {
        crate::calls::outbound_refusal(self.current_state())
    }

    /// Hands a call's log to the outbox, its subject composed from the rest (G3, G4).
    fn log_call(&mut self, mut log: CallLog) {
        log.subject = log.composed_subject();
        self.effects.push(Effect::LogCall { log });
    }
}
