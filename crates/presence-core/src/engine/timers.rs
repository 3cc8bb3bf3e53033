//! The engine's one timer table (quinn-proto's `TimerTable`): every deadline the engine keeps,
//! by name. [`Engine::handle_timeout`](super::Engine::handle_timeout) fires the due ones in the
//! order of [`Timer::ALL`] and [`Engine::poll_timeout`](super::Engine::poll_timeout) reports the
//! earliest, so the two read the same table and cannot disagree.

use std::time::Instant;

use crate::io::Link;

/// A deadline the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Quitting gives up waiting for the logout writes (L7).
    QuitGrace,
    /// A Teams change held back by the debounce has held long enough (S4).
    TeamsSettle,
    /// Wrap-up ends and the agent returns to the state before the call (W2).
    WrapUp,
    /// The next Graph presence read.
    TeamsPoll,
    /// The periodic read of both sides (S7).
    DriftRepair,
    /// The next `Agent_Presence__c` heartbeat (L7).
    Heartbeat,
    /// Renew the Graph presence session before it lapses (S2).
    TeamsKeepalive,
    /// The earliest retry of a failed call write.
    CallRetry,
    /// A failed Teams presence write may be tried again.
    TeamsWriteRetry,
    /// A failed Salesforce presence write may be tried again.
    SalesforceWriteRetry,
    /// Teams asked us to wait (`Retry-After`): nothing is sent to it before this.
    TeamsCooldown,
    /// Salesforce asked us to wait: nothing is sent to it before this.
    SalesforceCooldown,
}

impl Timer {
    /// Every timer, in the order a pass of `handle_timeout` fires them.
    pub(super) const ALL: [Timer; 12] = [
        Timer::QuitGrace,
        Timer::TeamsSettle,
        Timer::WrapUp,
        Timer::TeamsPoll,
        Timer::DriftRepair,
        Timer::Heartbeat,
        Timer::TeamsKeepalive,
        Timer::CallRetry,
        Timer::TeamsWriteRetry,
        Timer::SalesforceWriteRetry,
        Timer::TeamsCooldown,
        Timer::SalesforceCooldown,
    ];

    /// The retry timer of one side's presence writes.
    pub(super) fn write_retry(link: Link) -> Timer {
        match link {
            Link::Teams => Timer::TeamsWriteRetry,
            Link::Salesforce => Timer::SalesforceWriteRetry,
        }
    }

    /// The `Retry-After` cool-down of one link.
    pub(super) fn cooldown(link: Link) -> Timer {
        match link {
            Link::Teams => Timer::TeamsCooldown,
            Link::Salesforce => Timer::SalesforceCooldown,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Default, Clone)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms `timer` for `at`, replacing any deadline it had.
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// The deadline of `timer`, if armed.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// True while `timer` is armed for a time after `now`.
    pub(super) fn runs_past(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| at > now)
    }

    /// Disarms `timer` and returns true if its deadline has come.
    pub(super) fn take_due(&mut self, timer: Timer, now: Instant) -> bool {
        let due = self.get(timer).is_some_and(|at| at <= now);
        if due {
            self.stop(timer);
        }
        due
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_timer_has_its_own_slot_in_firing_order() {
        for (index, timer) in Timer::ALL.iter().enumerate() {
            assert_eq!(timer.index(), index);
        }
    }

    #[test]
    fn the_table_reports_the_earliest_deadline_and_fires_only_due_timers() {
        let start = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next(), None);
        table.set(Timer::Heartbeat, start + Duration::from_secs(30));
        table.set(Timer::TeamsPoll, start + Duration::from_secs(1));
        assert_eq!(table.next(), Some(start + Duration::from_secs(1)));
        assert!(!table.take_due(Timer::Heartbeat, start + Duration::from_secs(1)));
        assert!(table.take_due(Timer::TeamsPoll, start + Duration::from_secs(1)));
        assert_eq!(table.get(Timer::TeamsPoll), None);
        assert_eq!(table.next(), Some(start + Duration::from_secs(30)));
        assert!(table.runs_past(Timer::Heartbeat, start));
        table.stop(Timer::Heartbeat);
        assert_eq!(table.next(), None);
    }
}
