//! Microsoft Graph: `presence` and `user` as read, and the bodies of the presence calls
//! (`setUserPreferredPresence`, `setPresence`, `clearPresence`).

use presence_core::{TeamsPair, TeamsPresence};
use serde::{Deserialize, Serialize};

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

/// `POST /me/presence/setUserPreferredPresence` (no expiration: it lasts until cleared).
#[derive(Debug, Serialize)]
pub struct PreferredPresence<'a> {
    pub availability: &'a str,
    pub activity: &'a str,
}

impl<'a> PreferredPresence<'a> {
    pub fn new(pair: &'a TeamsPair) -> Self {
        Self {
            availability: pair.availability.as_str(),
            activity: pair.activity.as_str(),
        }
    }
}

/// `POST /me/presence/setPresence`: the app's own presence session.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPresence<'a> {
    pub session_id: &'a str,
    pub availability: &'a str,
    pub activity: &'a str,
    /// ISO 8601 duration, 5 minutes to 4 hours.
    pub expiration_duration: &'static str,
}

/// `POST /me/presence/clearPresence`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClearSession<'a> {
    pub session_id: &'a str,
}

/// A request without parameters (`clearUserPreferredPresence`): `{}`.
#[derive(Debug, Serialize)]
pub struct NoParameters {}

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
    fn the_presence_bodies_are_written_as_graph_documents_them() {
        let pair = TeamsPair::parse("DoNotDisturb", "Presenting");
        assert_eq!(
            serde_json::to_value(PreferredPresence::new(&pair)).expect("json"),
            json!({ "availability": "DoNotDisturb", "activity": "Presenting" })
        );
        let session = SessionPresence {
            session_id: "app",
            availability: "Busy",
            activity: "InACall",
            expiration_duration: "PT1H",
        };
        assert_eq!(
            serde_json::to_value(session).expect("json"),
            json!({ "sessionId": "app", "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H" })
        );
        assert_eq!(
            serde_json::to_value(ClearSession { session_id: "app" }).expect("json"),
            json!({ "sessionId": "app" })
        );
        assert_eq!(
            serde_json::to_value(NoParameters {}).expect("json"),
            json!({})
        );
    }
}
