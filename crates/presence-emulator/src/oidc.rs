//! Entra ID's OpenID Connect side: the discovery document
//! (`/{tenant}/v2.0/.well-known/openid-configuration`), the signing keys
//! (`/{tenant}/discovery/v2.0/keys`) and id tokens signed RS256 with the published key, so
//! that standard OpenID clients validate them as they do Entra's. The key is a committed test
//! key (`keys/README.md`).

use std::sync::OnceLock;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::AppState;
use crate::ids;
use crate::world::World;

const KEY_PKCS8: &[u8] = include_bytes!("../keys/entra-signing-key.pk8");

/// The signing key, its public components and its id (a hash of its modulus, as stable as
/// the key).
struct SigningKey {
    pair: RsaKeyPair,
    public: RsaPublicKeyComponents<Vec<u8>>,
    kid: String,
}

fn key() -> Option<&'static SigningKey> {
    static KEY: OnceLock<Option<SigningKey>> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = match RsaKeyPair::from_pkcs8(KEY_PKCS8) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::error!("the id-token signing key cannot be read: {error}");
                return None;
            }
        };
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&public.n)[..15]);
        Some(SigningKey { pair, public, kid })
    })
    .as_ref()
}

/// The issuer of a tenant's tokens; Entra's multi-tenant endpoints publish it as a template.
fn issuer(base: &str, tenant: &str) -> String {
    match tenant {
        "common" | "organizations" | "consumers" => format!("{base}/{{tenantid}}/v2.0"),
        tenant => format!("{base}/{tenant}/v2.0"),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn discovery(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let base = state.base_url();
    let tenant_path = format!("{base}/{tenant}");
    let document = json!({
        "issuer": issuer(&base, &tenant),
        "authorization_endpoint": format!("{tenant_path}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{tenant_path}/oauth2/v2.0/token"),
        "device_authorization_endpoint": format!("{tenant_path}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{tenant_path}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "preferred_username", "nonce", "ver"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "tenant_region_scope": "EU",
        "request_uri_parameter_supported": false,
    });
    json_response(document.to_string())
}

/// `GET /{tenant}/discovery/v2.0/keys`: the public half of the signing key as a JWK.
pub async fn keys(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    let base = state.base_url();
    json_response(key_set(&issuer(&base, &tenant)).to_string())
}

pub(crate) fn json_response(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An id token with `oid` and `tid`, signed RS256 with the published key (whose `kid` it
/// names); `nonce` echoes the authorization request's, when it had one.
pub fn id_token(
    world: &World,
    agent: usize,
    client_id: &str,
    tenant_id: &str,
    now: i64,
    base: &str,
    nonce: Option<&str>,
) -> String {
    let agent = &world.agents[agent];
    let mut claims = json!({
        "aud": client_id,
        "iss": issuer(base, tenant_id),
        "iat": now / 1000,
        "nbf": now / 1000,
        "exp": now / 1000 + 3600,
        "name": agent.display_name,
        "oid": agent.graph_id,
        "preferred_username": agent.upn,
        "sub": ids::guid(),
        "tid": tenant_id,
        "ver": "2.0",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    sign_jwt(&claims)
}

/// A JWT of `claims`, signed RS256 with the published key (whose `kid` its header names).
pub fn sign_jwt(claims: &serde_json::Value) -> String {
    let kid = key().map_or("unavailable", |key| key.kid.as_str());
    let header = json!({ "typ": "JWT", "alg": "RS256", "kid": kid });
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key().and_then(|key| {
        let mut signature = vec![0; key.pair.public().modulus_len()];
        key.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .ok()
            .map(|()| signature)
    });
    // Without a usable key (it is compiled in, so never), the token is unsigned garbage that
    // every validating client refuses: better than a token that looks signed.
    let signature = signature.unwrap_or_else(|| b"no signing key".to_vec());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The published key set (JWKS) with `issuer` on each key.
pub fn key_set(issuer: &str) -> serde_json::Value {
    let keys: Vec<_> = key()
        .map(|key| {
            json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": key.kid,
                "n": URL_SAFE_NO_PAD.encode(&key.public.n),
                "e": URL_SAFE_NO_PAD.encode(&key.public.e),
                "issuer": issuer,
            })
        })
        .into_iter()
        .collect();
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_signing_key_loads_and_its_id_is_stable() {
        let key = key().expect("keys/entra-signing-key.pk8 is a key ring reads");
        assert_eq!(key.public.n.len(), 256, "RSA 2048");
        assert_eq!(key.public.e, [1, 0, 1]);
        assert_eq!(key.kid.len(), 20);
    }
}
