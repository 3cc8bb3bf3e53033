//! The one async driver: a `select!` loop around the engine. Inputs come from the handle (the
//! shell or the agent binary), from connector results and from the Salesforce stream; the
//! engine's effects go out to the connectors as tasks whose outcomes come back as inputs.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use presence_core::{
    Effect, EffectId, Engine, Failure, Input, Link, Outcome, PresenceWrite, Snapshot, UiEffect,
};
use tokio::sync::{broadcast, mpsc, watch};

use crate::error::SyncError;
use crate::graph::GraphClient;
use crate::outbox::{deliver_forever, Outbox, STAGED_PRESENCE_MAX_AGE};
use crate::salesforce::SalesforceClient;
use crate::streaming::{FallbackQuery, StreamNews, Streaming};
use crate::wire::{call_event, presence_observation, CallEvent, CALL_FIELDS, PRESENCE_FIELDS};

/// How fast a backlog of call logs drains after an outage (Salesforce counts every call).
pub const OUTBOX_DELIVERIES_PER_SECOND: u32 = 5;

/// The clients the driver talks through.
#[derive(Debug, Clone)]
pub struct Connectors {
    pub graph: Arc<GraphClient>,
    pub salesforce: Arc<SalesforceClient>,
    /// Where call logs and the latest presence write wait for Salesforce (durable).
    pub outbox: Arc<Outbox>,
}

/// What the shell holds: send inputs, watch snapshots, receive UI effects.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    inputs: mpsc::Sender<Input>,
    snapshots: watch::Receiver<Snapshot>,
    ui: broadcast::Sender<UiEffect>,
}

impl SyncHandle {
    pub async fn send(&self, input: Input) -> bool {
        self.inputs.send(input).await.is_ok()
    }

    pub fn snapshots(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    pub fn ui_effects(&self) -> broadcast::Receiver<UiEffect> {
        self.ui.subscribe()
    }
}

fn outcome(result: Result<(), SyncError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) => Outcome::Failed(error.kind()),
    }
}

/// Builds the driver. The caller spawns the returned future; it ends when the engine says
/// `Shutdown` or every handle is dropped.
pub fn driver(
    mut engine: Engine,
    connectors: Connectors,
) -> (SyncHandle, impl Future<Output = ()>) {
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(256);
    let (snapshot_tx, snapshot_rx) = watch::channel(engine.snapshot());
    let (ui_tx, _) = broadcast::channel(64);
    let handle = SyncHandle {
        inputs: input_tx.clone(),
        snapshots: snapshot_rx,
        ui: ui_tx.clone(),
    };
    let future = async move {
        let (news_tx, mut news_rx) = mpsc::channel::<StreamNews>(256);
        let user = crate::salesforce::soql_literal(&connectors.salesforce.user_id);
        let presence_channel = format!(
            "/topic/AgentPresence?User__c={}",
            connectors.salesforce.user_id
        );
        let calls_channel = format!(
            "/topic/AgentCalls?User__c={}",
            connectors.salesforce.user_id
        );
        let fallback = vec![
            FallbackQuery {
                channel: presence_channel.clone(),
                object: "Agent_Presence__c".into(),
                fields: PRESENCE_FIELDS.into(),
                filter: format!("User__c = '{user}'"),
            },
            FallbackQuery {
                channel: calls_channel.clone(),
                object: "Agent_Call__c".into(),
                fields: CALL_FIELDS.into(),
                filter: format!("User__c = '{user}'"),
            },
        ];
        let stream_task = match Streaming::new(
            (*connectors.salesforce).clone(),
            &[presence_channel, calls_channel],
            Some(connectors.outbox.clone()),
        ) {
            Ok(streaming) => Some(tokio::spawn(streaming.with_fallback(fallback).run(news_tx))),
            Err(error) => {
                tracing::warn!("streaming unavailable: {error}");
                None
            }
        };
        let outbox_task = tokio::spawn(deliver_forever(
            connectors.outbox.clone(),
            connectors.salesforce.clone(),
            OUTBOX_DELIVERIES_PER_SECOND,
        ));
        send_staged_presence(&connectors).await;
        engine.handle_input(Instant::now(), Input::Started);
        let mut clocks = (Instant::now(), SystemTime::now());
        let mut drift_check = tokio::time::interval(Duration::from_secs(5));
        loop {
            let mut shutdown = false;
            while let Some(effect) = engine.poll_effect() {
                match effect {
                    Effect::Shutdown => shutdown = true,
                    Effect::Ui(ui) => {
                        let _ = ui_tx.send(ui);
                    }
                    Effect::Diagnostic { message } => tracing::info!("engine: {message}"),
                    Effect::LogCall { log } => {
                        // Committed before anything is sent (G4); a failure to save is said, not hidden.
                        if let Err(error) = connectors.outbox.enqueue(&log) {
                            tracing::error!("call log {} could not be saved: {error}", log.key);
                            let _ = ui_tx.send(UiEffect::Notice {
                                text: format!("The call log could not be saved: {error}"),
                            });
                        }
                    }
                    other => perform(other, &connectors, &input_tx),
                }
            }
            snapshot_tx.send_if_modified(|current| {
                let fresh = engine.snapshot();
                let changed = *current != fresh;
                *current = fresh;
                changed
            });
            if shutdown {
                break;
            }
            let deadline = engine.poll_timeout().map(tokio::time::Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = input_rx.recv() => match input {
                    Some(input) => {
                        if input == Input::Resumed {
                            // Told by the system (logind, the shell): same as detected below.
                            refresh_tokens_first(&connectors);
                        }
                        engine.handle_input(Instant::now(), input)
                    }
                    None => break,
                },
                Some(news) = news_rx.recv() => {
                    for input in stream_inputs(news) {
                        engine.handle_input(Instant::now(), input);
                    }
                }
                _ = sleep => engine.handle_timeout(Instant::now()),
                _ = drift_check.tick() => {
                    // Suspend stops the monotonic clock, not the wall clock: a gap between
                    // them means the machine slept, and the sides may have drifted (S7).
                    let (mono, wall) = (clocks.0.elapsed(), clocks.1.elapsed().unwrap_or_default());
                    if wall > mono + Duration::from_secs(30) {
                        tracing::info!("resumed after about {} s asleep", (wall - mono).as_secs());
                        refresh_tokens_first(&connectors);
                        engine.handle_input(Instant::now(), Input::Resumed);
                    }
                    clocks = (Instant::now(), SystemTime::now());
                }
            }
        }
        if let Some(task) = stream_task {
            task.abort();
        }
        outbox_task.abort();
    };
    (handle, future)
}

/// After a sleep: both clouds' tokens are refreshed before their next use, which is the
/// first call the engine makes after [`Input::Resumed`].
fn refresh_tokens_first(connectors: &Connectors) {
    connectors.graph.tokens().refresh_before_next_use();
    connectors.salesforce.tokens().refresh_before_next_use();
}

/// Sends the presence write an earlier run staged but never saw confirmed (it crashed or was
/// killed first), so that the start-up repair finds the agent's last choice in Salesforce.
/// One attempt: if Salesforce cannot be reached it stays staged, and the engine's own writes
/// replace it. A write older than [`STAGED_PRESENCE_MAX_AGE`] is set aside instead.
async fn send_staged_presence(connectors: &Connectors) {
    let staged = match connectors.outbox.staged_presence() {
        Ok(Some(staged)) => staged,
        Ok(None) => return,
        Err(error) => {
            tracing::error!("presence outbox: {error}");
            return;
        }
    };
    let age_ms = chrono::Utc::now().timestamp_millis() - staged.staged_ms;
    if age_ms > STAGED_PRESENCE_MAX_AGE.as_millis() as i64 {
        tracing::warn!(
            "presence {:?} staged {} s ago was never confirmed; too old to send, set aside",
            staged.write.state,
            age_ms / 1000
        );
        let reason = "not confirmed before the app stopped, and too old to send";
        if let Err(error) = connectors.outbox.set_presence_aside(reason) {
            tracing::error!("presence outbox: {error}");
        }
        return;
    }
    match send_presence(connectors, &staged.write).await {
        Ok(()) => tracing::info!(
            "presence {:?} left unconfirmed by the last run sent",
            staged.write.state
        ),
        Err(error) => tracing::warn!("presence left by the last run not sent: {error}"),
    }
}

/// Sends a staged presence write and settles its row: unstaged once Salesforce has it, set
/// aside when refused for good, kept otherwise (the engine retries; a crash before then sends
/// it at the next start).
async fn send_presence(connectors: &Connectors, write: &PresenceWrite) -> Result<(), SyncError> {
    let result = connectors.salesforce.write_presence(write).await;
    let settled = match &result {
        Ok(()) => connectors.outbox.presence_delivered(write.sequence),
        Err(error @ SyncError::Rejected(_)) => connectors
            .outbox
            .set_presence_aside(&format!("Salesforce refused it: {error}")),
        Err(_) => Ok(()),
    };
    if let Err(error) = settled {
        tracing::error!("presence outbox: {error}");
    }
    result
}

/// Turns what the stream said into engine inputs.
fn stream_inputs(news: StreamNews) -> Vec<Input> {
    match news {
        StreamNews::Connected => vec![
            Input::LinkRestored {
                link: Link::Salesforce,
            },
            Input::Resubscribed {
                link: Link::Salesforce,
            },
        ],
        // The polls stand in for the stream: Salesforce works, changes arrive a little later.
        StreamNews::Polling { every, why } => {
            tracing::warn!(
                "Salesforce changes are polled every {} s: {why}",
                every.as_secs()
            );
            vec![Input::LinkRestored {
                link: Link::Salesforce,
            }]
        }
        StreamNews::Lost(reason) => vec![Input::LinkLost {
            link: Link::Salesforce,
            failure: Failure::Transient {
                reason: format!("stream: {reason}"),
            },
        }],
        StreamNews::Record(streamed) => {
            if streamed.channel.starts_with("/topic/AgentPresence") {
                presence_observation(&streamed.record)
                    .map(Input::SalesforceState)
                    .into_iter()
                    .collect()
            } else {
                match call_event(&streamed.record) {
                    Some(CallEvent::Offered(offer)) => vec![Input::CallOffered(offer)],
                    Some(CallEvent::Progress { call_id, progress }) => {
                        vec![Input::CallProgress { call_id, progress }]
                    }
                    None => Vec::new(),
                }
            }
        }
    }
}

fn perform(effect: Effect, connectors: &Connectors, inputs: &mpsc::Sender<Input>) {
    let connectors = connectors.clone();
    let inputs = inputs.clone();
    tokio::spawn(async move {
        let done = |id: EffectId, result: Result<(), SyncError>| Input::EffectDone {
            id,
            outcome: outcome(result),
        };
        let replies: Vec<Input> = match effect {
            Effect::ReadTeams { id } => match connectors.graph.my_presence().await {
                Ok(presence) => vec![Input::TeamsPresence(presence), done(id, Ok(()))],
                Err(error) => vec![done(id, Err(error))],
            },
            Effect::ReadSalesforce { id } => match connectors.salesforce.read_presence().await {
                Ok(observation) => observation
                    .map(Input::SalesforceState)
                    .into_iter()
                    .chain([done(id, Ok(()))])
                    .collect(),
                Err(error) => vec![done(id, Err(error))],
            },
            Effect::WriteTeams { id, target } => {
                vec![done(id, connectors.graph.set_preferred(&target).await)]
            }
            Effect::KeepTeamsSession { id, pair } => {
                vec![done(id, connectors.graph.keep_session(&pair).await)]
            }
            Effect::ReleaseTeams { id } => vec![done(id, connectors.graph.release().await)],
            Effect::WriteSalesforce { id, write } => {
                // Staged before it is sent, so a crash cannot lose the agent's state. (The
                // engine has one Salesforce write in flight at a time, so stagings keep order.)
                if let Err(error) = connectors.outbox.stage_presence(&write) {
                    tracing::error!("presence write could not be staged: {error}");
                }
                vec![done(id, send_presence(&connectors, &write).await)]
            }
            Effect::Heartbeat { id } => vec![done(id, connectors.salesforce.heartbeat().await)],
            Effect::AnswerOffer {
                id,
                call_id,
                answer,
            } => vec![done(
                id,
                connectors.salesforce.answer_offer(&call_id, &answer).await,
            )],
            Effect::UpdateCall {
                id,
                call_id,
                action,
            } => vec![done(
                id,
                connectors.salesforce.update_call(&call_id, action).await,
            )],
            Effect::PlaceCall {
                id,
                call_id,
                number,
            } => vec![done(
                id,
                connectors.salesforce.place_call(&call_id, &number).await,
            )],
            Effect::LookupCaller {
                id,
                call_id,
                digits,
            } => match connectors.salesforce.lookup_caller(&digits).await {
                Ok(caller) => vec![
                    Input::CallerIdentified { call_id, caller },
                    done(id, Ok(())),
                ],
                Err(error) => vec![done(id, Err(error))],
            },
            Effect::LogCall { .. }
            | Effect::Ui(_)
            | Effect::Diagnostic { .. }
            | Effect::Shutdown => Vec::new(),
        };
        for reply in replies {
            if inputs.send(reply).await.is_err() {
                return;
            }
        }
    });
}
