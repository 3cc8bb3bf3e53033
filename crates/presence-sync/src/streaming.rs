//! The Streaming API client: Bayeux long polling with the replay extension. It handshakes,
//! subscribes to the agent's channels with the last replay id of each, and keeps connecting;
//! on `403::Unknown client` it handshakes and resubscribes from where it left off, on a 401 it
//! refreshes the token first. Events are handed over as raw records with their channel.
//!
//! When streaming is unavailable (two failures in a row: the org has it switched off, a proxy
//! breaks long polls, the CometD endpoint is down) the same records are read by SOQL polling
//! instead, every [`POLL_EVERY`] (backing off to [`POLL_MAX`] while the polls fail), between
//! attempts to get the stream back; once it is back it takes over from new events (the polls
//! covered the gap). Whenever a channel is subscribed from new events only (at the first start,
//! or after polling), one poll covers what changed before the subscription.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use presence_core::Backoff;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::error::SyncError;
use crate::salesforce::SalesforceClient;
use crate::wire::bayeux::{BayeuxError, Connect, Handshake, Message, ReplayFrom, Subscribe};
use crate::wire::salesforce::PolledRow;
use crate::wire::QueryPage;

/// A record that changed on a subscribed channel.
#[derive(Debug, Clone)]
pub struct StreamedRecord {
    pub channel: String,
    pub replay_id: i64,
    pub record: Map<String, Value>,
}

/// What the stream tells its owner.
#[derive(Debug, Clone)]
pub enum StreamNews {
    Record(StreamedRecord),
    /// Connected (after a handshake): the owner should read state it may have missed.
    Connected,
    Lost(String),
    /// Streaming is unavailable but SOQL polling works: changes arrive within `every`.
    Polling {
        every: Duration,
        why: String,
    },
}

/// How often Salesforce is polled while streaming is unavailable.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// The longest gap between polls while the polls themselves fail ([`crate::retry::POLLS`]).
pub const POLL_MAX: Duration = Duration::from_secs(30);
/// Stream failures in a row before polling starts.
pub const POLL_AFTER_FAILURES: u32 = 2;

/// The SOQL that stands in for one channel while streaming is unavailable.
#[derive(Debug, Clone)]
pub struct FallbackQuery {
    /// The channel whose records this query reads.
    pub channel: String,
    pub object: String,
    /// The fields the channel's events carry (`Id` and `LastModifiedDate` are added).
    pub fields: String,
    /// The condition that limits it to the agent's records, e.g. `User__c = '005…'`.
    pub filter: String,
}

/// What one fallback query has seen.
#[derive(Debug, Default)]
struct PollCursor {
    /// The newest `LastModifiedDate` seen, to the second, as a SOQL dateTime literal.
    since: Option<String>,
    /// Records already handed over at or after `since` (id and modification time).
    seen: HashSet<(String, String)>,
}

/// Most records read per poll and query; more wait for the next poll.
const POLL_LIMIT: usize = 200;

/// A channel without its filter (`/topic/AgentPresence?User__c=…` → `/topic/AgentPresence`):
/// the key of its replay position, as Salesforce keys the replay map (EMP-Connector strips the
/// query string the same way, both when subscribing and when recording an event's id).
pub fn topic_of(channel: &str) -> &str {
    channel.split_once('?').map_or(channel, |(topic, _)| topic)
}

fn soql_second(record_datetime: &str) -> Option<String> {
    chrono::DateTime::parse_from_str(record_datetime, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|at| {
            at.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
}

pub struct Streaming {
    client: SalesforceClient,
    http: reqwest::Client,
    url: String,
    /// The channels subscribed to, as named (with their filters: `/topic/AgentPresence?User__c=…`).
    subscriptions: Vec<String>,
    /// Topic → the last replay id seen (-1 until one is seen), keyed by the channel without its
    /// filter, as Salesforce wants the replay map (one position per topic).
    pub replay: BTreeMap<String, i64>,
    client_id: Option<String>,
    next_id: u64,
    /// Where replay ids are kept across restarts.
    positions: Option<std::sync::Arc<crate::outbox::Outbox>>,
    /// SOQL to read instead while streaming is unavailable, with what each has seen.
    fallback: Vec<(FallbackQuery, PollCursor)>,
    /// The jitter seed of this agent's backoffs.
    seed: u64,
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
        let http = client.transport().long_poll_client()?;
        let url = format!(
            "{}/cometd/{}",
            client.instance_url(),
            crate::salesforce::API_VERSION
        );
        Ok(Self {
            http,
            url,
            subscriptions: channels.to_vec(),
            replay: channels
                .iter()
                .map(|channel| {
                    let topic = topic_of(channel);
                    // Positions were once kept under the filtered name: read those too.
                    let stored = positions.as_ref().and_then(|p| {
                        p.replay_position(topic)
                            .ok()
                            .flatten()
                            .or_else(|| p.replay_position(channel).ok().flatten())
                    });
                    (topic.to_string(), stored.unwrap_or(-1))
                })
                .collect(),
            client_id: None,
            next_id: 1,
            positions,
            fallback: Vec::new(),
            seed: crate::retry::seed(&client.user_id),
            client,
        })
    }

    /// Reads these queries by polling while streaming is unavailable.
    pub fn with_fallback(mut self, queries: Vec<FallbackQuery>) -> Self {
        self.fallback = queries
            .into_iter()
            .map(|q| (q, PollCursor::default()))
            .collect();
        self
    }

    /// One round of fallback polling: every query, records handed over oldest first.
    /// Returns how many records were new.
    pub async fn poll_once(&mut self, news: &mpsc::Sender<StreamNews>) -> Result<usize, SyncError> {
        let mut handed = 0;
        for index in 0..self.fallback.len() {
            let (query, cursor) = &self.fallback[index];
            let soql = match &cursor.since {
                // The first poll: the latest records, to learn where Salesforce's time stands.
                None => format!(
                    "SELECT Id, {}, LastModifiedDate FROM {} WHERE {} ORDER BY LastModifiedDate DESC LIMIT 20",
                    query.fields, query.object, query.filter
                ),
                Some(since) => format!(
                    "SELECT Id, {}, LastModifiedDate FROM {} WHERE {} AND LastModifiedDate >= {since} ORDER BY LastModifiedDate ASC LIMIT {POLL_LIMIT}",
                    query.fields, query.object, query.filter
                ),
            };
            let first = cursor.since.is_none();
            let page: QueryPage<PolledRow> = self.client.query(&soql).await?;
            let mut records = page.records;
            if first {
                records.reverse();
            }
            let (query, cursor) = &mut self.fallback[index];
            for row in records {
                let id = row.id.unwrap_or_default();
                let modified = row.last_modified.unwrap_or_default();
                let Some(second) = soql_second(&modified) else {
                    tracing::warn!(
                        "polled {} {id:?} without a readable LastModifiedDate; skipped",
                        query.object
                    );
                    continue;
                };
                if !cursor.seen.insert((id, modified)) {
                    continue;
                }
                if cursor.since.as_ref().is_none_or(|since| second > *since) {
                    cursor.since = Some(second);
                }
                handed += 1;
                let record = StreamedRecord {
                    channel: query.channel.clone(),
                    replay_id: 0,
                    record: row.fields,
                };
                if news.send(StreamNews::Record(record)).await.is_err() {
                    return Ok(handed);
                }
            }
            // Forget what is older than the cursor's second: the query no longer returns it.
            if let Some(since) = cursor.since.clone() {
                cursor
                    .seen
                    .retain(|(_, modified)| soql_second(modified).is_some_and(|s| s >= since));
            }
        }
        Ok(handed)
    }

    /// Polls for `span` (or just waits, without fallback queries), at [`POLL_EVERY`], slower
    /// while polls fail; `polling_ok` says whether the last poll worked (the owner is told when
    /// that changes).
    async fn poll_for(
        &mut self,
        span: Duration,
        why: &str,
        news: &mpsc::Sender<StreamNews>,
        polling_ok: &mut bool,
    ) {
        if self.fallback.is_empty() {
            tokio::time::sleep(span).await;
            return;
        }
        let until = tokio::time::Instant::now() + span;
        let mut failing = Backoff::new(crate::retry::POLLS, self.seed);
        loop {
            let every = match self.poll_once(news).await {
                Ok(_) => {
                    failing.reset();
                    if !*polling_ok {
                        *polling_ok = true;
                        tracing::warn!(
                            "Salesforce streaming unavailable ({why}); polling every {} s",
                            POLL_EVERY.as_secs()
                        );
                        let _ = news
                            .send(StreamNews::Polling {
                                every: POLL_EVERY,
                                why: why.to_string(),
                            })
                            .await;
                    }
                    POLL_EVERY
                }
                Err(error) => {
                    *polling_ok = false;
                    let _ = news
                        .send(StreamNews::Lost(format!(
                            "{why}; polling failed too: {error}"
                        )))
                        .await;
                    failing.next_delay(&error.kind())
                }
            };
            let now = tokio::time::Instant::now();
            if now >= until {
                return;
            }
            tokio::time::sleep(every.min(until - now)).await;
            if tokio::time::Instant::now() >= until {
                return;
            }
        }
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    async fn post(&self, messages: &impl serde::Serialize) -> Result<Vec<Message>, SyncError> {
        let tokens = self.client.tokens();
        let messages = crate::wire::body(messages)?;
        let body = crate::request::send_authorized(
            &self.http,
            tokens,
            reqwest::Method::POST,
            &self.url,
            Some(&messages),
        )
        .await?;
        crate::wire::parse("Bayeux messages", &body)
    }

    /// After a 401 from the stream: the access token is refreshed before the next handshake.
    async fn refresh_token(&self) -> Result<(), SyncError> {
        let token = self.client.tokens().access_token().await?;
        self.client.tokens().refresh_after(&token).await.map(|_| ())
    }

    /// Handshakes and subscribes every channel from its stored replay id.
    pub async fn handshake(&mut self) -> Result<(), SyncError> {
        let id = self.id();
        let replies = self.post(&[Handshake::new(&id)]).await?;
        let reply = replies
            .first()
            .ok_or_else(|| SyncError::missing("a handshake reply"))?;
        if !reply.succeeded() {
            let refusal = reply.failure();
            if refusal.is_unauthorized() {
                self.refresh_token().await?;
            }
            return Err(SyncError::Stream(refusal));
        }
        let client_id = reply
            .client_id
            .clone()
            .ok_or_else(|| SyncError::missing("a clientId in the handshake reply"))?;
        self.client_id = Some(client_id.clone());
        for channel in self.subscriptions.clone() {
            let id = self.id();
            let subscribe = Subscribe {
                channel: "/meta/subscribe",
                client_id: &client_id,
                subscription: &channel,
                ext: ReplayFrom {
                    replay: &self.replay,
                },
                id: &id,
            };
            let replies = self.post(&[subscribe]).await?;
            let subscribed = replies
                .iter()
                .any(|m| m.channel == "/meta/subscribe" && m.succeeded());
            if !subscribed {
                let refusal = replies
                    .first()
                    .map(Message::failure)
                    .unwrap_or_else(|| BayeuxError::parse("no subscribe reply"));
                if refusal.is_invalid_replay_id() {
                    // Outside the retention window: start from new events; a repair covers the gap.
                    self.replay.insert(topic_of(&channel).to_string(), -1);
                }
                return Err(SyncError::Stream(refusal));
            }
        }
        Ok(())
    }

    /// One long poll. Returns the records it brought, or an error that says what to do next.
    pub async fn connect_once(&mut self) -> Result<Vec<StreamedRecord>, SyncError> {
        let Some(client_id) = self.client_id.clone() else {
            return Err(SyncError::Stream(BayeuxError::parse("not handshaken yet")));
        };
        let id = self.id();
        let connect = Connect {
            channel: "/meta/connect",
            client_id: &client_id,
            connection_type: "long-polling",
            id: &id,
        };
        let replies = self.post(&[connect]).await?;
        let mut records = Vec::new();
        for message in replies {
            if message.channel == "/meta/connect" {
                if !message.succeeded() {
                    self.client_id = None;
                    let refusal = message.failure();
                    if refusal.is_unauthorized() {
                        // The next handshake says whether the refresh worked.
                        let _ = self.refresh_token().await;
                    }
                    return Err(SyncError::Stream(refusal));
                }
                continue;
            }
            if let Some((record, replay_id)) = message.event() {
                if let Some(last) = self.replay.get_mut(topic_of(&message.channel)) {
                    *last = (*last).max(replay_id);
                }
                records.push(StreamedRecord {
                    channel: message.channel.clone(),
                    replay_id,
                    record: record.clone(),
                });
            }
        }
        Ok(records)
    }

    /// Runs until the receiver goes away: handshake, connect, repeat; backs off after failures,
    /// polling by SOQL meanwhile once streaming has failed [`POLL_AFTER_FAILURES`] times in a row.
    pub async fn run(mut self, news: mpsc::Sender<StreamNews>) {
        let mut failures = Backoff::new(crate::retry::STREAM, self.seed);
        // Whether the polls are what the owner relies on now (and have worked).
        let mut polling_ok = false;
        let mut polled = false;
        loop {
            if self.client_id.is_none() {
                if polled {
                    // The polls covered the gap: take the stream from new events, and forget
                    // positions that would replay what the polls already handed over.
                    for replay in self.replay.values_mut() {
                        *replay = -1;
                    }
                    if let Some(positions) = &self.positions {
                        if let Err(error) = positions.forget_replay_positions() {
                            tracing::warn!("streaming positions not reset: {error}");
                        }
                    }
                }
                // A channel taken from new events only misses what changed before its
                // subscription (an offer made during start-up, say): one poll covers it.
                let catch_up = self.replay.values().any(|&replay| replay < 0);
                match self.handshake().await {
                    Ok(()) => {
                        failures.reset();
                        if catch_up {
                            if let Err(error) = self.poll_once(&news).await {
                                tracing::warn!(
                                    "the catch-up poll after subscribing failed: {error}"
                                );
                            }
                        }
                        if polled {
                            polled = false;
                            polling_ok = false;
                            tracing::info!("Salesforce streaming is back; polling stopped");
                        }
                        if news.send(StreamNews::Connected).await.is_err() {
                            return;
                        }
                    }
                    Err(error) => {
                        if !self
                            .stream_failed(
                                &mut failures,
                                &error,
                                &news,
                                &mut polling_ok,
                                &mut polled,
                            )
                            .await
                        {
                            return;
                        }
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
                            if let Err(error) =
                                positions.save_replay_position(topic_of(&channel), replay_id)
                            {
                                tracing::warn!("streaming position not saved: {error}");
                            }
                        }
                    }
                }
                Err(error) => {
                    self.client_id = None;
                    if !self
                        .stream_failed(&mut failures, &error, &news, &mut polling_ok, &mut polled)
                        .await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// After a failed handshake or connect: says so (unless the polls stand in) and waits the
    /// backoff ([`crate::retry::STREAM`]), polling meanwhile once failures have repeated.
    /// `false` when the owner is gone.
    async fn stream_failed(
        &mut self,
        failures: &mut Backoff,
        error: &SyncError,
        news: &mpsc::Sender<StreamNews>,
        polling_ok: &mut bool,
        polled: &mut bool,
    ) -> bool {
        let wait = failures.next_delay(&error.kind());
        if !*polling_ok
            && news
                .send(StreamNews::Lost(error.to_string()))
                .await
                .is_err()
        {
            return false;
        }
        if failures.failures() >= POLL_AFTER_FAILURES && !self.fallback.is_empty() {
            *polled = true;
            self.poll_for(wait, &error.to_string(), news, polling_ok)
                .await;
        } else {
            tokio::time::sleep(wait).await;
        }
        !news.is_closed()
    }
}
