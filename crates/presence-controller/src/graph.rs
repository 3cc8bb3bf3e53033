//! Graph's cloud communications API as the bot uses it: the notifications it is sent (typed
//! wire structs, parsed tolerantly: `subcode`/`subCode`, numbers as strings) and the actions it
//! takes (answer, redirect, transfer, invite, play a prompt, hang up), one method each, with
//! an app-only token from client credentials. Wire facts: `../shared/reference/teams-calling.md`.

use std::sync::Arc;

use presence_sync::auth::TokenSource;
use presence_sync::request::send_authorized;
use presence_sync::SyncError;
use serde::Deserialize;
use serde_json::{json, Value};

/// A `commsNotifications` POST.
#[derive(Debug, Clone, Deserialize)]
pub struct Notifications {
    #[serde(default)]
    pub value: Vec<Notification>,
}

/// One `commsNotification`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default)]
    pub change_type: String,
    #[serde(default)]
    pub resource_url: String,
    #[serde(default)]
    pub resource_data: Value,
}

/// The `resultInfo` of an ended call or a finished operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultInfo {
    pub code: u32,
    pub subcode: u32,
}

fn number(value: &Value) -> Option<u32> {
    value
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .or_else(|| value.as_str()?.trim().parse().ok())
}

impl ResultInfo {
    fn of(value: &Value) -> Option<Self> {
        let info = value.get("resultInfo")?;
        Some(Self {
            code: number(&info["code"]).unwrap_or(0),
            subcode: number(info.get("subcode").or_else(|| info.get("subCode"))?).unwrap_or(0),
        })
    }
}

/// What a notification says, in the controller's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A new call for one of the bot's resource accounts.
    Incoming {
        call: String,
        from: String,
        resource_account: String,
    },
    /// The call leg changed state (`establishing`, `established`, `transferring`, …).
    State { call: String, state: String },
    /// The call leg ended (`terminated`).
    Ended { call: String, result: ResultInfo },
    /// A long-running action finished (`clientContext` names which).
    Operation {
        call: String,
        client_context: String,
        succeeded: bool,
    },
    /// The roster changed; the users now in the call.
    Roster { call: String, users: Vec<String> },
    /// A transfer failed: the call is `established` again, with a failure's `resultInfo`.
    TransferFailed { call: String },
}

/// The call id in a resource path (`/communications/calls/{id}…` or `/app/calls/{id}…`).
fn call_of(resource: &str) -> Option<String> {
    let rest = resource
        .split_once("/calls/")
        .map(|(_, rest)| rest)
        .filter(|rest| !rest.is_empty())?;
    Some(rest.split('/').next().unwrap_or(rest).to_string())
}

impl Notification {
    /// What this notification means, or `None` for one the controller has no use for (the
    /// reason is logged by the caller).
    pub fn event(&self) -> Option<CallEvent> {
        let call = call_of(&self.resource_url)?;
        let data = &self.resource_data;
        if self.resource_url.contains("/operations/") {
            let status = data["status"].as_str().unwrap_or("").to_ascii_lowercase();
            if status != "completed" && status != "failed" {
                return None;
            }
            return Some(CallEvent::Operation {
                call,
                client_context: data["clientContext"].as_str().unwrap_or("").to_string(),
                succeeded: status == "completed",
            });
        }
        if self.resource_url.ends_with("/participants") {
            let users = data
                .as_array()
                .map(|people| {
                    people
                        .iter()
                        .filter_map(|p| p["info"]["identity"]["user"]["id"].as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            return Some(CallEvent::Roster { call, users });
        }
        let state = data["state"].as_str().unwrap_or("").to_string();
        if self.change_type == "created" && state == "incoming" {
            return Some(CallEvent::Incoming {
                call,
                from: data["source"]["identity"]["phone"]["id"]
                    .as_str()
                    .or_else(|| data["source"]["identity"]["user"]["displayName"].as_str())
                    .unwrap_or("")
                    .to_string(),
                resource_account: data["targets"][0]["identity"]["applicationInstance"]["id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            });
        }
        if self.change_type == "deleted" || state == "terminated" {
            return Some(CallEvent::Ended {
                call,
                result: ResultInfo::of(data).unwrap_or_default(),
            });
        }
        if state == "established" && ResultInfo::of(data).is_some_and(|r| r.code >= 400) {
            return Some(CallEvent::TransferFailed { call });
        }
        (!state.is_empty()).then_some(CallEvent::State { call, state })
    }
}

/// The bot's hands on Graph.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenSource>,
}

fn user(id: &str) -> Value {
    json!({ "@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": { "user": { "id": id } } })
}

impl GraphClient {
    pub fn new(http: reqwest::Client, graph_base: &str, tokens: Arc<TokenSource>) -> Self {
        Self {
            http,
            base: format!("{}/v1.0", graph_base.trim_end_matches('/')),
            tokens,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Result<Vec<u8>, SyncError> {
        let url = format!("{}{path}", self.base);
        send_authorized(
            &self.http,
            &self.tokens,
            reqwest::Method::POST,
            &url,
            Some(&body),
        )
        .await
    }

    /// The Entra object id of a user (their UPN or id).
    pub async fn user_id(&self, upn: &str) -> Result<String, SyncError> {
        let url = format!(
            "{}/users/{}",
            self.base,
            url::form_urlencoded::byte_serialize(upn.as_bytes()).collect::<String>()
        );
        let body =
            send_authorized(&self.http, &self.tokens, reqwest::Method::GET, &url, None).await?;
        let user: Value = serde_json::from_slice(&body).map_err(|source| SyncError::Malformed {
            what: "a Graph user",
            source: Some(source),
        })?;
        user["id"]
            .as_str()
            .map(str::to_string)
            .ok_or(SyncError::Malformed {
                what: "a Graph user with an id",
                source: None,
            })
    }

    /// Answers with service-hosted media (Teams plays the prompts); later notifications of
    /// the call go to `callback`.
    pub async fn answer(&self, call: &str, callback: &str, prompt: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/answer"),
            json!({
                "callbackUri": callback,
                "acceptedModalities": ["audio"],
                "mediaConfig": { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig",
                    "preFetchMedia": [ { "uri": prompt, "resourceId": "ringback" } ] },
            }),
        )
        .await
        .map(drop)
    }

    /// Turns a call away (a number no line is configured for).
    pub async fn reject(&self, call: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/reject"),
            json!({ "reason": "none" }),
        )
        .await
        .map(drop)
    }

    /// Sends an unanswered call to a user's own Teams: their rules (forwarding, voicemail)
    /// apply; the bot is out of the call once it is taken.
    pub async fn redirect(
        &self,
        call: &str,
        user_id: &str,
        timeout_s: u64,
        callback: &str,
    ) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/redirect"),
            json!({ "targets": [ user(user_id) ], "timeout": timeout_s, "callbackUri": callback }),
        )
        .await
        .map(drop)
    }

    /// Hands an answered call to a user's own Teams (the bot leaves once it is taken).
    pub async fn transfer(&self, call: &str, user_id: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/transfer"),
            json!({ "transferTarget": { "endpointType": "default", "identity": { "user": { "id": user_id } } } }),
        )
        .await
        .map(drop)
    }

    /// Hands an answered call to a phone number (the bot leaves once it answers; a failure
    /// comes back as the call `established` again). The bot needs a resource account for it.
    pub async fn transfer_to_phone(&self, call: &str, number: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/transfer"),
            json!({ "transferTarget": { "endpointType": "default", "identity": { "phone": { "id": number } } } }),
        )
        .await
        .map(drop)
    }

    /// Invites a user into the call: their Teams rings; the operation's end says whether they
    /// joined. The bot stays in the call (and so sees its end and its length).
    pub async fn invite(&self, call: &str, user_id: &str, context: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/participants/invite"),
            json!({ "participants": [ user(user_id) ], "clientContext": context }),
        )
        .await
        .map(drop)
    }

    /// Places a call from one of the bot's resource accounts (the agent's line, so it is a
    /// PSTN-capable instance) to a user's Teams, with service-hosted media; returns the call's
    /// id. Not retried by the caller: a create that seemed to fail may have rung the user.
    pub async fn place(
        &self,
        resource_account: &str,
        user_id: &str,
        callback: &str,
    ) -> Result<String, SyncError> {
        let body = self
            .post(
                "/communications/calls",
                json!({
                    "@odata.type": "#microsoft.graph.call",
                    "callbackUri": callback,
                    "source": { "@odata.type": "#microsoft.graph.participantInfo",
                        "identity": { "applicationInstance": { "id": resource_account } } },
                    "targets": [ user(user_id) ],
                    "requestedModalities": ["audio"],
                    "mediaConfig": { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
                }),
            )
            .await?;
        let call: Value = serde_json::from_slice(&body).map_err(|source| SyncError::Malformed {
            what: "a created Graph call",
            source: Some(source),
        })?;
        call["id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or(SyncError::Malformed {
                what: "a created Graph call with an id",
                source: None,
            })
    }

    /// Dials a phone number (E.164) into the call: the operation's end says whether it
    /// answered.
    pub async fn dial(&self, call: &str, number: &str, context: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/participants/invite"),
            json!({ "participants": [ { "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                "identity": { "phone": { "id": number } } } ], "clientContext": context }),
        )
        .await
        .map(drop)
    }

    pub async fn play_prompt(&self, call: &str, uri: &str, context: &str) -> Result<(), SyncError> {
        self.post(
            &format!("/communications/calls/{call}/playPrompt"),
            json!({ "prompts": [ { "@odata.type": "#microsoft.graph.mediaPrompt", "mediaInfo": { "uri": uri, "resourceId": context } } ],
                "clientContext": context }),
        )
        .await
        .map(drop)
    }

    /// The call leg's state now, or `None` when Graph no longer knows the call (it ended).
    pub async fn state(&self, call: &str) -> Result<Option<String>, SyncError> {
        let url = format!("{}/communications/calls/{call}", self.base);
        match send_authorized(&self.http, &self.tokens, reqwest::Method::GET, &url, None).await {
            Ok(body) => {
                let leg: Value =
                    serde_json::from_slice(&body).map_err(|source| SyncError::Malformed {
                        what: "a Graph call",
                        source: Some(source),
                    })?;
                Ok(leg["state"].as_str().map(str::to_string))
            }
            Err(SyncError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The bot hangs up (an answered call ends for everyone in a peer-to-peer call).
    pub async fn hang_up(&self, call: &str) -> Result<(), SyncError> {
        let url = format!("{}/communications/calls/{call}", self.base);
        send_authorized(
            &self.http,
            &self.tokens,
            reqwest::Method::DELETE,
            &url,
            None,
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Option<CallEvent> {
        serde_json::from_value::<Notification>(value).ok()?.event()
    }

    #[test]
    fn notifications_are_read_as_graph_sends_them() {
        let incoming = parse(
            json!({ "changeType": "created", "resourceUrl": "/communications/calls/c1",
            "resourceData": { "state": "incoming", "source": { "identity": { "phone": { "id": "+14155550100" } } },
                "targets": [ { "identity": { "applicationInstance": { "id": "ra-1" } } } ] } }),
        );
        assert_eq!(
            incoming,
            Some(CallEvent::Incoming {
                call: "c1".into(),
                from: "+14155550100".into(),
                resource_account: "ra-1".into()
            })
        );
        // subCode spelled the other way, numbers as strings.
        let ended = parse(
            json!({ "changeType": "deleted", "resourceUrl": "/communications/calls/c1",
            "resourceData": { "state": "terminated", "resultInfo": { "code": "200", "subCode": "540000" } } }),
        );
        assert_eq!(
            ended,
            Some(CallEvent::Ended {
                call: "c1".into(),
                result: ResultInfo {
                    code: 200,
                    subcode: 540000
                }
            })
        );
        let op = parse(
            json!({ "changeType": "deleted", "resourceUrl": "/communications/calls/c1/operations/o1",
            "resourceData": { "status": "Completed", "clientContext": "invite" } }),
        );
        assert_eq!(
            op,
            Some(CallEvent::Operation {
                call: "c1".into(),
                client_context: "invite".into(),
                succeeded: true
            })
        );
        let running = parse(
            json!({ "changeType": "updated", "resourceUrl": "/communications/calls/c1/operations/o1",
            "resourceData": { "status": "running" } }),
        );
        assert_eq!(running, None);
        assert_eq!(parse(json!({ "resourceUrl": "/nothing" })), None);
    }
}
