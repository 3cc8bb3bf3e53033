//! What the shell and the agent binary hold of a running sync: the [`SyncHandle`] (send
//! inputs, watch snapshots, hear UI effects, sign in again) and the clients it runs on.

use std::sync::{Arc, Mutex};

use presence_core::{Input, Link, SetupNews, Snapshot, UiEffect};
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};

use crate::connect::{sign_in_again, SignInPrompt, SignInTarget};
use crate::error::SyncError;
use crate::graph::GraphClient;
use crate::outbox::Outbox;
use crate::salesforce::SalesforceClient;
use crate::start::News;

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
pub(crate) enum Phase {
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
    pub(crate) phase: watch::Sender<Phase>,
    /// The links whose sign-in is under way, so that a second request starts no second one.
    signing_in: Mutex<Vec<Link>>,
    /// While the first sign-in waits for the agent to try again (it failed after they were
    /// asked): what wakes it.
    first_sign_in_again: Mutex<Option<tokio::sync::oneshot::Sender<Link>>>,
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
    /// Asks the agent to sign in: through the prompt given to [`crate::start`], and in the
    /// snapshot until the link is signed in.
    pub(crate) fn ask(&self, asked: SignInPrompt) {
        (self.prompt)(&asked);
        let (link, text) = (asked.link(), asked.to_string());
        // The receiver lives as long as the driver; after it ended nobody is left to tell.
        let _ = self
            .news
            .send(Input::Setup(SetupNews::SignInAsked { link, text }));
    }

    /// Tells the engine something from outside the driver (the start-up's news).
    pub(crate) fn tell(&self, input: Input) {
        let _ = self.news.send(input);
    }

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
            first_sign_in_again: Mutex::new(None),
        })
    }

    /// The first sign-in failed after the agent was asked: waits until they ask to sign in
    /// again (the panel's or the tray's "Sign in"), and says to which cloud. `None` if every
    /// handle is gone.
    pub(crate) async fn wait_for_sign_in_again(&self) -> Option<Link> {
        let (wake, woken) = tokio::sync::oneshot::channel();
        if let Ok(mut waiting) = self.first_sign_in_again.lock() {
            *waiting = Some(wake);
        }
        woken.await.ok()
    }

    /// Wakes the first sign-in if it waits for the agent; false if it does not.
    fn sign_in_again_at_start(&self, link: Link) -> bool {
        let waiting = self
            .first_sign_in_again
            .lock()
            .ok()
            .and_then(|mut waiting| waiting.take());
        waiting.is_some_and(|wake| wake.send(link).is_ok())
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
    pub(crate) inputs: mpsc::Sender<Input>,
    pub(crate) snapshots: watch::Receiver<Snapshot>,
    pub(crate) ui: broadcast::Sender<UiEffect>,
    /// `None` for a sync that never started ([`crate::cannot_start`]).
    pub(crate) session: Option<Arc<Session>>,
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
    /// engine is told. Before the sync runs, when the first sign-in failed after the agent was
    /// asked (timed out in the browser, the network gone): the first sign-in starts over, and
    /// this returns at once (the snapshot tells how it goes).
    pub async fn sign_in_again(&self, link: Link) -> Result<(), SignInAgainError> {
        let session = self
            .session
            .as_ref()
            .ok_or(SignInAgainError::NotConnected)?;
        let connectors = match &*session.phase.borrow() {
            Phase::Running(connectors) => connectors.clone(),
            Phase::Starting if session.sign_in_again_at_start(link) => return Ok(()),
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
        let prompt = |asked: SignInPrompt| session.ask(asked);
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
