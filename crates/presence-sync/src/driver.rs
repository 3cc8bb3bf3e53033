//! The one async driver: a `select!` loop around the engine. Inputs come from the handle (the
//! shell or the agent binary), from the start-up and sign-ins, from connector results and from
//! the Salesforce stream; the engine's effects go out to the connectors as tasks whose outcomes
//! come back as inputs. [`crate::start`] builds it; nothing else does.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use presence_core::{
    Effect, EffectId, Engine, Failure, Input, Link, Outcome, PresenceWrite, SetupNews, Snapshot,
    UiEffect,
};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};

use crate::connect::{sign_in_again, SignInPrompt, SignInTarget};
use crate::error::SyncError;
use crate::graph::GraphClient;
use crate::outbox::{deliver_forever, Outbox, STAGED_PRESENCE_MAX_AGE};
use crate::salesforce::SalesforceClient;
use crate::start::{News, StartError, Started};
use crate::streaming::{StreamNews, Streaming};
use crate::wire::{call_event, presence_observation, CallEvent};

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

/// Where the sync is in its life, for [`SyncHandle::connectors`].
#[derive(Debug, Clone)]
enum Phase {
    Starting,
    Running(Connectors),
    Ended,
}

/// What signing in again needs, shared by the handles and the driver.
pub(crate) struct Session {
    target: SignInTarget,
    client_id: String,
    news: News,
    prompt: Arc<dyn Fn(&SignInPrompt) + Send + Sync>,
    phase: watch::Sender<Phase>,
    /// The links whose sign-in is under way, so that a second request starts no second one.
    signing_in: Mutex<Vec<Link>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        target: SignInTarget,
        client_id: String,
        news: News,
        prompt: Arc<dyn Fn(&SignInPrompt) + Send + Sync>,
    ) -> Arc<Self> {
        Arc::new(Self {
            target,
            client_id,
            news,
            prompt,
            phase: watch::Sender::new(Phase::Starting),
            signing_in: Mutex::new(Vec::new()),
        })
    }
}

/// Why signing in again did not happen.
#[derive(Debug, Error)]
pub enum SignInAgainError {
    /// The first sign-in has not finished (or the sync could not start).
    #[error("not connected yet")]
    NotConnected,
    /// A sign-in to this link is already under way.
    #[error("the sign-in to {} is already under way", .0.cloud_name())]
    UnderWay(Link),
    /// The sign-in failed; the snapshot says so in place of the request.
    #[error("the sign-in to {} failed: {source}", link.cloud_name())]
    Failed {
        link: Link,
        #[source]
        source: SyncError,
    },
    /// The sync has ended.
    #[error("the sync has stopped")]
    Stopped,
}

/// What the shell holds: send inputs, watch snapshots, receive UI effects, sign in again.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    inputs: mpsc::Sender<Input>,
    snapshots: watch::Receiver<Snapshot>,
    ui: broadcast::Sender<UiEffect>,
    /// `None` for a sync that never started ([`crate::cannot_start`]).
    session: Option<Arc<Session>>,
}

impl SyncHandle {
    /// A handle on a sync that is not running: it shows `snapshot` and takes no input.
    pub(crate) fn stopped(snapshot: Snapshot) -> Self {
        let (inputs, _) = mpsc::channel(1);
        let (_, snapshots) = watch::channel(snapshot);
        let (ui, _) = broadcast::channel(1);
        Self {
            inputs,
            snapshots,
            ui,
            session: None,
        }
    }

    /// Sends an input to the engine; false once the sync has ended.
    pub async fn send(&self, input: Input) -> bool {
        self.inputs.send(input).await.is_ok()
    }

    /// The snapshots, from the first second: the receiver keeps the last one after the end.
    pub fn snapshots(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.clone()
    }

    pub fn ui_effects(&self) -> broadcast::Receiver<UiEffect> {
        self.ui.subscribe()
    }

    /// The clients the sync runs on, once it is signed in; `None` if it ended before that.
    pub async fn connectors(&self) -> Option<Connectors> {
        let mut phase = self.session.as_ref()?.phase.subscribe();
        let seen = phase
            .wait_for(|phase| !matches!(phase, Phase::Starting))
            .await
            .ok()?;
        match &*seen {
            Phase::Running(connectors) => Some(connectors.clone()),
            Phase::Starting | Phase::Ended => None,
        }
    }

    /// Signs in to `link` again while the sync runs (K1: the server refused our tokens and
    /// the link says a sign-in is needed). The prompt given to [`crate::start`] shows what to
    /// do, and so does the snapshot; the running clients take the new tokens over and the
    /// engine is told.
    pub async fn sign_in_again(&self, link: Link) -> Result<(), SignInAgainError> {
        let session = self
            .session
            .as_ref()
            .ok_or(SignInAgainError::NotConnected)?;
        let connectors = match &*session.phase.borrow() {
            Phase::Running(connectors) => connectors.clone(),
            Phase::Starting => return Err(SignInAgainError::NotConnected),
            Phase::Ended => return Err(SignInAgainError::Stopped),
        };
        {
            let mut busy = session
                .signing_in
                .lock()
                .map_err(|_| SignInAgainError::Stopped)?;
            if busy.contains(&link) {
                return Err(SignInAgainError::UnderWay(link));
            }
            busy.push(link);
        }
        let prompt = |asked: SignInPrompt| {
            (session.prompt)(&asked);
            let text = asked.to_string();
            let _ = session
                .news
                .send(Input::Setup(SetupNews::SignInAsked { link, text }));
        };
        let signed_in = sign_in_again(
            &session.target,
            link,
            &connectors,
            &session.client_id,
            prompt,
        )
        .await;
        if let Ok(mut busy) = session.signing_in.lock() {
            busy.retain(|other| *other != link);
        }
        if let Err(source) = signed_in {
            let reason = source.to_string();
            let _ = session
                .news
                .send(Input::Setup(SetupNews::SignInFailed { link, reason }));
            return Err(SignInAgainError::Failed { link, source });
        }
        if self.send(Input::SignedIn { link }).await {
            Ok(())
        } else {
            Err(SignInAgainError::Stopped)
        }
    }
}

fn outcome(result: Result<(), SyncError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) => Outcome::Failed(error.kind()),
    }
}

/// Publishes the engine's snapshot if it changed.
fn publish(snapshots: &watch::Sender<Snapshot>, engine: &Engine) {
    snapshots.send_if_modified(|current| {
        let fresh = engine.snapshot();
        let changed = *current != fresh;
        *current = fresh;
        changed
    });
}

/// Runs the engine from the first second: while `start_up` opens the agent's data and signs
/// in, the engine takes its news and the agent's inputs; its effects wait for the clients
/// (but for notices). Then the sync runs until the engine says `Shutdown` or every handle is
/// dropped.
pub(crate) fn run(
    mut engine: Engine,
    session: Arc<Session>,
    start_up: impl Future<Output = Result<Started, StartError>>,
    mut news: mpsc::UnboundedReceiver<Input>,
) -> (SyncHandle, impl Future<Output = Result<(), StartError>>) {
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(256);
    let (snapshot_tx, snapshot_rx) = watch::channel(engine.snapshot());
    let (ui_tx, _) = broadcast::channel(64);
    let handle = SyncHandle {
        inputs: input_tx.clone(),
        snapshots: snapshot_rx,
        ui: ui_tx.clone(),
        session: Some(session.clone()),
    };
    let future = async move {
        let mut held = Vec::new();
        let start_up = std::pin::pin!(start_up);
        let mut start_up = start_up;
        let started = loop {
            while let Some(effect) = engine.poll_effect() {
                match effect {
                    // Nothing is signed in, so there is nothing to log out of.
                    Effect::Shutdown => {
                        session.phase.send_replace(Phase::Ended);
                        return Ok(());
                    }
                    Effect::Ui(ui) => {
                        let _ = ui_tx.send(ui);
                    }
                    Effect::Diagnostic { message } => tracing::info!("engine: {message}"),
                    other => held.push(other),
                }
            }
            publish(&snapshot_tx, &engine);
            tokio::select! {
                // The start-up's last news (the Call Center) may be sent in the same poll in
                // which it finishes: both ends below take what is left before going on.
                biased;
                Some(input) = news.recv() => {
                    // All the news there is at once: one snapshot for "both links offline".
                    engine.handle_input(Instant::now(), input);
                    while let Ok(input) = news.try_recv() {
                        engine.handle_input(Instant::now(), input);
                    }
                }
                result = &mut start_up => match result {
                    Ok(started) => break started,
                    Err(error) => {
                        while let Ok(input) = news.try_recv() {
                            engine.handle_input(Instant::now(), input);
                        }
                        let reason = error.to_string();
                        engine.handle_input(Instant::now(), Input::Setup(SetupNews::CannotRun { reason }));
                        publish(&snapshot_tx, &engine);
                        session.phase.send_replace(Phase::Ended);
                        return Err(error);
                    }
                },
                input = input_rx.recv() => match input {
                    // Quitting before any sign-in: nothing to log out of (L7 needs a link).
                    Some(Input::Quit) | None => {
                        session.phase.send_replace(Phase::Ended);
                        return Ok(());
                    }
                    Some(input) => engine.handle_input(Instant::now(), input),
                },
            }
        };
        while let Ok(input) = news.try_recv() {
            engine.handle_input(Instant::now(), input);
        }
        let Started { connectors, data } = started;
        session
            .phase
            .send_replace(Phase::Running(connectors.clone()));
        for effect in held {
            perform(effect, &connectors, &input_tx);
        }
        running(
            engine,
            connectors,
            &snapshot_tx,
            &ui_tx,
            &input_tx,
            input_rx,
            news,
        )
        .await;
        session.phase.send_replace(Phase::Ended);
        drop(data);
        Ok(())
    };
    (handle, future)
}

/// The sync once signed in: the stream, the outbox's deliveries, and the engine's loop.
async fn running(
    mut engine: Engine,
    connectors: Connectors,
    snapshot_tx: &watch::Sender<Snapshot>,
    ui_tx: &broadcast::Sender<UiEffect>,
    input_tx: &mpsc::Sender<Input>,
    mut input_rx: mpsc::Receiver<Input>,
    mut news: mpsc::UnboundedReceiver<Input>,
) {
    let (stream_tx, mut stream_rx) = mpsc::channel::<StreamNews>(256);
    let fallback = connectors.salesforce.agent_channels();
    let channels: Vec<String> = fallback.iter().map(|query| query.channel.clone()).collect();
    let stream_task = match Streaming::new(
        (*connectors.salesforce).clone(),
        &channels,
        Some(connectors.outbox.clone()),
    ) {
        Ok(streaming) => Some(tokio::spawn(
            streaming.with_fallback(fallback).run(stream_tx),
        )),
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
                other => perform(other, &connectors, input_tx),
            }
        }
        publish(snapshot_tx, &engine);
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
            Some(input) = news.recv() => engine.handle_input(Instant::now(), input),
            Some(streamed) = stream_rx.recv() => {
                for input in stream_inputs(streamed) {
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
        Err(error @ SyncError::Refused { .. }) => connectors
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
            if SalesforceClient::is_presence_channel(&streamed.channel) {
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
