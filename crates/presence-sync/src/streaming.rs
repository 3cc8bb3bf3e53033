//! The Streaming API client: Bayeux long polling with the replay extension. It handshakes,
//! subscribes to the agent's channels with the last replay id of each, and keeps connecting;
//! on `403::Unknown client` it handshakes and resubscribes from where it left off, on a 401 it
//! refreshes the token first. Events are handed over as raw records with their channel.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::SyncError;
use crate::salesforce::SalesforceClient;

/// A record that changed on a subscribed channel.
#[derive(Debug, Clone)]
pub struct StreamedRecord {
    pub channel: String,
    pub replay_id: i64,
    pub record: serde_json::Map<String, Value>,
}

/// What the stream tells its owner.
#[derive(Debug, Clone)]
pub enum StreamNews {
    Record(StreamedRecord),
    /// Connected (after a handshake): the owner should read state it may have missed.
    Connected,
    Lost(String),
}

pub struct Streaming {
    client: SalesforceClient,
    http: reqwest::Client,
    url: String,
    /// Channel → the last replay id seen (-1 until one is seen).
    pub replay: BTreeMap<String, i64>,
    client_id: Option<String>,
    next_id: u64,
    /// Where replay ids are kept across restarts.
    positions: Option<std::sync::Arc<crate::outbox::Outbox>>,
}

impl std::fmt::Debug for Streaming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("url", &self.url)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Streaming {
    /// A stream of `channels`. With `positions`, the last replay id of each channel is read
    /// from and saved to the durable store, so nothing retained is missed across a restart.
    pub fn new(
        client: SalesforceClient,
        channels: &[String],
        positions: Option<std::sync::Arc<crate::outbox::Outbox>>,
    ) -> Result<Self, SyncError> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .timeout(Duration::from_secs(130))
            .build()
            .map_err(|error| SyncError::Network(error.to_string()))?;
        let url = format!(
            "{}/cometd/{}",
            client.instance_url(),
            crate::salesforce::API_VERSION
        );
        Ok(Self {
            client,
            http,
            url,
            replay: channels
                .iter()
                .map(|c| {
                    let stored = positions
                        .as_ref()
                        .and_then(|p| p.replay_position(c).ok().flatten());
                    (c.clone(), stored.unwrap_or(-1))
                })
                .collect(),
            client_id: None,
            next_id: 1,
            positions,
        })
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    async fn post(&self, messages: Value) -> Result<Vec<Value>, SyncError> {
        let tokens = self.client.tokens();
        let body = crate::request::send_authorized(
            &self.http,
            tokens,
            reqwest::Method::POST,
            &self.url,
            Some(&messages),
        )
        .await?;
        serde_json::from_slice(&body).map_err(|error| SyncError::Malformed(error.to_string()))
    }

    /// Handshakes and subscribes every channel from its stored replay id.
    pub async fn handshake(&mut self) -> Result<(), SyncError> {
        let id = self.id();
        let replies = self
            .post(json!([{
                "channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"], "ext": { "replay": true }, "id": id,
            }]))
            .await?;
        let reply = replies
            .first()
            .ok_or_else(|| SyncError::Malformed("empty handshake answer".into()))?;
        if reply["successful"] != true {
            let reason = reply["ext"]["sfdc"]["failureReason"]
                .as_str()
                .or(reply["error"].as_str())
                .unwrap_or("handshake refused");
            if reason.starts_with("401") {
                let token = self.client.tokens().access_token().await?;
                self.client.tokens().refresh_after(&token).await?;
            }
            return Err(SyncError::Unauthorized(reason.to_string()));
        }
        let client_id = reply["clientId"]
            .as_str()
            .ok_or_else(|| SyncError::Malformed("no clientId".into()))?
            .to_string();
        self.client_id = Some(client_id.clone());
        let replay: serde_json::Map<String, Value> = self
            .replay
            .iter()
            .map(|(c, r)| (c.clone(), json!(r)))
            .collect();
        for channel in self.replay.keys().cloned().collect::<Vec<_>>() {
            let id = self.id();
            let replies = self
                .post(json!([{
                    "channel": "/meta/subscribe", "clientId": client_id, "subscription": channel,
                    "ext": { "replay": replay }, "id": id,
                }]))
                .await?;
            let ok = replies
                .iter()
                .any(|m| m["channel"] == "/meta/subscribe" && m["successful"] == true);
            if !ok {
                let error = replies
                    .first()
                    .and_then(|m| m["error"].as_str())
                    .unwrap_or("subscribe failed")
                    .to_string();
                if error.contains("replayId") {
                    // Outside the retention window: start from new events; a repair covers the gap.
                    self.replay.insert(channel.clone(), -1);
                }
                return Err(SyncError::Server(error));
            }
        }
        Ok(())
    }

    /// One long poll. Returns the records it brought, or an error that says what to do next.
    pub async fn connect_once(&mut self) -> Result<Vec<StreamedRecord>, SyncError> {
        let Some(client_id) = self.client_id.clone() else {
            return Err(SyncError::Server("not handshaken".into()));
        };
        let id = self.id();
        let replies = self.post(json!([{ "channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": id }])).await?;
        let mut records = Vec::new();
        for message in &replies {
            let channel = message["channel"].as_str().unwrap_or("");
            if channel == "/meta/connect" {
                if message["successful"] != true {
                    let error = message["error"]
                        .as_str()
                        .unwrap_or("connect failed")
                        .to_string();
                    self.client_id = None;
                    if error.starts_with("401") {
                        let token = self.client.tokens().access_token().await?;
                        let _ = self.client.tokens().refresh_after(&token).await;
                    }
                    return Err(SyncError::Server(error));
                }
                continue;
            }
            if let (Some(record), Some(replay_id)) = (
                message["data"]["sobject"].as_object(),
                message["data"]["event"]["replayId"].as_i64(),
            ) {
                if let Some(last) = self.replay.get_mut(channel) {
                    *last = (*last).max(replay_id);
                }
                records.push(StreamedRecord {
                    channel: channel.to_string(),
                    replay_id,
                    record: record.clone(),
                });
            }
        }
        Ok(records)
    }

    /// Runs until the receiver goes away: handshake, connect, repeat; backs off after failures.
    pub async fn run(mut self, news: mpsc::Sender<StreamNews>) {
        let mut failures: u32 = 0;
        loop {
            if self.client_id.is_none() {
                match self.handshake().await {
                    Ok(()) => {
                        failures = 0;
                        if news.send(StreamNews::Connected).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        failures += 1;
                        if news
                            .send(StreamNews::Lost(error.to_string()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        tokio::time::sleep(backoff(failures)).await;
                        continue;
                    }
                }
            }
            match self.connect_once().await {
                Ok(records) => {
                    for record in records {
                        let (channel, replay_id) = (record.channel.clone(), record.replay_id);
                        if news.send(StreamNews::Record(record)).await.is_err() {
                            return;
                        }
                        // Saved once handed to the driver: a crash in between replays it.
                        if let Some(positions) = &self.positions {
                            if let Err(error) = positions.save_replay_position(&channel, replay_id)
                            {
                                tracing::warn!("streaming position not saved: {error}");
                            }
                        }
                    }
                }
                Err(error) => {
                    failures += 1;
                    self.client_id = None;
                    if news
                        .send(StreamNews::Lost(error.to_string()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis((250u64 << failures.min(7)).min(30_000))
}
