//! The agents' presence as the controller holds it: every line's and queue's agent's
//! `Agent_Presence__c`, read whole at start and every [`REFRESH_MS`] (heartbeats are left out
//! of the PushTopic, so they are read, not streamed), and kept current between reads from
//! `/topic/AgentPresence`. A call's arrival reads this, not Salesforce; only a call that
//! would not be offered (the agent looks logged out or gone) is checked against Salesforce
//! first, so a stale view never turns a call away.

use std::collections::BTreeMap;

use presence_sync::salesforce::{soql_literal, SalesforceClient};
use presence_sync::SyncError;
use serde_json::{Map, Value};

use crate::directory::{parse_datetime, PresenceRow};
use crate::driver::{now_ms, Driver};

/// How often the whole view is read again (heartbeats age by this much at most, and an event
/// the stream lost is made good).
pub const REFRESH_MS: i64 = 15_000;

/// One agent's row, with absolute times (ages are taken when the row is used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Held {
    state: String,
    heartbeat_at_ms: Option<i64>,
    changed_at_ms: Option<i64>,
}

/// The presence of the agents the controller routes calls to.
#[derive(Debug, Clone, Default)]
pub struct PresenceView {
    rows: BTreeMap<String, Held>,
    /// When the whole view was last read (wall clock), if it ever was.
    pub read_at_ms: Option<i64>,
}

fn held(record: &Map<String, Value>) -> Option<(String, Held)> {
    let text = |field: &str| record.get(field).and_then(Value::as_str);
    Some((
        text("User__c")?.to_string(),
        Held {
            state: text("State__c").unwrap_or("").to_string(),
            heartbeat_at_ms: text("Heartbeat_At__c").and_then(parse_datetime),
            changed_at_ms: text("Changed_At__c").and_then(parse_datetime),
        },
    ))
}

impl PresenceView {
    /// Reads the rows of these Salesforce users now; what was held of them is replaced (a
    /// user without a row is forgotten).
    pub async fn read(
        &mut self,
        salesforce: &SalesforceClient,
        users: &[&str],
        now_ms: i64,
    ) -> Result<(), SyncError> {
        if users.is_empty() {
            self.read_at_ms = Some(now_ms);
            return Ok(());
        }
        let ids: Vec<String> = users
            .iter()
            .map(|u| format!("'{}'", soql_literal(u)))
            .collect();
        let page = salesforce
            .query::<Map<String, Value>>(&format!(
                "SELECT User__c, State__c, Heartbeat_At__c, Changed_At__c FROM Agent_Presence__c WHERE User__c IN ({})",
                ids.join(", ")
            ))
            .await?;
        for user in users {
            self.rows.remove(*user);
        }
        self.rows.extend(page.records.iter().filter_map(held));
        self.read_at_ms = Some(now_ms);
        Ok(())
    }

    /// Whether the whole view is due to be read again.
    pub fn due(&self, now_ms: i64) -> bool {
        self.read_at_ms.is_none_or(|at| now_ms - at >= REFRESH_MS)
    }

    /// A streamed `Agent_Presence__c` change (state, `Changed_At__c`; the heartbeat is kept).
    /// An event older than what is held (a replay) changes nothing.
    pub fn observe(&mut self, record: &Map<String, Value>) {
        let Some((user, event)) = held(record) else {
            return;
        };
        if event.state.is_empty() {
            return;
        }
        let row = self.rows.entry(user).or_default();
        if row
            .changed_at_ms
            .zip(event.changed_at_ms)
            .is_some_and(|(now, then)| then < now)
        {
            return;
        }
        row.state = event.state;
        row.changed_at_ms = event.changed_at_ms.or(row.changed_at_ms);
    }

    /// The rows of these users with their ages at `now_ms` (Salesforce's clock); a user
    /// without a row is absent.
    pub fn rows(&self, users: &[&str], now_ms: i64) -> BTreeMap<String, PresenceRow> {
        users
            .iter()
            .filter_map(|user| {
                let row = self.rows.get(*user)?;
                Some((
                    user.to_string(),
                    PresenceRow {
                        state: row.state.clone(),
                        heartbeat_age_ms: row.heartbeat_at_ms.map(|at| now_ms - at),
                        unchanged_for_ms: row.changed_at_ms.map(|at| now_ms - at),
                    },
                ))
            })
            .collect()
    }
}

/// Reads the presence of these Salesforce users from Salesforce now (what the held view is
/// checked against before it turns a call away): user id → row, ages on Salesforce's clock; a
/// user without a row is absent.
pub async fn presence_of(
    salesforce: &SalesforceClient,
    users: &[&str],
) -> Result<BTreeMap<String, PresenceRow>, SyncError> {
    let mut view = PresenceView::default();
    let wall = chrono::Utc::now().timestamp_millis();
    view.read(salesforce, users, wall).await?;
    let now = parse_datetime(&salesforce.now_datetime()).unwrap_or(wall);
    Ok(view.rows(users, now))
}

impl Driver {
    /// Salesforce's time now, as this client estimates it (ages of rows are on its clock).
    pub(crate) fn salesforce_now_ms(&self) -> i64 {
        crate::directory::parse_datetime(&self.salesforce.now_datetime()).unwrap_or_else(now_ms)
    }

    /// Reads every agent's presence row again (at start, then every 15 s: heartbeats are not
    /// streamed). A failure is said and tried again at the next refresh.
    pub(crate) async fn read_presence(&mut self) {
        let users: Vec<String> = self
            .directory
            .agents
            .values()
            .map(|agent| agent.salesforce_id.clone())
            .collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        if let Err(error) = self.presence.read(&self.salesforce, &users, now_ms()).await {
            tracing::warn!(
                "the agents' presence cannot be read ({error}); calls read it as they come"
            );
            self.presence.read_at_ms = Some(now_ms());
        }
    }

    /// The presence rows of these users: as held, or, when `confirm` says a row held would
    /// turn a call away, as Salesforce has them now (a stale view never turns a call away).
    pub(crate) async fn presence_rows(
        &self,
        users: &[&str],
        confirm: impl Fn(&BTreeMap<String, PresenceRow>) -> bool,
    ) -> Result<BTreeMap<String, PresenceRow>, SyncError> {
        let held = self.presence.rows(users, self.salesforce_now_ms());
        if !confirm(&held) {
            return Ok(held);
        }
        presence_of(&self.salesforce, users).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn streamed_changes_keep_the_view_current_and_a_replay_does_not_turn_it_back() {
        let mut view = PresenceView::default();
        view.observe(&record(json!({ "User__c": "005A", "State__c": "Available",
            "Changed_At__c": "2026-12-02T10:00:00.000+0000" })));
        let at = parse_datetime("2026-12-02T10:00:30.000+0000").unwrap_or_default();
        let rows = view.rows(&["005A", "005B"], at);
        assert_eq!(rows.len(), 1, "005B has no row");
        assert_eq!(rows["005A"].state, "Available");
        assert_eq!(rows["005A"].unchanged_for_ms, Some(30_000));
        assert_eq!(
            rows["005A"].heartbeat_age_ms, None,
            "never read: no heartbeat"
        );
        view.observe(&record(
            json!({ "User__c": "005A", "State__c": "Do Not Disturb",
            "Changed_At__c": "2026-12-02T10:00:20.000+0000" }),
        ));
        // A replayed older event.
        view.observe(&record(json!({ "User__c": "005A", "State__c": "Available",
            "Changed_At__c": "2026-12-02T10:00:00.000+0000" })));
        assert_eq!(view.rows(&["005A"], at)["005A"].state, "Do Not Disturb");
        // An event without a state or a user is no change.
        view.observe(&record(json!({ "User__c": "005A" })));
        view.observe(&record(json!({ "State__c": "Busy" })));
        assert_eq!(view.rows(&["005A"], at)["005A"].state, "Do Not Disturb");
        assert!(view.due(at));
    }
}
