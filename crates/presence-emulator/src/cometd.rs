//! The Streaming API: Bayeux long polling on `/cometd/NN.0[/verb]` with the
//! `BAYEUX_BROWSER` cookie, advice, the replay extension, PushTopic filtered subscriptions, and
//! Salesforce's failure modes.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::http::{gate, AppState};
use crate::ids;
use crate::oauth::authenticate_subject;
use crate::push_topics::{event_message, matches_filter};
use crate::world::{Api, CometClient, Subject, World};

const COOKIE: &str = "BAYEUX_BROWSER";

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

fn reply(messages: Vec<Value>, set_cookie: Option<String>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        Value::Array(messages).to_string(),
    )
        .into_response();
    if let Some(value) = set_cookie
        .and_then(|c| HeaderValue::from_str(&format!("{COOKIE}={c}; Path=/cometd; HttpOnly")).ok())
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn field<'a>(message: &'a Value, name: &str) -> &'a str {
    message.get(name).and_then(Value::as_str).unwrap_or("")
}

fn failure(channel: &str, id: &Value, client_id: &str, error: &str, reconnect: &str) -> Value {
    json!({
        "channel": channel,
        "id": id,
        "clientId": client_id,
        "successful": false,
        "error": error,
        "advice": { "reconnect": reconnect, "interval": 0 },
    })
}

/// Splits `/topic/Name?f=v&g=w` into the topic name and its filter.
fn parse_subscription(channel: &str) -> Option<(String, Vec<(String, String)>)> {
    let rest = channel.strip_prefix("/topic/")?;
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    let filter = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((name.to_string(), filter))
}

pub async fn bayeux(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(fault) = gate(&state, Api::Cometd, "cometd", &format!("/cometd/{path}")).await {
        return fault;
    }
    let version = path.split('/').next().unwrap_or("");
    if version.is_empty() || version.parse::<f64>().is_err() {
        return (
            StatusCode::BAD_REQUEST,
            "API version in the URI is mandatory",
        )
            .into_response();
    }
    if body.len() > 32_768 {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let messages: Vec<Value> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(messages)) => messages,
        Ok(single @ Value::Object(_)) => vec![single],
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "Bayeux messages must be a JSON array",
            )
                .into_response()
        }
    };
    let mut replies = Vec::new();
    let mut set_cookie = None;
    let mut connect: Option<(String, Value)> = None;
    {
        let mut world = state.world();
        let auth = authenticate_subject(&world, Api::Salesforce, &headers)
            .ok()
            .and_then(|(subject, _)| Some((subject, world.salesforce_user_of(subject)?)));
        for message in &messages {
            let channel = field(message, "channel").to_string();
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            let client_id = field(message, "clientId").to_string();
            match channel.as_str() {
                "/meta/handshake" => {
                    let Some((subject, user_id)) = auth.clone() else {
                        replies.push(json!({
                            "ext": { "sfdc": { "failureReason": "401::Authentication invalid" }, "replay": true, "payload.format": true },
                            "advice": { "reconnect": "none" },
                            "channel": "/meta/handshake", "id": id,
                            "error": "403::Handshake denied", "successful": false,
                        }));
                        continue;
                    };
                    // The org's allocation of concurrent clients (clients that stopped
                    // polling are forgotten by the ticker and no longer count).
                    let limit = world.settings.streaming_client_limit as usize;
                    if world.comet_clients.len() >= limit {
                        world.note(format!(
                            "cometd handshake refused: the org's {limit} concurrent clients are connected"
                        ));
                        world.count("cometd handshake refused");
                        replies.push(json!({
                            "ext": { "sfdc": { "failureReason": "403::Organization concurrent user limit exceeded" }, "replay": true, "payload.format": true },
                            "advice": { "reconnect": "none" },
                            "channel": "/meta/handshake", "id": id,
                            "error": "403::Handshake denied", "successful": false,
                        }));
                        continue;
                    }
                    let new_id = ids::token("").chars().take(26).collect::<String>();
                    let cookie_value = ids::token("");
                    let now = world.now_ms();
                    world.comet_clients.insert(
                        new_id.clone(),
                        CometClient {
                            client_id: new_id.clone(),
                            agent: subject.agent(),
                            user_id,
                            sees_all: subject == Subject::App,
                            cookie: cookie_value.clone(),
                            subscriptions: Default::default(),
                            queue: Default::default(),
                            last_seen_ms: now,
                            next_fault: None,
                        },
                    );
                    world.note(format!("cometd handshake: client {new_id}"));
                    set_cookie = Some(cookie_value);
                    replies.push(json!({
                        "ext": { "replay": true, "payload.format": true },
                        "minimumVersion": "1.0", "clientId": new_id,
                        "supportedConnectionTypes": ["long-polling"],
                        "channel": "/meta/handshake", "id": id, "version": "1.0", "successful": true,
                    }));
                }
                _ => {
                    let known = world
                        .comet_clients
                        .get(&client_id)
                        .map(|c| c.cookie.clone());
                    let Some(expected_cookie) = known else {
                        replies.push(failure(
                            &channel,
                            &id,
                            &client_id,
                            "403::Unknown client",
                            "handshake",
                        ));
                        continue;
                    };
                    if cookie(&headers).as_deref() != Some(expected_cookie.as_str()) {
                        return (StatusCode::BAD_REQUEST, format!("Client {client_id} has established a session, but no {COOKIE} cookie present")).into_response();
                    }
                    if auth.is_none() {
                        replies.push(failure(
                            &channel,
                            &id,
                            &client_id,
                            "401::Authentication invalid",
                            "none",
                        ));
                        continue;
                    }
                    let now = world.now_ms();
                    if let Some(client) = world.comet_clients.get_mut(&client_id) {
                        client.last_seen_ms = now;
                    }
                    match channel.as_str() {
                        "/meta/subscribe" => {
                            replies.push(subscribe(&mut world, message, &client_id, &id))
                        }
                        "/meta/unsubscribe" => {
                            let subscription = field(message, "subscription").to_string();
                            if let Some(client) = world.comet_clients.get_mut(&client_id) {
                                client.subscriptions.remove(&subscription);
                            }
                            replies.push(json!({ "channel": channel, "id": id, "clientId": client_id, "subscription": subscription, "successful": true }));
                        }
                        "/meta/disconnect" => {
                            world.comet_clients.remove(&client_id);
                            replies.push(json!({ "channel": channel, "id": id, "clientId": client_id, "successful": true }));
                        }
                        "/meta/connect" => {
                            let fault = world
                                .comet_clients
                                .get_mut(&client_id)
                                .and_then(|c| c.next_fault.take());
                            match fault.as_deref() {
                                Some("unknown-client") => {
                                    world.comet_clients.remove(&client_id);
                                    replies.push(failure(
                                        &channel,
                                        &id,
                                        &client_id,
                                        "403::Unknown client",
                                        "handshake",
                                    ));
                                }
                                Some("auth-invalid") => {
                                    replies.push(failure(
                                        &channel,
                                        &id,
                                        &client_id,
                                        "401::Authentication invalid",
                                        "none",
                                    ));
                                }
                                _ => connect = Some((client_id.clone(), id.clone())),
                            }
                        }
                        other => replies.push(failure(
                            other,
                            &id,
                            &client_id,
                            "400::Unsupported channel",
                            "retry",
                        )),
                    }
                }
            }
        }
    }
    if let Some((client_id, id)) = connect {
        let hold = state.world().long_poll();
        let events = wait_for_events(&state, &client_id, hold).await;
        match events {
            Held::Fault(kind) => {
                let (error, reconnect) = if kind == "unknown-client" {
                    state.world().comet_clients.remove(&client_id);
                    ("403::Unknown client", "handshake")
                } else {
                    ("401::Authentication invalid", "none")
                };
                replies.push(failure("/meta/connect", &id, &client_id, error, reconnect));
            }
            Held::Events(mut events) => {
                replies.append(&mut events);
                replies.push(json!({
                    "clientId": client_id, "channel": "/meta/connect", "id": id, "successful": true,
                    "advice": { "interval": 0, "timeout": 110_000, "reconnect": "retry" },
                }));
            }
            Held::Gone => replies.push(failure(
                "/meta/connect",
                &id,
                &client_id,
                "403::Unknown client",
                "handshake",
            )),
        }
    }
    reply(replies, set_cookie)
}

fn subscribe(world: &mut World, message: &Value, client_id: &str, id: &Value) -> Value {
    let subscription = field(message, "subscription").to_string();
    let no_such_channel = || {
        failure(
            "/meta/subscribe",
            id,
            client_id,
            &format!(
                "400::The channel you requested to subscribe to does not exist {{{subscription}}}"
            ),
            "retry",
        )
    };
    let Some((topic_name, filter)) = parse_subscription(&subscription) else {
        return no_such_channel();
    };
    let now = world.now_ms();
    let retention_ms = world.settings.replay_retention_s as i64 * 1000;
    let Some(topic) = world.topics.get_mut(&topic_name) else {
        return no_such_channel();
    };
    // Events past the retention window are gone, whether or not anything was published since.
    while topic
        .events
        .front()
        .is_some_and(|e| now - e.created_ms > retention_ms)
    {
        topic.events.pop_front();
    }
    if let Some((bad, _)) = filter.iter().find(|(f, _)| !topic.fields.contains(f)) {
        return failure(
            "/meta/subscribe",
            id,
            client_id,
            &format!("400::The filter field {bad} is not in the PushTopic query"),
            "retry",
        );
    }
    // The replay map is keyed by the channel without its filter (as Salesforce wants it, and
    // EMP-Connector sends it); a map without that key is refused as the real server does.
    let base = format!("/topic/{topic_name}");
    let replay = match message.pointer("/ext/replay") {
        Some(Value::Object(map)) => match map.get(&base).and_then(Value::as_i64) {
            Some(replay) => replay,
            None => {
                let listed: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
                return failure(
                    "/meta/subscribe",
                    id,
                    client_id,
                    &format!(
                        "The replayId for channel {{{base}}} wasn't found using the provided replay ID map {{{{{}}}}}. Ensure that the channel name you provided in the replay map is valid and matches the channel name used for subscribing.",
                        listed.join(", ")
                    ),
                    "retry",
                );
            }
        },
        _ => -1,
    };
    let retained: Vec<_> = topic.events.iter().cloned().collect();
    let latest = topic.latest_replay as i64;
    let earliest = retained.first().map(|e| e.replay_id as i64);
    let backlog = match replay {
        -1 => Vec::new(),
        -2 => retained,
        n if n >= 0 && n <= latest && earliest.map_or(n == latest, |first| n >= first - 1) => {
            retained
                .into_iter()
                .filter(|e| e.replay_id as i64 > n)
                .collect()
        }
        n => {
            return failure("/meta/subscribe", id, client_id, &format!("400::The replayId {{{n}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."), "retry");
        }
    };
    let (user, sees_all) = world
        .comet_clients
        .get(client_id)
        .map(|client| (client.user_id.clone(), client.sees_all))
        .unwrap_or_default();
    if let Some(client) = world.comet_clients.get_mut(client_id) {
        for event in backlog
            .iter()
            .filter(|e| (sees_all || e.visible_to(&user)) && matches_filter(&e.record, &filter))
        {
            client.queue.push_back(event_message(&subscription, event));
        }
        client
            .subscriptions
            .insert(subscription.clone(), (topic_name, filter));
    }
    json!({ "clientId": client_id, "channel": "/meta/subscribe", "id": id, "subscription": subscription, "successful": true })
}

enum Held {
    Events(Vec<Value>),
    Fault(String),
    Gone,
}

/// Holds a connect until events are queued for the client, a fault is injected, or the poll
/// times out.
async fn wait_for_events(state: &AppState, client_id: &str, hold: Duration) -> Held {
    let deadline = tokio::time::Instant::now() + hold;
    loop {
        let notified = state.events.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut world = state.world();
            let now = world.now_ms();
            let Some(client) = world.comet_clients.get_mut(client_id) else {
                return Held::Gone;
            };
            client.last_seen_ms = now;
            if let Some(kind) = client.next_fault.take() {
                return Held::Fault(kind);
            }
            if !client.queue.is_empty() {
                return Held::Events(client.queue.drain(..).collect());
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Held::Events(Vec::new());
        }
    }
}
