//! The control surface of Graph's calling side: register the bot's webhook, read the bot,
//! its numbers, call legs and the agents' ringing Teams clients, and act as the agent in Teams
//! (answer or decline the call their Teams rings with). Calls placed with `POST
//! /_emulator/calls` go into emulated Teams through [`place_bot_call`]: to the bot's numbers
//! (our controller, by its webhook), or, internal ones, straight to the agent's Teams.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calling::{LegState, RingReason, TeamsRing};
use crate::control::ControlError;
use crate::http::AppState;
use crate::world::{Call, World};

/// Places a control-API call into emulated Teams: a direct call to the agent's number or a
/// queue call to the queue's number reaches the bot (whose resource account holds the number);
/// an internal call rings the agent's Teams at once. With no calling webhook registered (the
/// controller is not running), or no resource account holding the number, the caller cannot
/// be reached, as on a real tenant (`NotReached: …`).
pub fn place_bot_call(world: &mut World, agent: usize, kind: &str, from: &str) -> Call {
    let now = world.now_ms();
    let call_id = crate::ids::guid();
    let agent_rec = world.agents[agent].clone();
    if kind == "Internal" {
        let mut call = Call::for_bot(
            &call_id,
            &agent_rec.name,
            kind,
            from,
            &agent_rec.extension,
            now,
        );
        call.handled_by = "teams".into();
        call.teams = Some(format!("ringing {}", agent_rec.display_name));
        world.calls.push(call.clone());
        let deadline_ms = now + world.settings.teams_ring_s as i64 * 1000;
        world.calling.rings.push(TeamsRing {
            agent,
            call: call_id.clone(),
            reason: RingReason::Internal,
            rang_ms: now,
            deadline_ms,
        });
        world.note(format!(
            "internal call {call_id} from {from} rings {}'s Teams",
            agent_rec.display_name
        ));
        return call;
    }
    let extensions: Vec<String> = world.agents.iter().map(|a| a.extension.clone()).collect();
    let account = world.calling.accounts.iter().position(|account| {
        if kind == "Queue" {
            !extensions.contains(&account.number)
        } else {
            account.number == agent_rec.extension
        }
    });
    let to = account.map_or_else(
        || agent_rec.extension.clone(),
        |account| world.calling.accounts[account].number.clone(),
    );
    let mut call = Call::for_bot(&call_id, &agent_rec.name, kind, from, &to, now);
    let unreachable = match account {
        None => Some(format!("{to} is not a number of the bot")),
        Some(_) if world.calling.bot.webhook.is_none() => {
            Some("no calling webhook is registered for the bot".to_string())
        }
        Some(_) => None,
    };
    if let Some(why) = unreachable {
        call.status = "NotReached".into();
        call.outcome = Some(format!("NotReached: {why}"));
        call.ended_ms = Some(now);
        world.note(format!(
            "call {call_id} from {from} cannot be reached: {why}"
        ));
        world.calls.push(call.clone());
        return call;
    }
    world.calls.push(call.clone());
    if let Some(account) = account {
        world.ring_bot(account, from, &call_id);
    }
    call
}

/// The caller (or an outbound call's far end) hangs up a call in emulated Teams; `false` for
/// a call that is not there (or over).
pub fn hang_up_bot_call(world: &mut World, call_id: &str) -> bool {
    let Some(call) = world.calls.iter().find(|c| c.call_id == call_id).cloned() else {
        return false;
    };
    match call.handled_by.as_str() {
        "bot" => {
            let live = world
                .calling
                .legs
                .get(call_id)
                .is_some_and(|leg| leg.state != LegState::Terminated);
            if live {
                world.caller_hangs_up_leg(call_id);
            }
            true
        }
        "teams" => {
            world.calling.rings.retain(|ring| ring.call != call_id);
            let now = world.now_ms();
            if let Some(entry) = world.calls.iter_mut().find(|c| c.call_id == call_id) {
                if entry.outcome.is_none() {
                    entry.outcome = Some(
                        if entry.answered_ms.is_some() {
                            "Ended"
                        } else {
                            "CallerHungUp"
                        }
                        .into(),
                    );
                }
                entry.ended_ms.get_or_insert(now);
            }
            true
        }
        _ => false,
    }
}

/// `GET /_emulator/calling`: the bot (app id and secret, webhook), its resource accounts, the
/// call legs it owns, the agents' ringing Teams clients and the latest webhook deliveries.
pub fn calling_json(world: &World) -> Value {
    let calling = &world.calling;
    json!({
        "bot": {
            "appId": calling.bot.app_id,
            "clientSecret": calling.bot.client_secret,
            "displayName": calling.bot.display_name,
            "webhook": calling.bot.webhook,
            "trustsExtraCertificate": calling.bot.trust_pem.is_some(),
        },
        "resourceAccounts": calling.accounts,
        "legs": calling.legs.values().collect::<Vec<_>>(),
        "ringing": calling.rings.iter().map(|ring| json!({
            "agent": world.agents.get(ring.agent).map(|a| a.name.clone()),
            "call": ring.call,
            "reason": ring.reason,
        })).collect::<Vec<_>>(),
        "deliveries": calling.deliveries.iter().map(|(call, status)| json!({ "call": call, "status": status })).collect::<Vec<_>>(),
        "integrationUser": world.integration.as_ref().map(|user| json!({
            "userId": user.salesforce_id, "username": user.username,
            "clientId": user.client_id, "clientSecret": user.client_secret,
        })),
    })
}

pub async fn get_calling(State(state): State<AppState>) -> Response {
    Json(calling_json(&state.world())).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallingBody {
    /// The calling webhook (HTTPS in Azure; loopback `http://` is accepted here); `null`
    /// unregisters it.
    pub webhook: Option<String>,
    /// A certificate (PEM) the notifier trusts besides the public roots, for a webhook with
    /// a self-signed certificate; absent: unchanged, `null`: none.
    #[serde(default, deserialize_with = "present")]
    pub trust_pem: Option<Option<String>>,
}

/// Whether `pem` holds at least one certificate, and nothing that is not one.
pub fn is_pem_certificate(pem: &str) -> bool {
    use rustls::pki_types::pem::PemObject;
    let found: Result<Vec<_>, _> =
        rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    found.is_ok_and(|certificates| !certificates.is_empty())
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `POST /_emulator/calling` `{"webhook": "http://127.0.0.1:9443/api/calling"}`: what an admin
/// sets on the Azure Bot's Teams channel (Calling tab).
pub async fn post_calling(
    State(state): State<AppState>,
    Json(body): Json<CallingBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        match body.webhook.as_deref().map(str::trim) {
            Some(url) if !(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") || url.starts_with("http://[::1]")) => {
                Err(ControlError(format!("the calling webhook must be https:// (or a loopback http:// address here): {url:?}")))
            }
            _ if body.trust_pem.as_ref().is_some_and(|pem| {
                pem.as_ref().is_some_and(|pem| !is_pem_certificate(pem))
            }) =>
            {
                Err(ControlError("trust_pem is not a PEM certificate".into()))
            }
            webhook => {
                world.calling.bot.webhook = webhook.map(str::to_string);
                if let Some(trust) = body.trust_pem {
                    world.calling.bot.trust_pem = trust;
                }
                world.note(format!("calling webhook set to {webhook:?}"));
                Ok(calling_json(&world))
            }
        }
    };
    crate::control::done(&state, result)
}

fn pick_up(state: &AppState, name: &str, accept: bool) -> Response {
    let result = {
        let mut world = state.world();
        match world.agent_index(name) {
            None => Err(ControlError(format!("no agent called {name:?}"))),
            Some(agent) => world
                .teams_pick_up(agent, accept)
                .map(|outcome| json!({ "ok": true, "teams": outcome }))
                .map_err(ControlError),
        }
    };
    crate::control::done(state, result)
}

/// `POST /_emulator/teams/{agent}/answer`: the agent picks up their ringing Teams.
pub async fn post_teams_answer(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    pick_up(&state, &name, true)
}

/// `POST /_emulator/teams/{agent}/decline`: the agent declines it (Teams' rules follow).
pub async fn post_teams_decline(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    pick_up(&state, &name, false)
}
