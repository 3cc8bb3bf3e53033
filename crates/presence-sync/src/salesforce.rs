//! The Salesforce side: REST on our package's objects, one method per call.

use std::sync::Arc;

use presence_core::{
    CallAction, CallLog, CallerMatch, OfferAnswer, PresenceWrite, SalesforceObservation,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::TokenSource;
use crate::error::SyncError;
use crate::request::{send_observed, ApiUsage, ServerClock, Transport};
use crate::wire::salesforce::{
    AgentPresenceRecord, CallCenterRecord, CallStatusUpsert, HeartbeatUpsert, OutboundCallUpsert,
    PresenceStateRecord, PresenceUpsert, TaskUpsert,
};
use crate::wire::{self, QueryPage, SearchAnswer, UserInfo, PRESENCE_FIELDS};

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
    /// How it reaches Salesforce (the stream's own client is made from it too).
    transport: Transport,
}

/// A time as a Salesforce REST dateTime.
pub fn salesforce_datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Escapes a value for a SOQL string literal.
pub fn soql_literal(value: &str) -> String {
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
            .ok_or_else(|| SyncError::missing("an instance_url in the token answer"))?
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
            transport: transport.clone(),
        };
        let body = client
            .send(
                reqwest::Method::GET,
                "/services/oauth2/userinfo",
                wire::NO_BODY,
            )
            .await?;
        let info: UserInfo = wire::parse("Salesforce userinfo", &body)?;
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

    /// This signed-in session reached over other network settings (resolver, timeouts,
    /// trusted certificates), as a stream built from it then is: the same tokens, user, clock
    /// and allowance.
    pub fn over(&self, transport: &Transport) -> Result<Self, SyncError> {
        Ok(Self {
            http: transport.client()?,
            limit_cool_down: transport.salesforce_limit_cool_down,
            transport: transport.clone(),
            ..self.clone()
        })
    }

    /// Timeouts, trusted certificates and resolver of its requests.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Vec<u8>, SyncError> {
        let url = format!("{}{path}", self.instance_url);
        let body = body.map(wire::body).transpose()?;
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

    /// Upserts a record of `object` by an external id `field` (PATCH …/{field}/{key}): a
    /// retry of the same write never makes a second record.
    pub async fn upsert(
        &self,
        object: &str,
        field: &str,
        key: &str,
        body: &impl Serialize,
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
        let body = PresenceUpsert::new(write, self.now_datetime());
        self.upsert("Agent_Presence__c", "User__c", &self.user_id, &body)
            .await
    }

    pub async fn heartbeat(&self) -> Result<(), SyncError> {
        let body = HeartbeatUpsert {
            heartbeat_at: self.now_datetime(),
        };
        self.upsert("Agent_Presence__c", "User__c", &self.user_id, &body)
            .await
    }

    /// The agent's `Agent_Presence__c`, if there is one.
    pub async fn read_presence(&self) -> Result<Option<SalesforceObservation>, SyncError> {
        let soql = format!(
            "SELECT Id, {PRESENCE_FIELDS} FROM Agent_Presence__c WHERE User__c = '{}'",
            soql_literal(&self.user_id)
        );
        let page: QueryPage<AgentPresenceRecord> = self.query(&soql).await?;
        Ok(page
            .records
            .into_iter()
            .next()
            .and_then(AgentPresenceRecord::into_observation))
    }

    /// Asks Salesforce for fresh API usage figures (every answer carries them), with the
    /// cheapest query there is.
    pub async fn read_api_usage(&self) -> Result<(), SyncError> {
        self.query::<serde_json::Value>("SELECT Id FROM Call_Center__c LIMIT 1")
            .await
            .map(|_| ())
    }

    /// One page of a SOQL query, its records read as `T`.
    pub async fn query<T: DeserializeOwned>(&self, soql: &str) -> Result<QueryPage<T>, SyncError> {
        let q: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let body = self
            .send(
                reqwest::Method::GET,
                &Self::data(&format!("query?q={q}")),
                wire::NO_BODY,
            )
            .await?;
        wire::parse("a SOQL query page", &body)
    }

    pub async fn answer_offer(&self, call_id: &str, answer: &OfferAnswer) -> Result<(), SyncError> {
        let body = match answer {
            OfferAnswer::Signalled => CallStatusUpsert {
                status: "Signalled",
                ..Default::default()
            },
            OfferAnswer::NotSignalled { reason } => CallStatusUpsert {
                status: "NotSignalled",
                reason: Some(reason),
                ..Default::default()
            },
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, &body)
            .await
    }

    pub async fn update_call(&self, call_id: &str, action: CallAction) -> Result<(), SyncError> {
        let body = match action {
            CallAction::Answered => CallStatusUpsert {
                status: "Answered",
                answered_at: Some(self.now_datetime()),
                ..Default::default()
            },
            CallAction::Declined => CallStatusUpsert {
                status: "Declined",
                ..Default::default()
            },
            CallAction::Ended => CallStatusUpsert {
                status: "Ended",
                ended_at: Some(self.now_datetime()),
                ..Default::default()
            },
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, &body)
            .await
    }

    /// The agent's Retry of a Task the call controller set aside (on the offer `call_id`).
    pub async fn request_log_retry(&self, call_id: &str) -> Result<(), SyncError> {
        let body = crate::wire::salesforce::LogRetryUpsert {
            retry_at: self.now_datetime(),
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, &body)
            .await
    }

    /// The call controller's word on the Task of the offer `call_id`: refused for `error`, or
    /// (`None`) being sent again, which also clears the agent's retry request.
    pub async fn report_log_error(
        &self,
        call_id: &str,
        error: Option<&str>,
    ) -> Result<(), SyncError> {
        // Log_Error__c is Text(255): a longer reason is cut, on a character boundary.
        let error = error.map(|error| match error.char_indices().nth(255) {
            Some((at, _)) => &error[..at],
            None => error,
        });
        let body = crate::wire::salesforce::LogErrorUpsert {
            error,
            retry_at: None,
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, &body)
            .await
    }

    pub async fn place_call(&self, call_id: &str, number: &str) -> Result<(), SyncError> {
        let body = OutboundCallUpsert {
            name: call_id,
            user: &self.user_id,
            kind: "Outbound",
            to_number: number,
            status: "Offered",
            offered_at: self.now_datetime(),
        };
        self.upsert("Agent_Call__c", "Call_Id__c", call_id, &body)
            .await
    }

    /// Writes a call log as a `Task`, by upsert on `Call_Log_Key__c`: a retry never duplicates.
    pub async fn log_call(&self, log: &CallLog) -> Result<(), SyncError> {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let body = TaskUpsert::new(log, today);
        self.upsert("Task", "Call_Log_Key__c", &log.key, &body)
            .await
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
                wire::NO_BODY,
            )
            .await?;
        let answer: SearchAnswer = wire::parse("a SOSL search answer", &body)?;
        Ok(answer
            .search_records
            .into_iter()
            .next()
            .map(wire::salesforce::SearchRecord::into_caller))
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
        let centers: QueryPage<CallCenterRecord> = self.query(CallCenterRecord::SOQL).await?;
        let center = centers
            .records
            .into_iter()
            .next()
            .ok_or(CallCenterError::Missing)?;
        let states: QueryPage<PresenceStateRecord> = self
            .query(&PresenceStateRecord::soql(&soql_literal(&center.id)))
            .await?;
        let mut config = CallCenterConfig::shipped_default_unvalidated();
        if let Some(seconds) = center.wrap_up_seconds {
            config.settings.wrap_up_seconds = seconds.clamp(0.0, f64::from(u32::MAX)) as u32;
        }
        if let Some(routing) = center.presence_routing {
            config.settings.presence_routing = routing;
        }
        if let Some(log) = center.log_missed_calls {
            config.settings.log_missed_calls = log;
        }
        if let Some(direction) = center.sync_direction.as_deref() {
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
        for record in states.records {
            let label = record.label.unwrap_or_default();
            let class_text = record.class.unwrap_or_default();
            let class =
                PresenceClass::parse(&class_text).ok_or_else(|| CallCenterError::BadState {
                    state: label.clone(),
                    problem: format!("unknown Class__c {class_text:?}"),
                })?;
            let teams = match (&record.teams_availability, &record.teams_activity) {
                (Some(availability), Some(activity)) => {
                    Some(TeamsPair::parse(availability, activity))
                }
                _ => None,
            };
            parsed.push(PresenceStateDef {
                label,
                class,
                teams,
                selectable: record.selectable.unwrap_or(false),
                signals_inbound: record.signals_inbound.unwrap_or(false),
                allows_outbound: record.allows_outbound.unwrap_or(false),
                sort_order: record.sort_order.unwrap_or(0.0).max(0.0) as u32,
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
