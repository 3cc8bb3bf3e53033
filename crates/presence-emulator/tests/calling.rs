//! Graph's calling side as a bot sees it over real HTTP: client-credentials tokens, the
//! incoming-call notification POSTed to a webhook with a signed token, the call state machine
//! (answer, prompt, invite, transfer, redirect, hang-up), errors for actions in the wrong state
//! and for unknown calls, the 15-second answer deadline, and the agents' Teams clients.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Json;
use base64::Engine as _;
use presence_emulator::scenario::{DEMO_BOT_APP_ID, DEMO_BOT_SECRET};
use presence_emulator::Emulator;
use serde_json::{json, Value};

/// A notification as received: its bearer token (if any) and its body.
type Received = (Option<String>, Value);

/// A webhook that keeps every notification with its bearer token and answers 202.
#[derive(Clone, Default)]
struct Webhook {
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Webhook {
    async fn serve(&self) -> String {
        let seen = self.seen.clone();
        let app = axum::Router::new().route(
            "/api/calling",
            post(move |headers: HeaderMap, Json(body): Json<Value>| {
                let seen = seen.clone();
                async move {
                    let token = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                        .map(str::to_string);
                    seen.lock().expect("lock").push((token, body));
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/api/calling")
    }

    /// Waits for a notification whose first value matches, and returns it.
    async fn wait_for(
        &self,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> (Option<String>, Value) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(found) = self
                .seen
                .lock()
                .expect("lock")
                .iter()
                .find(|(_, body)| matches(&body["value"][0]))
                .cloned()
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no notification: {what}; saw {:?}",
                self.seen.lock().expect("lock")
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn states(&self, call: &str) -> Vec<String> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, body)| &body["value"][0])
            .filter(|n| n["resourceUrl"] == format!("/communications/calls/{call}"))
            .filter_map(|n| n["resourceData"]["state"].as_str().map(str::to_string))
            .collect()
    }
}

async fn bot_token(emu: &Emulator) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(&[
            ("client_id", DEMO_BOT_APP_ID),
            ("client_secret", DEMO_BOT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    body["access_token"]
        .as_str()
        .expect("an app token")
        .to_string()
}

async fn control(emu: &Emulator, path: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/_emulator/{path}", emu.base_url))
        .json(&body)
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json")
}

async fn act(emu: &Emulator, token: &str, call: &str, action: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v1.0/communications/calls/{call}/{action}",
            emu.base_url
        ))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("action");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn media() -> Value {
    json!({ "acceptedModalities": ["audio"], "mediaConfig": { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" } })
}

fn prompt() -> Value {
    json!({ "prompts": [ { "@odata.type": "#microsoft.graph.mediaPrompt", "mediaInfo": { "uri": "https://cdn.example/ringback.wav" } } ], "clientContext": "ringback" })
}

async fn started() -> (Emulator, Webhook, String) {
    let emu = Emulator::start().await.expect("emulator");
    let webhook = Webhook::default();
    let url = webhook.serve().await;
    let registered = control(&emu, "calling", json!({ "webhook": url })).await;
    assert_eq!(registered["bot"]["webhook"], json!(url));
    let token = bot_token(&emu).await;
    (emu, webhook, token)
}

/// Places a direct call to `agent` from Margaret Hamilton's number and waits until the bot
/// was told of it; returns its id.
async fn place(emu: &Emulator, webhook: &Webhook, agent: &str) -> String {
    let call = control(
        emu,
        "calls",
        json!({ "agent": agent, "from": "+14155550100" }),
    )
    .await;
    let id = call["call_id"].as_str().expect("id").to_string();
    webhook
        .wait_for("incoming", |n| n["changeType"] == "created")
        .await;
    id
}

/// The control API's view of a call now.
async fn call_now(emu: &Emulator, id: &str) -> Value {
    reqwest::get(format!("{}/_emulator/calls/{id}", emu.base_url))
        .await
        .expect("call")
        .json()
        .await
        .expect("json")
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("claims")
}

#[tokio::test]
async fn a_direct_call_reaches_the_bot_which_answers_plays_a_prompt_invites_the_agent_and_sees_the_end(
) {
    let (emu, webhook, token) = started().await;
    emu.with_world(|w| w.settings.teams_accept_invite_ms = None);
    let call = control(
        &emu,
        "calls",
        json!({ "agent": "ada", "kind": "Direct", "from": "+14155550100" }),
    )
    .await;
    let id = call["call_id"].as_str().expect("call id").to_string();
    assert_eq!(call["handled_by"], "bot");

    let (bearer, incoming) = webhook
        .wait_for("incoming", |n| n["changeType"] == "created")
        .await;
    let data = &incoming["value"][0]["resourceData"];
    assert_eq!(data["state"], "incoming");
    assert_eq!(data["source"]["identity"]["phone"]["id"], "+14155550100");
    assert_eq!(
        data["targets"][0]["identity"]["applicationInstance"]["displayName"],
        "Ada Lovelace (direct)"
    );
    let claims = claims(bearer.as_deref().expect("a bearer token"));
    assert_eq!(claims["aud"], DEMO_BOT_APP_ID);
    assert_eq!(claims["iss"], "https://api.botframework.com");
    let keys: Value = reqwest::get(format!("{}/v1/keys", emu.base_url))
        .await
        .expect("keys")
        .json()
        .await
        .expect("json");
    assert!(keys["keys"][0]["kid"].is_string());

    // An agent's delegated token is not the bot's.
    let (status, _) = act(&emu, "not-a-token", &id, "answer", media()).await;
    assert_eq!(status, 401);
    assert_eq!(
        act(&emu, &token, &id, "answer", json!({})).await.0,
        400,
        "mediaConfig is required"
    );
    assert_eq!(
        act(&emu, &token, &id, "microsoft.graph.answer", media())
            .await
            .0,
        202
    );
    let (status, error) = act(&emu, &token, &id, "answer", media()).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (400, Some("InvalidCallState"))
    );
    webhook
        .wait_for("established", |n| {
            n["resourceData"]["state"] == "established"
        })
        .await;
    assert_eq!(
        webhook.states(&id),
        ["incoming", "establishing", "established"]
    );

    let (status, op) = act(&emu, &token, &id, "playPrompt", prompt()).await;
    assert_eq!((status, op["status"].as_str()), (200, Some("running")));
    webhook
        .wait_for("prompt done", |n| {
            n["resourceData"]["clientContext"] == "ringback"
                && n["resourceData"]["status"] == "completed"
        })
        .await;

    let ada = emu.with_world(|w| w.agents[0].graph_id.clone());
    let invite = json!({ "participants": [ { "identity": { "user": { "id": ada } } } ], "clientContext": "offer" });
    let (status, op) = act(&emu, &token, &id, "participants/invite", invite).await;
    assert_eq!((status, op["status"].as_str()), (200, Some("Running")));
    let calling: Value = reqwest::get(format!("{}/_emulator/calling", emu.base_url))
        .await
        .expect("calling")
        .json()
        .await
        .expect("json");
    assert_eq!(calling["ringing"][0]["agent"], "ada");
    assert_eq!(
        control(&emu, "teams/ada/answer", json!({})).await["teams"],
        "answered"
    );
    let (_, roster) = webhook
        .wait_for("roster", |n| {
            n["resourceUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with("/participants"))
        })
        .await;
    assert_eq!(
        roster["value"][0]["resourceData"][1]["info"]["identity"]["user"]["id"],
        json!(ada)
    );
    webhook
        .wait_for("invite done", |n| {
            n["resourceData"]["clientContext"] == "offer"
                && n["resourceData"]["status"] == "completed"
        })
        .await;

    control(&emu, &format!("calls/{id}/hangup"), json!({})).await;
    let (_, ended) = webhook
        .wait_for("ended", |n| {
            n["changeType"] == "deleted" && n["resourceData"]["state"] == "terminated"
        })
        .await;
    assert_eq!(
        ended["value"][0]["resourceData"]["resultInfo"]["subcode"],
        540000
    );
    let response = reqwest::Client::new()
        .get(format!("{}/v1.0/communications/calls/{id}", emu.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "8522");
}

#[tokio::test]
async fn an_incoming_call_nobody_answers_within_15_s_cannot_be_reached() {
    let (emu, webhook, _token) = started().await;
    let id = place(&emu, &webhook, "grace").await;
    control(&emu, "clock/advance", json!({ "seconds": 16 })).await;
    let (_, ended) = webhook
        .wait_for("terminated", |n| n["resourceData"]["state"] == "terminated")
        .await;
    assert_eq!(
        ended["value"][0]["resourceData"]["resultInfo"]["subcode"],
        8544
    );
    let outcome: Value = call_now(&emu, &id).await;
    assert!(
        outcome["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("NotReached")),
        "{outcome}"
    );
}

#[tokio::test]
async fn a_redirect_rings_the_agents_teams_whose_voicemail_takes_it_when_nobody_answers() {
    let (emu, webhook, token) = started().await;
    let id = place(&emu, &webhook, "alan").await;
    let alan = emu.with_world(|w| w.agents[2].graph_id.clone());
    let redirect =
        json!({ "targets": [ { "identity": { "user": { "id": alan } } } ], "timeout": 10 });
    assert_eq!(
        act(&emu, &token, &id, "redirect", redirect.clone()).await.0,
        400,
        "timeout 10 is below 15"
    );
    let redirect =
        json!({ "targets": [ { "identity": { "user": { "id": alan } } } ], "timeout": 20 });
    assert_eq!(act(&emu, &token, &id, "redirect", redirect).await.0, 202);
    control(&emu, "clock/advance", json!({ "seconds": 21 })).await;
    webhook
        .wait_for("terminated", |n| n["resourceData"]["state"] == "terminated")
        .await;
    let outcome: Value = call_now(&emu, &id).await;
    assert_eq!(
        outcome["outcome"],
        "NotOffered: taken by Alan Turing's voicemail"
    );
    assert_eq!(
        act(&emu, &token, &id, "answer", media()).await.0,
        404,
        "the call is gone"
    );
}

#[tokio::test]
async fn a_transfer_completes_once_the_agents_teams_takes_the_call() {
    let (emu, webhook, token) = started().await;
    let id = place(&emu, &webhook, "ada").await;
    let (status, _) = act(
        &emu,
        &token,
        &id,
        "transfer",
        json!({ "transferTarget": { "identity": { "user": { "id": "ada@contoso.example" } } } }),
    )
    .await;
    assert_eq!(status, 400, "transfer needs an established call");
    assert_eq!(act(&emu, &token, &id, "answer", media()).await.0, 202);
    assert_eq!(
        act(
            &emu,
            &token,
            &id,
            "transfer",
            json!({ "transferTarget": { "identity": { "user": { "id": "ada@contoso.example" } } } })
        )
        .await
        .0,
        202
    );
    control(&emu, "teams/ada/answer", json!({})).await;
    let (_, done) = webhook
        .wait_for("transferred", |n| {
            n["resourceData"]["state"] == "terminated"
        })
        .await;
    assert_eq!(
        done["value"][0]["resourceData"]["resultInfo"]["subcode"],
        7015
    );
    assert!(webhook.states(&id).contains(&"transferring".to_string()));
}

#[tokio::test]
async fn a_notification_the_webhook_refuses_fails_the_incoming_call() {
    let emu = Emulator::start().await.expect("emulator");
    let app = axum::Router::new().route(
        "/api/calling",
        post(|| async { axum::http::StatusCode::FORBIDDEN }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/api/calling",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    control(&emu, "calling", json!({ "webhook": url })).await;
    control(&emu, "settings", json!({ "webhook_token": "wrong-key" })).await;
    let call = control(
        &emu,
        "calls",
        json!({ "agent": "ada", "from": "+14155550100" }),
    )
    .await;
    let id = call["call_id"].as_str().expect("id").to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now: Value = call_now(&emu, &id).await;
        if now["outcome"] == "NotReached: the bot's webhook answered 403" {
            break;
        }
        assert!(Instant::now() < deadline, "{now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = control(
        &emu,
        "calling",
        json!({ "webhook": "http://example.com/api" }),
    )
    .await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("https://")),
        "{refused}"
    );
}

#[tokio::test]
async fn the_bots_and_the_integration_users_client_credentials_are_checked() {
    let emu = Emulator::start().await.expect("emulator");
    let client = reqwest::Client::new();
    let wrong = client
        .post(format!("{}/organizations/oauth2/v2.0/token", emu.base_url))
        .form(&[
            ("client_id", DEMO_BOT_APP_ID),
            ("client_secret", "guess"),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(wrong.status(), 401);
    let app = bot_token(&emu).await;
    let me = client
        .get(format!("{}/v1.0/me/presence", emu.base_url))
        .bearer_auth(&app)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 401, "an app token has no /me");
    let ada: Value = client
        .get(format!("{}/v1.0/users/ada@contoso.example", emu.base_url))
        .bearer_auth(&app)
        .send()
        .await
        .expect("user")
        .json()
        .await
        .expect("json");
    assert_eq!(ada["displayName"], "Ada Lovelace");

    let body: Value = client
        .post(format!("{}/services/oauth2/token", emu.base_url))
        .basic_auth("presence-controller", Some("demo-integration-secret"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "presence-controller"),
        ])
        .send()
        .await
        .expect("sf token")
        .json()
        .await
        .expect("json");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().expect("token");
    let info: Value = client
        .get(format!("{}/services/oauth2/userinfo", emu.base_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(
        info["preferred_username"],
        "presence-controller@contoso.example"
    );
}

async fn create(emu: &Emulator, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/v1.0/communications/calls", emu.base_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("create");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn placement(account: &str, user: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.call",
        "source": { "identity": { "applicationInstance": { "id": account } } },
        "targets": [ { "identity": { "user": { "id": user } } } ],
        "requestedModalities": ["audio"],
        "mediaConfig": { "@odata.type": "#microsoft.graph.serviceHostedMediaConfig" },
    })
}

#[tokio::test]
async fn a_call_the_bot_places_rings_the_agent_then_dials_the_number_invited_into_it() {
    let (emu, webhook, token) = started().await;
    emu.with_world(|w| w.settings.teams_accept_invite_ms = None);
    let (ada, ada_line) = emu.with_world(|w| {
        (
            w.agents[0].graph_id.clone(),
            w.calling.accounts[0].id.clone(),
        )
    });
    // Refusals: no resource account, one that is not the bot's, a number as the first target.
    let mut bad = placement(&ada_line, &ada);
    bad["source"] = json!({ "identity": { "application": { "id": DEMO_BOT_APP_ID } } });
    assert_eq!(create(&emu, &token, bad).await.0, 400);
    let (status, error) = create(&emu, &token, placement("not-an-account", &ada)).await;
    assert_eq!(status, 400, "{error}");
    let mut to_phone = placement(&ada_line, &ada);
    to_phone["targets"] = json!([ { "identity": { "phone": { "id": "+14155550123" } } } ]);
    assert_eq!(create(&emu, &token, to_phone).await.0, 400);
    assert_eq!(
        create(&emu, "not-a-token", placement(&ada_line, &ada))
            .await
            .0,
        401
    );

    let (status, call) = create(&emu, &token, placement(&ada_line, &ada)).await;
    assert_eq!(
        (status, call["state"].as_str()),
        (201, Some("establishing"))
    );
    assert_eq!(call["direction"], "outgoing");
    assert_eq!(
        call["source"]["identity"]["applicationInstance"]["id"],
        json!(ada_line)
    );
    let id = call["id"].as_str().expect("id").to_string();
    let listed = call_now(&emu, &id).await;
    assert_eq!(
        (listed["kind"].as_str(), listed["from"].as_str()),
        (Some("Outbound"), Some("+14155550101")),
        "{listed}"
    );
    // Nothing can be invited before the agent picked up.
    let dial = json!({ "participants": [ { "identity": { "phone": { "id": "+14155550123" } } } ], "clientContext": "dial" });
    assert_eq!(
        act(&emu, &token, &id, "participants/invite", dial.clone())
            .await
            .0,
        400
    );
    assert_eq!(
        control(&emu, "teams/ada/answer", json!({})).await["teams"],
        "answered"
    );
    webhook
        .wait_for("established", |n| {
            n["resourceData"]["state"] == "established"
        })
        .await;
    assert_eq!(webhook.states(&id), ["establishing", "established"]);

    let bad_number =
        json!({ "participants": [ { "identity": { "phone": { "id": "call me" } } } ] });
    assert_eq!(
        act(&emu, &token, &id, "participants/invite", bad_number)
            .await
            .0,
        400
    );
    let (status, op) = act(&emu, &token, &id, "participants/invite", dial).await;
    assert_eq!((status, op["status"].as_str()), (200, Some("Running")));
    control(&emu, "clock/advance", json!({ "seconds": 3 })).await;
    let (_, roster) = webhook
        .wait_for("the far end joined", |n| {
            n["resourceUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with("/participants"))
        })
        .await;
    let people = &roster["value"][0]["resourceData"];
    assert_eq!(people[0]["info"]["identity"]["phone"]["id"], "+14155550123");
    assert_eq!(people[1]["info"]["identity"]["user"]["id"], json!(ada));
    webhook
        .wait_for("dialled", |n| {
            n["resourceData"]["clientContext"] == "dial"
                && n["resourceData"]["status"] == "completed"
        })
        .await;
    let listed = call_now(&emu, &id).await;
    assert_eq!(listed["to"], "+14155550123");
    assert!(listed["answered_ms"].is_i64(), "{listed}");

    // The far end hangs up.
    control(&emu, &format!("calls/{id}/hangup"), json!({})).await;
    webhook
        .wait_for("ended", |n| n["resourceData"]["state"] == "terminated")
        .await;
    assert_eq!(call_now(&emu, &id).await["outcome"], "Ended");
}

#[tokio::test]
async fn a_placed_call_the_agent_does_not_pick_up_or_the_far_end_does_not_answer_ends_unanswered() {
    let (emu, webhook, token) = started().await;
    emu.with_world(|w| {
        w.settings.teams_accept_invite_ms = None;
        w.settings.far_end_answers = false;
    });
    let (grace, grace_line) = emu.with_world(|w| {
        (
            w.agents[1].graph_id.clone(),
            w.calling.accounts[1].id.clone(),
        )
    });
    let (_, call) = create(&emu, &token, placement(&grace_line, &grace)).await;
    let unpicked = call["id"].as_str().expect("id").to_string();
    control(&emu, "clock/advance", json!({ "seconds": 31 })).await;
    let (_, ended) = webhook
        .wait_for("not picked up", |n| {
            n["resourceUrl"] == format!("/communications/calls/{unpicked}")
                && n["resourceData"]["state"] == "terminated"
        })
        .await;
    assert_eq!(ended["value"][0]["resourceData"]["resultInfo"]["code"], 408);
    assert_eq!(
        call_now(&emu, &unpicked).await["outcome"],
        "NoAnswer: Grace Hopper did not join"
    );

    let (_, call) = create(&emu, &token, placement(&grace_line, &grace)).await;
    let id = call["id"].as_str().expect("id").to_string();
    control(&emu, "teams/grace/answer", json!({})).await;
    webhook
        .wait_for("established", |n| {
            n["resourceUrl"] == format!("/communications/calls/{id}")
                && n["resourceData"]["state"] == "established"
        })
        .await;
    let dial = json!({ "participants": [ { "identity": { "phone": { "id": "+14155550123" } } } ], "clientContext": "dial" });
    act(&emu, &token, &id, "participants/invite", dial).await;
    control(&emu, "clock/advance", json!({ "seconds": 3 })).await;
    webhook
        .wait_for("no answer", |n| {
            n["resourceData"]["clientContext"] == "dial" && n["resourceData"]["status"] == "failed"
        })
        .await;
    assert_eq!(
        act(&emu, &token, &id, "microsoft.graph.keepAlive", json!({}))
            .await
            .0,
        200,
        "the bot decides what to do: the call is still up"
    );
    let response = reqwest::Client::new()
        .delete(format!("{}/v1.0/communications/calls/{id}", emu.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
    assert_eq!(
        call_now(&emu, &id).await["outcome"],
        "NoAnswer: +14155550123 did not answer"
    );
}

#[tokio::test]
async fn a_transfer_to_a_phone_number_completes_once_it_answers_or_fails_back_to_the_bot() {
    let (emu, webhook, token) = started().await;
    let answered = place(&emu, &webhook, "ada").await;
    act(&emu, &token, &answered, "answer", media()).await;
    let to_phone = json!({ "transferTarget": { "endpointType": "default", "identity": { "phone": { "id": "+14155550199" } } } });
    assert_eq!(
        act(
            &emu,
            &token,
            &answered,
            "transfer",
            json!({ "transferTarget": { "identity": { "phone": { "id": "0800" } } } })
        )
        .await
        .0,
        400,
        "not E.164"
    );
    assert_eq!(
        act(&emu, &token, &answered, "transfer", to_phone.clone())
            .await
            .0,
        202
    );
    control(&emu, "clock/advance", json!({ "seconds": 3 })).await;
    let (_, ended) = webhook
        .wait_for("transferred", |n| {
            n["resourceUrl"] == format!("/communications/calls/{answered}")
                && n["resourceData"]["state"] == "terminated"
        })
        .await;
    assert_eq!(
        ended["value"][0]["resourceData"]["resultInfo"]["subcode"],
        7015
    );
    assert_eq!(
        call_now(&emu, &answered).await["teams"],
        "taken by +14155550199"
    );

    emu.with_world(|w| w.settings.far_end_answers = false);
    let id = place(&emu, &webhook, "grace").await;
    act(&emu, &token, &id, "answer", media()).await;
    act(&emu, &token, &id, "transfer", to_phone).await;
    control(&emu, "clock/advance", json!({ "seconds": 3 })).await;
    let (_, failed) = webhook
        .wait_for("transfer failed", |n| {
            n["resourceUrl"] == format!("/communications/calls/{id}")
                && n["resourceData"]["resultInfo"]["subcode"] == 7000
        })
        .await;
    assert_eq!(failed["value"][0]["resourceData"]["state"], "established");
    assert_eq!(
        act(&emu, &token, &id, "microsoft.graph.keepAlive", json!({}))
            .await
            .0,
        200,
        "the call is the bot's again"
    );
}
