//! Wrap-up (W1 to W3): after the last answered call the agent is in the wrap-up state for the
//! Call Center's time, then returns to the state before the first call, unless they chose a
//! state during the call or the wrap-up.

use std::time::Duration;

use crate::class::PresenceClass;
use crate::io::Source;

use super::presence::Current;
use super::timers::Timer;
use super::Engine;

/// The wrap-up part; its deadline is [`Timer::WrapUp`].
#[derive(Debug, Default)]
pub(super) struct WrapUp {
    /// While wrap-up runs: the state to return to.
    pub(super) return_to: Option<Current>,
    /// The state when the first of the calls under way was answered.
    pub(super) state_before_call: Option<Current>,
    /// The agent chose a state during the call (W3): no wrap-up after it.
    pub(super) changed_during_call: bool,
}

impl Engine {
    /// Ends a running wrap-up without returning anywhere: a later choice has replaced it.
    pub(super) fn end_wrap_up(&mut self) {
        self.wrap_up.return_to = None;
        self.timers.stop(Timer::WrapUp);
    }

    /// The first of the calls under way was answered: remember where to return to. A call
    /// answered during wrap-up returns to where the first call left from.
    pub(super) fn first_call_connected(&mut self) {
        self.wrap_up.state_before_call = match self.wrap_up.return_to.take() {
            Some(return_to) => Some(return_to),
            None => self.current.clone(),
        };
        self.timers.stop(Timer::WrapUp);
        self.wrap_up.changed_during_call = false;
    }

    /// W1, W3: wrap-up after the last answered call, unless the agent changed state during it.
    pub(super) fn after_last_call(&mut self) {
        let before = self.wrap_up.state_before_call.take();
        if self.wrap_up.changed_during_call {
            self.wrap_up.changed_during_call = false;
            return;
        }
        let Some(before) = before else {
            return;
        };
        let seconds = self.cc.settings().wrap_up_seconds;
        if seconds > 0 {
            let wrap_up = self.cc.wrap_up().label.clone();
            self.set_current(&wrap_up, Source::WrapUpTimer);
            self.wrap_up.return_to = Some(before);
            self.timers.set(
                Timer::WrapUp,
                self.now + Duration::from_secs(u64::from(seconds)),
            );
        } else {
            self.set_current(&before.label, before.source);
        }
    }

    /// "+30 s" in the panel (W2).
    pub(super) fn extend_wrap_up(&mut self) {
        let step = Duration::from_secs(u64::from(self.cc.settings().wrap_up_extend_seconds));
        if self.wrap_up.return_to.is_some() {
            if let Some(until) = self.timers.get(Timer::WrapUp) {
                self.timers.set(Timer::WrapUp, until + step);
            }
        }
    }

    /// A wrap-up that no timer ends: the state is the wrap-up state with no call under way and
    /// no wrap-up running, as when the app comes back after being killed during one (the timer
    /// lived in the process that died) or someone set it in Salesforce. It lasts the Call
    /// Center's wrap-up time from now, then returns to the first selectable Available state:
    /// the state before the call was lost with that process.
    pub(super) fn end_orphaned_wrap_up(&mut self) {
        let Some(current) = &self.current else {
            return;
        };
        if self.wrap_up.return_to.is_some()
            || !self.calls.active.is_empty()
            || !current.label.eq_ignore_ascii_case(&self.cc.wrap_up().label)
        {
            return;
        }
        let Some(back) = self
            .cc
            .selectable()
            .find(|state| state.class == PresenceClass::Available)
        else {
            return;
        };
        self.wrap_up.return_to = Some(Current {
            label: back.label.clone(),
            source: Source::WrapUpTimer,
        });
        let seconds = self.cc.settings().wrap_up_seconds;
        self.timers.set(
            Timer::WrapUp,
            self.now + Duration::from_secs(u64::from(seconds)),
        );
    }

    /// [`Timer::WrapUp`]: wrap-up is over; back to the state before the call.
    pub(super) fn wrap_up_over(&mut self) {
        if let Some(back) = self.wrap_up.return_to.take() {
            self.set_current(&back.label, Source::WrapUpTimer);
        }
    }
}
