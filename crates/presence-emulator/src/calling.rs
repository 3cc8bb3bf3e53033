//! Microsoft's side of a Teams call to our calling bot (Graph's cloud communications API), as
//! `../shared/reference/teams-calling.md` §6 describes it: the bot app and the resource
//! accounts (numbers) it owns, each call leg the bot owns with its state machine, the
//! operations it starts (prompts, invitations), the `commsNotifications` it is sent, and the
//! agents' own Teams clients that ring when the bot redirects, transfers or invites.
//!
//! Everything here is a pure change of the [`World`]; the agents' Teams clients and the
//! control-API calls' outcomes are in `teams_clients.rs`, the routes in `calling_api.rs`, and
//! notifications leave through `calling_api::deliver_forever`. Where the public documentation
//! does not pin a behaviour down, the choice is named in the emulator's README.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{json, Value};

use crate::ids;
use crate::world::World;

/// The registered calling bot: its app (client id and secret for client credentials) and the
/// calling webhook set on its Teams channel.
#[derive(Debug, Clone, Serialize)]
pub struct CallingBot {
    pub app_id: String,
    #[serde(skip)]
    pub client_secret: String,
    pub display_name: String,
    /// Where incoming-call notifications go; without one, calls to the bot's numbers cannot
    /// be reached.
    pub webhook: Option<String>,
    /// A certificate (PEM) the notifier trusts besides the public roots (a webhook with a
    /// self-signed certificate, as in the demo).
    #[serde(skip)]
    pub trust_pem: Option<String>,
}

/// A resource account (application instance) bound to the bot, with its phone number.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceAccount {
    pub id: String,
    pub display_name: String,
    pub number: String,
}

/// The state of a call leg the bot owns (Graph's `callState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LegState {
    Incoming,
    /// Redirected: ringing the target; the bot is out once it resolves.
    Redirecting,
    Establishing,
    Established,
    Transferring,
    Terminating,
    Terminated,
}

impl LegState {
    pub fn name(self) -> &'static str {
        match self {
            LegState::Incoming => "incoming",
            LegState::Redirecting => "redirecting",
            LegState::Establishing => "establishing",
            LegState::Established => "established",
            LegState::Transferring => "transferring",
            LegState::Terminating => "terminating",
            LegState::Terminated => "terminated",
        }
    }
}

/// Why an agent's Teams client rings for a bot's call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum RingReason {
    /// A Teams user called the agent (no bot in the call).
    Internal,
    Redirect,
    Transfer,
    Invite {
        operation: String,
        client_context: Option<String>,
    },
    /// The bot called the agent (the first leg of an outbound call the agent asked for).
    Placed,
}

/// An agent's own Teams client ringing for a call.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TeamsRing {
    pub agent: usize,
    pub call: String,
    pub reason: RingReason,
    #[serde(skip)]
    pub rang_ms: i64,
    #[serde(skip)]
    pub deadline_ms: i64,
}

/// A long-running action still to complete (a prompt being played).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    pub id: String,
    pub kind: String,
    pub client_context: Option<String>,
    #[serde(skip)]
    pub due_ms: i64,
}

/// One call leg the bot owns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphCall {
    pub id: String,
    pub state: LegState,
    pub source_number: String,
    /// The resource account called.
    pub account: usize,
    pub callback_uri: Option<String>,
    pub created_ms: i64,
    /// Answer, reject or redirect by then (15 s), or the caller hears "could not be reached".
    #[serde(skip)]
    pub answer_deadline_ms: Option<i64>,
    /// Agents in the call besides the caller and the bot (joined through an invitation).
    pub joined: Vec<usize>,
    pub operations: Vec<PendingOperation>,
    /// What the bot did, in order (`answer`, `playPrompt`, `invite`, …): for checks.
    pub actions: Vec<String>,
    pub result: Option<(u32, u32, String)>,
    /// A call the bot placed (outgoing): the Teams user it called.
    pub placed_to: Option<usize>,
    /// The media URIs of the prompts played, in order: for checks.
    pub prompts: Vec<String>,
    /// A PSTN number invited into a placed call, until it answers.
    pub far_end: Option<crate::calling_outbound::FarEnd>,
}

/// A notification waiting to be POSTed to the bot.
#[derive(Debug, Clone)]
pub struct Notification {
    pub url: String,
    pub call: String,
    /// The incoming-call notification: if the bot does not acknowledge it, the call fails.
    pub incoming: bool,
    pub body: Value,
}

/// Microsoft's calling side of the tenant.
#[derive(Debug, Clone)]
pub struct Calling {
    pub bot: CallingBot,
    pub accounts: Vec<ResourceAccount>,
    pub legs: BTreeMap<String, GraphCall>,
    pub rings: Vec<TeamsRing>,
    pub outgoing: VecDeque<Notification>,
    /// Webhook deliveries as answered, the latest first dropped (status, or 0 for none).
    pub deliveries: VecDeque<(String, u16)>,
}

impl Default for Calling {
    fn default() -> Self {
        Self {
            bot: CallingBot {
                app_id: ids::guid(),
                client_secret: ids::token("bot~"),
                display_name: "Presence Bridge".into(),
                webhook: None,
                trust_pem: None,
            },
            accounts: Vec::new(),
            legs: BTreeMap::new(),
            rings: Vec::new(),
            outgoing: VecDeque::new(),
            deliveries: VecDeque::new(),
        }
    }
}

/// An action refused: its HTTP status and Graph error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl CallError {
    pub(crate) fn not_found() -> Self {
        Self {
            status: 404,
            code: "8522".into(),
            message: "Call not found.".into(),
        }
    }

    fn wrong_state(action: &str, state: LegState) -> Self {
        Self {
            status: 400,
            code: "InvalidCallState".into(),
            message: format!(
                "{action} is not allowed while the call is {}.",
                state.name()
            ),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "BadRequest".into(),
            message: message.into(),
        }
    }
}

pub(crate) fn result_info(code: u32, subcode: u32, message: &str) -> Value {
    json!({ "@odata.type": "#microsoft.graph.resultInfo", "code": code, "subcode": subcode, "message": message })
}

impl World {
    /// The call leg's JSON as Graph shows it (GET, and `resourceData` of notifications).
    pub fn leg_json(&self, leg: &GraphCall) -> Value {
        let account = self.calling.accounts.get(leg.account);
        let instance = json!({ "applicationInstance": {
            "id": account.map(|a| a.id.clone()), "displayName": account.map(|a| a.display_name.clone()),
            "tenantId": self.tenant_id } });
        if let Some(agent) = leg.placed_to.and_then(|agent| self.agents.get(agent)) {
            let mut call = json!({
                "@odata.type": "#microsoft.graph.call",
                "id": leg.id,
                "state": leg.state.name(),
                "direction": "outgoing",
                "callbackUri": leg.callback_uri.clone().or_else(|| self.calling.bot.webhook.clone()),
                "source": { "@odata.type": "#microsoft.graph.participantInfo", "identity": instance },
                "targets": [ { "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                    "identity": { "user": { "id": agent.graph_id, "displayName": agent.display_name, "tenantId": self.tenant_id } } } ],
                "requestedModalities": ["audio"],
                "mediaConfig": { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
                "tenantId": self.tenant_id,
                "myParticipantId": format!("{}-bot", leg.id),
                "callChainId": leg.id,
            });
            if let Some((code, subcode, message)) = &leg.result {
                call["resultInfo"] = result_info(*code, *subcode, message);
            }
            return call;
        }
        let mut call = json!({
            "@odata.type": "#microsoft.graph.call",
            "id": leg.id,
            "state": leg.state.name(),
            "direction": "incoming",
            "callbackUri": leg.callback_uri.clone().or_else(|| self.calling.bot.webhook.clone()),
            "source": { "@odata.type": "#microsoft.graph.participantInfo",
                "identity": { "phone": { "id": leg.source_number } }, "endpointType": "default", "region": "amer" },
            "targets": [ { "@odata.type": "#microsoft.graph.invitationParticipantInfo",
                "identity": { "applicationInstance": {
                    "id": account.map(|a| a.id.clone()), "displayName": account.map(|a| a.display_name.clone()),
                    "tenantId": self.tenant_id } },
                "endpointType": "default" } ],
            "requestedModalities": ["audio"],
            "tenantId": self.tenant_id,
            "myParticipantId": format!("{}-bot", leg.id),
            "callChainId": leg.id,
        });
        if let Some((code, subcode, message)) = &leg.result {
            call["resultInfo"] = result_info(*code, *subcode, message);
        }
        call
    }

    pub(crate) fn notify(
        &mut self,
        call: &str,
        change: &str,
        resource: String,
        data: Value,
        incoming: bool,
    ) {
        let Some(leg) = self.calling.legs.get(call) else {
            return;
        };
        let Some(url) = leg
            .callback_uri
            .clone()
            .or_else(|| self.calling.bot.webhook.clone())
        else {
            return;
        };
        let body = json!({
            "@odata.type": "#microsoft.graph.commsNotifications",
            "value": [ {
                "@odata.type": "#microsoft.graph.commsNotification",
                "changeType": change,
                "resource": resource.replacen("/communications/calls/", "/app/calls/", 1),
                "resourceUrl": resource,
                "resourceData": data,
            } ],
        });
        self.calling.outgoing.push_back(Notification {
            url,
            call: call.to_string(),
            incoming,
            body,
        });
    }

    pub(crate) fn notify_state(&mut self, call: &str) {
        let Some(leg) = self.calling.legs.get(call) else {
            return;
        };
        let (change, data) = if leg.state == LegState::Terminated {
            ("deleted", self.leg_json(leg))
        } else {
            ("updated", self.leg_json(leg))
        };
        self.notify(
            call,
            change,
            format!("/communications/calls/{call}"),
            data,
            false,
        );
    }

    /// A call arrives for a resource account of the bot (from PSTN). `None` when no webhook
    /// is registered (the caller cannot be reached).
    pub fn ring_bot(&mut self, account: usize, from: &str, call_id: &str) -> Option<String> {
        self.calling.bot.webhook.as_ref()?;
        let now = self.now_ms();
        let leg = GraphCall {
            id: call_id.to_string(),
            state: LegState::Incoming,
            source_number: from.to_string(),
            account,
            callback_uri: None,
            created_ms: now,
            answer_deadline_ms: Some(now + self.settings.answer_deadline_s as i64 * 1000),
            joined: Vec::new(),
            operations: Vec::new(),
            actions: Vec::new(),
            result: None,
            placed_to: None,
            prompts: Vec::new(),
            far_end: None,
        };
        let data = self.leg_json(&leg);
        self.calling.legs.insert(call_id.to_string(), leg);
        self.notify(
            call_id,
            "created",
            format!("/communications/calls/{call_id}"),
            data,
            true,
        );
        self.note(format!(
            "call {call_id} from {from} offered to the calling bot"
        ));
        Some(call_id.to_string())
    }

    pub(crate) fn leg_in(
        &mut self,
        call: &str,
        action: &str,
        allowed: &[LegState],
    ) -> Result<&mut GraphCall, CallError> {
        let leg = self
            .calling
            .legs
            .get_mut(call)
            .filter(|leg| leg.state != LegState::Terminated)
            .ok_or_else(CallError::not_found)?;
        if !allowed.contains(&leg.state) {
            return Err(CallError::wrong_state(action, leg.state));
        }
        leg.actions.push(action.to_string());
        Ok(leg)
    }

    /// `POST …/answer`: the bot takes the call; `establishing` and `established` follow.
    pub fn answer_leg(
        &mut self,
        call: &str,
        callback_uri: Option<String>,
    ) -> Result<(), CallError> {
        let leg = self.leg_in(call, "answer", &[LegState::Incoming])?;
        leg.answer_deadline_ms = None;
        if callback_uri.is_some() {
            leg.callback_uri = callback_uri;
        }
        let swapped = self.settings.establish_order == "swapped";
        let order = if swapped {
            [LegState::Established, LegState::Establishing]
        } else {
            [LegState::Establishing, LegState::Established]
        };
        for state in order {
            if let Some(leg) = self.calling.legs.get_mut(call) {
                leg.state = state;
            }
            self.notify_state(call);
        }
        if let Some(leg) = self.calling.legs.get_mut(call) {
            leg.state = LegState::Established;
        }
        self.note(format!("call {call}: answered by the bot"));
        Ok(())
    }

    /// `POST …/reject`.
    pub fn reject_leg(
        &mut self,
        call: &str,
        callback_uri: Option<String>,
    ) -> Result<(), CallError> {
        let leg = self.leg_in(call, "reject", &[LegState::Incoming])?;
        if callback_uri.is_some() {
            leg.callback_uri = callback_uri;
        }
        self.terminate_leg(call, 0, 0, "Rejected by the bot.");
        self.bot_call_ended(call, None);
        Ok(())
    }

    /// `POST …/redirect` to a user: their Teams rings (Teams' own rules decide what an
    /// unanswered ring becomes); the bot's leg ends when the ring resolves.
    pub fn redirect_leg(
        &mut self,
        call: &str,
        user: &str,
        timeout_s: Option<u64>,
        callback_uri: Option<String>,
    ) -> Result<(), CallError> {
        let agent = self.agent_index(user).ok_or_else(|| {
            CallError::bad_request(format!(
                "redirect target {user:?} is not a user of the tenant"
            ))
        })?;
        let timeout = timeout_s.unwrap_or(55);
        if !(15..=90).contains(&timeout) {
            return Err(CallError::bad_request(
                "timeout must be between 15 and 90 seconds",
            ));
        }
        let now = self.now_ms();
        let leg = self.leg_in(call, "redirect", &[LegState::Incoming])?;
        leg.answer_deadline_ms = None;
        leg.state = LegState::Redirecting;
        if callback_uri.is_some() {
            leg.callback_uri = callback_uri;
        }
        self.ring_teams(
            agent,
            call,
            RingReason::Redirect,
            now + timeout as i64 * 1000,
        );
        Ok(())
    }

    /// `POST …/transfer` to a user: the leg goes `transferring`, their Teams rings, and the
    /// transfer completes (7015) once Teams took the call, by the agent or by Teams' rules.
    pub fn transfer_leg(&mut self, call: &str, user: &str) -> Result<(), CallError> {
        let agent = self.agent_index(user).ok_or_else(|| {
            CallError::bad_request(format!(
                "transfer target {user:?} is not a user of the tenant"
            ))
        })?;
        let now = self.now_ms();
        let ring_for = self.settings.teams_ring_s as i64 * 1000;
        let leg = self.leg_in(call, "transfer", &[LegState::Established])?;
        leg.state = LegState::Transferring;
        self.notify_state(call);
        self.ring_teams(agent, call, RingReason::Transfer, now + ring_for);
        Ok(())
    }

    /// `POST …/participants/invite` of a user: their Teams rings; the operation completes when
    /// they join, fails when they decline or do not answer. Returns the operation id.
    pub fn invite_to_leg(
        &mut self,
        call: &str,
        user: &str,
        client_context: Option<String>,
    ) -> Result<String, CallError> {
        let agent = self.agent_index(user).ok_or_else(|| {
            CallError::bad_request(format!("participant {user:?} is not a user of the tenant"))
        })?;
        let now = self.now_ms();
        let ring_for = self.settings.teams_ring_s as i64 * 1000;
        self.leg_in(call, "invite", &[LegState::Established])?;
        let operation = ids::guid();
        self.ring_teams(
            agent,
            call,
            RingReason::Invite {
                operation: operation.clone(),
                client_context,
            },
            now + ring_for,
        );
        Ok(operation)
    }

    /// `POST …/playPrompt`: completes after `operation_ms`. Returns the operation id.
    pub fn play_prompt(
        &mut self,
        call: &str,
        client_context: Option<String>,
        uris: Vec<String>,
    ) -> Result<String, CallError> {
        let due = self.now_ms() + self.settings.operation_ms as i64;
        let leg = self.leg_in(call, "playPrompt", &[LegState::Established])?;
        leg.prompts.extend(uris);
        let operation = ids::guid();
        leg.operations.push(PendingOperation {
            id: operation.clone(),
            kind: "playPrompt".into(),
            client_context,
            due_ms: due,
        });
        Ok(operation)
    }

    /// `DELETE /communications/calls/{id}`: the bot hangs up (an answered call).
    pub fn delete_leg(&mut self, call: &str) -> Result<(), CallError> {
        let leg = self.leg_in(
            call,
            "delete",
            &[
                LegState::Establishing,
                LegState::Established,
                LegState::Transferring,
                LegState::Terminating,
            ],
        )?;
        leg.state = LegState::Terminating;
        self.notify_state(call);
        self.terminate_leg(call, 200, 5001, "The conversation has ended.");
        self.bot_call_ended(call, None);
        Ok(())
    }

    /// `POST …/keepAlive`.
    pub fn keep_leg_alive(&mut self, call: &str) -> Result<(), CallError> {
        match self.calling.legs.get(call) {
            Some(leg) if leg.state != LegState::Terminated => Ok(()),
            _ => Err(CallError::not_found()),
        }
    }

    pub(crate) fn terminate_leg(&mut self, call: &str, code: u32, subcode: u32, message: &str) {
        let now = self.now_ms();
        let Some(leg) = self.calling.legs.get_mut(call) else {
            return;
        };
        if leg.state == LegState::Terminated {
            return;
        }
        leg.state = LegState::Terminated;
        leg.result = Some((code, subcode, message.to_string()));
        leg.operations.clear();
        leg.far_end = None;
        self.calling.rings.retain(|ring| ring.call != call);
        self.notify_state(call);
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.ended_ms.get_or_insert(now);
        }
    }
}
