//! API economy: requests per agent-hour to each cloud, idle and over a scripted working hour,
//! set against the tenant's Graph presence budget (1,500 requests per 30 s per app) and the
//! org's daily API allowance, as the number of agents each budget carries at that rate.
//!
//! The idle and active rates are read from a tenant whose agents do nothing (the longest idle
//! class of the latency part): active for the minute after signing in, idle after. What one
//! presence change costs beyond that is read from a tenant whose agents change state every
//! 4 s during that minute. What one call costs is read from an agent and the call controller
//! taking 12 calls of six kinds (`calls`). The scripted hour (30 presence changes, 12 calls)
//! is composed from these measured rates: an hour cannot be run in an hour here, and the
//! agents' polls run on the real clock, which the emulator's clock does not drive.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::calls::CallCost;
use crate::fleet::{Counters, Expect, Tenant};

/// Graph's presence budget: 1,500 requests per 30 s per app per tenant.
pub const GRAPH_PRESENCE_BUDGET_PER_HOUR: f64 = 1500.0 * 120.0;
/// Enterprise Edition's daily API allowance: 100,000 for the org plus 1,000 per Salesforce
/// licence (each agent holds one).
pub const ORG_DAILY_BASE: f64 = 100_000.0;
pub const ORG_DAILY_PER_LICENCE: f64 = 1_000.0;

/// The org's daily API allowance with one licence for each of `agents`.
pub fn org_daily_allowance(agents: usize) -> f64 {
    ORG_DAILY_BASE + ORG_DAILY_PER_LICENCE * agents as f64
}
/// A working day for the org allowance: one 8-hour shift per seat, and a 24-hour seat.
pub const SHIFT_HOURS: f64 = 8.0;
/// The scripted working hour: 30 presence changes, half made in Teams, half in Salesforce,
pub const SCRIPTED_CHANGES: f64 = 30.0;
/// and 12 calls (two of each kind in `calls::KINDS`).
pub const SCRIPTED_CALLS: f64 = 12.0;

/// The requests counted in a span, per counter name, and the span.
#[derive(Debug, Clone)]
pub struct Window {
    pub counts: BTreeMap<String, u64>,
    pub span: Duration,
}

impl Window {
    pub fn between(earlier: &Counters, later: &Counters) -> Self {
        let (counts, span) = later.since(earlier);
        Self { counts, span }
    }

    /// Requests per agent-hour of one counter (`graph`, `salesforce`, `salesforce PATCH
    /// sobjects`, …).
    pub fn per_agent_hour(&self, name: &str, agents: usize) -> f64 {
        let count = self.counts.get(name).copied().unwrap_or(0) as f64;
        count / agents.max(1) as f64 / self.span.as_secs_f64().max(1e-9) * 3600.0
    }

    /// The Salesforce REST routes called in the window (`PATCH sobjects`, `GET query`, …).
    pub fn salesforce_routes(&self) -> Vec<(String, u64)> {
        self.counts
            .iter()
            .filter_map(|(name, &count)| {
                name.strip_prefix("salesforce ")
                    .map(|route| (route.to_string(), count))
            })
            .collect()
    }
}

/// The APIs reported, with the counter that holds each.
pub const APIS: [(&str, &str); 4] = [
    ("graph", "graph"),
    ("graph_presence_reads", "graph GET presence"),
    ("salesforce_rest", "salesforce"),
    ("streaming", "cometd"),
];

/// Per-agent cost of presence changes beyond the active rate: agents of a tenant of their own
/// change state every 4 s (Teams and Salesforce in turn) through the minute after signing in.
#[derive(Debug, Clone)]
pub struct ChangeCost {
    pub agents: usize,
    pub changes_per_agent: usize,
    pub window: Window,
}

pub async fn change_cost(agents: usize, changes_per_agent: usize) -> Result<ChangeCost, String> {
    let tenant = Tenant::start(agents, "chg").await?;
    let ready = tenant.until_ready(true, Duration::from_secs(120)).await;
    if ready < agents {
        return Err(format!(
            "change cost: only {ready} of {agents} agents synced"
        ));
    }
    let synced = Instant::now();
    tokio::time::sleep_until((synced + Duration::from_secs(5)).into()).await;
    let before = tenant.counters();
    for round in 0..changes_per_agent {
        let (expect, teams) = if round % 2 == 0 {
            let pair = if round % 4 == 0 {
                ("Away", "Away")
            } else {
                ("BeRightBack", "BeRightBack")
            };
            (
                Expect::Salesforce(
                    if round % 4 == 0 {
                        "Away"
                    } else {
                        "Be Right Back"
                    }
                    .into(),
                ),
                Some(pair),
            )
        } else {
            let label = if round % 4 == 1 {
                "Busy"
            } else {
                "Do Not Disturb"
            };
            let pair = if round % 4 == 1 {
                ("Busy", "Busy")
            } else {
                ("DoNotDisturb", "DoNotDisturb")
            };
            for member in &tenant.members {
                tenant
                    .emu
                    .salesforce_pick(&member.name, label)
                    .map_err(|e| format!("change cost: pick refused: {e:?}"))?;
            }
            (Expect::Teams(pair.0.into(), pair.1.into()), None)
        };
        if let Some((availability, activity)) = teams {
            for member in &tenant.members {
                tenant
                    .emu
                    .teams_set_status(&member.name, availability, activity)
                    .map_err(|e| format!("change cost: Teams change refused: {e:?}"))?;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all = tenant.emu.with_world(|w| {
                tenant
                    .members
                    .iter()
                    .all(|m| Tenant::shows(w, m.index, &expect))
            });
            if all {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("change cost: round {round} did not land in 20 s"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Past the engine's 3 s debounce of Teams changes, so each one is a change of its own.
        tokio::time::sleep(Duration::from_millis(4000)).await;
    }
    let after = tenant.counters();
    Ok(ChangeCost {
        agents,
        changes_per_agent,
        window: Window::between(&before, &after),
    })
}

/// The economy figures, from the rates read.
#[derive(Debug, Clone)]
pub struct Economy {
    /// `(api, idle per agent-hour, scripted hour per agent)`.
    pub rates: Vec<(String, f64, f64)>,
    /// `(api, requests per call beyond idle)`, measured.
    pub per_call: Vec<(String, f64)>,
    /// Calls placed in the call part, and the Tasks they left (one each when none was lost).
    pub calls: (usize, usize),
    /// Salesforce REST routes called while idle, per agent-hour.
    pub idle_salesforce_routes: Vec<(String, f64)>,
    /// Agents Graph's presence budget carries: idle, scripted hour.
    pub graph_agents: (f64, f64),
    /// Agents the org's daily allowance carries, idle and scripted, for 8-hour shifts.
    pub org_agents_shift: (f64, f64),
    /// The same for 24-hour seats.
    pub org_agents_24h: (f64, f64),
    /// Seconds of the scripted hour the agent is active (fast poll).
    pub active_seconds: f64,
}

/// Agents an org's daily allowance carries at `per_agent_day` requests each: the allowance
/// grows by 1,000 per licence, so past that only the base is shared.
fn org_agents(per_agent_day: f64) -> f64 {
    let beyond_licence = per_agent_day - ORG_DAILY_PER_LICENCE;
    if beyond_licence <= 0.0 {
        f64::INFINITY
    } else {
        ORG_DAILY_BASE / beyond_licence
    }
}

pub fn compose(
    idle: &Window,
    active: &Window,
    agents: usize,
    change: &ChangeCost,
    calls: &CallCost,
) -> Economy {
    let timing = presence_core::config::Timing::default();
    let window_s = timing.active_window_ms as f64 / 1000.0;
    // 30 changes spread over the hour, each followed by a minute of fast polling.
    let spacing = 3600.0 / SCRIPTED_CHANGES;
    let active_seconds = SCRIPTED_CHANGES * window_s.min(spacing);
    let mut rates = Vec::new();
    let mut per_call = Vec::new();
    for (api, counter) in APIS {
        let idle_rate = idle.per_agent_hour(counter, agents);
        let active_rate = active.per_agent_hour(counter, agents);
        let changes = change.changes_per_agent as f64;
        let change_total = change.window.per_agent_hour(counter, change.agents)
            * change.window.span.as_secs_f64()
            / 3600.0;
        let active_in_change_run = active_rate * change.window.span.as_secs_f64() / 3600.0;
        let per_change = ((change_total - active_in_change_run) / changes).max(0.0);
        let call = calls.per_call(counter);
        let hour = active_rate * active_seconds / 3600.0
            + idle_rate * (3600.0 - active_seconds) / 3600.0
            + per_change * SCRIPTED_CHANGES
            + call * SCRIPTED_CALLS;
        rates.push((api.to_string(), idle_rate, hour));
        per_call.push((api.to_string(), call));
    }
    let rate = |api: &str, scripted: bool| {
        rates
            .iter()
            .find(|(name, _, _)| name == api)
            .map(|(_, idle, hour)| if scripted { *hour } else { *idle })
            .unwrap_or(0.0)
    };
    let graph_agents = (
        GRAPH_PRESENCE_BUDGET_PER_HOUR / rate("graph_presence_reads", false).max(1e-9),
        GRAPH_PRESENCE_BUDGET_PER_HOUR / rate("graph_presence_reads", true).max(1e-9),
    );
    let org = |hours: f64| {
        (
            org_agents(rate("salesforce_rest", false) * hours),
            org_agents(rate("salesforce_rest", true) * hours),
        )
    };
    let idle_salesforce_routes = idle
        .salesforce_routes()
        .into_iter()
        .map(|(route, _)| {
            let rate = idle.per_agent_hour(&format!("salesforce {route}"), agents);
            (route, rate)
        })
        .collect();
    let (org_agents_shift, org_agents_24h) = (org(SHIFT_HOURS), org(24.0));
    Economy {
        rates,
        per_call,
        calls: (calls.calls.len(), calls.tasks),
        idle_salesforce_routes,
        graph_agents,
        org_agents_shift,
        org_agents_24h,
        active_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_allowance_is_shared_only_beyond_each_licence() {
        assert!(org_agents(900.0).is_infinite());
        assert_eq!(org_agents(2_000.0), 100.0);
    }
}
