//! Graph's cloud communications routes for calling bots (`/v1.0/communications/calls/…`,
//! both the plain and the `microsoft.graph.`-qualified action paths), the calling service's
//! OpenID document and keys (`/v1/.well-known/OpenIdConfiguration`, `/v1/keys`, as
//! `api.aps.skype.com` publishes them), and the notifier that POSTs `commsNotifications` to the
//! bot's webhook with a signed bearer token. The state machine is `calling.rs`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calling::{CallError, Notification};
use crate::http::{gate, graph_error, graph_json, AppState};
use crate::oauth::authenticate_subject;
use crate::world::{Api, Subject, World};

/// The issuer of the calling service's tokens.
pub const CALLING_ISSUER: &str = "https://api.botframework.com";

/// Only the bot's own app token may act on its calls.
fn bot_caller(world: &World, headers: &HeaderMap) -> Result<(), Response> {
    let now = world.now_ms();
    match authenticate_subject(world, Api::Entra, headers) {
        Ok((Subject::App, client)) if client == world.calling.bot.app_id => Ok(()),
        Ok(_) => Err(graph_error(
            StatusCode::FORBIDDEN,
            "7504",
            "Insufficient enterprise tenant permissions, cannot access this API.",
            now,
        )),
        Err(message) => Err(graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            now,
        )),
    }
}

fn refused(world: &World, error: CallError) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
    graph_error(status, &error.code, &error.message, world.now_ms())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActionBody {
    callback_uri: Option<String>,
    client_context: Option<String>,
    timeout: Option<u64>,
    #[serde(default)]
    targets: Vec<Value>,
    #[serde(default)]
    participants: Vec<Value>,
    transfer_target: Option<Value>,
    accepted_modalities: Option<Vec<String>>,
    media_config: Option<Value>,
    #[serde(default)]
    prompts: Vec<Value>,
}

/// The user id an invitation participant names (`identity.user.id`).
fn user_of(participant: &Value) -> Option<&str> {
    participant["identity"]["user"]["id"].as_str()
}

/// The phone number an invitation participant names (`identity.phone.id`).
fn phone_of(participant: &Value) -> Option<&str> {
    participant["identity"]["phone"]["id"].as_str()
}

/// `POST /v1.0/communications/calls`: the bot places a peer-to-peer call from one of its
/// resource accounts (`source.identity.applicationInstance`) to a Teams user (`targets`),
/// with service-hosted media. `201`, the call (`establishing`) and its `Location`.
pub async fn create_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    as_bot(&state, &headers, "calls/create", "/calls", |world| {
        let body: Value = match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(error) => {
                return refused(
                    world,
                    CallError::bad_request(format!("the body is not a call: {error}")),
                )
            }
        };
        let placement = match (
            body["source"]["identity"]["applicationInstance"]["id"].as_str(),
            body["targets"].as_array().map(Vec::as_slice),
            body["mediaConfig"]["@odata.type"].as_str(),
        ) {
            (None, _, _) => Err(CallError::bad_request(
                "source.identity.applicationInstance.id is required: a PSTN-capable call is placed from a resource account",
            )),
            (_, Some([target]), _) if user_of(target).is_none() => Err(CallError::bad_request(
                "the emulator places calls to users only (targets[0].identity.user.id); a number is invited once the call is established",
            )),
            (Some(account), Some([target]), Some("#microsoft.graph.serviceHostedMediaConfig")) => {
                Ok(crate::calling_outbound::Placement {
                    account: account.to_string(),
                    user: user_of(target).unwrap_or_default().to_string(),
                    callback_uri: body["callbackUri"].as_str().map(str::to_string),
                })
            }
            (_, Some([_]), _) => Err(CallError::bad_request(
                "mediaConfig must be a serviceHostedMediaConfig here",
            )),
            _ => Err(CallError::bad_request(
                "a peer-to-peer call has exactly one target",
            )),
        };
        match placement.and_then(|placement| world.create_leg(placement)) {
            Ok(id) => {
                let Some(leg) = world.calling.legs.get(&id) else {
                    return refused(world, CallError::not_found());
                };
                let mut call = world.leg_json(leg);
                call["@odata.context"] =
                    json!("https://graph.microsoft.com/v1.0/$metadata#app/calls/$entity");
                let mut response = (StatusCode::CREATED, graph_json(call)).into_response();
                if let Ok(location) =
                    HeaderValue::from_str(&format!("/v1.0/communications/calls/{id}"))
                {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                response
            }
            Err(error) => refused(world, error),
        }
    })
    .await
}

/// What every route of the bot's calls does around its action: the fault gate, the bot's own
/// token, the action on the world under its lock, and the notifier woken for what it queued.
async fn as_bot(
    state: &AppState,
    headers: &HeaderMap,
    route: &str,
    path: &str,
    action: impl FnOnce(&mut World) -> Response,
) -> Response {
    if let Some(fault) = gate(state, Api::Graph, route, path).await {
        return fault;
    }
    let response = {
        let mut world = state.world();
        match bot_caller(&world, headers) {
            Ok(()) => action(&mut world),
            Err(response) => return response,
        }
    };
    state.notifications.notify_one();
    response
}

/// An action's body: none is an empty one; JSON that does not fit is refused with the reason.
fn action_body(world: &World, body: &[u8], action: &str) -> Result<ActionBody, Response> {
    if body.is_empty() {
        return Ok(ActionBody::default());
    }
    serde_json::from_slice(body).map_err(|error| {
        refused(
            world,
            CallError::bad_request(format!("the body is not valid JSON for {action}: {error}")),
        )
    })
}

/// `200` with a long-running action's operation and its `Location`.
fn operation_response(call: &str, operation: &str, body: Value) -> Response {
    let mut response = (StatusCode::OK, graph_json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!(
        "/v1.0/communications/calls/{call}/operations/{operation}"
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `POST /v1.0/communications/calls/{id}/{action}` (answer, reject, redirect, transfer,
/// playPrompt, keepAlive; plain or `microsoft.graph.`-qualified).
pub async fn call_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let action = action.trim_start_matches("microsoft.graph.").to_string();
    let (route, path) = (format!("calls/{action}"), format!("/calls/{id}/{action}"));
    as_bot(&state, &headers, &route, &path, |world| {
        match action_body(world, &body, &action) {
            Ok(parsed) => act(world, &id, &action, parsed),
            Err(response) => response,
        }
    })
    .await
}

fn act(world: &mut World, id: &str, action: &str, body: ActionBody) -> Response {
    let accepted = || StatusCode::ACCEPTED.into_response();
    let operation = |kind: &str, op: &str, context: &Option<String>| {
        operation_response(
            id,
            op,
            json!({ "@odata.type": format!("#microsoft.graph.{kind}"), "id": op, "status": "running", "clientContext": context, "resultInfo": null }),
        )
    };
    let result = match action {
        "answer" => {
            if body.accepted_modalities.as_ref().is_none_or(Vec::is_empty)
                || body.media_config.is_none()
            {
                Err(CallError::bad_request(
                    "acceptedModalities and mediaConfig are required",
                ))
            } else {
                world.answer_leg(id, body.callback_uri).map(|()| accepted())
            }
        }
        "reject" => world.reject_leg(id, body.callback_uri).map(|()| accepted()),
        "redirect" => match body.targets.as_slice() {
            [] => Err(CallError::bad_request("redirect needs at least one target")),
            targets if targets.len() > 25 => {
                Err(CallError::bad_request("at most 25 redirect targets"))
            }
            [target, ..] => match user_of(target) {
                Some(user) => {
                    let user = user.to_string();
                    world
                        .redirect_leg(id, &user, body.timeout, body.callback_uri)
                        .map(|()| accepted())
                }
                None => Err(CallError::bad_request(
                    "the emulator redirects to users only (identity.user.id)",
                )),
            },
        },
        "transfer" => {
            let target = body.transfer_target.as_ref();
            match (target.and_then(user_of), target.and_then(phone_of)) {
                (Some(user), _) => {
                    let user = user.to_string();
                    world.transfer_leg(id, &user).map(|()| accepted())
                }
                (None, Some(number)) => {
                    let number = number.to_string();
                    world.transfer_to_phone(id, &number).map(|()| accepted())
                }
                (None, None) => Err(CallError::bad_request(
                    "transferTarget.identity needs user.id or phone.id",
                )),
            }
        }
        "playPrompt" => {
            if body.prompts.is_empty() || body.prompts.len() > 20 {
                Err(CallError::bad_request("playPrompt takes 1 to 20 prompts"))
            } else if body.client_context.as_ref().is_some_and(|c| c.len() > 256) {
                Err(CallError::bad_request(
                    "clientContext is at most 256 characters",
                ))
            } else {
                world
                    .play_prompt(
                        id,
                        body.client_context.clone(),
                        body.prompts
                            .iter()
                            .filter_map(|p| p["mediaInfo"]["uri"].as_str())
                            .map(str::to_string)
                            .collect(),
                    )
                    .map(|op| operation("playPromptOperation", &op, &body.client_context))
            }
        }
        "keepAlive" => world
            .keep_leg_alive(id)
            .map(|()| StatusCode::OK.into_response()),
        other => Err(CallError {
            status: 400,
            code: "BadRequest".into(),
            message: format!("unknown call action {other:?}"),
        }),
    };
    result.unwrap_or_else(|error| refused(world, error))
}

/// `POST /v1.0/communications/calls/{id}/participants/invite`.
pub async fn participants_action(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let action = action.trim_start_matches("microsoft.graph.").to_string();
    let path = format!("/calls/{id}/participants/{action}");
    as_bot(&state, &headers, "calls/participants/invite", &path, |world| {
        let body = match action_body(world, &body, &action) {
            Ok(body) => body,
            Err(response) => return response,
        };
        let result = match (action.as_str(), body.participants.as_slice()) {
            ("invite", [participant]) => match (user_of(participant), phone_of(participant)) {
                (Some(user), _) => {
                    let user = user.to_string();
                    world.invite_to_leg(&id, &user, body.client_context.clone())
                }
                (None, Some(number)) => {
                    let number = number.to_string();
                    world.invite_phone(&id, &number, body.client_context.clone())
                }
                (None, None) => Err(CallError::bad_request(
                    "an invited participant needs identity.user.id or identity.phone.id",
                )),
            },
            ("invite", _) => Err(CallError::bad_request(
                "a peer-to-peer call takes one invited participant",
            )),
            (other, _) => Err(CallError::bad_request(format!(
                "unknown participants action {other:?}"
            ))),
        };
        match result {
            Ok(op) => operation_response(
                &id,
                &op,
                json!({ "@odata.type": "#microsoft.graph.inviteParticipantsOperation", "id": op, "status": "Running",
                    "clientContext": body.client_context, "resultInfo": null, "participants": body.participants }),
            ),
            Err(error) => refused(world, error),
        }
    })
    .await
}

/// `GET /v1.0/communications/calls/{id}`.
pub async fn get_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    as_bot(
        &state,
        &headers,
        "calls/get",
        &format!("/calls/{id}"),
        |world| match world
            .calling
            .legs
            .get(&id)
            .filter(|leg| leg.state != crate::calling::LegState::Terminated)
        {
            Some(leg) => {
                let mut body = world.leg_json(leg);
                body["@odata.context"] = json!(
                    "https://graph.microsoft.com/v1.0/$metadata#communications/calls/$entity"
                );
                graph_json(body).into_response()
            }
            None => refused(world, CallError::not_found()),
        },
    )
    .await
}

/// `DELETE /v1.0/communications/calls/{id}`: the bot hangs up.
pub async fn delete_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    as_bot(
        &state,
        &headers,
        "calls/delete",
        &format!("/calls/{id}"),
        |world| match world.delete_leg(&id) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(error) => refused(world, error),
        },
    )
    .await
}

/// `GET /v1/.well-known/OpenIdConfiguration`: where the calling service's signing keys are.
pub async fn calling_discovery(State(state): State<AppState>) -> Response {
    let base = state.base_url();
    crate::oidc::json_response(
        json!({
            "issuer": CALLING_ISSUER,
            "authorization_endpoint": format!("{base}/v1/authorize"),
            "jwks_uri": format!("{base}/v1/keys"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })
        .to_string(),
    )
}

/// `GET /v1/keys`.
pub async fn calling_keys() -> Response {
    crate::oidc::json_response(crate::oidc::key_set(CALLING_ISSUER).to_string())
}

/// The bearer token a webhook POST carries, as `webhook_token` says (a valid one by default).
/// Its times are the wall clock's, not emulated time: a real service signs in real time, and
/// a bot checks `nbf` and `exp` against its own clock.
fn webhook_token(world: &World) -> Option<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64);
    let mut claims = json!({
        "aud": world.calling.bot.app_id,
        "iss": CALLING_ISSUER,
        "tid": world.tenant_id,
        "iat": now, "nbf": now, "exp": now + 600,
    });
    match world.settings.webhook_token.as_str() {
        "missing" => return None,
        "wrong-audience" => claims["aud"] = json!("00000000-0000-0000-0000-000000000000"),
        "expired" => {
            claims["iat"] = json!(now - 7200);
            claims["nbf"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        "wrong-key" => {
            // Signed, then its signature replaced: what a forger without the key can send.
            let token = crate::oidc::sign_jwt(&claims);
            let (signed, _) = token.rsplit_once('.')?;
            return Some(format!("{signed}.AAAA{}", &signed[..signed.len().min(40)]));
        }
        _ => {}
    }
    Some(crate::oidc::sign_jwt(&claims))
}

/// The notifier's HTTP client: the public roots, and `trust` (PEM) when given.
fn notifier(trust: Option<&str>) -> Result<reqwest::Client, reqwest::Error> {
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(3));
    if let Some(pem) = trust {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?);
    }
    builder.build()
}

/// POSTs queued notifications to the bot, in order, for as long as the emulator runs. A POST
/// not acknowledged (2xx) within `webhook_ack_ms` fails an incoming call (the caller hears
/// "could not be reached"); later notifications are not retried (Graph documents no retries).
pub async fn deliver_forever(state: AppState) {
    // The client, and the extra certificate it was built to trust (rebuilt when that changes).
    let mut client: Option<(reqwest::Client, Option<String>)> = None;
    loop {
        let next: Option<(Notification, Option<String>, u64, Option<String>)> = {
            let mut world = state.world();
            let token = webhook_token(&world);
            let ack = world.settings.webhook_ack_ms;
            let trust = world.calling.bot.trust_pem.clone();
            world
                .calling
                .outgoing
                .pop_front()
                .map(|n| (n, token, ack, trust))
        };
        let Some((notification, token, ack_ms, trust)) = next else {
            state.notifications.notified().await;
            continue;
        };
        if client
            .as_ref()
            .is_none_or(|(_, built_for)| *built_for != trust)
        {
            match notifier(trust.as_deref()) {
                Ok(http) => client = Some((http, trust)),
                Err(error) => tracing::error!("the webhook notifier's client: {error}"),
            }
        }
        let Some((http, _)) = &client else {
            // No client to send with: the notification is not delivered, as a dead webhook.
            let mut world = state.world();
            world.note(format!(
                "webhook {}: no HTTP client to send with",
                notification.url
            ));
            world.webhook_failed(&notification, 0);
            continue;
        };
        let mut request = http
            .post(&notification.url)
            .timeout(Duration::from_millis(ack_ms))
            .header("User-Agent", "Microsoft-Skype/3.0,(Calling/1.0)")
            .header("Client-Request-Id", crate::ids::guid())
            .json(&notification.body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let status = match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                tracing::debug!("webhook {}: {error}", notification.url);
                0
            }
        };
        let mut world = state.world();
        world.count(&format!("webhook {status}"));
        world
            .calling
            .deliveries
            .push_back((notification.call.clone(), status));
        while world.calling.deliveries.len() > 200 {
            world.calling.deliveries.pop_front();
        }
        if !(200..300).contains(&status) {
            world.note(format!("webhook {} answered {status}", notification.url));
            world.webhook_failed(&notification, status);
        }
        drop(world);
        state.events.notify_waiters();
    }
}
