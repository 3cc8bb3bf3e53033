//! Salesforce: our package's records (`Agent_Presence__c`, `Agent_Call__c`, `Call_Center__c`,
//! `Call_Center_Presence_State__c`) as REST queries and Streaming API events carry them, the
//! query and search envelopes, `userinfo`, and the bodies of our upserts. Number fields arrive
//! as JSON numbers that may carry a fraction (`2.0`); empty fields as `null`.

use presence_core::{
    calls::display_text, CallKind, CallLog, CallOffer, CallProgress, CallType, CallerMatch, Input,
    PresenceWrite, SalesforceObservation,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `Agent_Presence__c` fields [`presence_observation`] reads (what queries select).
pub const PRESENCE_FIELDS: &str = "State__c, Origin_Client__c, Sequence__c";

/// The `Agent_Call__c` fields [`call_event`] reads (what queries select).
pub const CALL_FIELDS: &str =
    "Call_Id__c, Kind__c, Status__c, Reason__c, From_Number__c, To_Number__c, Offered_At__c, Logged_By_Controller__c, Log_Error__c";

/// One entry of a REST error answer (`[{"message": …, "errorCode": "INVALID_SESSION_ID"}]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    #[serde(default)]
    pub message: String,
    pub error_code: String,
}

/// The first `errorCode` of a REST error answer, if the body is one.
pub fn error_code(body: &[u8]) -> Option<String> {
    let errors: Vec<ApiError> = serde_json::from_slice(body).ok()?;
    errors.into_iter().next().map(|error| error.error_code)
}

/// Salesforce `userinfo` (the fields we read).
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    pub user_id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// A SOQL query page of records of type `T`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage<T = Map<String, Value>> {
    #[serde(default = "Vec::new")]
    pub records: Vec<T>,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
}

/// A row the streaming fallback polls: its id and modification time, and its fields as a
/// stream event would carry them (read as their object's record where they are used).
#[derive(Debug, Clone, Deserialize)]
pub struct PolledRow {
    #[serde(rename = "Id", default)]
    pub id: Option<String>,
    #[serde(rename = "LastModifiedDate", default)]
    pub last_modified: Option<String>,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A SOSL search answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchAnswer {
    #[serde(default)]
    pub search_records: Vec<SearchRecord>,
}

/// One record a caller search found (`RETURNING Contact(Id, Name), …`).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchRecord {
    pub attributes: RecordAttributes,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
}

/// A record's `attributes`: its object (`Contact`).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordAttributes {
    #[serde(rename = "type")]
    pub object: String,
}

impl SearchRecord {
    pub fn into_caller(self) -> CallerMatch {
        CallerMatch {
            object: self.attributes.object,
            id: self.id,
            name: self.name.unwrap_or_default(),
        }
    }
}

/// An `Agent_Presence__c` record as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentPresenceRecord {
    #[serde(rename = "State__c", default)]
    pub state: Option<String>,
    #[serde(rename = "Origin_Client__c", default)]
    pub origin_client: Option<String>,
    #[serde(rename = "Sequence__c", default)]
    pub sequence: Option<f64>,
}

impl AgentPresenceRecord {
    /// What the engine observes; `None` for a record without a state.
    pub fn into_observation(self) -> Option<SalesforceObservation> {
        Some(SalesforceObservation {
            state: self.state?,
            origin_client: self.origin_client,
            sequence: self.sequence.map(|n| n.max(0.0) as u64),
        })
    }
}

/// An `Agent_Call__c` record as read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentCallRecord {
    #[serde(rename = "Call_Id__c", default)]
    pub call_id: Option<String>,
    #[serde(rename = "Kind__c", default)]
    pub kind: Option<String>,
    #[serde(rename = "Status__c", default)]
    pub status: Option<String>,
    #[serde(rename = "From_Number__c", default)]
    pub from_number: Option<String>,
    #[serde(rename = "To_Number__c", default)]
    pub to_number: Option<String>,
    #[serde(rename = "Reason__c", default)]
    pub reason: Option<String>,
    /// The call controller writes the call's Task (absent from older PushTopics: false).
    #[serde(rename = "Logged_By_Controller__c", default)]
    pub logged_by_controller: Option<bool>,
}

/// What an `Agent_Call__c` change means for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Offered(CallOffer),
    Progress {
        call_id: String,
        progress: CallProgress,
        /// The controller writes this call's Task.
        controller_logs: bool,
    },
}

impl AgentCallRecord {
    /// The engine event this record is, if it is one (our own writes, such as `Signalled`,
    /// and kinds or statuses we do not know are none).
    pub fn into_event(self) -> Option<CallEvent> {
        let call_id = self.call_id?;
        let kind = match self.kind?.as_str() {
            "Direct" => CallKind::Direct,
            "Queue" => CallKind::Queue,
            "Internal" => CallKind::Internal,
            "Outbound" => CallKind::Outbound,
            _ => return None,
        };
        let controller_logs = self.logged_by_controller.unwrap_or(false);
        let progress = match self.status?.as_str() {
            "Offered" if kind != CallKind::Outbound => {
                return Some(CallEvent::Offered(CallOffer {
                    call_id,
                    kind,
                    from_number: self.from_number.unwrap_or_default(),
                    to_number: self.to_number.unwrap_or_default(),
                    controller_logs,
                }))
            }
            // The controller would not place the agent's call (C3 where the call is made).
            "NotSignalled" if kind == CallKind::Outbound => CallProgress::NotPlaced(
                self.reason
                    .unwrap_or_else(|| "the call controller refused it".into()),
            ),
            "Answered" => CallProgress::Answered,
            "CallerHungUp" => CallProgress::CallerHungUp,
            "Missed" => CallProgress::Missed,
            "Declined" => CallProgress::Declined,
            "Ended" => CallProgress::Ended,
            _ => return None,
        };
        Some(CallEvent::Progress {
            call_id,
            progress,
            controller_logs,
        })
    }
}

/// Reads a record of type `T` from an untyped one (a stream event's `sobject`, a polled row),
/// saying so on standard error when it does not fit: a record is never dropped unseen.
fn typed<T: serde::de::DeserializeOwned>(object: &str, record: &Map<String, Value>) -> Option<T> {
    match T::deserialize(Value::Object(record.clone())) {
        Ok(typed) => Some(typed),
        Err(error) => {
            tracing::warn!("an {object} record that does not fit its fields was ignored: {error}");
            None
        }
    }
}

/// An `Agent_Presence__c` record (from a query or a stream event) as an observation.
pub fn presence_observation(record: &Map<String, Value>) -> Option<SalesforceObservation> {
    typed::<AgentPresenceRecord>("Agent_Presence__c", record)?.into_observation()
}

/// Turns an `Agent_Call__c` record into an engine event, if it is one.
pub fn call_event(record: &Map<String, Value>) -> Option<CallEvent> {
    typed::<AgentCallRecord>("Agent_Call__c", record)?.into_event()
}

/// A `Call_Center__c` record (the fields the Call Center query selects).
#[derive(Debug, Clone, Deserialize)]
pub struct CallCenterRecord {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Wrap_Up_Seconds__c", default)]
    pub wrap_up_seconds: Option<f64>,
    #[serde(rename = "Presence_Routing__c", default)]
    pub presence_routing: Option<bool>,
    #[serde(rename = "Sync_Direction__c", default)]
    pub sync_direction: Option<String>,
    #[serde(rename = "Log_Missed_Calls__c", default)]
    pub log_missed_calls: Option<bool>,
}

impl CallCenterRecord {
    pub const SOQL: &'static str = "SELECT Id, Name, Wrap_Up_Seconds__c, Presence_Routing__c, Sync_Direction__c, Log_Missed_Calls__c FROM Call_Center__c ORDER BY Name LIMIT 1";
}

/// A `Call_Center_Presence_State__c` record.
#[derive(Debug, Clone, Deserialize)]
pub struct PresenceStateRecord {
    #[serde(rename = "Name", default)]
    pub label: Option<String>,
    #[serde(rename = "Class__c", default)]
    pub class: Option<String>,
    #[serde(rename = "Teams_Availability__c", default)]
    pub teams_availability: Option<String>,
    #[serde(rename = "Teams_Activity__c", default)]
    pub teams_activity: Option<String>,
    #[serde(rename = "Selectable__c", default)]
    pub selectable: Option<bool>,
    #[serde(rename = "Signals_Inbound__c", default)]
    pub signals_inbound: Option<bool>,
    #[serde(rename = "Allows_Outbound__c", default)]
    pub allows_outbound: Option<bool>,
    #[serde(rename = "Sort_Order__c", default)]
    pub sort_order: Option<f64>,
}

impl PresenceStateRecord {
    /// The states of one Call Center (its id a SOQL literal already), in sort order.
    pub fn soql(call_center_literal: &str) -> String {
        format!(
            "SELECT Name, Class__c, Teams_Availability__c, Teams_Activity__c, Selectable__c, Signals_Inbound__c, Allows_Outbound__c, Sort_Order__c FROM Call_Center_Presence_State__c WHERE Call_Center__c = '{call_center_literal}' ORDER BY Sort_Order__c"
        )
    }
}

/// The upsert of the agent's `Agent_Presence__c` with a new state.
#[derive(Debug, Serialize)]
pub struct PresenceUpsert<'a> {
    #[serde(rename = "State__c")]
    pub state: &'a str,
    #[serde(rename = "Source__c")]
    pub source: &'static str,
    #[serde(rename = "Sequence__c")]
    pub sequence: u64,
    #[serde(rename = "Origin_Client__c")]
    pub origin_client: &'a str,
    #[serde(rename = "Out_Of_Office__c")]
    pub out_of_office: bool,
    #[serde(rename = "Changed_At__c")]
    pub changed_at: String,
    #[serde(rename = "Heartbeat_At__c")]
    pub heartbeat_at: String,
    #[serde(
        rename = "Teams_Availability__c",
        skip_serializing_if = "Option::is_none"
    )]
    pub teams_availability: Option<&'a str>,
    #[serde(rename = "Teams_Activity__c", skip_serializing_if = "Option::is_none")]
    pub teams_activity: Option<&'a str>,
}

impl<'a> PresenceUpsert<'a> {
    /// The record for `write`, stamped `now` (a Salesforce dateTime).
    pub fn new(write: &'a PresenceWrite, now: String) -> Self {
        Self {
            state: &write.state,
            source: write.source.record_value(),
            sequence: write.sequence,
            origin_client: &write.origin_client,
            out_of_office: write.out_of_office,
            changed_at: now.clone(),
            heartbeat_at: now,
            teams_availability: write.teams.as_ref().map(|t| t.availability.as_str()),
            teams_activity: write.teams.as_ref().map(|t| t.activity.as_str()),
        }
    }
}

/// The heartbeat: only `Heartbeat_At__c` changes.
#[derive(Debug, Serialize)]
pub struct HeartbeatUpsert {
    #[serde(rename = "Heartbeat_At__c")]
    pub heartbeat_at: String,
}

/// A change of an `Agent_Call__c`'s status, with the time or reason that goes with it.
#[derive(Debug, Default, Serialize)]
pub struct CallStatusUpsert<'a> {
    #[serde(rename = "Status__c")]
    pub status: &'static str,
    #[serde(rename = "Reason__c", skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(rename = "Answered_At__c", skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    #[serde(rename = "Ended_At__c", skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

/// The agent's Retry of a Task the call controller set aside: the controller, following the
/// offers on its stream, sends it again.
#[derive(Debug, Serialize)]
pub struct LogRetryUpsert {
    #[serde(rename = "Log_Retry_At__c")]
    pub retry_at: String,
}

/// What the call controller says of a call's Task on the agent's offer: refused with the
/// reason, or (`None`, both fields cleared) being sent again.
#[derive(Debug, Serialize)]
pub struct LogErrorUpsert<'a> {
    #[serde(rename = "Log_Error__c")]
    pub error: Option<&'a str>,
    #[serde(rename = "Log_Retry_At__c")]
    pub retry_at: Option<String>,
}

/// What an offer's record says of its Task, for the agent's "not saved" list: `None` when
/// the record does not carry `Log_Error__c` at all (an older PushTopic), else the news.
pub fn controller_log(record: &Map<String, Value>) -> Option<Input> {
    let error = record.get("Log_Error__c")?;
    let text = |field: &str| record.get(field).and_then(Value::as_str);
    let call_id = text("Call_Id__c")?.to_string();
    let number = match text("Kind__c") {
        Some("Outbound") => text("To_Number__c"),
        _ => text("From_Number__c"),
    }
    .map(display_text)
    .unwrap_or_default();
    let at = text("Offered_At__c")
        .and_then(|at| chrono::DateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
        .map(|at| {
            at.with_timezone(&chrono::Local)
                .format("%b %-d, %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "at an unknown time".into());
    let reason = error
        .as_str()
        .filter(|reason| !reason.trim().is_empty())
        .map(display_text);
    Some(Input::ControllerLog {
        call_id,
        number,
        at,
        reason,
    })
}

/// An outbound call the agent places: the controller dials it.
#[derive(Debug, Serialize)]
pub struct OutboundCallUpsert<'a> {
    #[serde(rename = "Name")]
    pub name: &'a str,
    #[serde(rename = "User__c")]
    pub user: &'a str,
    #[serde(rename = "Kind__c")]
    pub kind: &'static str,
    #[serde(rename = "To_Number__c")]
    pub to_number: &'a str,
    #[serde(rename = "Status__c")]
    pub status: &'static str,
    #[serde(rename = "Offered_At__c")]
    pub offered_at: String,
}

/// A call log as a `Task`, upserted on `Call_Log_Key__c`.
#[derive(Debug, Serialize)]
pub struct TaskUpsert<'a> {
    #[serde(rename = "Subject")]
    pub subject: String,
    #[serde(rename = "TaskSubtype")]
    pub task_subtype: &'static str,
    #[serde(rename = "CallType")]
    pub call_type: &'static str,
    #[serde(rename = "CallDisposition")]
    pub disposition: &'a presence_core::Disposition,
    #[serde(rename = "CallDurationInSeconds")]
    pub duration_seconds: u64,
    #[serde(rename = "CallObject")]
    pub call_object: &'a str,
    #[serde(rename = "ActivityDate")]
    pub activity_date: String,
    #[serde(rename = "Status")]
    pub status: &'static str,
    /// The Contact or Lead the caller is.
    #[serde(rename = "WhoId", skip_serializing_if = "Option::is_none")]
    pub who: Option<&'a str>,
    /// The Account the caller is.
    #[serde(rename = "WhatId", skip_serializing_if = "Option::is_none")]
    pub what: Option<&'a str>,
    /// The agent, when the writer is someone else (the call controller's integration user).
    #[serde(rename = "OwnerId", skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
}

/// Longest `Task.Subject` Salesforce takes.
const SUBJECT_MAX_CHARS: usize = 255;

impl<'a> TaskUpsert<'a> {
    /// The Task for `log`, dated `today` (`YYYY-MM-DD`).
    pub fn new(log: &'a CallLog, today: String) -> Self {
        let caller = log.caller.as_ref();
        let is_account = caller.is_some_and(|caller| caller.object == "Account");
        Self {
            subject: log.subject.chars().take(SUBJECT_MAX_CHARS).collect(),
            task_subtype: "Call",
            call_type: match log.call_type {
                CallType::Inbound => "Inbound",
                CallType::Outbound => "Outbound",
                CallType::Internal => "Internal",
            },
            disposition: &log.disposition,
            duration_seconds: log.duration.as_secs(),
            call_object: &log.call_id,
            activity_date: today,
            status: if log.disposition == "Completed" {
                "Completed"
            } else {
                "Not Started"
            },
            who: caller.filter(|_| !is_account).map(|c| c.id.as_str()),
            what: caller.filter(|_| is_account).map(|c| c.id.as_str()),
            owner: log.owner.as_deref(),
        }
    }
}

#[cfg(test)]
#[path = "salesforce_tests.rs"]
mod tests;
