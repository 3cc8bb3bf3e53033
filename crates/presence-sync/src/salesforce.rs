//! The Salesforce side: REST on our package's objects, one method per call.

use std::sync::Arc;

use presence_core::{
    CallAction, CallLog, CallType, CallerMatch, OfferAnswer, PresenceWrite, SalesforceObservation,
};
use serde_json::{json, Value};

use crate::auth::TokenSource;
use crate::error::SyncError;
use crate::request::{send_observed, ApiUsage, ServerClock, Transport};
use crate::wire::{presence_observation, QueryPage, SearchAnswer, UserInfo, PRESENCE_FIELDS};

pub const API_VERSION: &str = "62.0";

#[derive(Debug, Clone)]
pub struct SalesforceClient {
    http: reqwest::Client,
    instance_url: String,
    tokens: Arc<TokenSource>,
    /// The agent's Salesforce user id (`User__c`).
    pub user_id: String,
    /// Salesforce's clock, for the times written into its records.
    clock: Arc<ServerClock>,
    /// The org's API allowance, for pacing what can wait (the outbox backlog).
    usage: Arc<ApiUsage>,
    /// How long Salesforce is left alone after a limit refusal without `Retry-After`.
    limit_cool_down: std::time::Duration,
}

/// A time as a Salesforce REST dateTime.
pub fn salesforce_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Escapes a value for a SOQL string literal.
pub(crate) fn soql_literal(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

impl SalesforceClient {
    /// Connects with signed-in tokens: reads the instance URL from them and the user id from
    /// `userinfo`.
    pub async fn connect(tokens: Arc<TokenSource>) -> Result<Self, SyncError> {
        Self::connect_with(tokens, &Transport::default()).await
    }

    pub async fn connect_with(
        tokens: Arc<TokenSource>,
        transport: &Transport,
    ) -> Result<Self, SyncError> {
        let snapshot = tokens.snapshot().await;
        let instance_url = snapshot
            .instance_url
            .ok_or_else(|| SyncError::Malformed("the token answer carried no instance_url".into()))?
            .trim_end_matches('/')
            .to_string();
        let http = transport.client()?;
        let mut client = Self {
            http,
            instance_url,
            tokens,
            user_id: String::new(),
            clock: Arc::new(ServerClock::default()),
            usage: Arc::new(ApiUsage::default()),
            limit_cool_down: transport.salesforce_limit_cool_down,
        };
        let body = client
            .send(reqwest::Method::GET, "/services/oauth2/userinfo", None)
            .await?;
        let info: UserInfo = serde_json::from_slice(&body)
            .map_err(|error| SyncError::Malformed(error.to_string()))?;
        client.user_id = info.user_id;
        Ok(client)
    }

    /// Now as Salesforce's clock has it, as a REST dateTime.
    pub fn now_datetime(&self) -> String {
        salesforce_datetime(self.clock.now())
    }

    /// The org's daily API requests (used, limit) as Salesforce last reported them.
    pub fn api_usage(&self) -> Option<(u64, u64)> {
        self.usage.get()
    }

    /// How far Salesforce's clock is ahead of this computer's (0 within 30 s).
    pub fn clock_offset(&self) -> chrono::Duration {
        self.clock.offset()
    }

    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Vec<u8>, SyncError> {
        let url = format!("{}{path}", self.instance_url);
        send_observed(
            &self.http,
            &self.tokens,
            method,
            &url,
            body.as_ref(),
            Some(&|headers: &reqwest::header::HeaderMap| {
                self.clock.observe(headers);
                self.usage.observe(headers);
            }),
        )
        .await
        .map_err(|error| match error {
            // REQUEST_LIMIT_EXCEEDED comes without Retry-After, and the org's allowance is
            // counted over a rolling day: Salesforce is left alone for a long while.
            SyncError::RateLimited { retry_after: None } => SyncError::RateLimited {
                retry_after: Some(self.limit_cool_down),
            },
            other => other,
        })
    }

    fn data(path: &str) -> String {
        format!("/services/data/v{API_VERSION}/{path}")
    }

    async fn upsert(
        &self,
        object: &str,
        field: &str,
        key: &str,
        body: Value,
    ) -> Result<(), SyncError> {
        let key: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
        self.send(
            reqwest::Method::PATCH,
            &Self::data(&format!("sobjects/{object}/{field}/{key}")),
            Some(body),
        )
        .await
        .map(|_| ())
    }

    /// Upserts the agent's `Agent_Presence__c`.
    pub async fn write_presence(&self, write: &PresenceWrite) -> Result<(), SyncError> {
        let mut body = json!({
            "State__c": write.state,
            "Source__c": write.source.record_value(),
            "Sequence__c": write.sequence,
            "Origin_Client__c": write.origin_client,
            "Out_Of_Office__c": write.out_of_office,
            "Changed_At__c": self.now_datetime(),
            "Heartbeat_At__c": self.now_datetime(),
        });
        if let Some(teams) = &write.teams {
            body["Teams_Availability__c"] = json!(teams.availability.as_str());
            body["Teams_Activity__c"] = json!(teams.activity.as_str());
        }
        self.upsert("Agent_Presence__c", "User__c", &self.user_id, body)
            .await
    }

    pub async fn heartbeat(&self) -> Result<(), SyncError> {
        self.upsert(
            "Agent_Presence__c",
            "User__c",
            &self.user_id,
            json!({ "Heartbeat_At__c": self.now_datetime() }),
        )
        .await
    }

    /// The agent's `Agent_Presence__c`, if there is one.
    pub async fn read_presence(&self) -> Result<Option<SalesforceObservation>, SyncError> {
        let soql = format!(
            "SELECT Id, {PRESENCE_FIELDS} FROM Agent_Presence__c WHERE User__c = '{}'",
            soql_literal(&self.user_id)
        );
        let page = self.query(&soql).await?;
        Ok(page.records.first().and_then(presence_observation))
    }

    pub async fn query(&self, soql: &str) -> Result<QueryPage, SyncError> {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let body = self
            .send(
                reqwest::Method::GET,
                &Self::data(&format!("query?q={q}")),
                None,
            )
            .await?;
        serde_json::from_slice(&body).map_err(|error| SyncError::Malformed(error.to_string()))
    }

    pub async fn answer_offer(&self, call_id: &str, answer: &OfferAnswer) -> Result<(), SyncError> {
        let body = match answer {
            OfferAnswer::Signalled => json!({ "Status__c": "Signalled" }),
            OfferAnswer::NotSignalled { reason } => {
                json!({ "Status__c": "NotSignalled", "Reason__c": reason })
            }
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, body)
            .await
    }

    pub async fn update_call(&self, call_id: &str, action: CallAction) -> Result<(), SyncError> {
        let body = match action {
            CallAction::Answered => {
                json!({ "Status__c": "Answered", "Answered_At__c": self.now_datetime() })
            }
            CallAction::Declined => json!({ "Status__c": "Declined" }),
            CallAction::Ended => {
                json!({ "Status__c": "Ended", "Ended_At__c": self.now_datetime() })
            }
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, body)
            .await
    }

    pub async fn place_call(&self, call_id: &str, number: &str) -> Result<(), SyncError> {
        let body = json!({
            "Name": call_id, "User__c": self.user_id, "Kind__c": "Outbound",
            "To_Number__c": number, "Status__c": "Offered", "Offered_At__c": self.now_datetime(),
        });
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, body)
            .await
    }

    /// Writes a call log as a `Task`, by upsert on `Call_Log_Key__c`: a retry never duplicates.
    pub async fn log_call(&self, log: &CallLog) -> Result<(), SyncError> {
        let mut body = json!({
            "Subject": log.subject.chars().take(255).collect::<String>(),
            "TaskSubtype": "Call",
            "CallType": match log.call_type { CallType::Inbound => "Inbound", CallType::Outbound => "Outbound", CallType::Internal => "Internal" },
            "CallDisposition": log.disposition,
            "CallDurationInSeconds": log.duration.as_secs(),
            "CallObject": log.call_id,
            "ActivityDate": chrono::Utc::now().format("%Y-%m-%d").to_string(),
            "Status": if log.disposition == "Completed" { "Completed" } else { "Not Started" },
        });
        if let Some(caller) = &log.caller {
            let field = if caller.object == "Account" {
                "WhatId"
            } else {
                "WhoId"
            };
            body[field] = json!(caller.id);
        }
        self.upsert("Task", "Call_Log_Key__c", &log.key, body).await
    }

    /// Finds the caller by phone digits: Contact, then Lead, then Account.
    pub async fn lookup_caller(&self, digits: &str) -> Result<Option<CallerMatch>, SyncError> {
        let digits: String = digits
            .chars()
            .filter(char::is_ascii_digit)
            .take(20)
            .collect();
        if digits.len() < 3 {
            return Ok(None);
        }
        let sosl = format!("FIND {{{digits}}} IN PHONE FIELDS RETURNING Contact(Id, Name), Lead(Id, Name), Account(Id, Name)");
        let q: String = url::form_urlencoded::byte_serialize(sosl.as_bytes()).collect();
        let body = self
            .send(
                reqwest::Method::GET,
                &Self::data(&format!("search?q={q}")),
                None,
            )
            .await?;
        let answer: SearchAnswer = serde_json::from_slice(&body)
            .map_err(|error| SyncError::Malformed(error.to_string()))?;
        Ok(answer.search_records.first().and_then(|record| {
            Some(CallerMatch {
                object: record.get("attributes")?.get("type")?.as_str()?.to_string(),
                id: record.get("Id")?.as_str()?.to_string(),
                name: record.get("Name")?.as_str()?.to_string(),
            })
        }))
    }
}

/// Why the Call Center configuration in Salesforce could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CallCenterError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("no Call_Center__c record is visible to this user")]
    Missing,
    #[error("state {state:?}: {problem}")]
    BadState { state: String, problem: String },
    #[error("the Call Center configuration is invalid: {0}")]
    Invalid(#[from] presence_core::ConfigError),
}

impl SalesforceClient {
    /// Reads the Call Center and its presence states (our package's records) and validates
    /// them. Settings the record does not hold (the on-call and wrap-up states, the extension
    /// step, logout on quit) come from the shipped defaults.
    pub async fn load_call_center(&self) -> Result<presence_core::CallCenter, CallCenterError> {
        use presence_core::{
            CallCenterConfig, PresenceClass, PresenceStateDef, SyncDirection, TeamsPair,
        };
        let centers = self
            .query("SELECT Id, Name, Wrap_Up_Seconds__c, Presence_Routing__c, Sync_Direction__c, Log_Missed_Calls__c FROM Call_Center__c ORDER BY Name LIMIT 1")
            .await?;
        let center = centers.records.first().ok_or(CallCenterError::Missing)?;
        let id = center.get("Id").and_then(Value::as_str).unwrap_or("");
        let states = self
            .query(&format!(
                "SELECT Name, Class__c, Teams_Availability__c, Teams_Activity__c, Selectable__c, Signals_Inbound__c, Allows_Outbound__c, Sort_Order__c FROM Call_Center_Presence_State__c WHERE Call_Center__c = '{}' ORDER BY Sort_Order__c",
                soql_literal(id)
            ))
            .await?;
        let mut config = CallCenterConfig::shipped_default_unvalidated();
        let number = |record: &serde_json::Map<String, Value>, field: &str| {
            record.get(field).and_then(Value::as_f64)
        };
        let flag = |record: &serde_json::Map<String, Value>, field: &str| {
            record.get(field).and_then(Value::as_bool)
        };
        if let Some(seconds) = number(center, "Wrap_Up_Seconds__c") {
            config.settings.wrap_up_seconds = seconds.clamp(0.0, f64::from(u32::MAX)) as u32;
        }
        if let Some(routing) = flag(center, "Presence_Routing__c") {
            config.settings.presence_routing = routing;
        }
        if let Some(log) = flag(center, "Log_Missed_Calls__c") {
            config.settings.log_missed_calls = log;
        }
        if let Some(direction) = center.get("Sync_Direction__c").and_then(Value::as_str) {
            config.settings.sync_direction = match direction {
                "Both" => SyncDirection::Both,
                "SalesforceToTeams" => SyncDirection::SalesforceToTeams,
                "TeamsToSalesforce" => SyncDirection::TeamsToSalesforce,
                other => {
                    return Err(CallCenterError::BadState {
                        state: "Call_Center__c".into(),
                        problem: format!("unknown Sync_Direction__c {other:?}"),
                    })
                }
            };
        }
        let mut parsed = Vec::new();
        for record in &states.records {
            let label = record
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let class_text = record.get("Class__c").and_then(Value::as_str).unwrap_or("");
            let class =
                PresenceClass::parse(class_text).ok_or_else(|| CallCenterError::BadState {
                    state: label.clone(),
                    problem: format!("unknown Class__c {class_text:?}"),
                })?;
            let teams = match (
                record.get("Teams_Availability__c").and_then(Value::as_str),
                record.get("Teams_Activity__c").and_then(Value::as_str),
            ) {
                (Some(availability), Some(activity)) => {
                    Some(TeamsPair::parse(availability, activity))
                }
                _ => None,
            };
            parsed.push(PresenceStateDef {
                label,
                class,
                teams,
                selectable: flag(record, "Selectable__c").unwrap_or(false),
                signals_inbound: flag(record, "Signals_Inbound__c").unwrap_or(false),
                allows_outbound: flag(record, "Allows_Outbound__c").unwrap_or(false),
                sort_order: number(record, "Sort_Order__c").unwrap_or(0.0).max(0.0) as u32,
            });
        }
        if !parsed.is_empty() {
            config.states = parsed;
        }
        Ok(config.validate()?)
    }
}

/// The agent's PushTopic channels: its presence, and the calls offered to it.
const PRESENCE_TOPIC: &str = "/topic/AgentPresence";
const CALLS_TOPIC: &str = "/topic/AgentCalls";

impl SalesforceClient {
    /// The Streaming API channels of this agent's records (our package's PushTopics, filtered
    /// to the agent), and the SOQL that stands in for each while streaming is unavailable.
    pub fn agent_channels(&self) -> Vec<crate::streaming::FallbackQuery> {
        let user = soql_literal(&self.user_id);
        let channel = |topic: &str| format!("{topic}?User__c={}", self.user_id);
        [
            (PRESENCE_TOPIC, "Agent_Presence__c", PRESENCE_FIELDS),
            (CALLS_TOPIC, "Agent_Call__c", crate::wire::CALL_FIELDS),
        ]
        .into_iter()
        .map(|(topic, object, fields)| crate::streaming::FallbackQuery {
            channel: channel(topic),
            object: object.into(),
            fields: fields.into(),
            filter: format!("User__c = '{user}'"),
        })
        .collect()
    }

    /// Whether a streamed record came on the agent's presence channel (else its calls').
    pub fn is_presence_channel(channel: &str) -> bool {
        channel.starts_with(PRESENCE_TOPIC)
    }
}
