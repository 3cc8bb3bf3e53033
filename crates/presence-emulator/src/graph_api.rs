//! Graph presence routes under `/v1.0/`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::graph::{
    allowed_pair, parse_iso_duration_ms, Preferred, Session, PREFERRED_PAIRS, SET_PRESENCE_PAIRS,
};
use crate::http::{gate, graph_error, graph_json, AppState};
use crate::oauth::authenticate;
use crate::world::{Api, World};

const MAX_IDS: usize = 650;

fn caller(world: &World, headers: &HeaderMap) -> Result<(usize, String), Response> {
    authenticate(world, Api::Entra, headers).map_err(|message| {
        graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            world.now_ms(),
        )
    })
}

fn bad_request(world: &World, message: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        message,
        world.now_ms(),
    )
}

fn throttled(world: &World, seconds: u64) -> Response {
    let mut response = graph_error(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Please retry again later.",
        world.now_ms(),
    );
    if let Ok(value) = seconds.to_string().parse() {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, value);
    }
    response
}

/// Authenticates a presence read and counts it against the app's budget in the tenant;
/// returns the caller's agent index.
fn presence_reader(world: &mut World, headers: &HeaderMap) -> Result<usize, Response> {
    let (me, client_id) = caller(world, headers)?;
    match world.throttle(&client_id) {
        Some(wait) => Err(throttled(world, wait)),
        None => Ok(me),
    }
}

/// Resolves `me` or a user id to the Graph user id.
fn target(world: &World, me: usize, who: &str) -> Option<String> {
    if who == "me" {
        return Some(world.agents[me].graph_id.clone());
    }
    world
        .agents
        .iter()
        .find(|agent| agent.graph_id.eq_ignore_ascii_case(who))
        .map(|agent| agent.graph_id.clone())
}

async fn read_presence(state: AppState, headers: HeaderMap, who: String) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Graph,
        "GET presence",
        &format!("/{who}/presence"),
    )
    .await
    {
        return fault;
    }
    let mut world = state.world();
    let me = match presence_reader(&mut world, &headers) {
        Ok(me) => me,
        Err(response) => return response,
    };
    let Some(id) = target(&world, me, &who) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested user was not found.",
            world.now_ms(),
        );
    };
    let now = world.now_ms();
    let own = world.agents[me].graph_id == id;
    let Some(user) = world.graph.get_mut(&id) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested user was not found.",
            now,
        );
    };
    user.refresh(now);
    graph_json(user.resource(&id, now, own)).into_response()
}

pub async fn me_presence(State(state): State<AppState>, headers: HeaderMap) -> Response {
    read_presence(state, headers, "me".into()).await
}

pub async fn user_presence(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    read_presence(state, headers, id).await
}

pub async fn get_presences_by_user_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Graph,
        "POST getPresencesByUserId",
        "/communications/getPresencesByUserId",
    )
    .await
    {
        return fault;
    }
    let mut world = state.world();
    if let Err(response) = presence_reader(&mut world, &headers) {
        return response;
    }
    let ids: Vec<String> = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => match value.get("ids").and_then(Value::as_array) {
            Some(ids) => ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            None => return bad_request(&world, "The request body must contain 'ids'."),
        },
        Err(_) => return bad_request(&world, "Invalid JSON in the request body."),
    };
    if ids.len() > MAX_IDS {
        return bad_request(&world, "The number of ids must not exceed 650.");
    }
    let now = world.now_ms();
    let mut value = Vec::new();
    for id in ids {
        if let Some(user) = world.graph.get_mut(&id) {
            user.refresh(now);
            let mut resource = user.resource(&id, now, false);
            if let Some(map) = resource.as_object_mut() {
                map.remove("@odata.context");
            }
            value.push(resource);
        }
    }
    graph_json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)",
        "value": value,
    }))
    .into_response()
}

pub async fn me_profile(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(fault) = gate(&state, Api::Graph, "GET me", "/me").await {
        return fault;
    }
    let world = state.world();
    let (me, _) = match caller(&world, &headers) {
        Ok(found) => found,
        Err(response) => return response,
    };
    profile(&world.agents[me])
}

/// A user as Graph's `/users/{id}` and `/me` show one.
fn profile(agent: &crate::world::Agent) -> Response {
    graph_json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
        "id": agent.graph_id,
        "displayName": agent.display_name,
        "userPrincipalName": agent.upn,
        "mail": agent.upn,
    }))
    .into_response()
}

/// `GET /v1.0/users/{id | userPrincipalName}`: with an agent's token (User.Read) or an app's
/// (User.Read.All, as the calling bot looks up the agents it rings).
pub async fn user_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(fault) = gate(&state, Api::Graph, "GET users", "/users").await {
        return fault;
    }
    let world = state.world();
    if let Err(message) = crate::oauth::authenticate_subject(&world, Api::Entra, &headers) {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            world.now_ms(),
        );
    }
    let Some(agent) = world
        .agent_index(&id)
        .filter(|&index| {
            let agent = &world.agents[index];
            agent.graph_id.eq_ignore_ascii_case(&id) || agent.upn.eq_ignore_ascii_case(&id)
        })
        .map(|index| &world.agents[index])
    else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
            world.now_ms(),
        );
    };
    profile(agent)
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

/// `POST /{me|users/{id}}/presence/{action}`.
pub async fn presence_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((who, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Graph,
        &format!("POST {action}"),
        &format!("/presence/{action}"),
    )
    .await
    {
        return fault;
    }
    let mut world = state.world();
    let (me, client_id) = match caller(&world, &headers) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(id) = target(&world, me, &who) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested user was not found.",
            world.now_ms(),
        );
    };
    if world.agents[me].graph_id != id {
        // Observed as 401 in real tenants; a 403 here keeps clients from refreshing in vain.
        return graph_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Cannot set the presence of another user.",
            world.now_ms(),
        );
    }
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => return bad_request(&world, "Invalid JSON in the request body."),
        }
    };
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let now = world.now_ms();
    let name = world.agents[me].name.clone();
    let result = match action.as_str() {
        "setPresence" => {
            let session_id = text("sessionId");
            if !session_id.eq_ignore_ascii_case(&client_id) {
                return bad_request(&world, "The sessionId must be the application (client) id.");
            }
            let Some((availability, activity)) =
                allowed_pair(SET_PRESENCE_PAIRS, &text("availability"), &text("activity"))
            else {
                return bad_request(
                    &world,
                    "The availability and activity pair is not supported by setPresence.",
                );
            };
            let duration = match body.get("expirationDuration").and_then(Value::as_str) {
                None => 5 * 60_000,
                Some(raw) => match parse_iso_duration_ms(raw) {
                    Some(ms) if (5 * 60_000..=4 * 3_600_000).contains(&ms) => ms,
                    _ => {
                        return bad_request(
                            &world,
                            "expirationDuration must be between PT5M and PT4H.",
                        )
                    }
                },
            };
            let Some(user) = world.graph.get_mut(&id) else {
                return ok_empty();
            };
            user.sessions.insert(
                session_id,
                Session {
                    availability: availability.into(),
                    activity: activity.into(),
                    last_refresh_ms: now,
                    expires_ms: Some(now + duration),
                    fades: true,
                },
            );
            format!("graph setPresence {availability}/{activity} for {name}")
        }
        "clearPresence" => {
            let session_id = text("sessionId");
            let Some(user) = world.graph.get_mut(&id) else {
                return ok_empty();
            };
            if user.sessions.remove(&session_id).is_none() {
                return graph_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "The presence session was not found.",
                    now,
                );
            }
            format!("graph clearPresence for {name}")
        }
        "setUserPreferredPresence" => {
            let Some((availability, activity)) =
                allowed_pair(PREFERRED_PAIRS, &text("availability"), &text("activity"))
            else {
                return bad_request(&world, "The availability and activity pair is not supported by setUserPreferredPresence.");
            };
            let default_ms = if matches!(availability, "Busy" | "DoNotDisturb") {
                86_400_000
            } else {
                7 * 86_400_000
            };
            let duration = match body.get("expirationDuration").and_then(Value::as_str) {
                None => default_ms,
                Some(raw) => match parse_iso_duration_ms(raw) {
                    Some(ms) if ms > 0 => ms,
                    _ => {
                        return bad_request(
                            &world,
                            "expirationDuration is not a valid ISO 8601 duration.",
                        )
                    }
                },
            };
            let Some(user) = world.graph.get_mut(&id) else {
                return ok_empty();
            };
            user.preferred = Some(Preferred {
                availability: availability.into(),
                activity: activity.into(),
                expires_ms: now + duration,
                set_ms: now,
            });
            format!("graph setUserPreferredPresence {availability}/{activity} for {name}")
        }
        "clearUserPreferredPresence" => {
            let Some(user) = world.graph.get_mut(&id) else {
                return ok_empty();
            };
            user.preferred = None;
            format!("graph clearUserPreferredPresence for {name}")
        }
        "setStatusMessage" => {
            let Some(message) = body.get("statusMessage").cloned() else {
                return bad_request(&world, "The request body must contain 'statusMessage'.");
            };
            let Some(user) = world.graph.get_mut(&id) else {
                return ok_empty();
            };
            let mut message = message;
            if let Some(map) = message.as_object_mut() {
                map.insert("publishedDateTime".into(), json!(crate::clock::iso_z(now)));
            }
            user.status_message = Some(message);
            format!("graph setStatusMessage for {name}")
        }
        _ => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "Unsupported presence action.",
                now,
            )
        }
    };
    if let Some(user) = world.graph.get_mut(&id) {
        user.refresh(now);
    }
    world.note(result);
    ok_empty()
}
