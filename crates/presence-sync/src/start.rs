//! One way to start an agent's sync: the desktop app, `presence-agent`, the tests and the
//! benchmark all call [`start`]. The engine runs from the first second: while the agent's data
//! is opened and both clouds are signed in (waiting for the network when it is not there), its
//! snapshot already says what is happening (connecting, offline, a sign-in to do, why it cannot
//! run), and what the agent asks for meanwhile is carried out once the clouds answer.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use presence_core::config::{ConfigError, Timing};
use presence_core::{Engine, EngineConfig, Input, Link, SetupNews};
use thiserror::Error;
use tokio::sync::mpsc;

use crate::connect::{
    connect_when_online, secret_store, SignInPrompt, SignInTarget, EMULATOR_CLIENT_ID,
};
use crate::driver;
use crate::error::SyncError;
use crate::handle::{Connectors, Session, SyncHandle};
use crate::local::{AgentData, LocalError};
use crate::outbox::Outbox;
use crate::request::Transport;

/// Where the agent's durable outbox lives.
#[derive(Debug, Clone)]
pub enum Storage {
    /// In the agent's data directory, with its lock (one sync per agent): the default one
    /// (`$XDG_DATA_HOME/presence-bridge`, else `~/.local/share/presence-bridge`) or this one.
    DataDir(Option<PathBuf>),
    /// In this outbox, without a lock (tests that stop and restart an agent on one outbox).
    Outbox(Arc<Outbox>),
}

/// Everything one agent's sync needs to start.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Where to sign in.
    pub target: SignInTarget,
    /// The app's client id at the emulator (also the Graph presence session id there).
    pub client_id: String,
    /// Names this app on its Salesforce writes: `Origin_Client__c` is `{origin}:{agent}`.
    pub origin: String,
    /// The OS keyring service real-cloud refresh tokens are kept under.
    pub keyring_service: String,
    pub storage: Storage,
    /// Timeouts (and resolver) of every client.
    pub transport: Transport,
    /// Longest one effect (a read, a write, a lookup) may take before the engine is told it
    /// failed, whatever hangs (default [`crate::driver::EFFECT_DEADLINE`]).
    pub effect_deadline: std::time::Duration,
    /// The engine's timers and limits (the product's defaults; benchmarks compare others).
    pub timing: Timing,
}

impl SyncOptions {
    /// The options of the product: the default data directory, keyring service and timeouts.
    pub fn new(target: SignInTarget) -> Self {
        Self {
            target,
            client_id: EMULATOR_CLIENT_ID.to_string(),
            origin: "presence-bridge".into(),
            keyring_service: "presence-bridge".into(),
            storage: Storage::DataDir(None),
            transport: Transport::default(),
            effect_deadline: driver::EFFECT_DEADLINE,
            timing: Timing::default(),
        }
    }
}

/// Why a sync could not start. Its snapshot says the same before the handle closes.
#[derive(Debug, Error)]
pub enum StartError {
    /// The data directory could not be used: none known, another sync holds its lock, or the
    /// outbox cannot be opened.
    #[error(transparent)]
    Data(#[from] LocalError),
    /// The sign-in was refused, or failed after the agent was asked to sign in.
    #[error("cannot sign in: {0}")]
    SignIn(#[source] SyncError),
    /// The timing given in [`SyncOptions::timing`] breaks a limit.
    #[error("the timing is refused: {0}")]
    Timing(#[source] ConfigError),
}

/// What the start-up hands to the running sync.
pub(crate) struct Started {
    pub(crate) connectors: Connectors,
    /// Held for as long as the sync runs: the lock of the agent's data directory.
    pub(crate) data: Option<AgentData>,
}

/// News for the engine from the start-up and from signing in again.
pub(crate) type News = mpsc::UnboundedSender<Input>;

/// Starts one agent's sync. The caller spawns the returned future: it opens the agent's data,
/// signs in, then runs the driver until the agent quits (`Ok`), `shutdown` completes (which
/// quits the same way, logging the agent out first, L7) or the start fails (the error, which
/// the last snapshot also shows). `prompt` shows the agent a sign-in to do (the desktop also
/// opens the browser); the snapshot shows it too, until the sign-in is done.
pub fn start(
    options: SyncOptions,
    prompt: impl Fn(&SignInPrompt) + Send + Sync + 'static,
    shutdown: impl Future<Output = ()>,
) -> (SyncHandle, impl Future<Output = Result<(), StartError>>) {
    let agent = options.target.agent().to_string();
    let mut config = EngineConfig::shipped_default();
    config.client_id = format!("{}:{agent}", options.origin);
    config.jitter_seed = crate::retry::seed(&agent);
    let refused_timing = options.timing.validate().err();
    if refused_timing.is_none() {
        config.timing = options.timing.clone();
    }
    let engine = Engine::new(config, Instant::now());
    let (news, news_rx) = mpsc::unbounded_channel();
    let prompt: Arc<dyn Fn(&SignInPrompt) + Send + Sync> = Arc::new(prompt);
    let session = Session::new(
        options.target.clone(),
        options.client_id.clone(),
        news,
        prompt,
    );
    let deadline = options.effect_deadline;
    let start_up = {
        let session = session.clone();
        async move {
            match refused_timing {
                Some(error) => Err(StartError::Timing(error)),
                None => start_up(options, session).await,
            }
        }
    };
    driver::run(engine, session, start_up, news_rx, shutdown, deadline)
}

/// A sync that cannot start because of `reason` (no settings, say): its snapshot says so, and
/// it takes no input.
pub fn cannot_start(reason: String) -> SyncHandle {
    let mut engine = Engine::new(EngineConfig::shipped_default(), Instant::now());
    engine.handle_input(
        Instant::now(),
        Input::Setup(SetupNews::CannotRun { reason }),
    );
    SyncHandle::stopped(engine.snapshot())
}

/// The start-up sequence: the agent's data, the sign-in, the Call Center.
async fn start_up(options: SyncOptions, session: Arc<Session>) -> Result<Started, StartError> {
    let (outbox, data) = match &options.storage {
        Storage::Outbox(outbox) => (outbox.clone(), None),
        Storage::DataDir(dir) => {
            let dir = dir
                .clone()
                .or_else(crate::places::data_dir)
                .ok_or(LocalError::NoDataDir)?;
            let data = AgentData::open(&dir, options.target.agent())?;
            if let Some(aside) = &data.outbox.quarantined {
                let text = format!(
                    "The outbox was damaged and set aside as {}; a new one was started with the {} entries that could still be read",
                    aside.display(),
                    data.outbox.salvaged
                );
                tracing::warn!("{text}");
                session.tell(Input::Setup(SetupNews::Caveat { text }));
            }
            (data.outbox.clone(), Some(data))
        }
    };
    // The links the agent has been asked to sign in to, each once, the latest last. Kept across
    // attempts: once the agent was asked, a later failure is offered to them again too.
    let asked_links = Arc::new(std::sync::Mutex::new(Vec::<Link>::new()));
    let asked = {
        let (session, asked_links) = (session.clone(), asked_links.clone());
        move |asked: SignInPrompt| {
            if let Ok(mut links) = asked_links.lock() {
                links.retain(|link| *link != asked.link());
                links.push(asked.link());
            }
            session.ask(asked)
        }
    };
    let warn = |warning: String| {
        tracing::warn!("{warning}");
        let text = format!("{warning}.");
        session.tell(Input::Setup(SetupNews::Caveat { text }));
    };
    let offline = |error: &SyncError, gap: std::time::Duration| {
        tracing::warn!(
            "offline ({error}); trying again in {:.1} s",
            gap.as_secs_f64()
        );
        for link in Link::ALL {
            let failure = error.kind();
            session.tell(Input::LinkLost { link, failure });
        }
    };
    // One store for every attempt: a cloud signed in before the other failed resumes from it.
    let secrets = secret_store(&options.target, &options.keyring_service, warn);
    let connectors = loop {
        let attempt = connect_when_online(
            &options,
            outbox.clone(),
            secrets.clone(),
            asked.clone(),
            &offline,
        )
        .await;
        let asked_last = asked_links
            .lock()
            .ok()
            .and_then(|links| links.last().copied());
        match (attempt, asked_last) {
            (Ok(connectors), _) => break connectors,
            // Refused before anything was asked of the agent (a bad client id, say): final.
            (Err(error), None) => return Err(StartError::SignIn(error)),
            // A sign-in the agent was asked for failed (timed out in the browser, the network
            // gone, cancelled): offered again in the panel and the tray, never final.
            (Err(error), Some(link)) => {
                let reason = error.to_string();
                tracing::warn!("the sign-in to {} failed: {reason}", link.cloud_name());
                session.tell(Input::Setup(SetupNews::SignInFailed { link, reason }));
                session.tell(Input::LinkLost {
                    link,
                    failure: presence_core::Failure::Unauthorized,
                });
                match session.wait_for_sign_in_again().await {
                    Some(chosen) => tracing::info!(
                        "signing in again, as the agent asked (from the {} link)",
                        chosen.name()
                    ),
                    None => return Err(StartError::SignIn(error)),
                }
            }
        }
    };
    // Each sign-in the agent was asked for is done: its request (or failure) leaves the snapshot.
    for link in asked_links
        .lock()
        .map(|links| links.clone())
        .unwrap_or_default()
    {
        session.tell(Input::SignedIn { link });
    }
    match connectors.salesforce.load_call_center().await {
        Ok(call_center) => session.tell(Input::Setup(SetupNews::CallCenter(Box::new(call_center)))),
        Err(error) => {
            let text = format!("Using the shipped Call Center configuration: {error}");
            tracing::warn!("{text}");
            session.tell(Input::Setup(SetupNews::Caveat { text }));
        }
    }
    Ok(Started { connectors, data })
}
