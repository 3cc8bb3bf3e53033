//! Sign-in for Entra ID v2.0 (`/{tenant}/oauth2/v2.0/…`): authorization code with PKCE
//! (auto-approved, no login page), refresh tokens rotated on every use, device code; and what
//! both clouds share: the code-with-PKCE authorize flow, code and device-code redemption, and
//! the bearer-token check of every API call. Salesforce's endpoints are in `salesforce_oauth.rs`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::{bearer, entra_error, gate, AppState};
use crate::ids;
use crate::world::{AccessToken, Api, AuthCode, DeviceCode, RefreshToken, Subject, World};

pub(crate) type Params = HashMap<String, String>;

pub(crate) fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or("")
}

/// `code_challenge` check: S256 (and plain, which Entra also accepts).
pub fn pkce_matches(challenge: &str, method: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("plain") {
        return challenge == verifier;
    }
    let digest = Sha256::digest(verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest) == challenge
}

fn loopback_redirect(uri: &str) -> bool {
    ["http://localhost", "http://127.0.0.1"].iter().any(|base| {
        uri.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
    })
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", encoded.join("&"))
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

fn pick_agent(world: &World, login_hint: &str) -> Option<usize> {
    if login_hint.is_empty() {
        return (!world.agents.is_empty()).then_some(0);
    }
    world.agent_index(login_hint)
}

/// Authorize (both clouds): validates, then redirects straight back with a code.
pub(crate) fn authorize(state: &AppState, api: Api, params: &Params) -> Response {
    let mut world = state.world();
    let redirect_uri = param(params, "redirect_uri").to_string();
    let client_id = param(params, "client_id").to_string();
    if client_id.is_empty() || !loopback_redirect(&redirect_uri) {
        return (
            StatusCode::BAD_REQUEST,
            "invalid_request: client_id is required and redirect_uri must be a loopback http URI",
        )
            .into_response();
    }
    let state_param = param(params, "state").to_string();
    if param(params, "response_type") != "code" {
        return Redirect::to(&with_query(
            &redirect_uri,
            &[
                ("error", "unsupported_response_type"),
                ("error_description", "response_type must be code"),
                ("state", &state_param),
            ],
        ))
        .into_response();
    }
    let challenge = params.get("code_challenge").map(|challenge| {
        let method = params
            .get("code_challenge_method")
            .cloned()
            .unwrap_or_else(|| "plain".into());
        (challenge.clone(), method)
    });
    let Some(agent) = pick_agent(&world, param(params, "login_hint")) else {
        return Redirect::to(&with_query(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "no such user in the emulated tenant"),
                ("state", &state_param),
            ],
        ))
        .into_response();
    };
    let code = ids::token(if api == Api::Entra { "0.AX" } else { "aPrx" });
    let expires_ms = world.now_ms() + 10 * 60_000;
    world.auth_codes.insert(
        code.clone(),
        AuthCode {
            api,
            agent,
            client_id,
            redirect_uri: redirect_uri.clone(),
            challenge,
            scope: param(params, "scope").to_string(),
            nonce: params.get("nonce").cloned(),
            expires_ms,
            used: false,
        },
    );
    let name = world.agents[agent].name.clone();
    world.note(format!("{} authorize: code issued for {name}", api.name()));
    Redirect::to(&with_query(
        &redirect_uri,
        &[("code", &code), ("state", &state_param)],
    ))
    .into_response()
}

// ------------------------------------------------------------------------------------------
// Entra

pub async fn entra_authorize(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(fault) = gate(&state, Api::Entra, "authorize", "/authorize").await {
        return fault;
    }
    authorize(&state, Api::Entra, &params)
}

pub async fn entra_devicecode(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    Form(params): Form<Params>,
) -> Response {
    if let Some(fault) = gate(&state, Api::Entra, "devicecode", "/devicecode").await {
        return fault;
    }
    let mut world = state.world();
    let now = world.now_ms();
    if param(&params, "client_id").is_empty() {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            now,
        );
    }
    let device_code = ids::token("DAQABAAEAAA");
    let user_code = format!(
        "{:09}",
        (now as u64).wrapping_mul(2654435761) % 1_000_000_000
    )
    .chars()
    .map(|c| (b'A' + (c as u8 - b'0') * 2) as char)
    .collect::<String>();
    let interval = world.settings.device_interval_s;
    world.device_codes.insert(
        device_code.clone(),
        DeviceCode {
            api: Api::Entra,
            user_code: user_code.clone(),
            client_id: param(&params, "client_id").to_string(),
            scope: param(&params, "scope").to_string(),
            agent: None,
            expires_ms: now + 900_000,
            interval_s: interval,
            last_poll_ms: None,
            polls: 0,
            redeemed: false,
        },
    );
    let base = state.base_url();
    let verification = format!("{base}/_emulator/ui#device");
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification,
            "expires_in": 900,
            "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {verification} and enter the code {user_code} to authenticate."),
        })
        .to_string(),
    )
        .into_response()
}

pub async fn entra_token(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    if let Some(fault) = gate(&state, Api::Entra, "token", "/token").await {
        return fault;
    }
    let base = state.base_url();
    let mut world = state.world();
    let now = world.now_ms();
    let err = |error: &str, code: u32, text: &str| {
        let status = if error == "invalid_client" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        entra_error(status, error, code, text, now)
    };
    let client_id = param(&params, "client_id").to_string();
    if client_id.is_empty() {
        return err(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    if param(&params, "grant_type") == "client_credentials" {
        return app_token(&mut world, &params, &headers, &client_id);
    }
    // The nonce of the authorization request goes into the id token it brings.
    let nonce = match param(&params, "grant_type") {
        "authorization_code" => world
            .auth_codes
            .get(param(&params, "code"))
            .and_then(|code| code.nonce.clone()),
        _ => None,
    };
    let granted = match param(&params, "grant_type") {
        "authorization_code" => match redeem_code(&mut world, Api::Entra, &params, &client_id) {
            Ok(grant) => grant,
            Err((error, code, text)) => return err(error, code, &text),
        },
        "refresh_token" => {
            let presented = param(&params, "refresh_token").to_string();
            let Some(old) = world.refresh_tokens.get_mut(&presented) else {
                return err(
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                );
            };
            if !old.alive || old.api != Api::Entra {
                return err(
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity or was revoked.",
                );
            }
            if old.client_id != client_id {
                return err(
                    "invalid_grant",
                    70000,
                    "Provided grant is invalid or malformed.",
                );
            }
            // Rotation: the presented token dies, a new one is issued below.
            old.alive = false;
            (old.agent, old.scope.clone(), true)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            match poll_device(&mut world, Api::Entra, param(&params, "device_code")) {
                Ok(grant) => grant,
                Err((error, code, text)) => return err(error, code, &text),
            }
        }
        other => {
            return err(
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
    };
    let (agent, scope, wants_refresh) = granted;
    let lifetime = world.settings.token_lifetime_s;
    let access = ids::token("eyJ0eXAiOiJKV1Qi.");
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            api: Api::Entra,
            subject: Subject::Agent(agent),
            client_id: client_id.clone(),
            expires_ms: Some(now + lifetime as i64 * 1000),
            revoked: false,
        },
    );
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope.split_whitespace().filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" "),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
    });
    if wants_refresh || scope.split_whitespace().any(|s| s == "offline_access") {
        let refresh = ids::token("1.AXoA");
        world.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                api: Api::Entra,
                agent,
                client_id: client_id.clone(),
                scope: scope.clone(),
                alive: true,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    if scope.split_whitespace().any(|s| s == "openid") || wants_refresh {
        let tenant_id = world.tenant_id.clone();
        let token = crate::oidc::id_token(
            &world,
            agent,
            &client_id,
            &tenant_id,
            now,
            &base,
            nonce.as_deref(),
        );
        body["id_token"] = json!(token);
    }
    let name = world.agents[agent].name.clone();
    world.note(format!("entra token issued for {name}"));
    (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

type Grant = (usize, String, bool);
type GrantError = (&'static str, u32, String);

pub(crate) fn redeem_code(
    world: &mut World,
    api: Api,
    params: &Params,
    client_id: &str,
) -> Result<Grant, GrantError> {
    let now = world.now_ms();
    let code = param(params, "code");
    let Some(entry) = world.auth_codes.get_mut(code) else {
        return Err((
            "invalid_grant",
            70000,
            "The provided authorization code is invalid.".into(),
        ));
    };
    if entry.api != api || entry.used || entry.expires_ms <= now {
        entry.used = true;
        return Err((
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired or was already redeemed."
                .into(),
        ));
    }
    if entry.client_id != client_id {
        return Err((
            "invalid_grant",
            700005,
            "The authorization code was issued to another client.".into(),
        ));
    }
    if entry.redirect_uri != param(params, "redirect_uri") {
        return Err((
            "invalid_grant",
            50011,
            "The redirect URI does not match the one used to obtain the code.".into(),
        ));
    }
    if let Some((challenge, method)) = &entry.challenge {
        let verifier = param(params, "code_verifier");
        if verifier.is_empty() {
            return Err((
                "invalid_grant",
                501481,
                "The code_verifier is missing.".into(),
            ));
        }
        if !pkce_matches(challenge, method, verifier) {
            entry.used = true;
            return Err(("invalid_grant", 50148, "The code_verifier does not match the code_challenge supplied in the authorization request.".into()));
        }
    }
    entry.used = true;
    Ok((entry.agent, entry.scope.clone(), false))
}

pub(crate) fn poll_device(
    world: &mut World,
    api: Api,
    device_code: &str,
) -> Result<Grant, GrantError> {
    let now = world.now_ms();
    let approve_after = world.settings.device_polls_before_approval;
    let first_agent = (!world.agents.is_empty()).then_some(0);
    let Some(entry) = world.device_codes.get_mut(device_code) else {
        return Err(("invalid_grant", 70000, "The device code is invalid.".into()));
    };
    if entry.api != api || entry.redeemed {
        return Err((
            "invalid_grant",
            70000,
            "The device code was already redeemed.".into(),
        ));
    }
    if entry.expires_ms <= now {
        return Err(("expired_token", 70019, "Verification code expired.".into()));
    }
    let too_fast = entry
        .last_poll_ms
        .is_some_and(|last| now - last < entry.interval_s as i64 * 1000 / 2);
    entry.last_poll_ms = Some(now);
    entry.polls += 1;
    if too_fast {
        return Err(("slow_down", 70016, "Polling too fast; slow down.".into()));
    }
    if entry.agent.is_none() && entry.polls > approve_after {
        entry.agent = first_agent;
    }
    match entry.agent {
        None => Err((
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.".into(),
        )),
        Some(agent) => {
            entry.redeemed = true;
            Ok((agent, entry.scope.clone(), true))
        }
    }
}

/// The client secret of a token request: in the form (`client_secret_post`) or in a Basic
/// authorization header (`client_secret_basic`), as Entra and Salesforce both accept.
pub(crate) fn client_secret(params: &Params, headers: &HeaderMap) -> Option<String> {
    let posted = param(params, "client_secret");
    if !posted.is_empty() {
        return Some(posted.to_string());
    }
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic)
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, secret) = decoded.split_once(':')?;
    Some(secret.to_string())
}

/// `grant_type=client_credentials`: the calling bot's app-only Graph token.
fn app_token(world: &mut World, params: &Params, headers: &HeaderMap, client_id: &str) -> Response {
    let now = world.now_ms();
    let bot = &world.calling.bot;
    if client_id != bot.app_id {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{}'.",
                world.tenant_id
            ),
            now,
        );
    }
    if client_secret(params, headers).as_deref() != Some(bot.client_secret.as_str()) {
        return entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            now,
        );
    }
    let scope = param(params, "scope");
    if !scope.ends_with("/.default") {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
            now,
        );
    }
    let lifetime = world.settings.token_lifetime_s;
    let access = ids::token("eyJ0eXAiOiJKV1Qi.app.");
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            api: Api::Entra,
            subject: Subject::App,
            client_id: client_id.to_string(),
            expires_ms: Some(now + lifetime as i64 * 1000),
            revoked: false,
        },
    );
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({ "token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": access }).to_string(),
    )
        .into_response()
}

/// Looks up a bearer token of the given cloud that an agent signed in for: the agent's index,
/// or why not (an app's own token is refused: it has no `/me`).
pub fn authenticate(
    world: &World,
    api: Api,
    headers: &HeaderMap,
) -> Result<(usize, String), &'static str> {
    match authenticate_subject(world, api, headers)? {
        (Subject::Agent(agent), client_id) => Ok((agent, client_id)),
        (Subject::App, _) => Err("/me request is only valid with delegated authentication flow."),
    }
}

/// Looks up a bearer token of the given cloud, an agent's or an app's: whom it speaks for and
/// the client it was issued to, or why not.
pub fn authenticate_subject(
    world: &World,
    api: Api,
    headers: &HeaderMap,
) -> Result<(Subject, String), &'static str> {
    let token = bearer(headers).ok_or("Access token is empty.")?;
    let entry = world
        .access_tokens
        .get(&token)
        .ok_or("CompactToken parsing failed with error code: 80049217")?;
    if entry.api != api {
        return Err("CompactToken parsing failed with error code: 80049217");
    }
    if entry.revoked {
        return Err("Access token has been revoked.");
    }
    if entry.expires_ms.is_some_and(|at| at <= world.now_ms()) {
        return Err("Access token has expired or is not yet valid.");
    }
    Ok((entry.subject, entry.client_id.clone()))
}
