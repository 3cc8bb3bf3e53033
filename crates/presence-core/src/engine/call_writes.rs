//! `Agent_Call__c` writes (answers to offers, the agent's actions, outbound requests) and caller
//! look-ups, each retried after a failure with the engine's one backoff, at most
//! [`CALL_WRITE_ATTEMPTS`] times, and only while its call still matters. The call's log does
//! not depend on these writes: it goes through the durable outbox (G4), so a call whose writes
//! were given up is still logged once Salesforce is back.

use std::time::Instant;

use crate::calls::OfferAnswer;
use crate::io::{CallAction, Effect};
use crate::retry::Failure;

use super::effects::Pending;
use super::timers::Timer;
use super::Engine;

/// Attempts of one call write, the first included, before it is given up.
pub(super) const CALL_WRITE_ATTEMPTS: u32 = 5;

/// A call-related write that is retried while its call still matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CallWrite {
    Answer {
        call_id: String,
        answer: OfferAnswer,
    },
    Update {
        call_id: String,
        action: CallAction,
    },
    Place {
        call_id: String,
        number: String,
    },
    Lookup {
        call_id: String,
        digits: String,
    },
}

impl CallWrite {
    fn call_id(&self) -> &str {
        match self {
            CallWrite::Answer { call_id, .. }
            | CallWrite::Update { call_id, .. }
            | CallWrite::Place { call_id, .. }
            | CallWrite::Lookup { call_id, .. } => call_id,
        }
    }
}

/// A failed call write waiting for its retry.
#[derive(Debug, Clone)]
pub(super) struct CallRetry {
    at: Instant,
    /// The number the next attempt will carry.
    attempt: u32,
    write: CallWrite,
}

impl Engine {
    /// Sends a call write; `attempt` is 1 for the first try.
    pub(super) fn send_call_write(&mut self, write: CallWrite, attempt: u32) {
        let pending = Pending::CallWrite {
            write: write.clone(),
            attempt,
        };
        self.effects.emit(pending, |id| match write {
            CallWrite::Answer { call_id, answer } => Effect::AnswerOffer {
                id,
                call_id,
                answer,
            },
            CallWrite::Update { call_id, action } => Effect::UpdateCall {
                id,
                call_id,
                action,
            },
            CallWrite::Place { call_id, number } => Effect::PlaceCall {
                id,
                call_id,
                number,
            },
            CallWrite::Lookup { call_id, digits } => Effect::LookupCaller {
                id,
                call_id,
                digits,
            },
        });
        if attempt > 1 {
            self.diagnostic(format!(
                "retrying a call write (attempt {attempt} of {CALL_WRITE_ATTEMPTS})"
            ));
        }
    }

    /// Writes the agent's action on a call we know (a ringing one, when `only_ringing`).
    /// Returns whether there was such a call.
    pub(super) fn write_call_action(
        &mut self,
        call_id: &str,
        action: CallAction,
        only_ringing: bool,
    ) -> bool {
        let known = self
            .calls
            .find(call_id)
            .is_some_and(|call| call.ringing || !only_ringing);
        if known {
            let write = CallWrite::Update {
                call_id: call_id.to_string(),
                action,
            };
            self.send_call_write(write, 1);
        }
        known
    }

    /// Attempt `attempt` of `write` failed: retried after the backoff for that attempt, unless
    /// refused for good, no longer relevant, or out of attempts.
    pub(super) fn call_write_failed(&mut self, write: CallWrite, attempt: u32, failure: &Failure) {
        let still_relevant = match &write {
            // An offer answer or an action matters to the controller even after the call ended
            // here: it tells it what the agent did.
            CallWrite::Answer { .. } | CallWrite::Update { .. } => true,
            CallWrite::Place { call_id, .. } | CallWrite::Lookup { call_id, .. } => {
                self.calls.find(call_id).is_some()
            }
        };
        if matches!(failure, Failure::Rejected { .. }) || !still_relevant {
            self.diagnostic(format!(
                "a call write for {} was given up: {}",
                write.call_id(),
                failure.describe()
            ));
            return;
        }
        if attempt >= CALL_WRITE_ATTEMPTS {
            self.diagnostic(format!(
                "a call write for {} failed {CALL_WRITE_ATTEMPTS} times: {}",
                write.call_id(),
                failure.describe()
            ));
            return;
        }
        let delay = self.policy.delay(attempt, failure, &mut self.jitter);
        self.calls.retries.push(CallRetry {
            at: self.now + delay,
            attempt: attempt + 1,
            write,
        });
        self.arm_call_retry();
    }

    /// [`Timer::CallRetry`]: sends every call write whose retry time has come.
    pub(super) fn retry_due_call_writes(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self
            .calls
            .retries
            .drain(..)
            .partition(|retry| retry.at <= now);
        self.calls.retries = later;
        self.arm_call_retry();
        for retry in due {
            self.send_call_write(retry.write, retry.attempt);
        }
    }

    fn arm_call_retry(&mut self) {
        match self.calls.retries.iter().map(|retry| retry.at).min() {
            Some(at) => self.timers.set(Timer::CallRetry, at),
            None => self.timers.stop(Timer::CallRetry),
        }
    }
}
