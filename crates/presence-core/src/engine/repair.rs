//! Drift repair (S7): read both sides, then converge them. It runs at start, periodically,
//! after a resume from sleep, when a link comes back, and on logging back in (L6).

use crate::config::Timing;
use crate::io::{Link, SalesforceObservation};
use crate::teams::TeamsPresence;

use super::timers::Timer;
use super::Engine;

/// A repair under way: the readings collected so far.
#[derive(Debug, Default)]
pub(super) struct Repair {
    /// Started because the agent just chose a state (L6): that choice is the latest change,
    /// so the reads only tell what each side shows, and nothing read is adopted.
    pub(super) keep_current: bool,
    pub(super) teams: Option<TeamsPresence>,
    pub(super) salesforce: Option<SalesforceObservation>,
    pub(super) teams_done: bool,
    pub(super) salesforce_done: bool,
}

impl Engine {
    /// Reads both sides (unless a repair is under way) and re-arms the periodic repair.
    pub(super) fn start_repair(&mut self) {
        self.timers.set(
            Timer::DriftRepair,
            self.now + Timing::ms(self.timing.drift_repair_ms),
        );
        if self.repair.is_some() {
            return;
        }
        let mut repair = Repair::default();
        if self.link_open(Link::Teams) && !self.teams.read_in_flight {
            self.read_teams();
        } else if !self.teams.read_in_flight {
            repair.teams_done = true;
        }
        if self.link_open(Link::Salesforce) && !self.salesforce.read_in_flight {
            self.read_salesforce();
        } else if !self.salesforce.read_in_flight {
            repair.salesforce_done = true;
        }
        self.repair = Some(repair);
        self.maybe_resolve_repair();
    }

    /// The machine slept: the monotonic clock stood still, the clouds' did not. The Graph
    /// presence session and the Salesforce heartbeat have lapsed there, so both are renewed now,
    /// and both sides are read and re-converged (S7).
    pub(super) fn on_resumed(&mut self) {
        if self.teams.holding && self.link_open(Link::Teams) {
            self.keep_session();
        }
        self.timers.set(Timer::Heartbeat, self.now);
        self.start_repair();
    }

    /// Once both readings are in, converges: Salesforce is judged first and wins a tie (S6).
    pub(super) fn maybe_resolve_repair(&mut self) {
        let done = self
            .repair
            .as_ref()
            .is_some_and(|repair| repair.teams_done && repair.salesforce_done);
        if !done {
            return;
        }
        let Some(repair) = self.repair.take() else {
            return;
        };
        if repair.keep_current {
            if let Some(observation) = repair.salesforce {
                if let Some(state) = self.cc.state(&observation.state) {
                    let label = state.label.clone();
                    self.salesforce.learn(&label);
                }
            }
            if let Some(presence) = repair.teams {
                if !self.teams.lagging(&presence, self.now) {
                    self.teams.known = Some(presence.pair.normalised());
                    self.teams.baseline_pending = false;
                }
            }
            return;
        }
        // S6: Salesforce first; a genuine Salesforce change wins a tie with Teams.
        let salesforce_won = repair
            .salesforce
            .and_then(|observation| self.cc.state(&observation.state).map(|s| s.label.clone()))
            .is_some_and(|label| self.judge_salesforce(&label));
        if let Some(presence) = repair.teams {
            if !salesforce_won {
                self.judge_teams(&presence, true);
            } else if self.consistent_with_current(&presence) {
                self.teams.known = Some(presence.pair.normalised());
            }
        }
    }
}
