//! The engine: one agent's presence, calls and links, driven by inputs and time.
//!
//! The engine holds what it believes each side shows (the Teams and Salesforce mirrors) and the
//! state it has decided the agent is in (`current`). Every input or timeout ends in
//! [`Engine::reconcile`], which writes each side that differs, one write per side at a time,
//! always the latest desired value (never a queue of stale ones). Observations are compared with
//! what we believe and what we wrote, so an echo of our own write is never a change (S4).
//!
//! The state lives in parts that change together, each in its own file with the rules it
//! carries out (the quinn-proto shape):
//! - [`timers`]: the one timer table that `handle_timeout` and `poll_timeout` both read.
//! - [`effects`]: effects waiting to be polled, and what each one in flight was for.
//! - [`presence`]: the agent's state, picks, and reconciling both sides with it.
//! - [`teams`]: the Teams mirror: readings, echo memory, debounce, the write lane, the session.
//! - [`salesforce`]: the Salesforce mirror: what it shows, our sequence, the write lane.
//! - [`repair`]: reading both sides and converging them (S7, L6).
//! - [`links`]: link health (K1), cool-downs, and what a connector's outcome means.
//! - [`calls`]: calls offered, rung, answered and ended; call logs; blocked and recent calls.
//! - [`call_writes`]: `Agent_Call__c` writes and their bounded retries.
//! - [`wrap_up`]: wrap-up after the last answered call (W1 to W3).
//! - [`quit`]: logging out on quit (L7).
//! - [`setup`]: sign-in requests, caveats and why the sync cannot run, for the snapshot.
//! - [`view`]: the snapshot that tray and panel render.

mod call_writes;
mod calls;
mod effects;
mod links;
mod pace;
mod presence;
mod quit;
mod repair;
mod salesforce;
mod setup;
mod teams;
mod timers;
mod unsaved;
mod view;
mod wrap_up;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::config::{CallCenter, CallCenterConfig, ConfigError, Timing};
use crate::io::{Effect, Input, Link};
use crate::retry::{Jitter, RetryPolicy};
use crate::snapshot::Snapshot;

use self::calls::Calls;
use self::effects::EffectQueue;
use self::links::Links;
use self::presence::Current;
use self::quit::Quit;
use self::repair::Repair;
use self::salesforce::SalesforceMirror;
use self::setup::Setup;
use self::teams::TeamsMirror;
use self::timers::{Timer, TimerTable};
use self::wrap_up::WrapUp;

/// Everything the engine needs to start.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub call_center: CallCenter,
    pub timing: Timing,
    /// This app's client id: `Origin_Client__c` on our Salesforce writes.
    pub client_id: String,
    /// Seed of the retry jitter; pass something that differs between agents.
    pub jitter_seed: u64,
}

impl EngineConfig {
    /// Builds a configuration after checking the timing.
    pub fn new(
        call_center: CallCenter,
        timing: Timing,
        client_id: impl Into<String>,
        jitter_seed: u64,
    ) -> Result<Self, ConfigError> {
        timing.validate()?;
        Ok(Self {
            call_center,
            timing,
            client_id: client_id.into(),
            jitter_seed,
        })
    }

    /// The shipped Call Center configuration with default timing.
    pub fn shipped_default() -> Self {
        Self {
            call_center: CallCenterConfig::shipped_default(),
            timing: Timing::default(),
            client_id: "presence-bridge".into(),
            jitter_seed: 0x5EED,
        }
    }
}

/// Presence state for one agent, driven by inputs and time; performs no I/O.
/// After every `handle_*` call, drain [`Engine::poll_effect`] and re-read
/// [`Engine::poll_timeout`].
#[derive(Debug)]
pub struct Engine {
    cc: CallCenter,
    timing: Timing,
    client_id: String,
    policy: RetryPolicy,
    jitter: Jitter,
    /// The latest time we were told; never goes back.
    now: Instant,
    timers: TimerTable,
    effects: EffectQueue,

    /// The state the agent is in, once known, and who set it.
    current: Option<Current>,
    /// The last change of state or call: the Teams poll is fast for a while after it.
    last_activity: Instant,
    teams: TeamsMirror,
    salesforce: SalesforceMirror,
    /// Both sides being read, to converge them once both readings are in.
    repair: Option<Repair>,
    links: Links,
    calls: Calls,
    wrap_up: WrapUp,
    quit: Quit,
    setup: Setup,
    /// The call logs the outbox set aside, as last read (the "not saved to Salesforce" list).
    unsaved: unsaved::Unsaved,
    /// Unknown Teams values already reported once.
    logged_unrecognised: HashSet<String>,
}

impl Engine {
    /// An engine that knows nothing yet; send [`Input::Started`] to read both sides. Before
    /// that (while the clouds are signed in) it takes [`Input::Setup`] news for its snapshot.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let timing = config.timing;
        let policy = RetryPolicy {
            base: Timing::ms(timing.retry_base_ms),
            cap: Timing::ms(timing.retry_cap_ms),
            retry_after_floor: Duration::from_secs(1),
            retry_after_cap: Timing::ms(timing.retry_after_cap_ms),
        };
        let mut timers = TimerTable::default();
        timers.set(
            Timer::TeamsPoll,
            now + Timing::ms(timing.teams_poll_active_ms),
        );
        timers.set(Timer::DriftRepair, now + Timing::ms(timing.drift_repair_ms));
        timers.set(Timer::Heartbeat, now + Timing::ms(timing.heartbeat_ms));
        Self {
            cc: config.call_center,
            client_id: config.client_id,
            policy,
            jitter: Jitter::new(config.jitter_seed),
            now,
            timers,
            effects: EffectQueue::default(),
            current: None,
            last_activity: now,
            teams: TeamsMirror::default(),
            salesforce: SalesforceMirror::default(),
            repair: None,
            links: Links::connecting(),
            calls: Calls::default(),
            wrap_up: WrapUp::default(),
            quit: Quit::default(),
            setup: Setup::default(),
            unsaved: unsaved::Unsaved::default(),
            logged_unrecognised: HashSet::new(),
            timing,
        }
    }

    /// The validated Call Center configuration in use.
    pub fn call_center(&self) -> &CallCenter {
        &self.cc
    }

    /// Takes in something that happened at `now`, then reconciles both sides with the result.
    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Started => {
                self.setup.started = true;
                self.start_repair();
            }
            Input::Resumed => self.on_resumed(),
            Input::Resubscribed {
                link: Link::Salesforce,
            } => self.read_salesforce_again(),
            Input::Resubscribed { link: Link::Teams } => self.start_repair(),
            Input::TeamsPresence(presence) => self.on_teams(presence),
            Input::SalesforceState(observation) => self.on_salesforce(observation),
            Input::User(intent) => self.on_user(intent),
            Input::CallOffered(offer) => self.on_call_offered(offer),
            Input::CallProgress {
                call_id,
                progress,
                controller_logs,
            } => self.on_call_progress(&call_id, progress, controller_logs),
            Input::CallerIdentified { call_id, caller } => self.on_caller(&call_id, caller),
            Input::EffectDone { id, outcome } => self.on_effect_done(id, outcome),
            Input::LinkLost { link, failure } => self.link_failed(link, &failure),
            Input::LinkRestored { link } => self.link_succeeded(link),
            Input::SignedIn { link } => {
                self.setup.signed_in(link);
                self.link_succeeded(link);
            }
            Input::Quit => self.on_quit(),
            Input::Setup(news) => self.on_setup(news),
            Input::UnsavedCalls(unsaved) => self.on_unsaved_calls(unsaved),
            Input::ControllerLog {
                call_id,
                number,
                at,
                reason,
            } => self.on_controller_log(call_id, &number, &at, reason),
        }
        self.reconcile();
    }

    /// Fires every timer whose deadline has come by `now`, in the order of [`Timer::ALL`],
    /// then reconciles both sides.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        for timer in Timer::ALL {
            if self.timers.take_due(timer, self.now) {
                self.on_timer(timer);
            }
        }
        self.reconcile();
    }

    /// The next thing the edges must do, oldest first.
    #[must_use]
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop()
    }

    /// When to call [`Engine::handle_timeout`] next: the earliest timer, or `None` once the
    /// engine has asked to shut down.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.quit.shutdown_sent {
            return None;
        }
        self.timers.next()
    }

    /// What tray and panel render now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.view()
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::QuitGrace => self.quit_grace_over(),
            Timer::TeamsSettle => self.teams_change_settled(),
            Timer::WrapUp => self.wrap_up_over(),
            Timer::TeamsPoll => self.poll_teams(),
            Timer::DriftRepair => self.start_repair(),
            Timer::Heartbeat => self.heartbeat(),
            Timer::TeamsKeepalive => {
                if self.teams.holding {
                    self.keep_session();
                }
            }
            Timer::CallRetry => self.retry_due_call_writes(),
            // These only hold something back until they pass; `reconcile` does the rest.
            Timer::TeamsWriteRetry
            | Timer::SalesforceWriteRetry
            | Timer::TeamsCooldown
            | Timer::SalesforceCooldown => {}
        }
    }

    fn diagnostic(&mut self, message: String) {
        self.effects.push(Effect::Diagnostic { message });
    }

    fn notice(&mut self, text: String) {
        self.effects
            .push(Effect::Ui(crate::io::UiEffect::Notice { text }));
    }
}
