//! Drives every area of the emulator over real HTTP on loopback with a plain client, and checks
//! bodies, status codes and headers against the documented shapes (fixtures in the workspace's `fixtures/wire/`).

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use presence_emulator::Emulator;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const REDIRECT: &str = "http://localhost:53682/";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Validates an id token as a standard OpenID client does: the tenant's discovery document
/// names the issuer and the keys' address; the key the token's `kid` names verifies its RS256
/// signature; a token changed by one character does not verify.
async fn assert_id_token_validates(
    emu: &Emulator,
    client: &reqwest::Client,
    id_token: &str,
    claims: &Value,
) {
    let tenant = claims["tid"].as_str().expect("tid");
    let get = |url: String| async move {
        let response = client.get(url).send().await.expect("get");
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("json")
    };
    let discovery = get(format!(
        "{}/{tenant}/v2.0/.well-known/openid-configuration",
        emu.base_url
    ))
    .await;
    assert_eq!(discovery["issuer"], claims["iss"], "{discovery}");
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/{tenant}/oauth2/v2.0/token", emu.base_url)
    );
    assert!(discovery["id_token_signing_alg_values_supported"]
        .as_array()
        .is_some_and(|algs| algs.contains(&json!("RS256"))));
    let multi = get(format!(
        "{}/organizations/v2.0/.well-known/openid-configuration",
        emu.base_url
    ))
    .await;
    assert_eq!(
        multi["issuer"],
        format!("{}/{{tenantid}}/v2.0", emu.base_url),
        "multi-tenant endpoints publish the issuer as a template, as Entra does"
    );
    let keys = get(discovery["jwks_uri"]
        .as_str()
        .expect("jwks_uri")
        .to_string())
    .await;
    let mut parts = id_token.split('.');
    let (header, body, signature) = (
        parts.next().expect("header"),
        parts.next().expect("claims"),
        parts.next().expect("signature"),
    );
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    assert_eq!(header["alg"], "RS256");
    let key = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .unwrap_or_else(|| panic!("no key {} in {keys}", header["kid"]));
    assert_eq!(
        (key["kty"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("sig"))
    );
    let component = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(key[name].as_str().expect("component"))
            .expect("b64")
    };
    let public = ring::signature::RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("b64");
    let signed = format!(
        "{header_b64}.{body}",
        header_b64 = id_token.split('.').next().unwrap_or("")
    );
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .expect("the id token's signature verifies with the published key");
    let tampered = signed.replacen("ey", "eY", 1);
    assert!(public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            tampered.as_bytes(),
            &signature,
        )
        .is_err());
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture JSON")
}

/// Every key of the fixture is in `actual` with the same JSON type (a null in the fixture
/// accepts anything), recursively; arrays compare their first elements.
fn assert_shape(fixture: &Value, actual: &Value, at: &str) {
    match (fixture, actual) {
        (Value::Null, _) => {}
        (Value::Object(expected), Value::Object(got)) => {
            for (key, value) in expected {
                let Some(other) = got.get(key) else {
                    panic!("{at}.{key} missing in {actual}");
                };
                assert_shape(value, other, &format!("{at}.{key}"));
            }
        }
        (Value::Array(expected), Value::Array(got)) => {
            if let (Some(e), Some(g)) = (expected.first(), got.first()) {
                assert_shape(e, g, &format!("{at}[0]"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => panic!("{at}: expected the type of {fixture}, got {actual}"),
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

fn pkce() -> (String, String) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn entra_code(
    emu: &Emulator,
    client: &reqwest::Client,
    challenge: &str,
    agent: &str,
) -> String {
    let response = client
        .get(format!(
            "{}/organizations/oauth2/v2.0/authorize",
            emu.base_url
        ))
        .query(&[
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "openid profile offline_access Presence.ReadWrite"),
            ("state", "s-123"),
            ("nonce", "n-456"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("login_hint", agent),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("s-123"));
    query_param(&location, "code").expect("code")
}

async fn entra_token(
    emu: &Emulator,
    client: &reqwest::Client,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = client
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

async fn signed_in_graph(emu: &Emulator, agent: &str) -> String {
    let client = http();
    let (verifier, challenge) = pkce();
    let code = entra_code(emu, &client, &challenge, agent).await;
    let (status, body) = entra_token(
        emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn entra_authorization_code_with_pkce_issues_tokens_of_the_documented_shape() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let (verifier, challenge) = pkce();
    let code = entra_code(&emu, &client, &challenge, "ada").await;
    let (status, body) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_shape(&fixture("entra-token.json"), &body, "token");
    // The id token carries oid and tid.
    let id_token = body["id_token"].as_str().expect("id token");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).expect("claims"))
            .expect("b64"),
    )
    .expect("json");
    let state = emu.state();
    assert_eq!(claims["oid"], state["agents"][0]["graphId"]);
    assert_eq!(claims["tid"], state["tenantId"]);
    assert_eq!(
        claims["nonce"], "n-456",
        "the authorization request's nonce"
    );
    assert_id_token_validates(&emu, &client, id_token, &claims).await;
    // A code is good once.
    let (status, body) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn entra_rejects_a_wrong_pkce_verifier_with_its_error_body() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let (_, challenge) = pkce();
    let code = entra_code(&emu, &client, &challenge, "ada").await;
    let (status, body) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "not-the-verifier-at-all-0123456789012345"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_shape(&fixture("entra-error.json"), &body, "error");
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap_or("")
        .starts_with("AADSTS50148:"));
}

#[tokio::test]
async fn entra_refresh_rotates_and_the_old_refresh_token_dies() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let (verifier, challenge) = pkce();
    let code = entra_code(&emu, &client, &challenge, "grace").await;
    let (_, first) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let old = first["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (status, second) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", &old),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let new = second["refresh_token"].as_str().expect("rotated");
    assert_ne!(new, old);
    let (status, again) = entra_token(
        &emu,
        &client,
        &[
            ("client_id", CLIENT),
            ("grant_type", "refresh_token"),
            ("refresh_token", &old),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(again["error"], "invalid_grant");
}

#[tokio::test]
async fn entra_device_code_is_pending_then_slow_down_then_granted() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| w.settings.device_interval_s = 1);
    let client = http();
    let response = client
        .post(format!(
            "{}/organizations/oauth2/v2.0/devicecode",
            emu.base_url
        ))
        .form(&[
            ("client_id", CLIENT),
            ("scope", "Presence.ReadWrite offline_access"),
        ])
        .send()
        .await
        .expect("devicecode");
    let device: Value = response.json().await.expect("json");
    assert_eq!(device["expires_in"], 900);
    let device_code = device["device_code"].as_str().expect("code").to_string();
    let form = [
        ("client_id", CLIENT),
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code.as_str()),
    ];
    let (status, body) = entra_token(&emu, &client, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, body) = entra_token(&emu, &client, &form).await;
    assert_eq!(
        body["error"], "slow_down",
        "polled faster than the interval"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = entra_token(&emu, &client, &form).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn graph_presence_reads_writes_validates_and_requires_a_token() {
    let emu = Emulator::start().await.expect("start");
    let token = signed_in_graph(&emu, "ada").await;
    let client = http();
    let read = |token: String| {
        let client = client.clone();
        let url = format!("{}/v1.0/me/presence", emu.base_url);
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("read")
        }
    };
    let response = read(token.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("application/json;odata.metadata=minimal"));
    let body: Value = response.json().await.expect("json");
    assert_shape(&fixture("graph-presence.json"), &body, "presence");
    assert_eq!(
        (body["availability"].as_str(), body["activity"].as_str()),
        (Some("Available"), Some("Available"))
    );
    let first_sequence = body["sequenceNumber"].as_str().unwrap_or("").to_string();

    let post = |action: &str, payload: Value| {
        let client = client.clone();
        let url = format!("{}/v1.0/me/presence/{action}", emu.base_url);
        let token = token.clone();
        async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&payload)
                .send()
                .await
                .expect("post")
        }
    };
    let ok = post(
        "setUserPreferredPresence",
        json!({"availability": "DoNotDisturb", "activity": "DoNotDisturb"}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.bytes().await.expect("body").len(),
        0,
        "200 with an empty body"
    );
    let body: Value = read(token.clone()).await.json().await.expect("json");
    assert_eq!(body["availability"], "DoNotDisturb");
    assert!(body["sequenceNumber"].as_str().unwrap_or("") > first_sequence.as_str());

    let bad = post(
        "setUserPreferredPresence",
        json!({"availability": "Busy", "activity": "InACall"}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let error: Value = bad.json().await.expect("json");
    assert_eq!(error["error"]["code"], "BadRequest");
    let bad = post(
        "setPresence",
        json!({"sessionId": CLIENT, "availability": "Busy", "activity": "Busy"}),
    )
    .await;
    assert_eq!(bad.status(), 400, "Busy/Busy is not a setPresence pair");
    let bad = post(
        "setPresence",
        json!({"sessionId": "someone-else", "availability": "Available", "activity": "Available"}),
    )
    .await;
    assert_eq!(
        bad.status(),
        400,
        "the session id must be the app's client id"
    );
    let bad = post("setPresence", json!({"sessionId": CLIENT, "availability": "Available", "activity": "Available", "expirationDuration": "PT5H"})).await;
    assert_eq!(bad.status(), 400);
    let gone = post("clearPresence", json!({"sessionId": CLIENT})).await;
    assert_eq!(gone.status(), 404, "no such session yet");

    let unauthorised = client
        .get(format!("{}/v1.0/me/presence", emu.base_url))
        .bearer_auth("nope")
        .send()
        .await
        .expect("read");
    assert_eq!(unauthorised.status(), 401);
    assert!(unauthorised.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn graph_aggregation_follows_preferred_sessions_fade_and_expiry() {
    let emu = Emulator::start().await.expect("start");
    let token = signed_in_graph(&emu, "ada").await;
    let client = http();
    let base = emu.base_url.clone();
    let read = || {
        let (client, token, base) = (client.clone(), token.clone(), base.clone());
        async move {
            let body: Value = client
                .get(format!("{base}/v1.0/me/presence"))
                .bearer_auth(token)
                .send()
                .await
                .expect("read")
                .json()
                .await
                .expect("json");
            (
                body["availability"].as_str().unwrap_or("").to_string(),
                body["activity"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    // Only the app's session: sign the Teams client out first.
    emu.with_world(|w| {
        let id = w.agents[0].graph_id.clone();
        if let Some(user) = w.graph.get_mut(&id) {
            user.sessions.clear();
        }
    });
    assert_eq!(read().await, ("Offline".into(), "Offline".into()));
    let response = client.post(format!("{base}/v1.0/me/presence/setPresence")).bearer_auth(&token)
        .json(&json!({"sessionId": CLIENT, "availability": "Available", "activity": "Available", "expirationDuration": "PT1H"}))
        .send().await.expect("set");
    assert_eq!(response.status(), 200);
    assert_eq!(read().await, ("Available".into(), "Available".into()));
    emu.with_world(|w| w.clock.advance(Duration::from_secs(5 * 60)));
    assert_eq!(
        read().await,
        ("Available".into(), "AvailableInactive".into())
    );
    emu.with_world(|w| w.clock.advance(Duration::from_secs(5 * 60)));
    assert_eq!(read().await, ("Away".into(), "Away".into()));
    emu.with_world(|w| w.clock.advance(Duration::from_secs(60 * 60)));
    assert_eq!(
        read().await,
        ("Offline".into(), "Offline".into()),
        "the session expired"
    );
    // Teams' own activities show through a preferred Available; a preferred Busy hides them.
    emu.with_world(|w| {
        w.graph
            .get_mut(&w.agents[0].graph_id.clone())
            .map(|u| *u = presence_emulator::graph::GraphUser::with_teams_client(w.clock.now_ms()))
    });
    emu.teams_activity("ada", "presentation", true)
        .expect("present");
    assert_eq!(read().await, ("DoNotDisturb".into(), "Presenting".into()));
    emu.teams_set_status("ada", "Busy", "Busy").expect("status");
    assert_eq!(read().await, ("Busy".into(), "Busy".into()));
}

#[tokio::test]
async fn graph_throttles_each_app_per_tenant_with_retry_after_and_graph_body() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| {
        w.settings.throttle_budget = 3;
        w.settings.throttle_window_s = 30;
    });
    let token = signed_in_graph(&emu, "ada").await;
    let client = http();
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let response = client
            .get(format!("{}/v1.0/me/presence", emu.base_url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read");
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    let response = last.expect("response");
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("json");
    assert_shape(&fixture("graph-error-429.json"), &body, "429");
    assert_eq!(emu.state()["throttling"]["throttled"], 2);
}

#[tokio::test]
async fn injected_faults_answer_with_each_clouds_error_and_then_clear() {
    let emu = Emulator::start().await.expect("start");
    let token = signed_in_graph(&emu, "ada").await;
    let client = http();
    let control = |path: &str, body: Value| {
        let client = client.clone();
        let url = format!("{}/_emulator/{path}", emu.base_url);
        async move { client.post(url).json(&body).send().await.expect("control") }
    };
    let read = || {
        client
            .get(format!("{}/v1.0/me/presence", emu.base_url))
            .bearer_auth(&token)
            .send()
    };
    control(
        "faults",
        json!({"api": "graph", "kind": "status", "status": 429, "retry_after": 7, "count": 1}),
    )
    .await;
    let response = read().await.expect("read");
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(
        read().await.expect("read").status(),
        200,
        "count 1: the next one passes"
    );
    control(
        "faults",
        json!({"api": "graph", "kind": "status", "status": 503, "count": 1}),
    )
    .await;
    assert_eq!(read().await.expect("read").status(), 503);
    control(
        "faults",
        json!({"api": "graph", "kind": "malformed", "count": 1}),
    )
    .await;
    let body = read().await.expect("read").text().await.expect("text");
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "truncated JSON: {body}"
    );
    control(
        "faults",
        json!({"api": "graph", "kind": "drop", "count": 1}),
    )
    .await;
    let dropped = async { read().await?.bytes().await };
    assert!(dropped.await.is_err(), "the connection is dropped");
    control(
        "faults",
        json!({"api": "graph", "kind": "delay", "ms": 300, "count": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    assert_eq!(read().await.expect("read").status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Expired tokens answer 401 until the app refreshes.
    control("tokens/expire", json!({"api": "entra", "agent": "ada"})).await;
    assert_eq!(read().await.expect("read").status(), 401);
}

// ---- Salesforce

async fn salesforce_token(emu: &Emulator, agent: &str) -> (String, String) {
    let client = http();
    let (verifier, challenge) = pkce();
    let response = client
        .get(format!("{}/services/oauth2/authorize", emu.base_url))
        .query(&[
            ("response_type", "code"),
            ("client_id", "sf-app"),
            ("redirect_uri", "http://localhost:1717/OauthRedirect"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", agent),
        ])
        .send()
        .await
        .expect("authorize");
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let code = query_param(&location, "code").expect("code");
    let body: Value = client
        .post(format!("{}/services/oauth2/token", emu.base_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "sf-app"),
            ("redirect_uri", "http://localhost:1717/OauthRedirect"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_shape(&fixture("salesforce-token.json"), &body, "sf token");
    assert!(
        body.get("expires_in").is_none(),
        "Salesforce sends no expires_in"
    );
    (
        body["access_token"].as_str().expect("token").to_string(),
        body["instance_url"].as_str().expect("instance").to_string(),
    )
}

#[tokio::test]
async fn salesforce_oauth_rejects_a_mismatched_challenge_and_refreshes_without_rotation() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let (_, challenge) = pkce();
    let response = client
        .get(format!("{}/services/oauth2/authorize", emu.base_url))
        .query(&[
            ("response_type", "code"),
            ("client_id", "sf-app"),
            ("redirect_uri", "http://localhost:1717/OauthRedirect"),
            ("state", "st"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .expect("authorize");
    let code = query_param(
        response.headers()["location"].to_str().expect("loc"),
        "code",
    )
    .expect("code");
    let response = client
        .post(format!("{}/services/oauth2/token", emu.base_url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "sf-app"),
            ("redirect_uri", "http://localhost:1717/OauthRedirect"),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier",
            ),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn salesforce_rest_upserts_queries_pages_searches_and_reports_limits() {
    let emu = Emulator::start().await.expect("start");
    let (token, instance) = salesforce_token(&emu, "ada").await;
    let client = http();
    let api = |path: &str| format!("{instance}/services/data/v62.0/{path}");
    let user_id = emu.state()["agents"][0]["salesforceId"]
        .as_str()
        .expect("user")
        .to_string();
    // Upsert by external id: 201 created, then 204 updated; never a duplicate.
    let upsert = |state: &str| {
        client
            .patch(api(&format!(
                "sobjects/Agent_Presence__c/User__c/{user_id}"
            )))
            .bearer_auth(&token)
            .json(&json!({"State__c": state, "Source__c": "Desktop", "Sequence__c": 1}))
            .send()
    };
    let created = upsert("Busy").await.expect("upsert");
    assert_eq!(created.status(), 201);
    assert!(created.headers()["sforce-limit-info"]
        .to_str()
        .unwrap_or("")
        .starts_with("api-usage="));
    let body: Value = created.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("a01") && id.len() == 18, "{id}");
    assert_eq!(upsert("Available").await.expect("upsert").status(), 204);
    let query: Value = client
        .get(api("query"))
        .bearer_auth(&token)
        .query(&[(
            "q",
            format!("SELECT Id, State__c FROM Agent_Presence__c WHERE User__c = '{user_id}'"),
        )])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(query["totalSize"], 1);
    assert_eq!(query["records"][0]["State__c"], "Available");
    assert_eq!(
        query["records"][0]["attributes"]["type"],
        "Agent_Presence__c"
    );
    // Unknown fields and bad picklist values are refused with Salesforce's error arrays.
    let bad = client
        .post(api("sobjects/Task/"))
        .bearer_auth(&token)
        .json(&json!({"Subject": "x", "Colour__c": "red"}))
        .send()
        .await
        .expect("post");
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "INVALID_FIELD");
    let bad = client
        .post(api("sobjects/Task/"))
        .bearer_auth(&token)
        .json(&json!({"Subject": "x", "CallType": "Sideways"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        bad.json::<Value>().await.expect("json")[0]["errorCode"],
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    );
    // Task upsert on the call-log key never duplicates.
    for _ in 0..3 {
        let response = client.patch(api("sobjects/Task/Call_Log_Key__c/call-42")).bearer_auth(&token)
            .json(&json!({"Subject": "Missed call", "TaskSubtype": "Call", "CallType": "Inbound", "CallDisposition": "Missed", "CallDurationInSeconds": 0}))
            .send().await.expect("upsert");
        assert!(response.status() == 201 || response.status() == 204);
    }
    assert_eq!(emu.state()["tasks"].as_array().map(Vec::len), Some(1));
    // Paging: 15 states with a batch of 200 fit in one page; 250 tasks need two.
    for n in 0..250 {
        client
            .post(api("sobjects/Task/"))
            .bearer_auth(&token)
            .json(&json!({"Subject": format!("t{n}")}))
            .send()
            .await
            .expect("post");
    }
    let page: Value = client
        .get(api("query"))
        .bearer_auth(&token)
        .header("Sforce-Query-Options", "batchSize=200")
        .query(&[("q", "SELECT Id, Subject FROM Task")])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(page["done"], false);
    assert_eq!(page["records"].as_array().map(Vec::len), Some(200));
    let next = page["nextRecordsUrl"].as_str().expect("next");
    let rest: Value = client
        .get(format!("{instance}{next}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("more")
        .json()
        .await
        .expect("json");
    assert_eq!(rest["done"], true);
    assert_eq!(rest["records"].as_array().map(Vec::len), Some(51));
    // SOSL phone lookup.
    let found: Value = client.get(api("search")).bearer_auth(&token)
        .query(&[("q", "FIND {4155550100} IN PHONE FIELDS RETURNING Contact(Id, Name), Lead(Id, Name), Account(Id, Name)")])
        .send().await.expect("search").json().await.expect("json");
    assert_eq!(found["searchRecords"][0]["Name"], "Margaret Hamilton");
    // Malformed SOQL and a bad session.
    let bad = client
        .get(api("query"))
        .bearer_auth(&token)
        .query(&[("q", "SELEKT Id FROM Task")])
        .send()
        .await
        .expect("q");
    assert_eq!(
        bad.json::<Value>().await.expect("json")[0]["errorCode"],
        "MALFORMED_QUERY"
    );
    let unauthorised = client
        .get(api("limits"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("limits");
    assert_eq!(unauthorised.status(), 401);
    assert_shape(
        &fixture("salesforce-error.json"),
        &unauthorised.json().await.expect("json"),
        "sf error",
    );
    let limits: Value = client
        .get(api("limits"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("limits")
        .json()
        .await
        .expect("json");
    assert!(limits["DailyApiRequests"]["Remaining"].as_u64().is_some());
}

// ---- Streaming

struct Bayeux {
    client: reqwest::Client,
    url: String,
    token: String,
    client_id: String,
}

impl Bayeux {
    async fn send(&self, messages: Value) -> Vec<Value> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&messages)
            .send()
            .await
            .expect("bayeux");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn handshake(emu: &Emulator, token: &str) -> Bayeux {
        let mut bayeux = Bayeux {
            client: http(),
            url: format!("{}/cometd/62.0", emu.base_url),
            token: token.to_string(),
            client_id: String::new(),
        };
        bayeux.rehandshake().await;
        bayeux
    }

    async fn rehandshake(&mut self) {
        let replies = self.send(json!([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0", "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}, "id": "1"}])).await;
        assert_shape(
            &fixture("cometd-handshake.json"),
            &Value::Array(replies.clone()),
            "handshake",
        );
        self.client_id = replies[0]["clientId"]
            .as_str()
            .expect("client id")
            .to_string();
    }

    /// Subscribes with the replay map keyed as Salesforce wants it: the channel without its filter.
    async fn subscribe(&self, channel: &str, replay: i64) -> Value {
        let base = channel.split('?').next().unwrap_or(channel);
        self.subscribe_keyed(channel, base, replay).await
    }

    async fn subscribe_keyed(&self, channel: &str, key: &str, replay: i64) -> Value {
        let replies = self.send(json!([{"channel": "/meta/subscribe", "clientId": self.client_id, "subscription": channel, "ext": {"replay": {key: replay}}, "id": "2"}])).await;
        replies[0].clone()
    }

    async fn connect(&self) -> Vec<Value> {
        self.send(json!([{"channel": "/meta/connect", "clientId": self.client_id, "connectionType": "long-polling", "id": "3"}])).await
    }
}

#[tokio::test]
async fn streaming_delivers_filtered_events_and_replays_them_across_a_reconnect() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| w.settings.long_poll_ms = 400);
    let (token, _) = salesforce_token(&emu, "ada").await;
    let state = emu.state();
    let ada = state["agents"][0]["salesforceId"]
        .as_str()
        .expect("ada")
        .to_string();
    let channel = format!("/topic/AgentPresence?User__c={ada}");
    let mut bayeux = Bayeux::handshake(&emu, &token).await;
    // A replay map keyed by the filtered name is refused with the real server's words.
    let refused = bayeux.subscribe_keyed(&channel, &channel, -1).await;
    assert_eq!(refused["successful"], false);
    assert_eq!(
        refused["error"],
        format!("The replayId for channel {{/topic/AgentPresence}} wasn't found using the provided replay ID map {{{{{channel}=-1}}}}. Ensure that the channel name you provided in the replay map is valid and matches the channel name used for subscribing.")
    );
    assert_eq!(bayeux.subscribe(&channel, -1).await["successful"], true);
    // An idle connect returns after the hold with advice.
    let idle = bayeux.connect().await;
    assert_eq!(
        idle.last().map(|m| m["advice"]["reconnect"].clone()),
        Some(json!("retry"))
    );
    emu.salesforce_pick("ada", "Busy").expect("pick");
    emu.salesforce_pick("grace", "Lunch").expect("someone else");
    let replies = bayeux.connect().await;
    let events: Vec<&Value> = replies
        .iter()
        .filter(|m| m["channel"] == channel.as_str())
        .collect();
    assert_eq!(events.len(), 1, "only ada's record: {replies:?}");
    assert_shape(&fixture("pushtopic-event.json"), events[0], "event");
    assert_eq!(events[0]["data"]["sobject"]["State__c"], "Busy");
    let last_replay = events[0]["data"]["event"]["replayId"]
        .as_i64()
        .expect("replay id");
    // The client drops; two changes happen meanwhile; a new handshake replays from the id.
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    emu.salesforce_pick("ada", "Available").expect("pick");
    emu.with_world(|w| w.comet_clients.clear());
    let gone = bayeux.connect().await;
    assert_eq!(gone[0]["error"], "403::Unknown client");
    assert_eq!(gone[0]["advice"]["reconnect"], "handshake");
    bayeux.rehandshake().await;
    assert_eq!(
        bayeux.subscribe(&channel, last_replay).await["successful"],
        true
    );
    let replies = bayeux.connect().await;
    let states: Vec<&str> = replies
        .iter()
        .filter_map(|m| m["data"]["sobject"]["State__c"].as_str())
        .collect();
    assert_eq!(
        states,
        vec!["Lunch", "Available"],
        "nothing lost, nothing repeated"
    );
    // A replay id from the future is refused.
    let refused = bayeux.subscribe(&channel, 999_999).await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("400::The replayId"),
        "{refused}"
    );
}

#[tokio::test]
async fn streaming_delivers_a_record_only_to_the_user_who_may_see_it() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| w.settings.long_poll_ms = 400);
    let (ada_token, _) = salesforce_token(&emu, "ada").await;
    let (grace_token, _) = salesforce_token(&emu, "grace").await;
    let ada = Bayeux::handshake(&emu, &ada_token).await;
    let grace = Bayeux::handshake(&emu, &grace_token).await;
    // Both subscribe to the whole topics, without a filter: sharing alone decides.
    for bayeux in [&ada, &grace] {
        for channel in ["/topic/AgentPresence", "/topic/AgentCalls"] {
            assert_eq!(bayeux.subscribe(channel, -1).await["successful"], true);
        }
    }
    emu.salesforce_pick("ada", "Available").expect("pick");
    // A call offered to ada, as our controller writes it: a record she owns.
    let ada_id = emu.state()["agents"][0]["salesforceId"]
        .as_str()
        .expect("id")
        .to_string();
    let offer = json!({ "Name": "call-1", "Call_Id__c": "call-1", "User__c": ada_id, "OwnerId": ada_id,
        "Kind__c": "Direct", "From_Number__c": "+14155550100", "Status__c": "Offered" });
    let record = emu.with_world(|w| {
        w.insert_record(
            "Agent_Call__c",
            offer.as_object().cloned().unwrap_or_default(),
        )
    });
    assert!(record.is_some());
    let seen = |replies: &[Value]| -> Vec<String> {
        replies
            .iter()
            .filter(|m| m["data"]["sobject"].is_object())
            .map(|m| m["channel"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let to_ada = ada.connect().await;
    assert_eq!(
        seen(&to_ada),
        ["/topic/AgentPresence", "/topic/AgentCalls"],
        "ada sees her presence and the call offered to her: {to_ada:?}"
    );
    assert!(to_ada
        .iter()
        .any(|m| m["data"]["sobject"]["Call_Id__c"] == "call-1"));
    let to_grace = grace.connect().await;
    assert!(
        seen(&to_grace).is_empty(),
        "nothing of ada's reaches grace: {to_grace:?}"
    );
    // The owners are the agents.
    let state = emu.state();
    let ada_id = state["agents"][0]["salesforceId"].clone();
    let owned = |records: &Value| {
        records
            .as_array()
            .is_some_and(|all| all.iter().all(|r| r["OwnerId"] == ada_id))
    };
    assert!(owned(&state["agentCalls"]), "{}", state["agentCalls"]);
    emu.salesforce_pick("grace", "Lunch").expect("pick");
    let to_grace = grace.connect().await;
    assert_eq!(seen(&to_grace), ["/topic/AgentPresence"]);
}

#[tokio::test]
async fn streaming_fails_like_salesforce_on_revoked_tokens_and_injected_faults() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| w.settings.long_poll_ms = 300);
    let (token, _) = salesforce_token(&emu, "ada").await;
    let bayeux = Bayeux::handshake(&emu, &token).await;
    emu.with_world(|w| {
        for client in w.comet_clients.values_mut() {
            client.next_fault = Some("auth-invalid".into());
        }
    });
    let replies = bayeux.connect().await;
    assert_eq!(replies[0]["error"], "401::Authentication invalid");
    assert_eq!(replies[0]["advice"]["reconnect"], "none");
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(
            w,
            presence_emulator::Api::Salesforce,
            Some("ada"),
            true,
        )
    })
    .expect("revoke");
    let denied = Bayeux {
        client: http(),
        url: format!("{}/cometd/62.0", emu.base_url),
        token,
        client_id: String::new(),
    }
    .send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "9"}]))
    .await;
    assert_eq!(denied[0]["error"], "403::Handshake denied");
    assert_eq!(
        denied[0]["ext"]["sfdc"]["failureReason"],
        "401::Authentication invalid"
    );
}

// ---- Call controller

#[tokio::test]
async fn without_a_calling_webhook_a_call_to_the_bots_numbers_cannot_be_reached() {
    let emu = Emulator::start().await.expect("start");
    // No controller is running: Teams cannot reach the bot, as on a real tenant.
    let call = emu
        .place_call("ada", "Direct", "+14155550100")
        .expect("call");
    assert_eq!(call.handled_by, "bot");
    assert_eq!(
        call.outcome.as_deref(),
        Some("NotReached: no calling webhook is registered for the bot")
    );
    assert_eq!(call.to, "+14155550101", "ada's number");
    let queue = emu
        .place_call("ada", "Queue", "+14155550100")
        .expect("call");
    assert_eq!(queue.to, "+14155550110", "the Support line");
    assert!(queue.outcome.is_some_and(|o| o.starts_with("NotReached")));
    // Nothing reached Salesforce.
    assert_eq!(emu.state()["agentCalls"], json!([]));
    // An internal call has no bot in it: the agent's Teams rings, and the hang-up ends it.
    let internal = emu
        .place_call("ada", "Internal", "+14155550142")
        .expect("call");
    assert_eq!(internal.handled_by, "teams");
    assert_eq!(internal.teams.as_deref(), Some("ringing Ada Lovelace"));
    let ended = emu.hang_up(&internal.call_id).expect("hang up");
    assert_eq!(ended.outcome.as_deref(), Some("CallerHungUp"));
}

#[tokio::test]
async fn the_control_api_acts_as_the_agent_and_refuses_bad_input_clearly() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let post = |path: &str, body: Value| {
        let client = client.clone();
        let url = format!("{}/_emulator/{path}", emu.base_url);
        async move {
            let response = client.post(url).json(&body).send().await.expect("control");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    };
    assert_eq!(
        post(
            "teams/ada/status",
            json!({"availability": "DoNotDisturb", "activity": "DoNotDisturb"})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        emu.state()["agents"][0]["teams"]["availability"],
        "DoNotDisturb"
    );
    let (status, body) = post(
        "teams/ada/status",
        json!({"availability": "Busy", "activity": "InACall"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap_or("")
        .contains("not a state a person can set"));
    assert_eq!(
        post("teams/ada/out-of-office", json!({"on": true})).await.0,
        200
    );
    assert_eq!(emu.state()["agents"][0]["teams"]["outOfOffice"], true);
    assert_eq!(
        post("teams/nobody/meeting", json!({"on": true})).await.0,
        400
    );
    let (status, body) = post("salesforce/ada/state", json!({"state": "on a call"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("On a Call")));
    assert_eq!(
        post("salesforce/ada/state", json!({"state": "Dancing"}))
            .await
            .0,
        400
    );
    let (status, body) = post(
        "calls",
        json!({"agent": "ada", "kind": "Sideways", "from": "+1"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = post(
        "settings",
        json!({"throttle_budget": 10, "token_lifetime_s": 60}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(emu.state()["settings"]["throttle_budget"], 10);
    assert_eq!(
        post("settings", json!({"throttle_bugdet": 10})).await.0,
        400,
        "unknown setting"
    );
    let page = client
        .get(format!("{}/_emulator/ui", emu.base_url))
        .send()
        .await
        .expect("ui");
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("html")
        .contains("Presence Bridge emulator"));
    let counters: HashMap<String, u64> =
        serde_json::from_value(emu.state()["counters"].clone()).unwrap_or_default();
    assert!(counters.is_empty() || counters.values().all(|n| *n > 0));
}

/// The org's allocation of concurrent Streaming API clients (`streaming_client_limit`): a
/// handshake beyond it is refused as Salesforce refuses it (seen by Salesforce's own users:
/// `403::Handshake denied`, the reason in `ext.sfdc.failureReason`, no reconnect), and a client
/// that stops polling is forgotten and frees its place.
#[tokio::test]
async fn streaming_refuses_a_handshake_beyond_the_orgs_concurrent_clients() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| {
        w.settings.streaming_client_limit = 2;
        w.settings.long_poll_ms = 200;
    });
    let (token, _) = salesforce_token(&emu, "ada").await;
    let _first = Bayeux::handshake(&emu, &token).await;
    let _second = Bayeux::handshake(&emu, &token).await;
    let third = Bayeux {
        client: http(),
        url: format!("{}/cometd/62.0", emu.base_url),
        token: token.clone(),
        client_id: String::new(),
    };
    let refused = third
        .send(json!([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0", "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}, "id": "1"}]))
        .await;
    assert_eq!(refused[0]["successful"], false, "{refused:?}");
    assert_eq!(refused[0]["error"], "403::Handshake denied");
    assert_eq!(
        refused[0]["ext"]["sfdc"]["failureReason"],
        "403::Organization concurrent user limit exceeded"
    );
    assert_eq!(refused[0]["advice"]["reconnect"], "none");
    assert!(refused[0]["clientId"].is_null());
    assert_eq!(
        emu.state()["counters"]["cometd handshake refused"],
        1,
        "counted"
    );
    // Neither client polls: after twice the hold and 40 s they are forgotten.
    emu.with_world(|w| w.clock.advance(std::time::Duration::from_secs(41)));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let again = third
        .send(json!([{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0", "supportedConnectionTypes": ["long-polling"], "ext": {"replay": true}, "id": "1"}]))
        .await;
    assert_eq!(again[0]["successful"], true, "{again:?}");
}
