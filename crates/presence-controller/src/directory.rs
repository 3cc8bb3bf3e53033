//! Who is who: the settings' lines and queues resolved to agents in both clouds (their Entra
//! object id by UPN, their Salesforce user by username), what an agent's `Agent_Presence__c`
//! row means for a call, and the choice of a queue's eligible agents (C5, longest idle first)
//! as a pure function. The rows themselves are `presence.rs`'s.

use std::collections::BTreeMap;

use presence_core::calls::gate_inbound;
use presence_core::{CallCenter, CallKind, OfferAnswer, PresenceClass};
use presence_sync::salesforce::{soql_literal, SalesforceClient};
use serde_json::{Map, Value};

use crate::config::Settings;
use crate::flow::AgentView;
use crate::graph::GraphClient;

/// An agent resolved in both clouds.
#[derive(Debug, Clone)]
pub struct Agent {
    pub upn: String,
    pub graph_id: String,
    pub salesforce_id: String,
}

/// What a resource account's calls are.
#[derive(Debug, Clone)]
pub enum Route {
    /// An agent's direct number (the agent's UPN, lower case).
    Direct {
        agent: String,
        number: Option<String>,
    },
    /// A queue's number (its index in [`Directory::queues`]).
    Queue {
        queue: usize,
        number: Option<String>,
    },
}

impl Route {
    pub fn number(&self) -> Option<&str> {
        match self {
            Route::Direct { number, .. } | Route::Queue { number, .. } => number.as_deref(),
        }
    }
}

/// A queue: its agents (UPNs, lower case) and where calls go once none can take them.
#[derive(Debug, Clone)]
pub struct Queue {
    pub agents: Vec<String>,
    pub overflow: Option<String>,
}

/// Every agent, route and queue of the settings.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// UPN (lower case) → the agent.
    pub agents: BTreeMap<String, Agent>,
    /// Resource account id (lower case) → its route.
    pub routes: BTreeMap<String, Route>,
    pub queues: Vec<Queue>,
}

impl Directory {
    /// Resolves every agent the settings name; the first one that cannot be found is the
    /// error, naming the entry.
    pub async fn resolve(
        settings: &Settings,
        graph: &GraphClient,
        salesforce: &SalesforceClient,
    ) -> Result<Self, (String, String)> {
        let mut directory = Directory::default();
        let usernames: BTreeMap<String, String> = settings
            .lines
            .iter()
            .filter_map(|line| {
                let username = line.salesforce_username.clone()?;
                Some((line.agent.to_ascii_lowercase(), username))
            })
            .collect();
        for line in &settings.lines {
            let agent = directory
                .agent(&line.agent, &usernames, graph, salesforce)
                .await
                .map_err(|why| (line.resource_account.clone(), why))?;
            directory.routes.insert(
                line.resource_account.to_ascii_lowercase(),
                Route::Direct {
                    agent,
                    number: line.number.clone(),
                },
            );
        }
        for queue in &settings.queues {
            let mut agents = Vec::new();
            for upn in &queue.agents {
                let key = directory
                    .agent(upn, &usernames, graph, salesforce)
                    .await
                    .map_err(|why| (queue.resource_account.clone(), why))?;
                agents.push(key);
            }
            let overflow = match &queue.overflow {
                Some(upn) => Some(
                    directory
                        .agent(upn, &usernames, graph, salesforce)
                        .await
                        .map_err(|why| (queue.resource_account.clone(), why))?,
                ),
                None => None,
            };
            directory.queues.push(Queue { agents, overflow });
            directory.routes.insert(
                queue.resource_account.to_ascii_lowercase(),
                Route::Queue {
                    queue: directory.queues.len() - 1,
                    number: queue.number.clone(),
                },
            );
        }
        Ok(directory)
    }

    /// Resolves one agent (once), returning their key.
    async fn agent(
        &mut self,
        upn: &str,
        usernames: &BTreeMap<String, String>,
        graph: &GraphClient,
        salesforce: &SalesforceClient,
    ) -> Result<String, String> {
        let key = upn.to_ascii_lowercase();
        if self.agents.contains_key(&key) {
            return Ok(key);
        }
        let graph_id = graph
            .user_id(upn)
            .await
            .map_err(|e| format!("{upn} is not found in Entra: {e}"))?;
        let username = usernames
            .get(&key)
            .cloned()
            .unwrap_or_else(|| upn.to_string());
        let found = salesforce
            .query::<Map<String, Value>>(&format!(
                "SELECT Id FROM User WHERE Username = '{}' LIMIT 1",
                soql_literal(&username)
            ))
            .await
            .map_err(|e| format!("the Salesforce user {username} cannot be read: {e}"))?;
        let salesforce_id = found
            .records
            .first()
            .and_then(|user| user.get("Id"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no Salesforce user {username}"))?
            .to_string();
        self.agents.insert(
            key.clone(),
            Agent {
                upn: upn.to_string(),
                graph_id,
                salesforce_id,
            },
        );
        Ok(key)
    }
}

/// An agent's `Agent_Presence__c`, as read at a call's arrival.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceRow {
    pub state: String,
    /// Milliseconds since the app's last heartbeat, on Salesforce's clock.
    pub heartbeat_age_ms: Option<i64>,
    /// Milliseconds since the state last changed (how long the agent has been idle in it).
    pub unchanged_for_ms: Option<i64>,
}

pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|at| at.timestamp_millis())
}

/// What a direct call's agent's row means for the call.
pub fn agent_view(row: Option<&PresenceRow>, center: &CallCenter) -> AgentView {
    let Some(row) = row else {
        return AgentView {
            logged_out: false,
            heartbeat_age_ms: None,
        };
    };
    AgentView {
        logged_out: center
            .state(&row.state)
            .is_some_and(|state| state.class == PresenceClass::LoggedOut),
        heartbeat_age_ms: row.heartbeat_age_ms,
    }
}

/// A queue's agents who may be offered a call now, longest idle first (C5: the same gate as
/// the app's, with presence-based routing as the Call Center says; an app that is gone, by a
/// missing or stale heartbeat, takes no queue calls).
pub fn eligible(
    candidates: &[(String, Option<PresenceRow>)],
    center: &CallCenter,
    heartbeat_timeout_ms: i64,
) -> Vec<String> {
    let routing = center.settings().presence_routing;
    let mut open: Vec<(i64, usize, &String)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(order, (agent, row))| {
            let row = row.as_ref()?;
            let fresh = row
                .heartbeat_age_ms
                .is_some_and(|age| age <= heartbeat_timeout_ms);
            let state = center.state(&row.state)?;
            let gate = gate_inbound(CallKind::Queue, state, state.class, routing);
            (fresh && gate == OfferAnswer::Signalled)
                .then(|| (row.unchanged_for_ms.unwrap_or(i64::MAX), order, agent))
        })
        .collect();
    // Longest idle first; ties keep the settings' order.
    open.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    open.into_iter()
        .map(|(_, _, agent)| agent.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, idle_s: i64) -> Option<PresenceRow> {
        Some(PresenceRow {
            state: state.into(),
            heartbeat_age_ms: Some(1_000),
            unchanged_for_ms: Some(idle_s * 1000),
        })
    }

    #[test]
    fn c5_a_queue_call_goes_to_available_agents_longest_idle_first() {
        let center = presence_core::CallCenterConfig::shipped_default();
        let candidates = vec![
            ("busy".to_string(), row("Busy", 900)),
            ("recent".to_string(), row("Available", 10)),
            ("idle".to_string(), row("Available", 600)),
            (
                "gone".to_string(),
                Some(PresenceRow {
                    heartbeat_age_ms: Some(600_000),
                    ..row("Available", 5000).unwrap_or_default()
                }),
            ),
            ("dnd".to_string(), row("Do Not Disturb", 5000)),
            ("never".to_string(), None),
        ];
        assert_eq!(eligible(&candidates, &center, 120_000), ["idle", "recent"]);
    }
}
