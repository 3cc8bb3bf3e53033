//! The Salesforce mirror: the state `Agent_Presence__c` shows, the sequence of our writes (so
//! our own write streamed back is never a change, S4), the write lane and the heartbeat.

use crate::calls::display_text;
use crate::config::Timing;
use crate::io::{Effect, Link, PresenceWrite, SalesforceObservation, Source};
use crate::retry::Failure;

use super::effects::Pending;
use super::links::Lane;
use super::timers::Timer;
use super::Engine;

/// A value of `Agent_Presence__c` as we write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SalesforceValue {
    pub(super) state: String,
    pub(super) out_of_office: bool,
}

/// What the engine knows of Salesforce.
#[derive(Debug, Default)]
pub(super) struct SalesforceMirror {
    /// The state label Salesforce shows, as far as we know.
    known: Option<String>,
    /// Its out-of-office flag, when we wrote it (`None`: not known).
    known_ooo: Option<bool>,
    /// `Sequence__c` of our latest write, or the highest seen from another writer.
    sequence: u64,
    pub(super) lane: Lane,
    pub(super) read_in_flight: bool,
    /// Salesforce must be read again once the read or repair under way ends.
    pub(super) reread: bool,
}

impl SalesforceMirror {
    /// Salesforce was seen showing `label` (its out-of-office flag not known).
    pub(super) fn learn(&mut self, label: &str) {
        self.known = Some(label.to_string());
        self.known_ooo = None;
    }

    fn shows(&self, label: &str) -> bool {
        self.known
            .as_deref()
            .is_some_and(|known| known.eq_ignore_ascii_case(label))
    }
}

impl Engine {
    pub(super) fn on_salesforce(&mut self, observation: SalesforceObservation) {
        if observation.origin_client.as_deref() == Some(self.client_id.as_str())
            && observation
                .sequence
                .is_some_and(|sequence| sequence <= self.salesforce.sequence)
        {
            // Our own write coming back through the stream (S4).
            return;
        }
        // Sequence__c counts every writer's changes (the console bumps it on the server), so
        // our next write carries a number above any seen and the row's number never goes back.
        if let Some(seen) = observation.sequence {
            self.salesforce.sequence = self.salesforce.sequence.max(seen);
        }
        let Some(state) = self.cc.state(&observation.state) else {
            self.diagnostic(format!(
                "Salesforce reported state {:?}, which the Call Center does not configure; ignored",
                display_text(&observation.state)
            ));
            return;
        };
        let label = state.label.clone();
        if let Some(repair) = &mut self.repair {
            repair.salesforce = Some(observation);
            return;
        }
        self.judge_salesforce(&label);
    }

    /// Returns whether the observation was a genuine change (and so adopted).
    pub(super) fn judge_salesforce(&mut self, label: &str) -> bool {
        if self.salesforce.shows(label) {
            return false;
        }
        self.salesforce.learn(label);
        // S6: a Salesforce change observed now is later than (or ties with) any Teams change
        // still settling, so Salesforce wins.
        self.drop_teams_change();
        if self
            .current
            .as_ref()
            .is_some_and(|current| current.label.eq_ignore_ascii_case(label))
        {
            return false;
        }
        self.set_current(label, Source::Salesforce);
        true
    }

    fn desired_salesforce(&self) -> Option<SalesforceValue> {
        let current = self.current.as_ref()?;
        let value = SalesforceValue {
            state: current.label.clone(),
            out_of_office: self.teams.out_of_office,
        };
        let same_ooo = self
            .salesforce
            .known_ooo
            .is_none_or(|known| known == value.out_of_office);
        (!(self.salesforce.shows(&value.state) && same_ooo)).then_some(value)
    }

    /// Whether Salesforce still has a write of ours to take (quitting waits for it).
    pub(super) fn salesforce_settled(&self) -> bool {
        self.salesforce.lane.in_flight.is_none()
            && (self.desired_salesforce().is_none() || !self.links.usable(Link::Salesforce))
    }

    pub(super) fn reconcile_salesforce(&mut self) {
        if !self.lane_ready(Link::Salesforce) || !self.link_open(Link::Salesforce) {
            return;
        }
        let Some(value) = self.desired_salesforce() else {
            return;
        };
        self.timers.stop(Timer::SalesforceWriteRetry);
        self.salesforce.sequence = self.salesforce.sequence.saturating_add(1);
        let source = self
            .current
            .as_ref()
            .map_or(Source::Salesforce, |current| current.source);
        let write = PresenceWrite {
            state: value.state.clone(),
            source,
            sequence: self.salesforce.sequence,
            origin_client: self.client_id.clone(),
            out_of_office: value.out_of_office,
            teams: self.teams.seen.as_ref().map(|seen| seen.pair.clone()),
        };
        let id = self.effects.emit(Pending::WriteSalesforce(value), |id| {
            Effect::WriteSalesforce { id, write }
        });
        self.salesforce.lane.in_flight = Some(id);
    }

    /// The outcome of a presence write.
    pub(super) fn salesforce_write_done(
        &mut self,
        value: SalesforceValue,
        failure: Option<Failure>,
    ) {
        self.salesforce.lane.in_flight = None;
        match failure {
            None => {
                self.salesforce.lane.attempts = 0;
                self.salesforce.known = Some(value.state);
                self.salesforce.known_ooo = Some(value.out_of_office);
            }
            Some(failure) => self.lane_failed(Link::Salesforce, &failure),
        }
    }

    /// Reads Salesforce now.
    pub(super) fn read_salesforce(&mut self) {
        self.salesforce.read_in_flight = true;
        self.effects
            .emit(Pending::ReadSalesforce, |id| Effect::ReadSalesforce { id });
    }

    /// Reads Salesforce once more, after any read in flight (which may predate a subscription
    /// and so miss a change pushed to nobody). The result is judged like a streamed change.
    pub(super) fn read_salesforce_again(&mut self) {
        if self.repair.is_some() || self.salesforce.read_in_flight {
            self.salesforce.reread = true;
            return;
        }
        if self.link_open(Link::Salesforce) {
            self.read_salesforce();
        }
    }

    /// The outcome of a read.
    pub(super) fn salesforce_read_done(&mut self) {
        self.salesforce.read_in_flight = false;
        if let Some(repair) = &mut self.repair {
            repair.salesforce_done = true;
        }
        self.maybe_resolve_repair();
    }

    /// [`Timer::Heartbeat`]: tells Salesforce the desktop app is running (L7).
    pub(super) fn heartbeat(&mut self) {
        self.timers.set(
            Timer::Heartbeat,
            self.now + Timing::ms(self.timing.heartbeat_ms),
        );
        if self.link_open(Link::Salesforce) {
            self.effects
                .emit(Pending::Heartbeat, |id| Effect::Heartbeat { id });
        }
    }
}
