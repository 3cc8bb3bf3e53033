//! Everything the emulated clouds hold: the tenant and org, agents, Graph presence, tokens,
//! Salesforce records, streaming channels, calls, faults and request counters. One lock guards
//! it all; handlers hold it briefly and never across an await. How a record change becomes
//! PushTopic events is in `push_topics.rs`; the schema the records follow in `schema.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::clock::{iso_z, salesforce_datetime, Clock};
use crate::graph::GraphUser;
use crate::ids;
pub use crate::settings::Settings;

/// Which emulated cloud a token, fault or counter belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Entra,
    Graph,
    Salesforce,
    Cometd,
}

impl Api {
    /// Which API a request path belongs to (the control API belongs to none).
    pub fn of_path(path: &str) -> Option<Api> {
        if path.starts_with("/v1.0/") {
            Some(Api::Graph)
        } else if path.starts_with("/cometd/") {
            Some(Api::Cometd)
        } else if path.starts_with("/services/") {
            Some(Api::Salesforce)
        } else if path.contains("/oauth2/v2.0/") {
            Some(Api::Entra)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Entra => "entra",
            Api::Graph => "graph",
            Api::Salesforce => "salesforce",
            Api::Cometd => "cometd",
        }
    }
}

/// One agent of the demo tenant and org.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    /// Short login name used by the control API and `login_hint` (`ada`).
    pub name: String,
    pub display_name: String,
    /// Entra object id: the Graph user and presence id.
    pub graph_id: String,
    /// Salesforce User id (005…).
    pub salesforce_id: String,
    pub upn: String,
    /// The agent's direct number.
    pub extension: String,
}

/// Whom an access token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An agent who signed in (delegated: `/me` is theirs).
    Agent(usize),
    /// An app signed in with its own credentials (client credentials): the calling bot on
    /// Graph (application permissions), the integration user on Salesforce.
    App,
}

impl Subject {
    pub fn agent(self) -> Option<usize> {
        match self {
            Subject::Agent(agent) => Some(agent),
            Subject::App => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub api: Api,
    pub subject: Subject,
    pub client_id: String,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub api: Api,
    pub agent: usize,
    pub client_id: String,
    pub scope: String,
    pub alive: bool,
}

#[derive(Debug, Clone)]
pub struct AuthCode {
    pub api: Api,
    pub agent: usize,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<(String, String)>,
    pub scope: String,
    /// The authorization request's `nonce`, for the id token (OpenID Connect).
    pub nonce: Option<String>,
    pub expires_ms: i64,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub api: Api,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub agent: Option<usize>,
    pub expires_ms: i64,
    pub interval_s: u64,
    pub last_poll_ms: Option<i64>,
    pub polls: u32,
    pub redeemed: bool,
}

/// A fault injected through the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    pub api: Api,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it affects; absent = until cleared.
    #[serde(default)]
    pub count: Option<u32>,
    /// Only requests whose path contains this text.
    #[serde(default)]
    pub path_contains: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and the API's own error body (429 carries Retry-After).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Hold the request this long before answering it normally.
    Delay { ms: u64 },
    /// Close the connection without a response.
    Drop,
    /// Answer 200 with a truncated JSON body.
    Malformed,
    /// Carry the request out, then cut the connection before the answer: the client cannot
    /// tell whether its write happened (it did).
    LostReply,
}

/// How many answered requests `state.requests` keeps.
pub const REQUESTS_KEPT: usize = 500;

/// One request to the clouds as the emulator answered it (the query string is left out: it
/// may carry codes and tokens).
#[derive(Debug, Clone, Serialize)]
pub struct RequestSeen {
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: u16,
}

/// A call the controller knows about.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub call_id: String,
    pub agent: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    /// `Agent_Call__c` id when the call was offered.
    pub record_id: Option<String>,
    pub status: String,
    pub reason: Option<String>,
    /// Final outcome (the README's vocabulary): `Ended`, `CallerHungUp`, `Declined`, `Missed`,
    /// `NotSignalled: {reason}`, `NotOffered: {what Teams did}`, `NotReached: {why}`,
    /// `Overflow: …`, `Internal: …`, `NoAnswer: …`.
    pub outcome: Option<String>,
    pub offered_ms: i64,
    pub signalled_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    /// Who handles the call: `bot` (Graph's calling API and the registered calling webhook:
    /// our `presence-controller`) or `teams` (an internal call, straight to the agent's Teams).
    pub handled_by: String,
    /// What the agent's own Teams client did with it (bot calls): `ringing Ada Lovelace`,
    /// `answered by Ada Lovelace in Teams`, `taken by Ada Lovelace's voicemail`, ….
    pub teams: Option<String>,
}

/// A streaming event retained for replay.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub replay_id: u64,
    pub created_ms: i64,
    pub record: Map<String, Value>,
    pub event_type: String,
    /// The record's `OwnerId`: with private sharing, only its owner's clients receive it.
    pub owner: Option<String>,
}

impl StreamEvent {
    /// Whether the user `salesforce_id` may see this event's record (Salesforce streams a
    /// PushTopic event only to subscribers who can see the record; our objects are private,
    /// so that is the owner; a record without an owner is visible to all).
    pub fn visible_to(&self, salesforce_id: &str) -> bool {
        self.owner
            .as_deref()
            .is_none_or(|owner| owner == salesforce_id)
    }
}

/// A PushTopic: its object, the fields its query selects, and its retained events.
#[derive(Debug, Clone)]
pub struct PushTopic {
    pub name: String,
    pub sobject: String,
    pub fields: Vec<String>,
    pub events: VecDeque<StreamEvent>,
    pub next_replay: u64,
    /// The replay id of the newest event ever published (0 before any).
    pub latest_replay: u64,
}

#[derive(Debug, Clone)]
pub struct CometClient {
    pub client_id: String,
    /// The agent who signed in, or `None` for the integration user.
    pub agent: Option<usize>,
    /// The Salesforce user whose sharing decides which events it receives.
    pub user_id: String,
    /// View All on our objects (the integration user): every event reaches it.
    pub sees_all: bool,
    pub cookie: String,
    /// Subscribed channel (with filter) → its parsed topic and filter.
    pub subscriptions: BTreeMap<String, (String, Vec<(String, String)>)>,
    pub queue: VecDeque<Value>,
    pub last_seen_ms: i64,
    pub next_fault: Option<String>,
}

/// A change worth a timestamp in the state dump.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: String,
    pub what: String,
}

pub struct World {
    pub clock: Clock,
    pub tenant_id: String,
    pub org_id: String,
    pub agents: Vec<Agent>,
    pub graph: BTreeMap<String, GraphUser>,
    pub access_tokens: BTreeMap<String, AccessToken>,
    pub refresh_tokens: BTreeMap<String, RefreshToken>,
    pub auth_codes: BTreeMap<String, AuthCode>,
    pub device_codes: BTreeMap<String, DeviceCode>,
    pub records: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
    pub next_record: u64,
    pub topics: BTreeMap<String, PushTopic>,
    pub comet_clients: BTreeMap<String, CometClient>,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    pub counters: BTreeMap<String, u64>,
    /// The latest requests to the clouds (not the control API), oldest first.
    pub requests: VecDeque<RequestSeen>,
    pub throttle_hits: BTreeMap<String, VecDeque<i64>>,
    pub throttled: u64,
    pub api_usage: u64,
    pub changes: VecDeque<Change>,
    pub settings: Settings,
    /// Query locators: the records still to page, the total, the batch size.
    pub query_locators: BTreeMap<String, (Vec<Value>, usize, usize)>,
    /// Graph's calling side: the bot, its numbers, its call legs, the agents' Teams rings.
    pub calling: crate::calling::Calling,
    /// The org's integration user (client credentials), who sees every record.
    pub integration: Option<IntegrationUser>,
}

/// The Salesforce user a server signs in as with client credentials (an External Client App
/// or connected app whose flow runs as this user, with View All and Modify All on our objects).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationUser {
    pub salesforce_id: String,
    pub username: String,
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("tenant_id", &self.tenant_id)
            .field("agents", &self.agents.len())
            .finish_non_exhaustive()
    }
}

impl World {
    pub fn new(time_scale: f64) -> Self {
        // The package's PushTopics, as its setup creates them (PresenceBridgePushTopics.json).
        let topics = crate::schema::Schema::package()
            .topics()
            .iter()
            .map(|topic| {
                let pushed = PushTopic {
                    name: topic.name.clone(),
                    sobject: topic.object.clone(),
                    fields: topic.fields.clone(),
                    events: VecDeque::new(),
                    next_replay: 1,
                    latest_replay: 0,
                };
                (topic.name.clone(), pushed)
            })
            .collect();
        Self {
            clock: Clock::new(time_scale),
            tenant_id: ids::guid(),
            org_id: ids::salesforce_id("00D", 1),
            agents: Vec::new(),
            graph: BTreeMap::new(),
            access_tokens: BTreeMap::new(),
            refresh_tokens: BTreeMap::new(),
            auth_codes: BTreeMap::new(),
            device_codes: BTreeMap::new(),
            records: BTreeMap::new(),
            next_record: 1,
            topics,
            comet_clients: BTreeMap::new(),
            calls: Vec::new(),
            faults: Vec::new(),
            counters: BTreeMap::new(),
            requests: VecDeque::new(),
            throttle_hits: BTreeMap::new(),
            throttled: 0,
            api_usage: 0,
            changes: VecDeque::new(),
            settings: Settings::default(),
            query_locators: BTreeMap::new(),
            calling: crate::calling::Calling::default(),
            integration: None,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn note(&mut self, what: impl Into<String>) {
        let at = iso_z(self.now_ms());
        self.changes.push_back(Change {
            at,
            what: what.into(),
        });
        while self.changes.len() > 500 {
            self.changes.pop_front();
        }
    }

    /// Notes a request that was answered (kept: the latest [`REQUESTS_KEPT`]).
    pub fn saw_request(&mut self, method: &str, path: &str, status: u16) {
        let at = iso_z(self.now_ms());
        self.requests.push_back(RequestSeen {
            at,
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
        while self.requests.len() > REQUESTS_KEPT {
            self.requests.pop_front();
        }
    }

    pub fn count(&mut self, name: &str) {
        *self.counters.entry(name.to_string()).or_default() += 1;
    }

    pub fn agent_index(&self, name_or_id: &str) -> Option<usize> {
        let wanted = name_or_id.trim();
        self.agents.iter().position(|agent| {
            agent.name.eq_ignore_ascii_case(wanted)
                || agent.upn.eq_ignore_ascii_case(wanted)
                || agent.graph_id.eq_ignore_ascii_case(wanted)
                || agent.salesforce_id == wanted
        })
    }

    /// Adds an agent with a Teams client signed in and a Salesforce User record.
    pub fn add_agent(&mut self, name: &str, display_name: &str, extension: &str) -> usize {
        let now = self.now_ms();
        let salesforce_id = ids::salesforce_id("005", self.agents.len() as u64 + 1);
        let agent = Agent {
            name: name.to_string(),
            display_name: display_name.to_string(),
            graph_id: ids::guid(),
            salesforce_id: salesforce_id.clone(),
            upn: format!("{name}@contoso.example"),
            extension: extension.to_string(),
        };
        self.graph
            .insert(agent.graph_id.clone(), GraphUser::with_teams_client(now));
        let mut user = Map::new();
        user.insert("Name".into(), json!(display_name));
        user.insert("Username".into(), json!(agent.upn));
        user.insert("Email".into(), json!(agent.upn));
        user.insert("IsActive".into(), json!(true));
        self.put_record("User", &salesforce_id, user);
        self.agents.push(agent);
        self.agents.len() - 1
    }

    /// Adds a Salesforce `User` that is no agent (the integration user).
    pub fn insert_user(&mut self, id: &str, fields: Map<String, Value>) {
        self.put_record("User", id, fields);
    }

    // ---- records

    pub fn new_record_id(&mut self, sobject: &str) -> Option<String> {
        let prefix = ids::key_prefix(sobject)?;
        let id = ids::salesforce_id(prefix, self.next_record);
        self.next_record += 1;
        Some(id)
    }

    fn put_record(&mut self, sobject: &str, id: &str, mut fields: Map<String, Value>) {
        fields.insert("Id".into(), json!(id));
        self.records
            .entry(sobject.to_string())
            .or_default()
            .insert(id.to_string(), fields);
    }

    pub fn record(&self, sobject: &str, id: &str) -> Option<&Map<String, Value>> {
        self.records.get(sobject)?.get(id)
    }

    /// The Salesforce user a token speaks for: the agent, or the integration user for an
    /// app's client-credentials token.
    pub fn salesforce_user_of(&self, subject: Subject) -> Option<String> {
        match subject {
            Subject::Agent(agent) => self.agents.get(agent).map(|a| a.salesforce_id.clone()),
            Subject::App => self.integration.as_ref().map(|u| u.salesforce_id.clone()),
        }
    }

    /// The first record whose `field` is `value`.
    pub fn find_record(&self, sobject: &str, field: &str, value: &str) -> Option<String> {
        self.find_by(sobject, field, value).into_iter().next()
    }

    pub fn find_by(&self, sobject: &str, field: &str, value: &str) -> Vec<String> {
        self.records
            .get(sobject)
            .map(|records| {
                records
                    .iter()
                    .filter(|(_, record)| record.get(field).and_then(Value::as_str) == Some(value))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Creates a record and streams it. Fields must already be validated.
    /// A record without an owner that names its user (`User__c`) is owned by that user, as the
    /// package's records are.
    pub fn insert_record(&mut self, sobject: &str, fields: Map<String, Value>) -> Option<String> {
        let id = self.new_record_id(sobject)?;
        let now = self.now_ms();
        let mut fields = fields;
        if !fields.contains_key("OwnerId") {
            if let Some(user) = fields.get("User__c").cloned() {
                fields.insert("OwnerId".into(), user);
            }
        }
        fields.insert("CreatedDate".into(), json!(salesforce_datetime(now)));
        fields.insert("LastModifiedDate".into(), json!(salesforce_datetime(now)));
        if let Some(name) = self.auto_name(sobject) {
            fields.insert("Name".into(), json!(name));
        }
        self.put_record(sobject, &id, fields);
        self.note(format!("{sobject} {id} created"));
        self.stream_change(sobject, &id, "created", None);
        self.on_record_changed(sobject, &id);
        Some(id)
    }

    /// The next `Name` of an object whose name field is an Auto Number (`AP-{000000}` →
    /// `AP-000001`), counted per object as Salesforce does.
    fn auto_name(&mut self, sobject: &str) -> Option<String> {
        let schema = crate::schema::Schema::package().object(sobject)?;
        let crate::schema::FieldKind::AutoNumber { display_format } = &schema.field("Name")?.kind
        else {
            return None;
        };
        let next = self.records.get(sobject).map_or(0, |records| records.len()) + 1;
        Some(crate::schema::format_auto_number(
            display_format,
            next as u64,
        ))
    }

    /// Updates a record and streams the change (if a selected field changed).
    pub fn update_record(&mut self, sobject: &str, id: &str, fields: Map<String, Value>) -> bool {
        let now = self.now_ms();
        let Some(record) = self.records.get_mut(sobject).and_then(|r| r.get_mut(id)) else {
            return false;
        };
        let before = record.clone();
        for (key, value) in fields {
            record.insert(key, value);
        }
        record.insert("LastModifiedDate".into(), json!(salesforce_datetime(now)));
        let changed: Vec<String> = record
            .iter()
            .filter(|(key, value)| before.get(*key) != Some(value))
            .map(|(key, _)| key.clone())
            .collect();
        self.note(format!("{sobject} {id} updated"));
        self.stream_change(sobject, id, "updated", Some(&changed));
        self.on_record_changed(sobject, id);
        true
    }

    /// Reacts to records the call controller watches.
    fn on_record_changed(&mut self, sobject: &str, id: &str) {
        if sobject == "Agent_Call__c" {
            let record = self.record(sobject, id).cloned().unwrap_or_default();
            let call_id = record
                .get("Call_Id__c")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            // A queue call's offers are `{call}~{attempt}`, one record per agent offered.
            let call_id = call_id.split('~').next().unwrap_or("").to_string();
            let by_bot = self
                .calls
                .iter()
                .any(|call| call.call_id == call_id && call.handled_by == "bot");
            // Records of other calls (the app's outbound requests, before the controller
            // places them) are Salesforce's alone: nothing in Teams follows from them.
            if by_bot {
                self.mirror_bot_call(&call_id, &record, id);
            }
        }
    }

    /// The agent's current `Agent_Presence__c`, if any.
    pub fn agent_presence(&self, agent: usize) -> Option<&Map<String, Value>> {
        let user_id = &self.agents.get(agent)?.salesforce_id;
        self.records
            .get("Agent_Presence__c")?
            .values()
            .find(|record| record.get("User__c").and_then(Value::as_str) == Some(user_id))
    }

    /// Whether the agent's state is the Logout state (class LoggedOut) of the Call Center.
    pub fn agent_logged_out(&self, agent: usize) -> bool {
        let Some(state) = self
            .agent_presence(agent)
            .and_then(|r| r.get("State__c"))
            .and_then(Value::as_str)
        else {
            return false;
        };
        self.records
            .get("Call_Center_Presence_State__c")
            .is_some_and(|states| {
                states.values().any(|record| {
                    record.get("Name").and_then(Value::as_str) == Some(state)
                        && record.get("Class__c").and_then(Value::as_str) == Some("LoggedOut")
                })
            })
    }

    /// Milliseconds since the agent's last heartbeat, if it ever sent one.
    pub fn heartbeat_age_ms(&self, agent: usize) -> Option<i64> {
        let at = self
            .agent_presence(agent)?
            .get("Heartbeat_At__c")?
            .as_str()?
            .to_string();
        let parsed = chrono::DateTime::parse_from_str(&at, "%Y-%m-%dT%H:%M:%S%.3f%z")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(&at))
            .ok()?;
        Some(self.now_ms() - parsed.timestamp_millis())
    }

    /// Finds the first fault for this request, consuming one use of it.
    pub fn take_fault(&mut self, api: Api, path: &str) -> Option<FaultKind> {
        self.take_fault_where(api, path, |kind| !matches!(kind, FaultKind::LostReply))
    }

    /// Takes a `lost_reply` fault for this request, if one matches.
    pub fn take_lost_reply(&mut self, api: Api, path: &str) -> bool {
        self.take_fault_where(api, path, |kind| matches!(kind, FaultKind::LostReply))
            .is_some()
    }

    fn take_fault_where(
        &mut self,
        api: Api,
        path: &str,
        kind_fits: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let index = self.faults.iter().position(|fault| {
            fault.api == api
                && kind_fits(&fault.kind)
                && fault
                    .path_contains
                    .as_deref()
                    .is_none_or(|needle| path.contains(needle))
        })?;
        let fault = &mut self.faults[index];
        let kind = fault.kind.clone();
        if let Some(count) = &mut fault.count {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.faults.remove(index);
            }
        }
        Some(kind)
    }

    /// Counts a presence request against the app's budget in the tenant; returns the seconds
    /// to wait when over it.
    pub fn throttle(&mut self, client_id: &str) -> Option<u64> {
        let now = self.now_ms();
        let window = self.settings.throttle_window_s as i64 * 1000;
        let budget = self.settings.throttle_budget as usize;
        let hits = self.throttle_hits.entry(client_id.to_string()).or_default();
        while hits.front().is_some_and(|at| now - at >= window) {
            hits.pop_front();
        }
        if hits.len() >= budget {
            self.throttled += 1;
            let oldest = hits.front().copied().unwrap_or(now);
            let wait_ms = (oldest + window - now).max(1000);
            return Some(((wait_ms + 999) / 1000) as u64);
        }
        hits.push_back(now);
        None
    }

    pub fn long_poll(&self) -> Duration {
        Duration::from_millis(self.settings.long_poll_ms)
    }
}
