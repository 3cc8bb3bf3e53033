//! The calling webhook: every POST's bearer token is checked against the calling service's
//! published keys (RS256 by `kid`; issuer `https://api.botframework.com` or
//! `https://graph.microsoft.com`, audience the bot's app id, a tenant claim, `exp`/`nbf` with a
//! minute of skew), as Microsoft's own samples check it; anything else is refused with 403 and
//! read no further. A valid notification is handed to the driver and acknowledged with 202 at
//! once (Teams gives up on a webhook after about 5 s); the work happens after the reply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::{mpsc, Mutex};

use crate::graph::{Notification, Notifications};

/// The issuers Microsoft's calling service signs with.
pub const ISSUERS: [&str; 2] = [
    "https://api.botframework.com",
    "https://graph.microsoft.com",
];

/// How often the published keys are read again, whatever happens (as Microsoft's sample does).
const KEYS_REFRESH: Duration = Duration::from_secs(2 * 3600);
/// The least time between two reads forced by an unknown `kid` (a forger cannot make the
/// controller hammer the key endpoint).
const KEYS_MIN_GAP: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
struct OpenIdDocument {
    jwks_uri: String,
}

/// Claims the controller needs besides the ones `jsonwebtoken` checks.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    tid: String,
}

/// The calling service's signing keys, read from its OpenID document and kept.
#[derive(Debug)]
pub struct Keys {
    http: reqwest::Client,
    openid_url: String,
    cached: Mutex<Option<(Instant, JwkSet)>>,
}

impl Keys {
    pub fn new(http: reqwest::Client, openid_url: &str) -> Self {
        Self {
            http,
            openid_url: openid_url.to_string(),
            cached: Mutex::new(None),
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let document: OpenIdDocument = self
            .http
            .get(&self.openid_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("the calling service's OpenID document: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the calling service's OpenID document: {e}"))?;
        self.http
            .get(&document.jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("the calling service's keys: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the calling service's keys: {e}"))
    }

    /// The key named `kid`: from the cache, or read again when it is old or lacks the key.
    async fn key(&self, kid: &str) -> Result<DecodingKey, String> {
        let mut cached = self.cached.lock().await;
        let fresh_enough = |at: &Instant| at.elapsed() < KEYS_REFRESH;
        let known = cached
            .as_ref()
            .filter(|(at, _)| fresh_enough(at))
            .and_then(|(_, set)| set.find(kid).cloned());
        let jwk = match known {
            Some(jwk) => jwk,
            None => {
                let may_fetch = cached
                    .as_ref()
                    .is_none_or(|(at, _)| !fresh_enough(at) || at.elapsed() >= KEYS_MIN_GAP);
                if !may_fetch {
                    return Err(format!("no published key {kid:?}"));
                }
                let set = self.fetch().await?;
                let found = set.find(kid).cloned();
                *cached = Some((Instant::now(), set));
                found.ok_or_else(|| format!("no published key {kid:?}"))?
            }
        };
        DecodingKey::from_jwk(&jwk).map_err(|e| format!("published key {kid:?} is unusable: {e}"))
    }

    /// Checks a webhook POST's bearer token: `Ok` with the tenant, or why it is refused.
    pub async fn check(&self, headers: &HeaderMap, app_id: &str) -> Result<String, String> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or("no bearer token")?;
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = header.kid.ok_or("the token names no key (kid)")?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[app_id]);
        validation.set_issuer(&ISSUERS);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| format!("the token is refused: {e}"))?;
        if claims.claims.tid.trim().is_empty() {
            return Err("the token has no tenant (tid)".into());
        }
        Ok(claims.claims.tid)
    }
}

/// What the webhook shares.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub keys: Arc<Keys>,
    pub app_id: String,
    pub notifications: mpsc::Sender<Notification>,
}

/// `POST /api/calling` and `POST /api/calling/{anything}` (a call's `callbackUri`).
pub fn router(webhook: Webhook) -> Router {
    Router::new()
        .route("/api/calling", post(receive))
        .route("/api/calling/{*rest}", post(receive))
        .with_state(webhook)
}

async fn receive(State(webhook): State<Webhook>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = webhook.keys.check(&headers, &webhook.app_id).await {
        tracing::warn!("calling webhook: a notification is refused: {why}");
        return StatusCode::FORBIDDEN.into_response();
    }
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!("calling webhook: a body that is not JSON is refused: {error}");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    // The legacy (Skype-protocol) shape has no @odata.type: 204 asks Teams for Graph's shape.
    if value.get("@odata.type").is_none() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let parsed: Notifications = match serde_json::from_value(value) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!("calling webhook: notifications not in Graph's shape: {error}");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    for notification in parsed.value {
        if webhook.notifications.send(notification).await.is_err() {
            // The driver is gone (shutting down): Teams will find the call unreachable.
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    StatusCode::ACCEPTED.into_response()
}
