//! The one async driver: a `select!` loop around the engine (the shape of mini-redis's
//! `run`: it takes its shutdown from the caller). Inputs come from the handle (the shell or the
//! agent binary), from the start-up and sign-ins, from the effects' tasks and from the
//! Salesforce stream; the engine's effects go out to the connectors as tracked tasks whose
//! outcomes come back as inputs (see `effects.rs`: a task that panics or does not answer within
//! [`EFFECT_DEADLINE`] is reported to the engine as a failure; its lane retries, never stuck);
//! the stream and the outbox's delivery are restarted if they ever end. Time is tokio's clock,
//! so paused-time tests can drive it. [`crate::start`] builds it; nothing else does.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use presence_core::{Backoff, Effect, Engine, Failure, Input, Link, SetupNews, Snapshot, UiEffect};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::effects::{send_presence, EffectTasks};
use crate::handle::{Connectors, Phase, Session, SyncHandle};
use crate::outbox::{deliver_forever, STAGED_PRESENCE_MAX_AGE};
use crate::salesforce::SalesforceClient;
use crate::start::{StartError, Started};
use crate::streaming::{StreamNews, Streaming};
use crate::wire::{call_event, controller_log, presence_observation, CallEvent};

pub use crate::effects::EFFECT_DEADLINE;

/// How fast a backlog of call logs drains after an outage (Salesforce counts every call).
pub const OUTBOX_DELIVERIES_PER_SECOND: u32 = 5;

/// Now, on tokio's clock (paused in tests), as the engine takes it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
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
/// (but for notices). Then the sync runs until the engine says `Shutdown`, every handle is
/// dropped, or `shutdown` completes (which quits as the agent's Quit does: logged out first).
pub(crate) fn run(
    mut engine: Engine,
    session: Arc<Session>,
    start_up: impl Future<Output = Result<Started, StartError>>,
    mut news: mpsc::UnboundedReceiver<Input>,
    shutdown: impl Future<Output = ()>,
    effect_deadline: Duration,
) -> (SyncHandle, impl Future<Output = Result<(), StartError>>) {
    let (input_tx, mut input_rx) = mpsc::channel::<Input>(256);
    let (snapshot_tx, snapshot_rx) = watch::channel(engine.snapshot());
    let (ui_tx, _) = broadcast::channel(64);
    let handle = SyncHandle {
        inputs: input_tx,
        snapshots: snapshot_rx,
        ui: ui_tx.clone(),
        session: Some(session.clone()),
    };
    let future = async move {
        // However the sync ends (returned, or its task aborted), waiters learn that it has.
        let _ended = PhaseEndsOnDrop(session.clone());
        let mut shutdown = std::pin::pin!(shutdown);
        let mut held = Vec::new();
        let mut start_up = std::pin::pin!(start_up);
        let started = loop {
            while let Some(effect) = engine.poll_effect() {
                match effect {
                    // Nothing is signed in, so there is nothing to log out of.
                    Effect::Shutdown => return Ok(()),
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
                    engine.handle_input(now(), input);
                    take_news(&mut engine, &mut news);
                }
                result = &mut start_up => match result {
                    Ok(started) => break started,
                    Err(error) => {
                        take_news(&mut engine, &mut news);
                        let reason = error.to_string();
                        engine.handle_input(now(), Input::Setup(SetupNews::CannotRun { reason }));
                        publish(&snapshot_tx, &engine);
                        return Err(error);
                    }
                },
                input = input_rx.recv() => match input {
                    // Quitting before any sign-in: nothing to log out of (L7 needs a link).
                    Some(Input::Quit) | None => return Ok(()),
                    Some(input) => engine.handle_input(now(), input),
                },
                () = &mut shutdown => return Ok(()),
            }
        };
        take_news(&mut engine, &mut news);
        let Started { connectors, data } = started;
        session
            .phase
            .send_replace(Phase::Running(connectors.clone()));
        let mut effects = EffectTasks::new(effect_deadline);
        for effect in held {
            effects.perform(effect, &connectors);
        }
        let channels = Channels {
            snapshots: snapshot_tx,
            ui: ui_tx,
            inputs: input_rx,
            news,
        };
        running(engine, connectors, channels, effects, shutdown).await;
        drop(data);
        Ok(())
    };
    (handle, future)
}

/// Feeds the engine every piece of news waiting now.
fn take_news(engine: &mut Engine, news: &mut mpsc::UnboundedReceiver<Input>) {
    while let Ok(input) = news.try_recv() {
        engine.handle_input(now(), input);
    }
}

/// Marks the sync ended when dropped: on every return of the driver, and when its task is
/// aborted (a waiter on [`SyncHandle::connectors`] would otherwise wait for ever).
struct PhaseEndsOnDrop(Arc<Session>);

impl Drop for PhaseEndsOnDrop {
    fn drop(&mut self) {
        self.0.phase.send_replace(Phase::Ended);
    }
}

/// The driver's ends of the handle's channels, and the news from signing in again.
struct Channels {
    snapshots: watch::Sender<Snapshot>,
    ui: broadcast::Sender<UiEffect>,
    inputs: mpsc::Receiver<Input>,
    news: mpsc::UnboundedReceiver<Input>,
}

/// A long-running part of the sync (the stream, the outbox's delivery): restarted, after a
/// backoff, if it ever ends, since both are meant to run as long as the sync does.
struct Lane {
    name: &'static str,
    /// The running task; `None` between its end and its restart.
    task: Option<JoinHandle<()>>,
    /// When an ended task is started again.
    restart_at: Option<tokio::time::Instant>,
    restarts: Backoff,
}

impl Lane {
    fn new(name: &'static str, task: JoinHandle<()>, seed: u64) -> Self {
        Self {
            name,
            task: Some(task),
            restart_at: None,
            restarts: Backoff::new(crate::retry::STREAM, seed),
        }
    }

    /// Completes when the task has ended (said, with why) and its backoff has passed; then
    /// [`Lane::restarted`] takes the new task. Safe to drop and call again at any point (the
    /// driver's `select!` does): an ended task is never awaited twice.
    async fn due_for_restart(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let why = match task.await {
                Ok(()) => "it returned".to_string(),
                Err(error) => error.to_string(),
            };
            self.task = None;
            let wait = self.restarts.next_delay(&Failure::Transient {
                reason: why.clone(),
            });
            tracing::error!(
                "the {} ended ({why}); restarting it in {} ms",
                self.name,
                wait.as_millis()
            );
            self.restart_at = Some(tokio::time::Instant::now() + wait);
        }
        if let Some(at) = self.restart_at {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Takes the restarted task; `None` (it could not be started) waits another backoff.
    fn restarted(&mut self, task: Option<JoinHandle<()>>) {
        match task {
            Some(task) => {
                self.task = Some(task);
                self.restart_at = None;
            }
            None => {
                let wait = self.restarts.next_delay(&Failure::Transient {
                    reason: "it could not be started".into(),
                });
                tracing::error!(
                    "the {} could not be started; trying again in {} ms",
                    self.name,
                    wait.as_millis()
                );
                self.restart_at = Some(tokio::time::Instant::now() + wait);
            }
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

fn spawn_stream(connectors: &Connectors, news: mpsc::Sender<StreamNews>) -> Option<JoinHandle<()>> {
    let fallback = connectors.salesforce.agent_channels();
    let channels: Vec<String> = fallback.iter().map(|query| query.channel.clone()).collect();
    match Streaming::new(
        (*connectors.salesforce).clone(),
        &channels,
        Some(connectors.outbox.clone()),
    ) {
        Ok(streaming) => Some(tokio::spawn(streaming.with_fallback(fallback).run(news))),
        Err(error) => {
            tracing::warn!("streaming unavailable: {error}");
            None
        }
    }
}

fn spawn_outbox(connectors: &Connectors) -> JoinHandle<()> {
    tokio::spawn(deliver_forever(
        connectors.outbox.clone(),
        connectors.salesforce.clone(),
        OUTBOX_DELIVERIES_PER_SECOND,
    ))
}

/// The sync once signed in: the stream, the outbox's deliveries, and the engine's loop.
async fn running(
    mut engine: Engine,
    connectors: Connectors,
    channels: Channels,
    mut effects: EffectTasks,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) {
    let Channels {
        snapshots,
        ui,
        mut inputs,
        mut news,
    } = channels;
    let seed = crate::retry::seed(&connectors.salesforce.user_id);
    let (stream_tx, mut stream_rx) = mpsc::channel::<StreamNews>(256);
    let mut stream = spawn_stream(&connectors, stream_tx.clone())
        .map(|task| Lane::new("Salesforce stream", task, seed));
    let mut outbox = Lane::new("outbox delivery", spawn_outbox(&connectors), seed);
    send_staged_presence(&connectors).await;
    engine.handle_input(now(), Input::Started);
    // The "not saved to Salesforce" list: read now, and again whenever a row is set aside or
    // queued again.
    let mut set_aside = connectors.outbox.set_aside_changes.subscribe();
    set_aside.mark_changed();
    let mut clocks = (tokio::time::Instant::now(), SystemTime::now());
    let mut drift_check = tokio::time::interval(Duration::from_secs(5));
    let mut quitting = false;
    loop {
        let mut finished = false;
        while let Some(effect) = engine.poll_effect() {
            match effect {
                Effect::Shutdown => finished = true,
                Effect::Ui(effect) => {
                    let _ = ui.send(effect);
                }
                Effect::Diagnostic { message } => tracing::info!("engine: {message}"),
                Effect::LogCall { log } => {
                    // Committed before anything is sent (G4); a failure to save is said, not hidden.
                    if let Err(error) = connectors.outbox.enqueue(&log) {
                        tracing::error!("call log {} could not be saved: {error}", log.key);
                        let _ = ui.send(UiEffect::Notice {
                            text: format!("The call log could not be saved: {error}"),
                        });
                    }
                }
                Effect::RetryCallLog { key } => retry_call_log(&connectors, &ui, &key),
                other => effects.perform(other, &connectors),
            }
        }
        publish(&snapshots, &engine);
        if finished {
            break;
        }
        let deadline = engine.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let stream_ended = async {
            match stream.as_mut() {
                Some(lane) => lane.due_for_restart().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            input = inputs.recv() => match input {
                Some(input) => {
                    if input == Input::Resumed {
                        // Told by the system (logind, the shell): same as detected below.
                        refresh_tokens_first(&connectors);
                    }
                    engine.handle_input(now(), input)
                }
                None => break,
            },
            () = &mut shutdown, if !quitting => {
                // As the agent's Quit: logged out first (L7), then the engine says Shutdown.
                quitting = true;
                engine.handle_input(now(), Input::Quit);
            }
            replies = effects.next() => {
                for reply in replies {
                    engine.handle_input(now(), reply);
                }
            }
            Some(input) = news.recv() => engine.handle_input(now(), input),
            Some(streamed) = stream_rx.recv() => {
                for input in stream_inputs(streamed) {
                    engine.handle_input(now(), input);
                }
            }
            () = stream_ended => {
                if let Some(lane) = stream.as_mut() {
                    lane.restarted(spawn_stream(&connectors, stream_tx.clone()));
                }
            }
            Ok(()) = set_aside.changed() => match connectors.outbox.unsaved_calls() {
                Ok(unsaved) => engine.handle_input(now(), Input::UnsavedCalls(unsaved)),
                Err(error) => tracing::error!("the calls not saved cannot be listed: {error}"),
            },
            () = outbox.due_for_restart() => outbox.restarted(Some(spawn_outbox(&connectors))),
            _ = sleep => engine.handle_timeout(now()),
            _ = drift_check.tick() => {
                // Suspend stops the monotonic clock, not the wall clock: a gap between
                // them means the machine slept, and the sides may have drifted (S7).
                let (mono, wall) = (clocks.0.elapsed(), clocks.1.elapsed().unwrap_or_default());
                if wall > mono + Duration::from_secs(30) {
                    tracing::info!("resumed after about {} s asleep", (wall - mono).as_secs());
                    refresh_tokens_first(&connectors);
                    engine.handle_input(now(), Input::Resumed);
                }
                clocks = (tokio::time::Instant::now(), SystemTime::now());
            }
        }
    }
}

/// The agent's Retry of a call log set aside: queued again, as if new; the list that comes back
/// (the outbox says the rows changed) no longer has it, unless Salesforce refuses it again.
fn retry_call_log(connectors: &Connectors, ui: &broadcast::Sender<UiEffect>, key: &str) {
    match connectors.outbox.requeue(key) {
        Ok(true) => tracing::info!("call log {key} queued again at the agent's request"),
        Ok(false) => tracing::info!("call log {key} was not set aside any more; nothing to retry"),
        Err(error) => {
            tracing::error!("call log {key} could not be queued again: {error}");
            let _ = ui.send(UiEffect::Notice {
                text: format!("The call log could not be queued again: {error}"),
            });
        }
    }
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
                let call = match call_event(&streamed.record) {
                    Some(CallEvent::Offered(offer)) => Some(Input::CallOffered(offer)),
                    Some(CallEvent::Progress {
                        call_id,
                        progress,
                        controller_logs,
                    }) => Some(Input::CallProgress {
                        call_id,
                        progress,
                        controller_logs,
                    }),
                    None => None,
                };
                // The call first, so that the list's line can name how it ended.
                call.into_iter()
                    .chain(controller_log(&streamed.record))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lane_whose_task_ends_is_due_for_restart_after_its_backoff_even_if_interrupted() {
        let mut lane = Lane::new("test lane", tokio::spawn(async {}), 7);
        let started = tokio::time::Instant::now();
        // Interrupted half-way (as a select! does when another branch wins), then awaited again:
        // the ended task is not awaited twice, and the backoff is not started over.
        let interrupted =
            tokio::time::timeout(Duration::from_millis(100), lane.due_for_restart()).await;
        assert!(interrupted.is_err(), "still within the backoff");
        lane.due_for_restart().await;
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(500) && waited <= Duration::from_secs(1),
            "{waited:?}"
        );
        // A restart that fails waits again (no busy loop); one that works runs.
        lane.restarted(None);
        let again = tokio::time::Instant::now();
        lane.due_for_restart().await;
        assert!(again.elapsed() >= waited, "{:?}", again.elapsed());
        lane.restarted(Some(tokio::spawn(std::future::pending())));
        let running = tokio::time::timeout(Duration::from_secs(3600), lane.due_for_restart()).await;
        assert!(running.is_err(), "a running task is not due for restart");
    }
}
