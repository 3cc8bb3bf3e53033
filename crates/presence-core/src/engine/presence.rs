//! The agent's state: who set it, what a pick does, what entering and leaving Logout do, and
//! reconciling both sides with it.

use crate::calls::{display_text, CallProgress};
use crate::class::PresenceClass;
use crate::config::{PresenceStateDef, Timing};
use crate::io::{CallAction, Picker, Source, UserIntent};
use crate::teams::Activity;

use super::timers::Timer;
use super::Engine;

/// The state the agent is in and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Current {
    pub(super) label: String,
    pub(super) source: Source,
}

impl Engine {
    pub(super) fn current_state(&self) -> Option<&PresenceStateDef> {
        self.current
            .as_ref()
            .and_then(|current| self.cc.state(&current.label))
    }

    pub(super) fn current_class(&self) -> PresenceClass {
        self.current_state()
            .map_or(PresenceClass::Unknown, |state| state.class)
    }

    pub(super) fn logged_out(&self) -> bool {
        self.current_class() == PresenceClass::LoggedOut
    }

    /// Makes `label` the agent's state. Handles the side effects of leaving and entering
    /// Logout, of changing during a call (W3) and during wrap-up.
    pub(super) fn set_current(&mut self, label: &str, source: Source) {
        let Some(state) = self.cc.state(label) else {
            return;
        };
        let label = state.label.clone();
        let entering_logout = state.class == PresenceClass::LoggedOut;
        let was_logged_out = self.logged_out();
        if self
            .current
            .as_ref()
            .is_some_and(|current| current.label == label && current.source == source)
        {
            return;
        }
        if !matches!(source, Source::CallInProgress | Source::WrapUpTimer) {
            if self.calls.any_connected() {
                self.wrap_up.changed_during_call = true;
            }
            self.end_wrap_up();
        }
        self.current = Some(Current { label, source });
        self.bump_activity();
        if entering_logout {
            self.end_wrap_up();
            self.drop_teams_change();
            self.wrap_up.state_before_call = None;
        } else if was_logged_out {
            // L6: logging back in reads both sides and converges them to the choice.
            self.teams.baseline_pending = true;
            self.start_repair();
            if let Some(repair) = &mut self.repair {
                repair.keep_current = true;
            }
        }
    }

    pub(super) fn on_user(&mut self, intent: UserIntent) {
        match intent {
            UserIntent::Pick { label, via } => self.on_pick(&label, via),
            UserIntent::Answer { call_id } => {
                if self.write_call_action(&call_id, CallAction::Answered, true) {
                    self.call_answered(&call_id);
                }
            }
            UserIntent::Decline { call_id } => {
                if self.write_call_action(&call_id, CallAction::Declined, true) {
                    self.call_finished(&call_id, CallProgress::Declined);
                }
            }
            UserIntent::HangUp { call_id } => {
                if self.write_call_action(&call_id, CallAction::Ended, false) {
                    self.call_finished(&call_id, CallProgress::Ended);
                }
            }
            UserIntent::Dial { call_id, number } => self.on_dial(call_id, &number),
            UserIntent::ExtendWrapUp => self.extend_wrap_up(),
            UserIntent::RetryCallLog { key } => self.retry_call_log(&key),
        }
    }

    fn on_pick(&mut self, label: &str, via: Picker) {
        let Some(state) = self.cc.state(label) else {
            self.notice(format!(
                "There is no state called {:?}",
                display_text(label)
            ));
            return;
        };
        if !state.selectable {
            let label = state.label.clone();
            self.notice(format!("{label} is shown but cannot be picked"));
            return;
        }
        let label = state.label.clone();
        // A pick is the latest change on both sides: it wins over anything still settling.
        self.drop_teams_change();
        self.set_current(&label, via.into());
    }

    /// Writes each side that differs from the agent's state, one write per side at a time.
    pub(super) fn reconcile(&mut self) {
        self.teams.prune(self.now);
        if self.repair.is_some() {
            // Both sides are being read: decide what to write once both readings are in.
            self.maybe_finish_quit();
            return;
        }
        if self.salesforce.reread && !self.salesforce.read_in_flight {
            self.salesforce.reread = false;
            self.read_salesforce_again();
        }
        // A retry time that has passed has done its job: what to write is decided afresh.
        for timer in [Timer::TeamsWriteRetry, Timer::SalesforceWriteRetry] {
            self.timers.take_due(timer, self.now);
        }
        self.end_orphaned_wrap_up();
        self.reconcile_teams();
        self.reconcile_salesforce();
        self.maybe_finish_quit();
    }

    /// Something changed: poll Teams fast for a while (the active window).
    pub(super) fn bump_activity(&mut self) {
        self.last_activity = self.now;
        let fast = self.now + Timing::ms(self.teams_poll_interval_ms(true));
        if self.timers.get(Timer::TeamsPoll).is_none_or(|at| at > fast) {
            self.timers.set(Timer::TeamsPoll, fast);
        }
    }
}

/// The display-only "Out of Office" state (Teams' OutOfOffice activity).
pub(super) fn is_out_of_office_state(state: &PresenceStateDef) -> bool {
    state
        .teams
        .as_ref()
        .is_some_and(|pair| pair.activity == Activity::OutOfOffice)
}
