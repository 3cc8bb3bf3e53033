//! JSON shapes as the clouds send them, named like the APIs. Unknown fields are ignored and
//! unknown enum values kept as text; conversion to engine types happens once, here.

use presence_core::{CallKind, CallOffer, CallProgress, SalesforceObservation, TeamsPresence};
use serde::Deserialize;
use serde_json::Value;

/// Graph `presence`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphPresence {
    #[serde(default)]
    pub availability: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default)]
    pub out_of_office_settings: Option<OutOfOfficeSettings>,
    #[serde(default)]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutOfOfficeSettings {
    #[serde(default)]
    pub is_out_of_office: Option<bool>,
}

impl GraphPresence {
    pub fn into_presence(self) -> TeamsPresence {
        let presence = TeamsPresence::from_graph(
            self.availability.as_deref().unwrap_or("PresenceUnknown"),
            self.activity.as_deref().unwrap_or("PresenceUnknown"),
            self.out_of_office_settings
                .and_then(|s| s.is_out_of_office)
                .unwrap_or(false),
        );
        match self.sequence_number {
            Some(sequence) => presence.with_sequence(sequence),
            None => presence,
        }
    }
}

/// Graph `user` (the fields we read).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphUser {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Salesforce userinfo.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    pub user_id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// A SOQL query page.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPage {
    #[serde(default)]
    pub records: Vec<serde_json::Map<String, Value>>,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub next_records_url: Option<String>,
}

/// SOSL search answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchAnswer {
    #[serde(default)]
    pub search_records: Vec<serde_json::Map<String, Value>>,
}

fn text(record: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
    record
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The `Agent_Presence__c` fields [`presence_observation`] reads (what queries select).
pub const PRESENCE_FIELDS: &str = "State__c, Origin_Client__c, Sequence__c";

/// The `Agent_Call__c` fields [`call_event`] reads (what queries select).
pub const CALL_FIELDS: &str = "Call_Id__c, Kind__c, Status__c, From_Number__c, To_Number__c";

/// An `Agent_Presence__c` record (from a query or a stream event) as an observation.
pub fn presence_observation(
    record: &serde_json::Map<String, Value>,
) -> Option<SalesforceObservation> {
    Some(SalesforceObservation {
        state: text(record, "State__c")?,
        origin_client: text(record, "Origin_Client__c"),
        sequence: record
            .get("Sequence__c")
            .and_then(Value::as_f64)
            .map(|n| n.max(0.0) as u64),
    })
}

/// What an `Agent_Call__c` change means for the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Offered(CallOffer),
    Progress {
        call_id: String,
        progress: CallProgress,
    },
}

/// Turns an `Agent_Call__c` record into an engine event, if it is one.
pub fn call_event(record: &serde_json::Map<String, Value>) -> Option<CallEvent> {
    let call_id = text(record, "Call_Id__c")?;
    let kind = match text(record, "Kind__c")?.as_str() {
        "Direct" => CallKind::Direct,
        "Queue" => CallKind::Queue,
        "Internal" => CallKind::Internal,
        "Outbound" => CallKind::Outbound,
        _ => return None,
    };
    let status = text(record, "Status__c")?;
    match status.as_str() {
        "Offered" if kind != CallKind::Outbound => Some(CallEvent::Offered(CallOffer {
            call_id,
            kind,
            from_number: text(record, "From_Number__c").unwrap_or_default(),
            to_number: text(record, "To_Number__c").unwrap_or_default(),
        })),
        "Answered" => Some(CallEvent::Progress {
            call_id,
            progress: CallProgress::Answered,
        }),
        "CallerHungUp" => Some(CallEvent::Progress {
            call_id,
            progress: CallProgress::CallerHungUp,
        }),
        "Missed" => Some(CallEvent::Progress {
            call_id,
            progress: CallProgress::Missed,
        }),
        "Declined" => Some(CallEvent::Progress {
            call_id,
            progress: CallProgress::Declined,
        }),
        "Ended" => Some(CallEvent::Progress {
            call_id,
            progress: CallProgress::Ended,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn graph_presence_tolerates_unknown_fields_and_values() {
        let wire: GraphPresence = serde_json::from_value(json!({
            "@odata.context": "x", "id": "1", "availability": "busy", "activity": "InACall",
            "statusMessage": null, "workLocation": {"workLocationType": "remote"},
            "outOfOfficeSettings": {"isOutOfOffice": true, "message": null},
            "sequenceNumber": "C2C01"
        }))
        .expect("parses");
        let presence = wire.into_presence();
        assert!(presence.out_of_office);
        assert_eq!(presence.pair.activity.as_str(), "InACall");
        assert_eq!(presence.sequence.as_deref(), Some("C2C01"));
        // A wrong type is an error to classify, never a panic.
        assert!(serde_json::from_value::<GraphPresence>(json!({"availability": 5})).is_err());
        let empty: GraphPresence = serde_json::from_value(json!({})).expect("all optional");
        assert_eq!(
            empty.into_presence().class(),
            presence_core::PresenceClass::Unknown
        );
    }

    #[test]
    fn call_records_become_engine_events() {
        let offered = json!({"Call_Id__c": "c1", "Kind__c": "Direct", "Status__c": "Offered", "From_Number__c": "+1"});
        assert!(matches!(
            call_event(offered.as_object().expect("map")),
            Some(CallEvent::Offered(_))
        ));
        let outbound = json!({"Call_Id__c": "c2", "Kind__c": "Outbound", "Status__c": "Offered"});
        assert_eq!(call_event(outbound.as_object().expect("map")), None);
        let weird =
            json!({"Call_Id__c": "c3", "Kind__c": "Carrier pigeon", "Status__c": "Offered"});
        assert_eq!(call_event(weird.as_object().expect("map")), None);
    }
}
