//! Effects waiting for the edges, and what each effect in flight was for, so that its
//! outcome ([`Input::EffectDone`](crate::io::Input::EffectDone)) finds its way back.

use std::collections::{HashMap, VecDeque};

use crate::io::{Effect, EffectId, Link};
use crate::teams::TeamsPair;

use super::call_writes::CallWrite;
use super::salesforce::SalesforceValue;

/// What an effect in flight was for.
#[derive(Debug, Clone)]
pub(super) enum Pending {
    ReadTeams,
    ReadSalesforce,
    WriteTeams(TeamsPair),
    KeepSession,
    ReleaseTeams,
    WriteSalesforce(SalesforceValue),
    Heartbeat,
    /// A call write, with the number of this attempt (1 for the first).
    CallWrite {
        write: CallWrite,
        attempt: u32,
    },
    /// The agent's Retry of a log the call controller holds, asked of it through Salesforce.
    LogRetryRequest,
}

impl Pending {
    /// The link an effect of this kind travels over.
    pub(super) fn link(&self) -> Link {
        match self {
            Pending::ReadTeams
            | Pending::WriteTeams(_)
            | Pending::KeepSession
            | Pending::ReleaseTeams => Link::Teams,
            Pending::ReadSalesforce
            | Pending::WriteSalesforce(_)
            | Pending::Heartbeat
            | Pending::CallWrite { .. }
            | Pending::LogRetryRequest => Link::Salesforce,
        }
    }
}

/// The effects not yet polled, and those polled whose outcome has not come back.
#[derive(Debug)]
pub(super) struct EffectQueue {
    next_id: u64,
    queue: VecDeque<Effect>,
    in_flight: HashMap<EffectId, Pending>,
}

impl Default for EffectQueue {
    fn default() -> Self {
        Self {
            next_id: 1,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
        }
    }
}

impl EffectQueue {
    /// Queues an effect whose outcome nobody waits for.
    pub(super) fn push(&mut self, effect: Effect) {
        self.queue.push_back(effect);
    }

    /// Queues the effect `make` builds with a fresh id, remembering what it was for.
    pub(super) fn emit(
        &mut self,
        pending: Pending,
        make: impl FnOnce(EffectId) -> Effect,
    ) -> EffectId {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        self.in_flight.insert(id, pending);
        self.queue.push_back(make(id));
        id
    }

    /// The oldest effect not yet polled.
    pub(super) fn pop(&mut self) -> Option<Effect> {
        self.queue.pop_front()
    }

    /// What the effect `id` was for, once: its outcome has come back.
    pub(super) fn settle(&mut self, id: EffectId) -> Option<Pending> {
        self.in_flight.remove(&id)
    }
}
