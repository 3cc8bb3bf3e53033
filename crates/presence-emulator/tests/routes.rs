//! The routes `wire.rs` does not already drive: the rest of Graph, Salesforce OAuth and REST,
//! streaming edge cases, every control route, and the binary itself.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use presence_emulator::Emulator;
use serde_json::{json, Value};

const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url.split_once('?')?.1.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

async fn code(emu: &Emulator, client: &reqwest::Client, path: &str, agent: &str) -> String {
    let response = client
        .get(format!("{}{path}", emu.base_url))
        .query(&[
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:9999/cb"),
            ("scope", "openid offline_access api refresh_token"),
            ("state", "x"),
            ("login_hint", agent),
        ])
        .send()
        .await
        .expect("authorize");
    query_param(
        response.headers()["location"].to_str().expect("location"),
        "code",
    )
    .expect("code")
}

async fn graph_token(emu: &Emulator, agent: &str) -> String {
    let client = http();
    let code = code(emu, &client, "/organizations/oauth2/v2.0/authorize", agent).await;
    let body: Value = client
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(&[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9999/cb"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    body["access_token"].as_str().expect("token").to_string()
}

async fn salesforce_token(emu: &Emulator, agent: &str) -> (String, String) {
    let client = http();
    let code = code(emu, &client, "/services/oauth2/authorize", agent).await;
    let body: Value = client
        .post(format!("{}/services/oauth2/token", emu.base_url))
        .form(&[
            ("client_id", CLIENT),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:9999/cb"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    (
        body["access_token"].as_str().expect("token").to_string(),
        body["refresh_token"].as_str().expect("refresh").to_string(),
    )
}

#[tokio::test]
async fn graph_serves_other_users_presence_batches_and_the_remaining_writes() {
    let emu = Emulator::start().await.expect("start");
    let token = graph_token(&emu, "ada").await;
    let client = http();
    let base = emu.base_url.clone();
    let state = emu.state();
    let grace = state["agents"][1]["graphId"]
        .as_str()
        .expect("grace")
        .to_string();
    let me: Value = client
        .get(format!("{base}/v1.0/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["userPrincipalName"], "ada@contoso.example");
    // Someone else's presence: readable, message times omitted, not writable.
    emu.with_world(|w| {
        let id = w.agents[1].graph_id.clone();
        if let Some(user) = w.graph.get_mut(&id) {
            user.status_message = Some(json!({"message": {"content": "On leave", "contentType": "text"}, "expiryDateTime": {"dateTime": "2030-01-01T00:00:00", "timeZone": "UTC"}}));
        }
    });
    let other: Value = client
        .get(format!("{base}/v1.0/users/{grace}/presence"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(other["id"], grace.as_str());
    assert!(other["statusMessage"].get("expiryDateTime").is_none());
    let same: Value = client
        .get(format!("{base}/v1.0/communications/presences/{grace}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(same["availability"], other["availability"]);
    let forbidden = client
        .post(format!(
            "{base}/v1.0/users/{grace}/presence/setUserPreferredPresence"
        ))
        .bearer_auth(&token)
        .json(&json!({"availability": "Away", "activity": "Away"}))
        .send()
        .await
        .expect("write");
    assert_eq!(forbidden.status(), 403);
    let missing = client
        .get(format!(
            "{base}/v1.0/users/00000000-0000-0000-0000-000000000000/presence"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("read");
    assert_eq!(missing.status(), 404);
    // Batches.
    let ada = state["agents"][0]["graphId"].as_str().expect("ada");
    let batch: Value = client
        .post(format!("{base}/v1.0/communications/getPresencesByUserId"))
        .bearer_auth(&token)
        .json(&json!({"ids": [ada, grace]}))
        .send()
        .await
        .expect("batch")
        .json()
        .await
        .expect("json");
    assert_eq!(batch["value"].as_array().map(Vec::len), Some(2));
    let too_many: Vec<String> = (0..651).map(|n| format!("id-{n}")).collect();
    let refused = client
        .post(format!("{base}/v1.0/communications/getPresencesByUserId"))
        .bearer_auth(&token)
        .json(&json!({"ids": too_many}))
        .send()
        .await
        .expect("batch");
    assert_eq!(refused.status(), 400);
    // Session set and cleared, preferred cleared, status message set.
    let post = |action: &str, body: Value| {
        client
            .post(format!("{base}/v1.0/me/presence/{action}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(post("setPresence", json!({"sessionId": CLIENT, "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H"})).await.expect("set").status(), 200);
    assert_eq!(
        post("clearPresence", json!({"sessionId": CLIENT}))
            .await
            .expect("clear")
            .status(),
        200
    );
    assert_eq!(
        post(
            "setUserPreferredPresence",
            json!({"availability": "Away", "activity": "Away"})
        )
        .await
        .expect("set")
        .status(),
        200
    );
    assert_eq!(
        post("clearUserPreferredPresence", json!({}))
            .await
            .expect("clear")
            .status(),
        200
    );
    assert_eq!(
        post(
            "setStatusMessage",
            json!({"statusMessage": {"message": {"content": "Back at 2", "contentType": "text"}}})
        )
        .await
        .expect("msg")
        .status(),
        200
    );
    let mine: Value = client
        .get(format!("{base}/v1.0/me/presence"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert_eq!(mine["availability"], "Available");
    assert_eq!(mine["statusMessage"]["message"]["content"], "Back at 2");
    assert!(mine["statusMessage"]["publishedDateTime"].is_string());
}

#[tokio::test]
async fn entra_refuses_bad_authorize_requests_unknown_grants_and_expired_device_codes() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let bad = client
        .get(format!(
            "{}/organizations/oauth2/v2.0/authorize",
            emu.base_url
        ))
        .query(&[
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", "https://evil.example/cb"),
            ("state", "x"),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(bad.status(), 400, "only loopback redirects");
    let unsupported = client
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(&[("client_id", CLIENT), ("grant_type", "password")])
        .send()
        .await
        .expect("token");
    assert_eq!(unsupported.status(), 400);
    assert_eq!(
        unsupported.json::<Value>().await.expect("json")["error"],
        "unsupported_grant_type"
    );
    let device: Value = client
        .post(format!(
            "{}/organizations/oauth2/v2.0/devicecode",
            emu.base_url
        ))
        .form(&[("client_id", CLIENT), ("scope", "Presence.Read")])
        .send()
        .await
        .expect("dc")
        .json()
        .await
        .expect("json");
    emu.with_world(|w| w.clock.advance(Duration::from_secs(901)));
    let expired: Value = client
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(&[
            ("client_id", CLIENT),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().expect("code")),
        ])
        .send()
        .await
        .expect("poll")
        .json()
        .await
        .expect("json");
    assert_eq!(expired["error"], "expired_token");
}

#[tokio::test]
async fn salesforce_device_flow_revoke_userinfo_composite_and_record_reads() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| {
        w.settings.device_interval_s = 0;
        w.settings.device_polls_before_approval = 5;
    });
    let client = http();
    let base = emu.base_url.clone();
    let device: Value = client
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("response_type", "device_code"),
            ("client_id", CLIENT),
            ("scope", "api refresh_token"),
        ])
        .send()
        .await
        .expect("device")
        .json()
        .await
        .expect("json");
    let poll = || {
        client
            .post(format!("{base}/services/oauth2/token"))
            .form(&[
                ("grant_type", "device"),
                ("client_id", CLIENT),
                ("code", device["device_code"].as_str().unwrap_or("")),
            ])
            .send()
    };
    let pending: Value = poll().await.expect("poll").json().await.expect("json");
    assert_eq!(pending["error"], "authorization_pending");
    let approved = client
        .post(format!("{base}/_emulator/device/approve"))
        .json(&json!({"user_code": device["user_code"], "agent": "grace"}))
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), 200);
    let granted: Value = poll().await.expect("poll").json().await.expect("json");
    let token = granted["access_token"].as_str().expect("token").to_string();
    let info: Value = client
        .get(format!("{base}/services/oauth2/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(info["preferred_username"], "grace@contoso.example");
    // Composite with a reference, then a read of the created record.
    let composite: Value = client.post(format!("{base}/services/data/v62.0/composite")).bearer_auth(&token)
        .json(&json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "url": "/services/data/v62.0/sobjects/Task", "referenceId": "t1", "body": {"Subject": "Call from Margaret"}},
            {"method": "GET", "url": "/services/data/v62.0/sobjects/Task/@{t1.id}?fields=Subject,Status", "referenceId": "t2"}
        ]})).send().await.expect("composite").json().await.expect("json");
    assert_eq!(composite["compositeResponse"][0]["httpStatusCode"], 201);
    assert_eq!(
        composite["compositeResponse"][1]["body"]["Subject"],
        "Call from Margaret"
    );
    assert_eq!(
        composite["compositeResponse"][1]["body"]["Status"],
        "Not Started"
    );
    let versions: Value = client
        .get(format!("{base}/services/data/"))
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    assert!(versions
        .as_array()
        .is_some_and(|v| v.iter().any(|e| e["version"] == "62.0")));
    // Revoking the refresh token kills its access tokens.
    let (sf_token, refresh) = salesforce_token(&emu, "ada").await;
    let ok = client
        .post(format!("{base}/services/oauth2/revoke"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(ok.status(), 200);
    let dead = client
        .get(format!("{base}/services/data/v62.0/limits"))
        .bearer_auth(&sf_token)
        .send()
        .await
        .expect("limits");
    assert_eq!(dead.status(), 401);
    let again: Value = client
        .post(format!("{base}/services/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    assert_eq!(again["error"], "invalid_grant");
    let unknown_version = client
        .get(format!("{base}/services/data/v12.0/limits"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("v12");
    assert_eq!(unknown_version.status(), 404);
}

#[tokio::test]
async fn streaming_replays_everything_retained_unsubscribes_and_checks_its_inputs() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| w.settings.long_poll_ms = 200);
    emu.salesforce_pick("ada", "Busy").expect("pick");
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    let (token, _) = salesforce_token(&emu, "ada").await;
    let client = http();
    let url = format!("{}/cometd/62.0", emu.base_url);
    let send = |body: Value| client.post(&url).bearer_auth(&token).json(&body).send();
    let handshake: Value =
        send(json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]))
            .await
            .expect("hs")
            .json()
            .await
            .expect("json");
    let client_id = handshake[0]["clientId"].as_str().expect("id").to_string();
    let channel = "/topic/AgentPresence";
    let subscribed: Value = send(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "ext": {"replay": {channel: -2}}, "id": "2"}])).await.expect("sub").json().await.expect("json");
    assert_eq!(subscribed[0]["successful"], true);
    let events: Value = send(json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": "3"}])).await.expect("connect").json().await.expect("json");
    let states: Vec<&str> = events
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["data"]["sobject"]["State__c"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        states,
        vec!["Busy", "Lunch"],
        "-2 replays everything retained"
    );
    let bad_topic: Value = send(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/topic/Nope", "id": "4"}])).await.expect("sub").json().await.expect("json");
    assert!(bad_topic[0]["error"]
        .as_str()
        .unwrap_or("")
        .starts_with("400::"));
    let bad_filter: Value = send(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/topic/AgentPresence?Heartbeat_At__c=1", "id": "5"}])).await.expect("sub").json().await.expect("json");
    assert!(bad_filter[0]["error"]
        .as_str()
        .unwrap_or("")
        .contains("not in the PushTopic query"));
    let unsubscribed: Value = send(json!([{"channel": "/meta/unsubscribe", "clientId": client_id, "subscription": channel, "id": "6"}])).await.expect("unsub").json().await.expect("json");
    assert_eq!(unsubscribed[0]["successful"], true);
    emu.salesforce_pick("ada", "Available").expect("pick");
    let quiet: Value = send(json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": "7"}])).await.expect("connect").json().await.expect("json");
    assert_eq!(
        quiet.as_array().map(Vec::len),
        Some(1),
        "no events after unsubscribing: {quiet}"
    );
    let bye: Value =
        send(json!([{"channel": "/meta/disconnect", "clientId": client_id, "id": "8"}]))
            .await
            .expect("bye")
            .json()
            .await
            .expect("json");
    assert_eq!(bye[0]["successful"], true);
    // Inputs checked: no cookie, no array, no version.
    let fresh = reqwest::Client::new();
    let handshake: Value = fresh
        .post(&url)
        .bearer_auth(&token)
        .json(&json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]))
        .send()
        .await
        .expect("hs")
        .json()
        .await
        .expect("json");
    let no_cookie = fresh.post(&url).bearer_auth(&token)
        .json(&json!([{"channel": "/meta/connect", "clientId": handshake[0]["clientId"], "connectionType": "long-polling", "id": "2"}])).send().await.expect("connect");
    assert_eq!(no_cookie.status(), 400);
    assert_eq!(
        client
            .post(&url)
            .bearer_auth(&token)
            .body("not json")
            .send()
            .await
            .expect("post")
            .status(),
        400
    );
    assert_eq!(
        client
            .post(format!("{}/cometd/x", emu.base_url))
            .bearer_auth(&token)
            .json(&json!([]))
            .send()
            .await
            .expect("post")
            .status(),
        400
    );
}

#[tokio::test]
async fn every_control_route_answers_and_changes_what_it_says() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let base = emu.base_url.clone();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}/_emulator/{path}"))
            .json(&body)
            .send()
    };
    for what in ["meeting", "focus", "call"] {
        assert_eq!(
            post(&format!("teams/grace/{what}"), json!({"on": true}))
                .await
                .expect("on")
                .status(),
            200
        );
        let teams = &emu.state()["agents"][1]["teams"];
        assert_ne!(teams["activity"], "Available", "{what}");
        assert_eq!(
            post(&format!("teams/grace/{what}"), json!({"on": false}))
                .await
                .expect("off")
                .status(),
            200
        );
    }
    assert_eq!(
        post("teams/grace/juggling", json!({"on": true}))
            .await
            .expect("bad")
            .status(),
        400
    );
    post(
        "teams/grace/status",
        json!({"availability": "Away", "activity": "Away"}),
    )
    .await
    .expect("status");
    post("teams/grace/status", json!({"reset": true}))
        .await
        .expect("reset");
    assert_eq!(
        emu.state()["agents"][1]["teams"]["availability"],
        "Available"
    );
    let call: Value = post(
        "calls",
        json!({"agent": "grace", "kind": "Internal", "from": "ada@contoso.example"}),
    )
    .await
    .expect("call")
    .json()
    .await
    .expect("json");
    let id = call["call_id"].as_str().expect("id");
    let read: Value = client
        .get(format!("{base}/_emulator/calls/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    // An internal call rings grace's Teams directly (no bot, no controller needed).
    assert_eq!(read["handled_by"], "teams");
    assert_eq!(read["teams"], "ringing Grace Hopper");
    assert_eq!(
        client
            .get(format!("{base}/_emulator/calls/nope"))
            .send()
            .await
            .expect("get")
            .status(),
        404
    );
    post(
        "faults",
        json!({"api": "salesforce", "kind": "status", "status": 503}),
    )
    .await
    .expect("fault");
    assert_eq!(emu.state()["faults"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        client
            .delete(format!("{base}/_emulator/faults"))
            .send()
            .await
            .expect("delete")
            .status(),
        200
    );
    assert_eq!(emu.state()["faults"].as_array().map(Vec::len), Some(0));
    let settings: Value = client
        .get(format!("{base}/_emulator/settings"))
        .send()
        .await
        .expect("settings")
        .json()
        .await
        .expect("json");
    assert_eq!(settings["throttle_budget"], 1500);
    let before = emu.with_world(|w| w.now_ms());
    post("clock/advance", json!({"seconds": 3600}))
        .await
        .expect("advance");
    assert!(emu.with_world(|w| w.now_ms()) - before >= 3_600_000);
    assert_eq!(
        post("clock/advance", json!({"seconds": -1}))
            .await
            .expect("advance")
            .status(),
        400
    );
    let token = graph_token(&emu, "ada").await;
    let revoked: Value = post("tokens/revoke", json!({"api": "entra", "agent": "ada"}))
        .await
        .expect("revoke")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["tokens"], 1);
    assert_eq!(
        client
            .get(format!("{base}/v1.0/me/presence"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("read")
            .status(),
        401
    );
    let cometd: Value = post("cometd/fault", json!({"kind": "unknown-client"}))
        .await
        .expect("fault")
        .json()
        .await
        .expect("json");
    assert_eq!(cometd["clients"], 0);
    assert_eq!(
        post("cometd/fault", json!({"kind": "gremlins"}))
            .await
            .expect("fault")
            .status(),
        400
    );
    let state = emu.state();
    assert!(state["counters"]["graph"].as_u64().unwrap_or(0) >= 1);
    assert!(state["counters"]["entra"].as_u64().unwrap_or(0) >= 2);
    assert!(state["changes"]
        .as_array()
        .is_some_and(|c| c.iter().all(|e| e["at"].is_string())));
}

#[test]
fn the_binary_starts_on_the_demo_and_serves_the_control_page() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-emulator"))
        .args(["--port", "0", "--scenario", "demo"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    // Kept open until the end: the emulator may still be writing to it.
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut first).expect("first line");
    let address = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("address")
        .to_string();
    let ready_after = started.elapsed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        reqwest::get(format!("http://{address}/_emulator/ui"))
            .await
            .map(|r| r.status().as_u16())
    });
    let _ = child.kill();
    let _ = child.wait();
    drop(reader);
    assert_eq!(status.ok(), Some(200));
    eprintln!("presence-emulator printed its address after {ready_after:?}");
    let bad = Command::new(env!("CARGO_BIN_EXE_presence-emulator"))
        .args(["--scenario", "nope", "--port", "0"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scenario"));
}

#[tokio::test]
async fn replay_ids_outside_the_retention_window_are_refused() {
    let emu = Emulator::start().await.expect("start");
    emu.with_world(|w| {
        w.settings.long_poll_ms = 100;
        w.settings.replay_retention_s = 60;
    });
    emu.salesforce_pick("ada", "Busy").expect("pick");
    let first = emu
        .with_world(|w| {
            w.topics["AgentPresence"]
                .events
                .front()
                .map(|e| e.replay_id)
        })
        .expect("event");
    let (token, _) = salesforce_token(&emu, "ada").await;
    let client = http();
    let url = format!("{}/cometd/62.0", emu.base_url);
    let handshake: Value = client
        .post(&url)
        .bearer_auth(&token)
        .json(&json!([{"channel": "/meta/handshake", "version": "1.0", "id": "1"}]))
        .send()
        .await
        .expect("hs")
        .json()
        .await
        .expect("json");
    let client_id = handshake[0]["clientId"].as_str().expect("id").to_string();
    let channel = "/topic/AgentPresence";
    let subscribe = |replay: u64| {
        client.post(&url).bearer_auth(&token)
        .json(&json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": channel, "ext": {"replay": {channel: replay}}, "id": "2"}])).send()
    };
    let ok: Value = subscribe(first - 1)
        .await
        .expect("sub")
        .json()
        .await
        .expect("json");
    assert_eq!(ok[0]["successful"], true, "within the window");
    emu.with_world(|w| w.clock.advance(Duration::from_secs(61)));
    let gone: Value = subscribe(first - 1)
        .await
        .expect("sub")
        .json()
        .await
        .expect("json");
    assert!(
        gone[0]["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("400::The replayId"),
        "{gone}"
    );
}

#[tokio::test]
async fn time_scale_runs_emulated_time_faster() {
    let emu = Emulator::start_with(presence_emulator::Options {
        scenario: "demo".into(),
        time_scale: 600.0,
    })
    .await
    .expect("start");
    let before = emu.with_world(|w| w.now_ms());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let elapsed = emu.with_world(|w| w.now_ms()) - before;
    assert!(
        elapsed >= 100_000,
        "200 ms at x600 is two minutes, got {elapsed} ms"
    );
}

#[tokio::test]
async fn the_state_lists_answered_cloud_requests_without_their_query_strings() {
    let emu = Emulator::start().await.expect("emulator");
    let client = http();
    let status = client
        .get(format!("{}/v1.0/me/presence?secret=abc", emu.base_url))
        .send()
        .await
        .expect("graph")
        .status();
    assert_eq!(status, 401);
    let state: Value = client
        .get(format!("{}/_emulator/state", emu.base_url))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let requests = state["requests"].as_array().expect("requests");
    assert_eq!(
        requests.len(),
        1,
        "control requests are not listed: {requests:?}"
    );
    assert_eq!(requests[0]["method"], "GET");
    assert_eq!(requests[0]["path"], "/v1.0/me/presence");
    assert_eq!(requests[0]["status"], 401);
    assert!(requests[0]["at"].is_string());
}

#[tokio::test]
async fn a_spent_daily_allowance_is_refused_with_request_limit_exceeded() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.api_daily_limit = 10;
        w.api_usage = 10;
    });
    let response = http()
        .get(format!(
            "{}/services/data/v62.0/query?q=SELECT+Id+FROM+Task",
            emu.base_url
        ))
        .send()
        .await
        .expect("rest");
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["sforce-limit-info"],
        "api-usage=10/10",
        "not counted"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body[0]["errorCode"], "REQUEST_LIMIT_EXCEEDED");
}

#[tokio::test]
async fn a_record_added_through_the_control_api_identifies_its_caller() {
    let emu = Emulator::start().await.expect("start");
    let client = http();
    let control = format!("{}/_emulator/salesforce/records", emu.base_url);
    let added: Value = client
        .post(&control)
        .json(&json!({"object": "Contact",
            "fields": {"Name": "Eve <b>Example</b> & Co", "Phone": "+1 415 555 0142"}}))
        .send()
        .await
        .expect("insert")
        .json()
        .await
        .expect("json");
    assert_eq!(added["ok"], true);
    let id = added["id"].as_str().expect("id");
    assert!(id.starts_with("003"), "a Contact id: {id}");
    for refused in [
        json!({"object": "Nonsense__x", "fields": {"Name": "x"}}),
        json!({"object": "Contact", "fields": {"Id": "003000000000001AAA"}}),
    ] {
        let response = client
            .post(&control)
            .json(&refused)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 400, "{refused}");
    }
    let (token, _) = salesforce_token(&emu, "ada").await;
    let found: Value = client
        .get(format!("{}/services/data/v62.0/search", emu.base_url))
        .bearer_auth(&token)
        .query(&[("q", "FIND {4155550142} IN PHONE FIELDS RETURNING Contact(Id, Name), Lead(Id, Name), Account(Id, Name)")])
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(found["searchRecords"][0]["Id"], id);
    assert_eq!(found["searchRecords"][0]["Name"], "Eve <b>Example</b> & Co");
}
