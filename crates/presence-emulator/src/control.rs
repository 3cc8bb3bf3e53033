//! The control surface under `/_emulator/`: read the whole state, act as the agent in Teams and
//! in Salesforce, place and hang up calls, inject faults, change budgets, lifetimes and time.
//! Every action is a plain function on [`World`] so that tests in Rust call exactly what the
//! HTTP routes call. The JSON is documented in the crate's README and kept stable.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::clock::{iso_z, salesforce_datetime};
use crate::graph::{
    allowed_pair, Session, CALL_SESSION, FOCUS_SESSION, MEETING_SESSION, PREFERRED_PAIRS,
    PRESENTING_SESSION,
};
use crate::http::AppState;
use crate::world::{Api, Call, Fault, Subject, World};

/// Why a control action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError(pub String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": self.0 }))).into_response()
    }
}

fn agent(world: &World, name: &str) -> Result<usize, ControlError> {
    world
        .agent_index(name)
        .ok_or_else(|| ControlError(format!("no agent called {name:?}")))
}

/// The agent picks a user-configured state in the Teams client (its preferred presence).
pub fn teams_set_status(
    world: &mut World,
    name: &str,
    availability: &str,
    activity: &str,
) -> Result<(), ControlError> {
    let index = agent(world, name)?;
    let (availability, activity) = allowed_pair(PREFERRED_PAIRS, availability, activity)
        .ok_or_else(|| {
            ControlError(format!(
                "{availability}/{activity} is not a state a person can set in Teams"
            ))
        })?;
    let now = world.now_ms();
    let id = world.agents[index].graph_id.clone();
    if let Some(user) = world.graph.get_mut(&id) {
        user.preferred = Some(crate::graph::Preferred {
            availability: availability.into(),
            activity: activity.into(),
            expires_ms: now + 7 * 86_400_000,
            set_ms: now,
        });
        user.refresh(now);
    }
    world.note(format!("teams: {name} set {availability}/{activity}"));
    Ok(())
}

/// The agent resets the Teams status to automatic (clears the preferred presence).
pub fn teams_reset_status(world: &mut World, name: &str) -> Result<(), ControlError> {
    let index = agent(world, name)?;
    let now = world.now_ms();
    let id = world.agents[index].graph_id.clone();
    if let Some(user) = world.graph.get_mut(&id) {
        user.preferred = None;
        user.refresh(now);
    }
    world.note(format!("teams: {name} reset status"));
    Ok(())
}

/// Teams itself: a meeting, a presentation, Focus time or a Teams call starts or stops.
pub fn teams_activity(
    world: &mut World,
    name: &str,
    what: &str,
    on: bool,
) -> Result<(), ControlError> {
    let index = agent(world, name)?;
    let (session, availability, activity) = match what {
        "meeting" => (MEETING_SESSION, "Busy", "InAMeeting"),
        "presentation" => (PRESENTING_SESSION, "DoNotDisturb", "Presenting"),
        "focus" => (FOCUS_SESSION, "DoNotDisturb", "Focusing"),
        "call" => (CALL_SESSION, "Busy", "InACall"),
        other => {
            return Err(ControlError(format!(
                "unknown Teams activity {other:?} (meeting, presentation, focus, call)"
            )))
        }
    };
    let now = world.now_ms();
    let id = world.agents[index].graph_id.clone();
    if let Some(user) = world.graph.get_mut(&id) {
        if on {
            user.sessions.insert(
                session.into(),
                Session {
                    availability: availability.into(),
                    activity: activity.into(),
                    last_refresh_ms: now,
                    expires_ms: None,
                    fades: false,
                },
            );
        } else {
            user.sessions.remove(session);
        }
        user.refresh(now);
    }
    world.note(format!(
        "teams: {name} {what} {}",
        if on { "started" } else { "stopped" }
    ));
    Ok(())
}

/// Outlook automatic replies on or off.
pub fn teams_out_of_office(
    world: &mut World,
    name: &str,
    on: bool,
    message: Option<String>,
) -> Result<(), ControlError> {
    let index = agent(world, name)?;
    let now = world.now_ms();
    let id = world.agents[index].graph_id.clone();
    if let Some(user) = world.graph.get_mut(&id) {
        user.out_of_office = on;
        user.out_of_office_message = message;
        user.refresh(now);
    }
    world.note(format!(
        "outlook: {name} out of office {}",
        if on { "on" } else { "off" }
    ));
    Ok(())
}

/// The agent picks a state in Salesforce (our package's component writes `Agent_Presence__c`).
/// Someone in the org adds a record (a Contact whose phone then identifies a caller, say).
/// Any object with a known key prefix; fields are stored as given, `Id` and the dates are ours.
pub fn salesforce_insert(
    world: &mut World,
    object: &str,
    fields: Map<String, Value>,
) -> Result<String, ControlError> {
    if fields.contains_key("Id") {
        return Err(ControlError(
            "Id is given by the org, not by the caller".into(),
        ));
    }
    world
        .insert_record(object, fields)
        .ok_or_else(|| ControlError(format!("no object called {object:?}")))
}

pub fn salesforce_pick(world: &mut World, name: &str, state: &str) -> Result<String, ControlError> {
    let index = agent(world, name)?;
    let label = world
        .records
        .get("Call_Center_Presence_State__c")
        .and_then(|states| {
            states
                .values()
                .filter_map(|r| r.get("Name").and_then(Value::as_str))
                .find(|label| label.eq_ignore_ascii_case(state.trim()))
                .map(str::to_string)
        })
        .ok_or_else(|| ControlError(format!("{state:?} is not a configured presence state")))?;
    let now = world.now_ms();
    let user_id = world.agents[index].salesforce_id.clone();
    let sequence = world
        .agent_presence(index)
        .and_then(|r| r.get("Sequence__c"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
        + 1.0;
    let mut fields = Map::new();
    fields.insert("State__c".into(), json!(label));
    fields.insert("Source__c".into(), json!("Salesforce"));
    fields.insert("Origin_Client__c".into(), json!("salesforce-ui"));
    fields.insert("Sequence__c".into(), json!(sequence));
    fields.insert("Changed_At__c".into(), json!(salesforce_datetime(now)));
    match world
        .find_by("Agent_Presence__c", "User__c", &user_id)
        .first()
        .cloned()
    {
        Some(id) => {
            world.update_record("Agent_Presence__c", &id, fields);
        }
        None => {
            fields.insert("User__c".into(), json!(user_id));
            fields.insert("Name".into(), json!(world.agents[index].display_name));
            world.insert_record("Agent_Presence__c", fields);
        }
    }
    Ok(label)
}

pub fn place_call(
    world: &mut World,
    name: &str,
    kind: &str,
    from: &str,
) -> Result<Call, ControlError> {
    let index = agent(world, name)?;
    let kind = ["Direct", "Queue", "Internal"]
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(kind))
        .ok_or_else(|| {
            ControlError(format!(
                "call kind {kind:?} must be Direct, Queue or Internal"
            ))
        })?;
    if from.trim().is_empty() {
        return Err(ControlError("a call needs a from number".into()));
    }
    Ok(crate::calling_control::place_bot_call(
        world, index, kind, from,
    ))
}

pub fn hang_up(world: &mut World, call_id: &str) -> Result<Call, ControlError> {
    crate::calling_control::hang_up_bot_call(world, call_id);
    world
        .calls
        .iter()
        .find(|c| c.call_id == call_id)
        .cloned()
        .ok_or_else(|| ControlError(format!("no call {call_id:?}")))
}

/// Expires (or revokes) the access tokens of a cloud, for every agent or one.
pub fn end_tokens(
    world: &mut World,
    api: Api,
    name: Option<&str>,
    revoke: bool,
) -> Result<usize, ControlError> {
    let only = name.map(|n| agent(world, n)).transpose()?;
    let now = world.now_ms();
    let mut touched = 0;
    for token in world.access_tokens.values_mut() {
        if token.api == api && only.is_none_or(|a| token.subject == Subject::Agent(a)) {
            if revoke {
                token.revoked = true;
            } else {
                token.expires_ms = Some(now);
            }
            touched += 1;
        }
    }
    if revoke {
        for token in world.refresh_tokens.values_mut() {
            if token.api == api && only.is_none_or(|a| a == token.agent) {
                token.alive = false;
            }
        }
    }
    Ok(touched)
}

/// The whole state, with change timestamps and counters.
pub fn state_json(world: &mut World) -> Value {
    let now = world.now_ms();
    let mut agents = Vec::new();
    for index in 0..world.agents.len() {
        let agent = world.agents[index].clone();
        let teams = world.graph.get_mut(&agent.graph_id).map(|user| {
            user.refresh(now);
            let (availability, activity, ooo) = user.effective(now);
            json!({
                "availability": availability,
                "activity": activity,
                "outOfOffice": ooo,
                "sequenceNumber": user.sequence_number(),
                "changedAt": iso_z(user.changed_at_ms),
                "preferred": user.preferred.as_ref().filter(|p| p.expires_ms > now).map(|p| json!({
                    "availability": p.availability, "activity": p.activity, "expiresAt": iso_z(p.expires_ms),
                })),
                "sessions": user.sessions.iter().map(|(id, s)| json!({
                    "sessionId": id, "availability": s.availability, "activity": s.activity,
                    "lastRefreshAt": iso_z(s.last_refresh_ms),
                    "expiresAt": s.expires_ms.map(iso_z),
                    "live": s.expires_ms.is_none_or(|at| at > now),
                })).collect::<Vec<_>>(),
            })
        });
        let presence = world.agent_presence(index).cloned();
        agents.push(json!({
            "name": agent.name,
            "displayName": agent.display_name,
            "graphId": agent.graph_id,
            "salesforceId": agent.salesforce_id,
            "upn": agent.upn,
            "extension": agent.extension,
            "teams": teams,
            "salesforce": presence,
            "heartbeatAgeMs": world.heartbeat_age_ms(index),
            "loggedOut": world.agent_logged_out(index),
        }));
    }
    let records = |object: &str| -> Vec<Value> {
        world
            .records
            .get(object)
            .map(|r| r.values().map(|v| Value::Object(v.clone())).collect())
            .unwrap_or_default()
    };
    json!({
        "now": iso_z(now),
        "timeScale": world.clock.scale(),
        "tenantId": world.tenant_id,
        "orgId": world.org_id,
        "agents": agents,
        "agentPresence": records("Agent_Presence__c"),
        "agentCalls": records("Agent_Call__c"),
        "tasks": records("Task"),
        "calls": world.calls,
        "counters": world.counters,
        "requests": world.requests,
        "throttling": {
            "budget": world.settings.throttle_budget,
            "windowSeconds": world.settings.throttle_window_s,
            "throttled": world.throttled,
            "inWindow": world.throttle_hits.iter().map(|(client, hits)| (client.clone(), hits.len())).collect::<std::collections::BTreeMap<_, _>>(),
        },
        "salesforceApiUsage": world.api_usage,
        "streaming": {
            "clients": world.comet_clients.values().map(|c| json!({
                "clientId": c.client_id, "agent": c.agent.and_then(|a| world.agents.get(a)).map(|a| a.name.clone()).or_else(|| Some(c.user_id.clone())),
                "subscriptions": c.subscriptions.keys().collect::<Vec<_>>(), "queued": c.queue.len(),
            })).collect::<Vec<_>>(),
            "topics": world.topics.values().map(|t| json!({
                "name": t.name, "retained": t.events.len(), "latestReplayId": t.latest_replay,
            })).collect::<Vec<_>>(),
        },
        "stateLabels": world.records.get("Call_Center_Presence_State__c").map(|states| {
            let mut rows: Vec<(f64, String)> = states.values().filter_map(|r| Some((
                r.get("Sort_Order__c").and_then(Value::as_f64).unwrap_or(0.0),
                r.get("Name")?.as_str()?.to_string(),
            ))).collect();
            rows.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            rows.into_iter().map(|(_, name)| name).collect::<Vec<_>>()
        }).unwrap_or_default(),
        "faults": world.faults,
        "settings": world.settings,
        "changes": world.changes,
    })
}

// ---- HTTP

pub(crate) fn done(state: &AppState, result: Result<Value, ControlError>) -> Response {
    state.events.notify_waiters();
    state.notifications.notify_one();
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

pub async fn get_state(State(state): State<AppState>) -> Response {
    let value = state_json(&mut state.world());
    Json(value).into_response()
}

#[derive(Debug, Deserialize)]
pub struct StatusBody {
    pub availability: Option<String>,
    pub activity: Option<String>,
    #[serde(default)]
    pub reset: bool,
}

pub async fn post_teams_status(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<StatusBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        if body.reset {
            teams_reset_status(&mut world, &name)
        } else {
            teams_set_status(
                &mut world,
                &name,
                body.availability.as_deref().unwrap_or(""),
                body.activity.as_deref().unwrap_or(""),
            )
        }
        .map(|_| json!({ "ok": true }))
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct OnBody {
    pub on: bool,
    #[serde(default)]
    pub message: Option<String>,
}

pub async fn post_teams_activity(
    State(state): State<AppState>,
    Path((name, what)): Path<(String, String)>,
    Json(body): Json<OnBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        if what == "out-of-office" {
            teams_out_of_office(&mut world, &name, body.on, body.message)
        } else {
            teams_activity(&mut world, &name, &what, body.on)
        }
        .map(|_| json!({ "ok": true }))
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct PickBody {
    pub state: String,
}

pub async fn post_salesforce_state(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<PickBody>,
) -> Response {
    let result = salesforce_pick(&mut state.world(), &name, &body.state)
        .map(|label| json!({ "ok": true, "state": label }));
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct RecordBody {
    pub object: String,
    pub fields: Map<String, Value>,
}

pub async fn post_salesforce_record(
    State(state): State<AppState>,
    Json(body): Json<RecordBody>,
) -> Response {
    let result = salesforce_insert(&mut state.world(), &body.object, body.fields)
        .map(|id| json!({ "ok": true, "id": id }));
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct CallBody {
    pub agent: String,
    #[serde(default = "direct")]
    pub kind: String,
    pub from: String,
}

fn direct() -> String {
    "Direct".into()
}

pub async fn post_call(State(state): State<AppState>, Json(body): Json<CallBody>) -> Response {
    let result =
        place_call(&mut state.world(), &body.agent, &body.kind, &body.from).map(|call| json!(call));
    done(&state, result)
}

pub async fn get_call(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let world = state.world();
    match world.calls.iter().find(|c| c.call_id == id) {
        Some(call) => Json(json!(call)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no call {id:?}") })),
        )
            .into_response(),
    }
}

pub async fn post_hangup(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let result = hang_up(&mut state.world(), &id).map(|call| json!(call));
    done(&state, result)
}

pub async fn post_fault(State(state): State<AppState>, Json(fault): Json<Fault>) -> Response {
    let result = {
        let mut world = state.world();
        world.note(format!("fault injected on {}", fault.api.name()));
        world.faults.push(fault);
        Ok(json!({ "ok": true, "faults": world.faults.len() }))
    };
    done(&state, result)
}

pub async fn delete_faults(State(state): State<AppState>) -> Response {
    let result = {
        let mut world = state.world();
        world.faults.clear();
        for client in world.comet_clients.values_mut() {
            client.next_fault = None;
        }
        Ok(json!({ "ok": true }))
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct CometFaultBody {
    /// `unknown-client` or `auth-invalid`.
    pub kind: String,
    #[serde(default)]
    pub agent: Option<String>,
}

pub async fn post_cometd_fault(
    State(state): State<AppState>,
    Json(body): Json<CometFaultBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        if !["unknown-client", "auth-invalid"].contains(&body.kind.as_str()) {
            Err(ControlError(
                "kind must be unknown-client or auth-invalid".into(),
            ))
        } else {
            let only = body.agent.as_deref().and_then(|n| world.agent_index(n));
            let mut affected = 0;
            for client in world.comet_clients.values_mut() {
                if only.is_none_or(|a| Some(a) == client.agent) {
                    client.next_fault = Some(body.kind.clone());
                    affected += 1;
                }
            }
            Ok(json!({ "ok": true, "clients": affected }))
        }
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct TokensBody {
    pub api: Api,
    #[serde(default)]
    pub agent: Option<String>,
}

pub async fn post_tokens(
    State(state): State<AppState>,
    Path(action): Path<String>,
    Json(body): Json<TokensBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        match action.as_str() {
            "expire" | "revoke" => end_tokens(
                &mut world,
                body.api,
                body.agent.as_deref(),
                action == "revoke",
            )
            .map(|n| json!({ "ok": true, "tokens": n })),
            _ => Err(ControlError("use /tokens/expire or /tokens/revoke".into())),
        }
    };
    done(&state, result)
}

pub async fn get_settings(State(state): State<AppState>) -> Response {
    Json(json!(state.world().settings)).into_response()
}

/// Merges the given settings (any subset of the fields of `GET /_emulator/settings`).
pub async fn post_settings(State(state): State<AppState>, Json(patch): Json<Value>) -> Response {
    let result = {
        let mut world = state.world();
        let mut current = json!(world.settings);
        match (current.as_object_mut(), patch.as_object()) {
            (Some(current_map), Some(patch_map)) => {
                let unknown: Vec<&String> = patch_map
                    .keys()
                    .filter(|k| !current_map.contains_key(*k))
                    .collect();
                if !unknown.is_empty() {
                    Err(ControlError(format!("unknown settings: {unknown:?}")))
                } else {
                    for (k, v) in patch_map {
                        current_map.insert(k.clone(), v.clone());
                    }
                    match serde_json::from_value(current) {
                        Ok(settings) => {
                            world.settings = settings;
                            Ok(json!(world.settings))
                        }
                        Err(error) => Err(ControlError(format!("bad settings: {error}"))),
                    }
                }
            }
            _ => Err(ControlError("settings must be a JSON object".into())),
        }
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct AdvanceBody {
    pub seconds: f64,
}

pub async fn post_advance(
    State(state): State<AppState>,
    Json(body): Json<AdvanceBody>,
) -> Response {
    let result = if body.seconds.is_finite() && body.seconds >= 0.0 {
        let mut world = state.world();
        world.clock.advance(Duration::from_secs_f64(body.seconds));
        // Graph's deadlines that the jump passed are met at once.
        world.tick_calling();
        Ok(json!({ "ok": true, "now": iso_z(world.now_ms()) }))
    } else {
        Err(ControlError("seconds must be a non-negative number".into()))
    };
    done(&state, result)
}

#[derive(Debug, Deserialize)]
pub struct ApproveBody {
    pub user_code: String,
    pub agent: String,
}

pub async fn post_device_approve(
    State(state): State<AppState>,
    Json(body): Json<ApproveBody>,
) -> Response {
    let result = {
        let mut world = state.world();
        match world.agent_index(&body.agent) {
            None => Err(ControlError(format!("no agent called {:?}", body.agent))),
            Some(index) => {
                let found = world
                    .device_codes
                    .values_mut()
                    .find(|d| d.user_code.eq_ignore_ascii_case(&body.user_code));
                match found {
                    Some(code) => {
                        code.agent = Some(index);
                        Ok(json!({ "ok": true }))
                    }
                    None => Err(ControlError(format!("no device code {:?}", body.user_code))),
                }
            }
        }
    };
    done(&state, result)
}

pub async fn ui() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        Html(include_str!("control.html")),
    )
        .into_response()
}
