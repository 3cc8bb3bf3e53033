//! The Streaming API's CometD (Bayeux 1.0) messages: the requests we send, the replies and
//! events we read, and errors in the protocol's `code:args:message` form (`403::Unknown client`,
//! `400::The replayId {5} you provided was invalid. …`; the same forms Salesforce's
//! EMP-Connector and other clients handle).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `/meta/handshake` with the replay extension.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake<'a> {
    pub channel: &'static str,
    pub version: &'static str,
    pub minimum_version: &'static str,
    pub supported_connection_types: [&'static str; 1],
    pub ext: ReplayOn,
    pub id: &'a str,
}

impl<'a> Handshake<'a> {
    pub fn new(id: &'a str) -> Self {
        Self {
            channel: "/meta/handshake",
            version: "1.0",
            minimum_version: "1.0",
            supported_connection_types: ["long-polling"],
            ext: ReplayOn { replay: true },
            id,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReplayOn {
    pub replay: bool,
}

/// `/meta/subscribe` from the replay ids of the channels (`-1`: new events only).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscribe<'a> {
    pub channel: &'static str,
    pub client_id: &'a str,
    pub subscription: &'a str,
    pub ext: ReplayFrom<'a>,
    pub id: &'a str,
}

/// The replay extension's map: channel → replay id.
#[derive(Debug, Serialize)]
pub struct ReplayFrom<'a> {
    pub replay: &'a BTreeMap<String, i64>,
}

/// `/meta/connect`, one long poll.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connect<'a> {
    pub channel: &'static str,
    pub client_id: &'a str,
    pub connection_type: &'static str,
    pub id: &'a str,
}

/// A message from the server: a reply on a `/meta/` channel, or an event on a topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub successful: Option<bool>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub ext: Option<Ext>,
    #[serde(default)]
    pub data: Option<EventData>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ext {
    #[serde(default)]
    pub sfdc: Option<SfdcExt>,
}

/// Salesforce's own extension: why a handshake failed (`401::Authentication invalid`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SfdcExt {
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// A PushTopic event: the record and its replay id.
#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    #[serde(default)]
    pub event: Option<EventInfo>,
    #[serde(default)]
    pub sobject: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    pub replay_id: i64,
}

impl Message {
    pub fn succeeded(&self) -> bool {
        self.successful == Some(true)
    }

    /// Why the server refused, in the protocol's form; Salesforce's `failureReason` first.
    pub fn failure(&self) -> BayeuxError {
        let text = self
            .ext
            .as_ref()
            .and_then(|ext| ext.sfdc.as_ref())
            .and_then(|sfdc| sfdc.failure_reason.as_deref())
            .or(self.error.as_deref())
            .unwrap_or("refused without a reason");
        BayeuxError::parse(text)
    }

    /// The event's record and replay id, if this is an event.
    pub fn event(&self) -> Option<(&Map<String, Value>, i64)> {
        let data = self.data.as_ref()?;
        Some((data.sobject.as_ref()?, data.event.as_ref()?.replay_id))
    }
}

/// A Bayeux error: `code:args:message` (the code may be missing, args are comma-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayeuxError {
    pub code: Option<u16>,
    pub args: Vec<String>,
    pub message: String,
}

impl BayeuxError {
    /// Reads an error string; one that is not in the protocol's form is all message.
    pub fn parse(text: &str) -> Self {
        let mut parts = text.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(code), Some(args), Some(message)) if code.trim().parse::<u16>().is_ok() => Self {
                code: code.trim().parse().ok(),
                args: args
                    .split(',')
                    .filter(|arg| !arg.is_empty())
                    .map(str::to_string)
                    .collect(),
                message: message.trim().to_string(),
            },
            _ => Self {
                code: None,
                args: Vec::new(),
                message: text.trim().to_string(),
            },
        }
    }

    /// 401: the access token was refused (refresh it, then handshake again).
    pub fn is_unauthorized(&self) -> bool {
        self.code == Some(401)
    }

    /// 400 for a replay id outside the retention window: subscribe from new events.
    pub fn is_invalid_replay_id(&self) -> bool {
        self.code == Some(400) && self.message.starts_with("The replayId")
    }
}

impl std::fmt::Display for BayeuxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{code}:{}:{}", self.args.join(","), self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bayeux_errors_are_read_in_the_protocols_form() {
        let unknown = BayeuxError::parse("403::Unknown client");
        assert_eq!(unknown.code, Some(403));
        assert!(unknown.args.is_empty());
        assert_eq!(unknown.message, "Unknown client");
        assert_eq!(unknown.to_string(), "403::Unknown client");
        let replay = BayeuxError::parse("400::The replayId {5} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.");
        assert!(replay.is_invalid_replay_id());
        assert!(!replay.is_unauthorized());
        assert!(BayeuxError::parse("401::Authentication invalid").is_unauthorized());
        let denied = BayeuxError::parse("403:denied_by_security_policy,create_denied:Forbidden");
        assert_eq!(denied.args, ["denied_by_security_policy", "create_denied"]);
        let free = BayeuxError::parse("handshake refused: 3 tries");
        assert_eq!(
            (free.code, free.message.as_str()),
            (None, "handshake refused: 3 tries")
        );
    }

    #[test]
    fn messages_read_replies_and_events_and_the_requests_are_written_as_cometd_wants() {
        let reply: Message = serde_json::from_value(json!({
            "channel": "/meta/handshake", "successful": false,
            "ext": {"sfdc": {"failureReason": "401::Authentication invalid"}}, "advice": {"reconnect": "none"}
        }))
        .expect("parses");
        assert!(!reply.succeeded());
        assert!(reply.failure().is_unauthorized());
        let event: Message = serde_json::from_value(json!({
            "channel": "/topic/AgentPresence", "data": {"event": {"replayId": 13, "type": "updated"}, "sobject": {"State__c": "Busy"}}
        }))
        .expect("parses");
        let (record, replay) = event.event().expect("an event");
        assert_eq!((record["State__c"].as_str(), replay), (Some("Busy"), 13));
        assert_eq!(
            serde_json::to_value(Handshake::new("1")).expect("json"),
            json!({"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
                   "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}, "id": "1"})
        );
        let replay = BTreeMap::from([("/topic/AgentPresence".to_string(), -1)]);
        let subscribe = Subscribe {
            channel: "/meta/subscribe",
            client_id: "c",
            subscription: "/topic/AgentPresence",
            ext: ReplayFrom { replay: &replay },
            id: "2",
        };
        assert_eq!(
            serde_json::to_value(subscribe).expect("json")["ext"]["replay"]["/topic/AgentPresence"],
            -1
        );
    }
}
