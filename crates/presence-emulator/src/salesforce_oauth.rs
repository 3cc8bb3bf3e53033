//! Salesforce's sign-in (`/services/oauth2/…`): authorize (the shared code-with-PKCE flow,
//! auto-approved), token (authorization code, refresh with optional rotation), revoke and
//! userinfo, with Salesforce's error bodies. Entra's side and the bearer check both clouds
//! share are in `oauth.rs`.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::http::{gate, AppState};
use crate::ids;
use crate::oauth::{authorize, param, poll_device, redeem_code, Params};
use crate::world::{AccessToken, Api, DeviceCode, RefreshToken, Subject, World};

fn salesforce_oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response()
}

pub async fn salesforce_authorize(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Salesforce,
        "oauth2/authorize",
        "/services/oauth2/authorize",
    )
    .await
    {
        return fault;
    }
    authorize(&state, Api::Salesforce, &params)
}

pub async fn salesforce_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Salesforce,
        "oauth2/token",
        "/services/oauth2/token",
    )
    .await
    {
        return fault;
    }
    let base = state.base_url();
    let mut world = state.world();
    let now = world.now_ms();
    let client_id = param(&params, "client_id").to_string();
    if param(&params, "response_type") == "device_code" {
        let device_code = ids::token("dc");
        let user_code = ids::token("")
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(8)
            .collect::<String>()
            .to_uppercase();
        let interval = world.settings.device_interval_s;
        world.device_codes.insert(
            device_code.clone(),
            DeviceCode {
                api: Api::Salesforce,
                user_code: user_code.clone(),
                client_id,
                scope: param(&params, "scope").to_string(),
                agent: None,
                expires_ms: now + 600_000,
                interval_s: interval,
                last_poll_ms: None,
                polls: 0,
                redeemed: false,
            },
        );
        return (
            [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
            json!({ "device_code": device_code, "user_code": user_code, "verification_uri": format!("{base}/_emulator/ui#device"), "interval": interval }).to_string(),
        ).into_response();
    }
    if client_id.is_empty() {
        return salesforce_oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    }
    if param(&params, "grant_type") == "client_credentials" {
        return integration_token(&mut world, &params, &headers, &client_id, &base);
    }
    let grant = match param(&params, "grant_type") {
        "authorization_code" => match redeem_code(&mut world, Api::Salesforce, &params, &client_id)
        {
            Ok(grant) => grant,
            Err((_, 501481, _)) => {
                return salesforce_oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "invalid code verifier",
                )
            }
            Err((_, 50148, _)) => {
                return salesforce_oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "invalid code verifier",
                )
            }
            Err((_, _, text)) => {
                return salesforce_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &text)
            }
        },
        "refresh_token" => {
            let presented = param(&params, "refresh_token").to_string();
            let rotate = world.settings.salesforce_rotate_refresh;
            match world.refresh_tokens.get_mut(&presented) {
                Some(token)
                    if token.alive
                        && token.api == Api::Salesforce
                        && token.client_id == client_id =>
                {
                    if rotate {
                        token.alive = false;
                    }
                    (token.agent, token.scope.clone(), rotate)
                }
                _ => {
                    return salesforce_oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "expired access/refresh token",
                    )
                }
            }
        }
        "device" => match poll_device(&mut world, Api::Salesforce, param(&params, "code")) {
            Ok(grant) => grant,
            Err((error, _, text)) => {
                let error = if error == "expired_token" {
                    "invalid_grant"
                } else {
                    error
                };
                return salesforce_oauth_error(StatusCode::BAD_REQUEST, error, &text);
            }
        },
        _ => {
            return salesforce_oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant type not supported",
            )
        }
    };
    let (agent, scope, new_refresh) = grant;
    let access = format!("{}!{}", world.org_id, ids::token("AQ"));
    let session = world.settings.salesforce_session_s;
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            api: Api::Salesforce,
            subject: Subject::Agent(agent),
            client_id: client_id.clone(),
            expires_ms: Some(now + session as i64 * 1000),
            revoked: false,
        },
    );
    let user_id = world.agents[agent].salesforce_id.clone();
    let org_id = world.org_id.clone();
    let issued_at = now.to_string();
    let id_url = format!("{base}/id/{org_id}/{user_id}");
    let signature =
        URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{id_url}{issued_at}").as_bytes()));
    let mut body = json!({
        "access_token": access,
        "signature": signature,
        "scope": if scope.is_empty() { "api refresh_token".to_string() } else { scope.clone() },
        "instance_url": base,
        "id": id_url,
        "token_type": "Bearer",
        "issued_at": issued_at,
    });
    let wants_refresh = new_refresh || param(&params, "grant_type") != "refresh_token";
    if wants_refresh
        && (scope.is_empty() || scope.contains("refresh_token") || scope.contains("offline_access"))
    {
        let refresh = format!("5Aep{}", ids::token(""));
        world.refresh_tokens.insert(
            refresh.clone(),
            RefreshToken {
                api: Api::Salesforce,
                agent,
                client_id,
                scope,
                alive: true,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    let name = world.agents[agent].name.clone();
    world.note(format!("salesforce token issued for {name}"));
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

pub async fn salesforce_revoke(
    State(state): State<AppState>,
    Form(params): Form<Params>,
) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Salesforce,
        "oauth2/revoke",
        "/services/oauth2/revoke",
    )
    .await
    {
        return fault;
    }
    let mut world = state.world();
    let token = param(&params, "token").to_string();
    if let Some(refresh) = world.refresh_tokens.get_mut(&token) {
        refresh.alive = false;
        let (agent, client) = (refresh.agent, refresh.client_id.clone());
        for access in world.access_tokens.values_mut() {
            if access.api == Api::Salesforce
                && access.subject == Subject::Agent(agent)
                && access.client_id == client
            {
                access.revoked = true;
            }
        }
        return StatusCode::OK.into_response();
    }
    if let Some(access) = world.access_tokens.get_mut(&token) {
        access.revoked = true;
        return StatusCode::OK.into_response();
    }
    salesforce_oauth_error(
        StatusCode::BAD_REQUEST,
        "unsupported_token_type",
        "this token type is not supported",
    )
}

pub async fn salesforce_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(fault) = gate(
        &state,
        Api::Salesforce,
        "oauth2/userinfo",
        "/services/oauth2/userinfo",
    )
    .await
    {
        return fault;
    }
    let world = state.world();
    let who = match crate::oauth::authenticate_subject(&world, Api::Salesforce, &headers) {
        Ok((Subject::Agent(agent), _)) => world.agents.get(agent).map(|agent| {
            (
                agent.salesforce_id.clone(),
                agent.upn.clone(),
                agent.display_name.clone(),
            )
        }),
        Ok((Subject::App, _)) => world.integration.as_ref().map(|user| {
            (
                user.salesforce_id.clone(),
                user.username.clone(),
                "Presence Bridge Controller".to_string(),
            )
        }),
        Err(_) => None,
    };
    match who {
        Some((user_id, username, name)) => {
            let body: Value = json!({
                "sub": format!("{}/id/{}/{}", state.base_url(), world.org_id, user_id),
                "user_id": user_id,
                "organization_id": world.org_id,
                "preferred_username": username,
                "name": name,
                "email": username,
            });
            (
                [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
                body.to_string(),
            )
                .into_response()
        }
        None => (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response(),
    }
}

/// `grant_type=client_credentials`: a server signs in as the org's integration user (the
/// flow's "run as" user). No refresh token: it asks again when the session ends.
fn integration_token(
    world: &mut World,
    params: &Params,
    headers: &HeaderMap,
    client_id: &str,
    base: &str,
) -> Response {
    let now = world.now_ms();
    let Some(user) = world.integration.clone() else {
        return salesforce_oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "no client credentials user enabled",
        );
    };
    if client_id != user.client_id {
        return salesforce_oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    }
    if crate::oauth::client_secret(params, headers).as_deref() != Some(user.client_secret.as_str())
    {
        return salesforce_oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "invalid client credentials",
        );
    }
    let access = format!("{}!{}", world.org_id, ids::token("AQ"));
    let session = world.settings.salesforce_session_s;
    world.access_tokens.insert(
        access.clone(),
        AccessToken {
            api: Api::Salesforce,
            subject: Subject::App,
            client_id: client_id.to_string(),
            expires_ms: Some(now + session as i64 * 1000),
            revoked: false,
        },
    );
    let issued_at = now.to_string();
    let id_url = format!("{base}/id/{}/{}", world.org_id, user.salesforce_id);
    let signature =
        URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{id_url}{issued_at}").as_bytes()));
    world.note(format!(
        "salesforce token issued for the integration user {}",
        user.username
    ));
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!({
            "access_token": access, "signature": signature, "scope": "api",
            "instance_url": base, "id": id_url, "token_type": "Bearer", "issued_at": issued_at,
        })
        .to_string(),
    )
        .into_response()
}
