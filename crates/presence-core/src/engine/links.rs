//! The links to both clouds (K1): their health as the indicators show it, the cool-down a
//! server's `Retry-After` imposes, the write lanes' backoff, and what an effect's outcome
//! means for each of them.

use crate::io::{EffectId, Link, Outcome};
use crate::retry::Failure;
use crate::snapshot::LinkState;

use super::effects::Pending;
use super::timers::Timer;
use super::Engine;

/// One side's write lane: at most one write in flight, retried after a backoff
/// ([`Timer::write_retry`]) that grows with the failures in a row.
#[derive(Debug, Default)]
pub(super) struct Lane {
    pub(super) in_flight: Option<EffectId>,
    pub(super) attempts: u32,
}

#[derive(Debug)]
struct LinkHealth {
    state: LinkState,
    consecutive_failures: u32,
}

/// The health of both links.
#[derive(Debug)]
pub(super) struct Links {
    health: [LinkHealth; 2],
}

impl Links {
    /// Both links before anything answered.
    pub(super) fn connecting() -> Self {
        let connecting = || LinkHealth {
            state: LinkState::Degraded {
                reason: "connecting".into(),
            },
            consecutive_failures: 0,
        };
        Self {
            health: [connecting(), connecting()],
        }
    }

    /// Both links once the sync cannot run: nothing connects any more.
    pub(super) fn not_running(&mut self) {
        for health in &mut self.health {
            health.state = LinkState::Disconnected {
                reason: "not running".into(),
                sign_in_needed: false,
            };
        }
    }

    fn of(&self, link: Link) -> &LinkHealth {
        &self.health[index(link)]
    }

    fn of_mut(&mut self, link: Link) -> &mut LinkHealth {
        &mut self.health[index(link)]
    }

    /// What the indicator of `link` shows.
    pub(super) fn state(&self, link: Link) -> &LinkState {
        &self.of(link).state
    }

    pub(super) fn consecutive_failures(&self, link: Link) -> u32 {
        self.of(link).consecutive_failures
    }

    /// False while the link waits for a sign-in: nothing is sent on it until then (K1).
    pub(super) fn usable(&self, link: Link) -> bool {
        !matches!(
            self.of(link).state,
            LinkState::Disconnected {
                sign_in_needed: true,
                ..
            }
        )
    }
}

fn index(link: Link) -> usize {
    match link {
        Link::Teams => 0,
        Link::Salesforce => 1,
    }
}

/// The cloud's name as the agent reads it.
pub(super) fn link_name(link: Link) -> &'static str {
    match link {
        Link::Teams => "Teams",
        Link::Salesforce => "Salesforce",
    }
}

impl Engine {
    /// A connector's outcome: the link's health first, then the part that sent the effect.
    pub(super) fn on_effect_done(&mut self, id: EffectId, outcome: Outcome) {
        let Some(pending) = self.effects.settle(id) else {
            self.diagnostic(format!("outcome for unknown effect {id} ignored"));
            return;
        };
        let link = pending.link();
        let failure = match outcome {
            Outcome::Done => {
                self.link_succeeded(link);
                None
            }
            Outcome::Failed(failure) => {
                self.link_failed(link, &failure);
                Some(failure)
            }
        };
        match pending {
            Pending::ReadTeams => self.teams_read_done(failure),
            Pending::ReadSalesforce => self.salesforce_read_done(),
            Pending::WriteTeams(target) => self.teams_write_done(target, failure),
            Pending::ReleaseTeams => self.teams_release_done(failure),
            Pending::KeepSession => self.keep_session_done(failure),
            Pending::WriteSalesforce(value) => self.salesforce_write_done(value, failure),
            Pending::Heartbeat => {}
            Pending::LogRetryRequest => {
                if let Some(failure) = failure {
                    self.notice(format!(
                        "The retry could not be asked of Salesforce: {}",
                        failure.describe()
                    ));
                }
            }
            Pending::CallWrite { write, attempt } => {
                if let Some(failure) = failure {
                    self.call_write_failed(write, attempt, &failure);
                }
            }
        }
    }

    /// A presence write failed: the lane waits for the backoff before writing again.
    pub(super) fn lane_failed(&mut self, link: Link, failure: &Failure) {
        if let Failure::Rejected { reason } = failure {
            self.diagnostic(format!(
                "{} refused a presence write: {reason}",
                link_name(link)
            ));
        }
        // A rejected write is not retried at once either: the next change, a repair or the
        // backoff brings the latest value.
        let lane = match link {
            Link::Teams => &mut self.teams.lane,
            Link::Salesforce => &mut self.salesforce.lane,
        };
        lane.attempts += 1;
        let attempt = lane.attempts;
        let retry_at = self.now + self.policy.delay(attempt, failure, &mut self.jitter);
        self.timers.set(Timer::write_retry(link), retry_at);
    }

    /// No write of this side in flight and no backoff running.
    pub(super) fn lane_ready(&self, link: Link) -> bool {
        let lane = match link {
            Link::Teams => &self.teams.lane,
            Link::Salesforce => &self.salesforce.lane,
        };
        lane.in_flight.is_none() && !self.timers.runs_past(Timer::write_retry(link), self.now)
    }

    /// Usable and not cooling down after a server asked us to wait.
    pub(super) fn link_open(&self, link: Link) -> bool {
        self.links.usable(link) && !self.timers.runs_past(Timer::cooldown(link), self.now)
    }

    pub(super) fn link_succeeded(&mut self, link: Link) {
        let health = self.links.of_mut(link);
        let was_connected = health.state.is_connected();
        health.state = LinkState::Connected;
        health.consecutive_failures = 0;
        if !was_connected {
            // S7: a link that comes back (reconnect, sign-in) is read and re-converged.
            self.timers.stop(Timer::write_retry(link));
            if link == Link::Teams && !self.teams.session_alive && self.teams.holding {
                self.keep_session();
            }
            self.start_repair();
        }
    }

    pub(super) fn link_failed(&mut self, link: Link, failure: &Failure) {
        let limit = self.timing.failures_before_disconnected;
        let health = self.links.of_mut(link);
        match failure {
            Failure::Rejected { .. } => return, // The server answered: the link works.
            Failure::Unauthorized => {
                health.state = LinkState::Disconnected {
                    reason: "sign-in needed".into(),
                    sign_in_needed: true,
                };
            }
            Failure::Offline { .. } => {
                health.state = LinkState::Disconnected {
                    reason: failure.describe(),
                    sign_in_needed: false,
                };
            }
            Failure::RateLimited { retry_after } => {
                health.state = LinkState::Degraded {
                    reason: failure.describe(),
                };
                if let Some(wait) = retry_after {
                    let wait =
                        (*wait).clamp(self.policy.retry_after_floor, self.policy.retry_after_cap);
                    self.timers.set(Timer::cooldown(link), self.now + wait);
                }
            }
            Failure::Transient { .. } => {
                health.state = if health.consecutive_failures + 1 >= limit {
                    LinkState::Disconnected {
                        reason: failure.describe(),
                        sign_in_needed: false,
                    }
                } else {
                    LinkState::Degraded {
                        reason: failure.describe(),
                    }
                };
            }
        }
        health.consecutive_failures += 1;
        if link == Link::Teams && matches!(failure, Failure::Offline { .. }) {
            self.teams.session_alive = false;
        }
    }
}
