//! The engine: one agent's presence, calls and links, driven by inputs and time.
//!
//! The engine holds what it believes each side shows (`teams_known`, `salesforce_known`) and
//! the state it has decided the agent is in (`current`). Every change of `current` is followed
//! by [`Engine::reconcile`], which writes each side that differs, one write per side at a time,
//! always the latest desired value (never a queue of stale ones). Observations are compared with
//! what we believe and what we wrote, so an echo of our own write is never a change (S4).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::calls::{
    display_text, gate_inbound, phone_digits, CallKind, CallOffer, CallProgress, CallerMatch,
    OfferAnswer,
};
use crate::class::{appearance, PresenceClass};
use crate::config::{CallCenter, CallCenterConfig, ConfigError, PresenceStateDef, Timing};
use crate::io::{
    CallAction, CallLog, CallType, Effect, EffectId, Input, Link, Outcome, Picker, PresenceWrite,
    SalesforceObservation, Source, UiEffect, UserIntent,
};
use crate::retry::{Failure, Jitter, RetryPolicy};
use crate::snapshot::{
    BlockedCall, CallPhase, CallRecord, CallView, LinkState, LinkView, Snapshot, StateChoice,
    WrapUpView,
};
use crate::teams::{sequence_is_newer, Activity, Availability, TeamsPair, TeamsPresence};

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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Current {
    label: String,
    source: Source,
}

/// What an effect in flight was for.
#[derive(Debug, Clone)]
enum Pending {
    ReadTeams,
    ReadSalesforce,
    WriteTeams(TeamsPair),
    KeepSession,
    ReleaseTeams,
    WriteSalesforce(SalesforceValue),
    Heartbeat,
    CallEffect(CallEffect),
}

impl Pending {
    fn link(&self) -> Link {
        match self {
            Pending::ReadTeams
            | Pending::WriteTeams(_)
            | Pending::KeepSession
            | Pending::ReleaseTeams => Link::Teams,
            _ => Link::Salesforce,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SalesforceValue {
    state: String,
    out_of_office: bool,
}

/// A call-related write that is retried while its call still matters.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CallEffect {
    Answer {
        call_id: String,
        answer: OfferAnswer,
    },
    Update {
        call_id: String,
        action: CallAction,
    },
    Place {
        call_id: String,
        number: String,
    },
    Lookup {
        call_id: String,
        digits: String,
    },
}

impl CallEffect {
    fn call_id(&self) -> &str {
        match self {
            CallEffect::Answer { call_id, .. }
            | CallEffect::Update { call_id, .. }
            | CallEffect::Place { call_id, .. }
            | CallEffect::Lookup { call_id, .. } => call_id,
        }
    }
}

/// One side's write lane: at most one write in flight, and a retry time after a failure.
#[derive(Debug, Default)]
struct Lane {
    in_flight: Option<EffectId>,
    retry_at: Option<Instant>,
    attempts: u32,
}

impl Lane {
    fn ready(&self, now: Instant) -> bool {
        self.in_flight.is_none() && self.retry_at.is_none_or(|at| at <= now)
    }
}

#[derive(Debug)]
struct LinkHealth {
    state: LinkState,
    consecutive_failures: u32,
}

#[derive(Debug, Default)]
struct Repair {
    /// Started because the agent just chose a state (L6): that choice is the latest change,
    /// so the reads only tell what each side shows, and nothing read is adopted.
    keep_current: bool,
    teams: Option<TeamsPresence>,
    salesforce: Option<SalesforceObservation>,
    teams_done: bool,
    salesforce_done: bool,
}

#[derive(Debug, Clone)]
struct ActiveCall {
    call_id: String,
    kind: CallKind,
    number: String,
    to_number: String,
    caller: Option<CallerMatch>,
    outbound: bool,
    ringing: bool,
    answered_at: Option<Instant>,
    call_waiting: bool,
}

#[derive(Debug, Clone)]
struct WrapUp {
    until: Instant,
    return_to: Current,
}

#[derive(Debug, Clone)]
struct PendingTeamsChange {
    presence: TeamsPresence,
    due: Instant,
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
    now: Instant,
    next_id: u64,
    effects: VecDeque<Effect>,
    pending: HashMap<EffectId, Pending>,

    current: Option<Current>,
    /// Outlook out of office, as Teams reports it.
    out_of_office: bool,
    teams_seen: Option<TeamsPresence>,
    teams_seen_at: Option<Instant>,
    /// The Teams value we believe is in force (observed, or our acknowledged write).
    teams_known: Option<TeamsPair>,
    /// Values Teams may still report for a while after our write, because it lags (S4).
    teams_stale: Vec<(TeamsPair, Instant)>,
    /// Values we wrote to Teams recently: seeing one is an echo, never a change (S4).
    teams_ours: Vec<(TeamsPair, Instant)>,
    teams_written_at: Option<Instant>,
    /// Graph's `sequenceNumber` when we last wrote: a reading stamped later is news, not lag.
    teams_sequence_at_write: Option<String>,
    teams_last_sequence: Option<String>,
    teams_pending_change: Option<PendingTeamsChange>,
    /// Set on logging back in: the next Teams reading shows what Teams computed on its own
    /// while we held nothing, which is a baseline to write over, not a change (L6).
    teams_baseline_pending: bool,
    last_teams_adoption: Option<Instant>,
    salesforce_known: Option<String>,
    salesforce_known_ooo: Option<bool>,
    sequence: u64,
    teams_lane: Lane,
    salesforce_lane: Lane,
    /// A preferred presence of ours may be in force in Teams, so the session must stay alive.
    holding_teams: bool,
    session_alive: bool,
    keepalive_at: Option<Instant>,
    teams_poll_at: Instant,
    teams_read_in_flight: bool,
    salesforce_read_in_flight: bool,
    last_activity: Instant,
    drift_repair_at: Instant,
    heartbeat_at: Instant,
    repair: Option<Repair>,
    /// Salesforce must be read again once the read or repair under way ends.
    salesforce_reread: bool,
    links: [LinkHealth; 2],
    /// Per link: no request before this time (a server's `Retry-After`, shared by every task).
    cooldown_until: [Option<Instant>; 2],

    calls: Vec<ActiveCall>,
    finished_calls: VecDeque<String>,
    recent_calls: VecDeque<CallRecord>,
    blocked_calls: VecDeque<BlockedCall>,
    state_before_call: Option<Current>,
    changed_during_call: bool,
    wrap_up: Option<WrapUp>,
    call_retries: Vec<(Instant, u32, CallEffect)>,

    quitting: Option<Instant>,
    shutdown_sent: bool,
    logged_unrecognised: HashSet<String>,
}

const CALL_EFFECT_ATTEMPTS: u32 = 5;
const FINISHED_CALLS_KEPT: usize = 256;

impl Engine {
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let timing = config.timing;
        let policy = RetryPolicy {
            base: Timing::ms(timing.retry_base_ms),
            cap: Timing::ms(timing.retry_cap_ms),
            retry_after_floor: Duration::from_secs(1),
            retry_after_cap: Timing::ms(timing.retry_after_cap_ms),
        };
        let connecting = || LinkHealth {
            state: LinkState::Degraded {
                reason: "connecting".into(),
            },
            consecutive_failures: 0,
        };
        Self {
            cc: config.call_center,
            client_id: config.client_id,
            policy,
            jitter: Jitter::new(config.jitter_seed),
            now,
            next_id: 1,
            effects: VecDeque::new(),
            pending: HashMap::new(),
            current: None,
            out_of_office: false,
            teams_seen: None,
            teams_seen_at: None,
            teams_known: None,
            teams_stale: Vec::new(),
            teams_ours: Vec::new(),
            teams_written_at: None,
            teams_sequence_at_write: None,
            teams_last_sequence: None,
            teams_pending_change: None,
            teams_baseline_pending: false,
            last_teams_adoption: None,
            salesforce_known: None,
            salesforce_known_ooo: None,
            sequence: 0,
            teams_lane: Lane::default(),
            salesforce_lane: Lane::default(),
            holding_teams: false,
            session_alive: false,
            keepalive_at: None,
            teams_poll_at: now + Timing::ms(timing.teams_poll_active_ms),
            teams_read_in_flight: false,
            salesforce_read_in_flight: false,
            last_activity: now,
            drift_repair_at: now + Timing::ms(timing.drift_repair_ms),
            heartbeat_at: now + Timing::ms(timing.heartbeat_ms),
            repair: None,
            salesforce_reread: false,
            links: [connecting(), connecting()],
            cooldown_until: [None, None],
            calls: Vec::new(),
            finished_calls: VecDeque::new(),
            recent_calls: VecDeque::new(),
            blocked_calls: VecDeque::new(),
            state_before_call: None,
            changed_during_call: false,
            wrap_up: None,
            call_retries: Vec::new(),
            quitting: None,
            shutdown_sent: false,
            logged_unrecognised: HashSet::new(),
            timing,
        }
    }

    /// The validated Call Center configuration in use.
    pub fn call_center(&self) -> &CallCenter {
        &self.cc
    }

    // ----------------------------------------------------------------------------------------
    // The sans-IO interface

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        self.now = self.now.max(now);
        match input {
            Input::Started => self.start_repair(),
            Input::Resumed => self.on_resumed(),
            Input::Resubscribed {
                link: Link::Salesforce,
            } => self.read_salesforce_again(),
            Input::Resubscribed { link: Link::Teams } => self.start_repair(),
            Input::TeamsPresence(presence) => self.on_teams(presence),
            Input::SalesforceState(observation) => self.on_salesforce(observation),
            Input::User(intent) => self.on_user(intent),
            Input::CallOffered(offer) => self.on_call_offered(offer),
            Input::CallProgress { call_id, progress } => self.on_call_progress(&call_id, progress),
            Input::CallerIdentified { call_id, caller } => self.on_caller(&call_id, caller),
            Input::EffectDone { id, outcome } => self.on_effect_done(id, outcome),
            Input::LinkLost { link, failure } => self.link_failed(link, &failure),
            Input::LinkRestored { link } | Input::SignedIn { link } => self.link_succeeded(link),
            Input::Quit => self.on_quit(),
        }
        self.reconcile();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let now = self.now;
        if let Some(deadline) = self.quitting {
            if now >= deadline && !self.shutdown_sent {
                self.shutdown_sent = true;
                self.effects.push_back(Effect::Shutdown);
            }
        }
        if let Some(change) = &self.teams_pending_change {
            if change.due <= now {
                let presence = change.presence.clone();
                self.teams_pending_change = None;
                self.adopt_teams(&presence);
            }
        }
        if let Some(wrap_up) = &self.wrap_up {
            if wrap_up.until <= now {
                let back = wrap_up.return_to.clone();
                self.wrap_up = None;
                self.set_current(&back.label, Source::WrapUpTimer);
            }
        }
        if self.teams_poll_at <= now {
            self.poll_teams();
        }
        if self.drift_repair_at <= now {
            self.start_repair();
        }
        if self.heartbeat_at <= now {
            self.heartbeat_at = now + Timing::ms(self.timing.heartbeat_ms);
            if self.link_open(Link::Salesforce) {
                self.emit_tracked(Pending::Heartbeat, |id| Effect::Heartbeat { id });
            }
        }
        if self.keepalive_at.is_some_and(|at| at <= now) {
            self.keepalive_at = None;
            if self.holding_teams {
                self.keep_session();
            }
        }
        let due: Vec<(u32, CallEffect)> = {
            let (due, later): (Vec<_>, Vec<_>) = self
                .call_retries
                .drain(..)
                .partition(|(at, _, _)| *at <= now);
            self.call_retries = later;
            due.into_iter()
                .map(|(_, attempt, effect)| (attempt, effect))
                .collect()
        };
        for (attempt, effect) in due {
            self.send_call_effect(effect, attempt);
        }
        self.reconcile();
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |current: Instant| current.min(at)));
            }
        };
        if self.shutdown_sent {
            return None;
        }
        consider(self.quitting);
        consider(Some(self.teams_poll_at));
        consider(Some(self.drift_repair_at));
        consider(Some(self.heartbeat_at));
        consider(self.keepalive_at.filter(|_| self.holding_teams));
        consider(self.teams_lane.retry_at);
        consider(self.salesforce_lane.retry_at);
        consider(self.teams_pending_change.as_ref().map(|change| change.due));
        consider(self.wrap_up.as_ref().map(|wrap_up| wrap_up.until));
        for cooldown in self.cooldown_until {
            consider(cooldown.filter(|until| *until > self.now));
        }
        for (at, _, _) in &self.call_retries {
            consider(Some(*at));
        }
        next
    }

    pub fn snapshot(&self) -> Snapshot {
        let state = self.current_state();
        let base_class = state.map_or(PresenceClass::Unknown, |state| state.class);
        // Ringing shows over every state but Logout (no call is signalled there).
        let ringing =
            self.calls.iter().any(|call| call.ringing) && base_class != PresenceClass::LoggedOut;
        let shown_ooo = self.out_of_office && base_class != PresenceClass::LoggedOut;
        let look = appearance(base_class, shown_ooo);
        let (class, label, icon) = if ringing {
            (
                PresenceClass::Busy,
                "Ringing".to_string(),
                appearance(PresenceClass::Busy, false).icon,
            )
        } else {
            let label = match (state, look.overlay_label) {
                // The display-only "Out of Office" state shows its own label.
                (Some(state), Some(_)) if is_out_of_office_state(state) => state.label.clone(),
                (_, Some(overlay)) => overlay.to_string(),
                (Some(state), None) => state.label.clone(),
                (None, None) => "Unknown".to_string(),
            };
            (base_class, label, look.icon)
        };
        let source = self.current.as_ref().map(|current| current.source);
        let mut source_text = source.map_or("not yet known", Source::describe).to_string();
        if ringing {
            // The ringing is not where the state was set: say what rings, and what lies under it.
            let under = state.map_or("Unknown", |state| state.label.as_str());
            source_text = format!("incoming call; {under}, {source_text}");
        }
        let links: Vec<LinkView> = [Link::Teams, Link::Salesforce]
            .into_iter()
            .map(|link| LinkView {
                link,
                state: self.links[link_index(link)].state.clone(),
            })
            .collect();
        let mut tooltip = format!("{label} ({source_text})");
        for view in &links {
            let name = match view.link {
                Link::Teams => "Teams",
                Link::Salesforce => "Salesforce",
            };
            match &view.state {
                LinkState::Connected => {}
                LinkState::Degraded { reason } => {
                    tooltip.push_str(&format!("\n{name}: degraded, {reason}"));
                }
                LinkState::Disconnected { reason, .. } => {
                    tooltip.push_str(&format!("\n{name}: disconnected, {reason}"));
                }
            }
        }
        let logged_out = base_class == PresenceClass::LoggedOut;
        if logged_out {
            tooltip.push_str("\nNo connection to Teams");
        }
        let selected = self.current.as_ref().map(|current| current.label.as_str());
        let choices = self
            .cc
            .selectable()
            .map(|choice| StateChoice {
                label: choice.label.clone(),
                class: choice.class,
                icon: appearance(choice.class, false).icon,
                selected: selected.is_some_and(|label| label.eq_ignore_ascii_case(&choice.label)),
            })
            .collect();
        let calls = self
            .calls
            .iter()
            .map(|call| CallView {
                call_id: call.call_id.clone(),
                kind: call.kind,
                phase: if call.answered_at.is_some() {
                    CallPhase::Connected
                } else if call.outbound {
                    CallPhase::Dialling
                } else {
                    CallPhase::Ringing
                },
                number: call.number.clone(),
                caller: call.caller.clone(),
                call_waiting: call.call_waiting,
            })
            .collect();
        let outbound_refusal = self.outbound_refusal();
        Snapshot {
            class,
            label,
            state: state.map(|state| state.label.clone()),
            icon,
            out_of_office: look.shows_out_of_office,
            source,
            source_text,
            badge: links.iter().any(|view| !view.state.is_connected()),
            tooltip,
            links,
            no_connection_to_teams: logged_out,
            choices,
            calls,
            outbound_allowed: outbound_refusal.is_none(),
            outbound_refusal,
            wrap_up: self.wrap_up.as_ref().map(|wrap_up| WrapUpView {
                remaining_ms: wrap_up
                    .until
                    .saturating_duration_since(self.now)
                    .as_millis() as u64,
                extend_seconds: self.cc.settings().wrap_up_extend_seconds,
            }),
            recent_calls: self.recent_calls.iter().cloned().collect(),
            blocked_calls: self.blocked_calls.iter().cloned().collect(),
            teams_presence: self.teams_seen.clone(),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Presence

    fn current_state(&self) -> Option<&PresenceStateDef> {
        self.current
            .as_ref()
            .and_then(|current| self.cc.state(&current.label))
    }

    fn current_class(&self) -> PresenceClass {
        self.current_state()
            .map_or(PresenceClass::Unknown, |state| state.class)
    }

    fn logged_out(&self) -> bool {
        self.current_class() == PresenceClass::LoggedOut
    }

    fn on_teams(&mut self, presence: TeamsPresence) {
        for value in presence.unrecognised_values() {
            if self.logged_unrecognised.insert(value.clone()) {
                self.diagnostic(format!(
                    "Teams reported an unrecognised {value}; treated as Unknown"
                ));
            }
        }
        if let (Some(sequence), Some(last)) = (&presence.sequence, &self.teams_last_sequence) {
            if sequence_is_newer(last, sequence) {
                return; // An older reading that arrived late.
            }
        }
        if presence.sequence.is_some() {
            self.teams_last_sequence = presence.sequence.clone();
            if self.teams_lane.in_flight.is_some() {
                // Read while our write was on its way: it may predate the write, so only a
                // later stamp counts as news.
                self.teams_sequence_at_write = presence.sequence.clone();
            }
        }
        let ooo_changed = self.out_of_office != presence.out_of_office;
        self.out_of_office = presence.out_of_office;
        self.teams_seen = Some(presence.clone());
        self.teams_seen_at = Some(self.now);
        if ooo_changed {
            self.bump_activity();
        }
        if let Some(repair) = &mut self.repair {
            repair.teams = Some(presence);
            return;
        }
        self.judge_teams(&presence, false);
    }

    /// Decides whether a Teams observation is a genuine change, and adopts it if so.
    fn judge_teams(&mut self, presence: &TeamsPresence, immediate: bool) {
        if self.logged_out() || !self.cc.settings().sync_direction.follows_teams() {
            return; // L3: Teams → Salesforce pauses while logged out; S1: direction.
        }
        let pair = presence.pair.normalised();
        let now = self.now;
        let unchanged = self.current.is_none()
            || self.consistent_with_current(presence)
            || self.cc.state_for_teams(presence).is_none();
        if self.teams_known.as_ref() == Some(&pair) && unchanged {
            // Our latest write, echoed back (or nothing changed): nothing to sync (S4, A16).
            // The same pair with the out-of-office overlay turned on or off is a change, though.
            // If we wrote this value only once lately and Teams did not show it just before
            // one of our writes, Teams has caught up with all our writes and older values are
            // news from now on. Otherwise this reading may predate our later writes, so the
            // memory stays until the echo window ends.
            let written = self
                .teams_ours
                .iter()
                .filter(|(ours, _)| *ours == pair)
                .count();
            let shown_before_a_write = self.teams_stale.iter().any(|(stale, _)| *stale == pair);
            if written <= 1 && !shown_before_a_write {
                self.teams_stale.clear();
                self.teams_ours.clear();
            }
            self.teams_pending_change = None;
            return;
        }
        if self.lagging(presence) {
            return;
        }
        if self.teams_baseline_pending {
            self.teams_baseline_pending = false;
            self.teams_known = Some(pair);
            return;
        }
        if self.consistent_with_current(presence) {
            self.teams_known = Some(pair);
            self.teams_stale.clear();
            self.teams_pending_change = None;
            return;
        }
        if self.cc.state_for_teams(presence).is_none() {
            return; // Unknown: never synced (S4 unmappable values).
        }
        let settle = Timing::ms(self.timing.teams_settle_ms);
        match self.last_teams_adoption {
            Some(last) if !immediate && now < last + settle => {
                // A flip right after a synced change: wait until it has held (S4 debounce).
                self.teams_pending_change = Some(PendingTeamsChange {
                    presence: presence.clone(),
                    due: last + settle,
                });
            }
            _ => self.adopt_teams(presence),
        }
    }

    /// True when a reading is explained by Teams lagging behind our writes: the echo of an
    /// earlier write of ours still working its way through, or what Teams showed before our
    /// write (unless Graph's sequence number says the reading is newer than the write).
    fn lagging(&self, presence: &TeamsPresence) -> bool {
        let pair = presence.pair.normalised();
        let now = self.now;
        let live = |list: &[(TeamsPair, Instant)]| {
            list.iter()
                .any(|(value, until)| *value == pair && now < *until)
        };
        if live(&self.teams_ours) {
            return true;
        }
        let newer_than_our_write = match (&presence.sequence, &self.teams_sequence_at_write) {
            (Some(sequence), Some(at_write)) => sequence_is_newer(sequence, at_write),
            _ => false,
        };
        !newer_than_our_write && live(&self.teams_stale)
    }

    fn consistent_with_current(&self, presence: &TeamsPresence) -> bool {
        let Some(state) = self.current_state() else {
            return false;
        };
        let pair = presence.pair.normalised();
        if state.teams_target() == Some(&pair) {
            return true;
        }
        if self
            .cc
            .state_for_teams(presence)
            .is_some_and(|mapped| mapped.label == state.label)
        {
            return true;
        }
        // On a call, Teams shows "In a call" (Busy/InACall): the same truth, not a change.
        self.current
            .as_ref()
            .is_some_and(|current| current.source == Source::CallInProgress)
            && presence.class() == PresenceClass::Busy
    }

    fn adopt_teams(&mut self, presence: &TeamsPresence) {
        let Some(state) = self.cc.state_for_teams(presence) else {
            return;
        };
        let label = state.label.clone();
        let source = if is_out_of_office_state(state) {
            Source::OutlookOutOfOffice
        } else {
            Source::Teams
        };
        self.teams_known = Some(presence.pair.normalised());
        self.teams_stale.clear();
        self.teams_ours.clear();
        self.teams_pending_change = None;
        // Only a change of a known state starts the settle window: the first reading after
        // start is a baseline, and debouncing the next change would only add latency.
        if self.current.is_some() {
            self.last_teams_adoption = Some(self.now);
        }
        self.set_current(&label, source);
    }

    fn on_salesforce(&mut self, observation: SalesforceObservation) {
        if observation.origin_client.as_deref() == Some(self.client_id.as_str())
            && observation
                .sequence
                .is_some_and(|sequence| sequence <= self.sequence)
        {
            // Our own write coming back through the stream (S4).
            return;
        }
        let Some(state) = self.cc.state(&observation.state) else {
            self.diagnostic(format!(
                "Salesforce reported state {:?}, which the Call Center does not configure; ignored",
                display_text(&observation.state)
            ));
            return;
        };
        let label = state.label.clone();
        if let Some(repair) = &mut self.repair {
            repair.salesforce = Some(observation);
            return;
        }
        self.judge_salesforce(&label);
    }

    /// Returns whether the observation was a genuine change (and so adopted).
    fn judge_salesforce(&mut self, label: &str) -> bool {
        let unchanged = self
            .salesforce_known
            .as_deref()
            .is_some_and(|known| known.eq_ignore_ascii_case(label));
        if unchanged {
            return false;
        }
        self.salesforce_known = Some(label.to_string());
        self.salesforce_known_ooo = None;
        // S6: a Salesforce change observed now is later than (or ties with) any Teams change
        // still settling, so Salesforce wins.
        self.teams_pending_change = None;
        if self
            .current
            .as_ref()
            .is_some_and(|current| current.label.eq_ignore_ascii_case(label))
        {
            return false;
        }
        self.set_current(label, Source::Salesforce);
        true
    }

    /// Makes `label` the agent's state. Handles the side effects of leaving and entering
    /// Logout, of changing during a call (W3) and during wrap-up.
    fn set_current(&mut self, label: &str, source: Source) {
        let Some(state) = self.cc.state(label) else {
            return;
        };
        let label = state.label.clone();
        let entering_logout = state.class == PresenceClass::LoggedOut;
        let was_logged_out = self.logged_out();
        if self
            .current
            .as_ref()
            .is_some_and(|current| current.label == label && current.source == source)
        {
            return;
        }
        if !matches!(source, Source::CallInProgress | Source::WrapUpTimer) {
            if self.calls.iter().any(|call| call.answered_at.is_some()) {
                self.changed_during_call = true;
            }
            self.wrap_up = None;
        }
        self.current = Some(Current { label, source });
        self.bump_activity();
        if entering_logout {
            self.wrap_up = None;
            self.teams_pending_change = None;
            self.state_before_call = None;
        } else if was_logged_out {
            // L6: logging back in reads both sides and converges them to the choice.
            self.teams_baseline_pending = true;
            self.start_repair();
            if let Some(repair) = &mut self.repair {
                repair.keep_current = true;
            }
        }
    }

    fn on_user(&mut self, intent: UserIntent) {
        match intent {
            UserIntent::Pick { label, via } => self.on_pick(&label, via),
            UserIntent::Answer { call_id } => {
                if self.write_call_action(&call_id, CallAction::Answered, true) {
                    self.call_answered(&call_id);
                }
            }
            UserIntent::Decline { call_id } => {
                if self.write_call_action(&call_id, CallAction::Declined, true) {
                    self.call_finished(&call_id, CallProgress::Declined);
                }
            }
            UserIntent::HangUp { call_id } => {
                if self.write_call_action(&call_id, CallAction::Ended, false) {
                    self.call_finished(&call_id, CallProgress::Ended);
                }
            }
            UserIntent::Dial { call_id, number } => self.on_dial(call_id, &number),
            UserIntent::ExtendWrapUp => {
                let step =
                    Duration::from_secs(u64::from(self.cc.settings().wrap_up_extend_seconds));
                if let Some(wrap_up) = &mut self.wrap_up {
                    wrap_up.until += step;
                }
            }
        }
    }

    /// Writes the agent's action on a call we know (a ringing one, when `only_ringing`).
    /// Returns whether there was such a call.
    fn write_call_action(&mut self, call_id: &str, action: CallAction, only_ringing: bool) -> bool {
        let known = self
            .calls
            .iter()
            .any(|call| call.call_id == call_id && (call.ringing || !only_ringing));
        if known {
            let effect = CallEffect::Update {
                call_id: call_id.to_string(),
                action,
            };
            self.send_call_effect(effect, 1);
        }
        known
    }

    fn on_pick(&mut self, label: &str, via: Picker) {
        let Some(state) = self.cc.state(label) else {
            self.notice(format!(
                "There is no state called {:?}",
                display_text(label)
            ));
            return;
        };
        if !state.selectable {
            let label = state.label.clone();
            self.notice(format!("{label} is shown but cannot be picked"));
            return;
        }
        let label = state.label.clone();
        // A pick is the latest change on both sides: it wins over anything still settling.
        self.teams_pending_change = None;
        self.set_current(&label, via.into());
    }

    /// Writes each side that differs from the agent's state, one write per side at a time.
    fn reconcile(&mut self) {
        self.prune_stale();
        if self.repair.is_some() {
            // Both sides are being read: decide what to write once both readings are in.
            self.maybe_finish_quit();
            return;
        }
        if self.salesforce_reread && !self.salesforce_read_in_flight {
            self.salesforce_reread = false;
            self.read_salesforce_again();
        }
        // A retry time that has passed has done its job: what to write is decided afresh.
        let now = self.now;
        for lane in [&mut self.teams_lane, &mut self.salesforce_lane] {
            if lane.retry_at.is_some_and(|at| at <= now) {
                lane.retry_at = None;
            }
        }
        self.reconcile_teams();
        self.reconcile_salesforce();
        self.maybe_finish_quit();
    }

    fn desired_teams(&self) -> Option<TeamsAction> {
        if !self.cc.settings().sync_direction.writes_teams() {
            return None;
        }
        let state = self.current_state()?;
        if state.class == PresenceClass::LoggedOut {
            return self.holding_teams.then_some(TeamsAction::Release);
        }
        let target = state.teams_target()?.clone();
        if self.teams_known.as_ref() == Some(&target) || self.teams_pending_change.is_some() {
            // In sync, or Teams is changing and its change is settling: writing now would
            // fight it.
            return None;
        }
        // Teams already shows something that means this state, and that reading is newer than
        // our last write: writing would only fight Teams (S5).
        let seen_after_write = match (self.teams_seen_at, self.teams_written_at) {
            (Some(seen), Some(written)) => seen > written,
            (Some(_), None) => true,
            _ => false,
        };
        if seen_after_write {
            if let Some(seen) = &self.teams_seen {
                // An Unknown presence (not enabled, no licence) is not drift to overwrite. A
                // reading explained by lag says nothing of what Teams will show.
                let settled = self.consistent_with_current(seen) && !self.lagging(seen);
                if settled || seen.class() == PresenceClass::Unknown {
                    return None;
                }
            }
        }
        Some(TeamsAction::Prefer(target))
    }

    fn reconcile_teams(&mut self) {
        if !self.teams_lane.ready(self.now) || !self.link_open(Link::Teams) {
            return;
        }
        let Some(action) = self.desired_teams() else {
            return;
        };
        self.teams_lane.retry_at = None;
        match action {
            TeamsAction::Prefer(target) => {
                if !self.session_alive {
                    self.keep_session();
                }
                if let Some(seen) = &self.teams_seen {
                    let stale = seen.pair.normalised();
                    let until = self.now + Timing::ms(self.timing.echo_window_ms);
                    self.teams_stale.push((stale, until));
                }
                if let Some(known) = self.teams_known.clone() {
                    let until = self.now + Timing::ms(self.timing.echo_window_ms);
                    self.teams_stale.push((known, until));
                }
                let until = self.now + Timing::ms(self.timing.echo_window_ms);
                // Teams shows our writes in order, so every earlier value may still show until
                // this one does: the whole memory lasts an echo window from the latest write.
                for (_, expiry) in self
                    .teams_ours
                    .iter_mut()
                    .chain(self.teams_stale.iter_mut())
                {
                    *expiry = until;
                }
                self.teams_ours.push((target.clone(), until));
                self.holding_teams = true;
                self.teams_written_at = Some(self.now);
                self.teams_sequence_at_write = self.teams_last_sequence.clone();
                let id = self.track(Pending::WriteTeams(target.clone()));
                self.teams_lane.in_flight = Some(id);
                self.effects.push_back(Effect::WriteTeams { id, target });
            }
            TeamsAction::Release => {
                let id = self.track(Pending::ReleaseTeams);
                self.teams_lane.in_flight = Some(id);
                self.effects.push_back(Effect::ReleaseTeams { id });
            }
        }
    }

    /// The machine slept: the monotonic clock stood still, the clouds' did not. The Graph
    /// presence session and the Salesforce heartbeat have lapsed there, so both are renewed now,
    /// and both sides are read and re-converged (S7).
    fn on_resumed(&mut self) {
        if self.holding_teams && self.link_open(Link::Teams) {
            self.keep_session();
        }
        self.heartbeat_at = self.now;
        self.start_repair();
    }

    fn keep_session(&mut self) {
        self.session_alive = true;
        self.keepalive_at = Some(self.now + Timing::ms(self.timing.teams_session_keepalive_ms));
        let pair = TeamsPair::new(Availability::Available, Activity::Available);
        self.emit_tracked(Pending::KeepSession, |id| Effect::KeepTeamsSession {
            id,
            pair,
        });
    }

    fn desired_salesforce(&self) -> Option<SalesforceValue> {
        let current = self.current.as_ref()?;
        let value = SalesforceValue {
            state: current.label.clone(),
            out_of_office: self.out_of_office,
        };
        let same_state = self
            .salesforce_known
            .as_deref()
            .is_some_and(|known| known.eq_ignore_ascii_case(&value.state));
        let same_ooo = self
            .salesforce_known_ooo
            .is_none_or(|known| known == value.out_of_office);
        (!(same_state && same_ooo)).then_some(value)
    }

    fn reconcile_salesforce(&mut self) {
        if !self.salesforce_lane.ready(self.now) || !self.link_open(Link::Salesforce) {
            return;
        }
        let Some(value) = self.desired_salesforce() else {
            return;
        };
        self.salesforce_lane.retry_at = None;
        self.sequence += 1;
        let source = self
            .current
            .as_ref()
            .map_or(Source::Salesforce, |current| current.source);
        let write = PresenceWrite {
            state: value.state.clone(),
            source,
            sequence: self.sequence,
            origin_client: self.client_id.clone(),
            out_of_office: value.out_of_office,
            teams: self.teams_seen.as_ref().map(|seen| seen.pair.clone()),
        };
        let id = self.track(Pending::WriteSalesforce(value));
        self.salesforce_lane.in_flight = Some(id);
        self.effects
            .push_back(Effect::WriteSalesforce { id, write });
    }

    fn prune_stale(&mut self) {
        let now = self.now;
        self.teams_stale.retain(|(_, until)| now < *until);
        self.teams_ours.retain(|(_, until)| now < *until);
    }

    fn poll_teams(&mut self) {
        let active = self.now < self.last_activity + Timing::ms(self.timing.active_window_ms)
            || !self.calls.is_empty();
        let interval = if active {
            self.timing.teams_poll_active_ms
        } else {
            self.timing.teams_poll_idle_ms
        }
        .max(self.timing.teams_poll_floor_ms);
        let spread = self.jitter.below_or_equal(interval / 10);
        self.teams_poll_at = self.now + Timing::ms(interval + spread);
        if self.teams_read_in_flight || !self.link_open(Link::Teams) {
            return;
        }
        self.teams_read_in_flight = true;
        self.emit_tracked(Pending::ReadTeams, |id| Effect::ReadTeams { id });
    }

    fn bump_activity(&mut self) {
        self.last_activity = self.now;
        let fast = self.now
            + Timing::ms(
                self.timing
                    .teams_poll_active_ms
                    .max(self.timing.teams_poll_floor_ms),
            );
        if self.teams_poll_at > fast {
            self.teams_poll_at = fast;
        }
    }

    // ----------------------------------------------------------------------------------------
    // Drift repair (S7)

    fn start_repair(&mut self) {
        self.drift_repair_at = self.now + Timing::ms(self.timing.drift_repair_ms);
        if self.repair.is_some() {
            return;
        }
        let mut repair = Repair::default();
        if self.link_open(Link::Teams) && !self.teams_read_in_flight {
            self.teams_read_in_flight = true;
            self.emit_tracked(Pending::ReadTeams, |id| Effect::ReadTeams { id });
        } else if !self.teams_read_in_flight {
            repair.teams_done = true;
        }
        if self.link_open(Link::Salesforce) && !self.salesforce_read_in_flight {
            self.salesforce_read_in_flight = true;
            self.emit_tracked(Pending::ReadSalesforce, |id| Effect::ReadSalesforce { id });
        } else if !self.salesforce_read_in_flight {
            repair.salesforce_done = true;
        }
        self.repair = Some(repair);
        self.maybe_resolve_repair();
    }

    /// Reads Salesforce once more, after any read in flight (which may predate a subscription
    /// and so miss a change pushed to nobody). The result is judged like a streamed change.
    fn read_salesforce_again(&mut self) {
        if self.repair.is_some() || self.salesforce_read_in_flight {
            self.salesforce_reread = true;
            return;
        }
        if self.link_open(Link::Salesforce) {
            self.salesforce_read_in_flight = true;
            self.emit_tracked(Pending::ReadSalesforce, |id| Effect::ReadSalesforce { id });
        }
    }

    fn maybe_resolve_repair(&mut self) {
        let done = self
            .repair
            .as_ref()
            .is_some_and(|repair| repair.teams_done && repair.salesforce_done);
        if !done {
            return;
        }
        let Some(repair) = self.repair.take() else {
            return;
        };
        if repair.keep_current {
            if let Some(observation) = repair.salesforce {
                if let Some(state) = self.cc.state(&observation.state) {
                    self.salesforce_known = Some(state.label.clone());
                    self.salesforce_known_ooo = None;
                }
            }
            if let Some(presence) = repair.teams {
                if !self.lagging(&presence) {
                    self.teams_known = Some(presence.pair.normalised());
                    self.teams_baseline_pending = false;
                }
            }
            return;
        }
        // S6: Salesforce first; a genuine Salesforce change wins a tie with Teams.
        let salesforce_won = repair
            .salesforce
            .and_then(|observation| self.cc.state(&observation.state).map(|s| s.label.clone()))
            .is_some_and(|label| self.judge_salesforce(&label));
        if let Some(presence) = repair.teams {
            if !salesforce_won {
                self.judge_teams(&presence, true);
            } else if self.consistent_with_current(&presence) {
                self.teams_known = Some(presence.pair.normalised());
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // Effects and links

    fn track(&mut self, pending: Pending) -> EffectId {
        let id = EffectId(self.next_id);
        self.next_id += 1;
        self.pending.insert(id, pending);
        id
    }

    fn emit_tracked(&mut self, pending: Pending, make: impl FnOnce(EffectId) -> Effect) {
        let id = self.track(pending);
        self.effects.push_back(make(id));
    }

    fn on_effect_done(&mut self, id: EffectId, outcome: Outcome) {
        let Some(pending) = self.pending.remove(&id) else {
            self.diagnostic(format!("outcome for unknown effect {id} ignored"));
            return;
        };
        let link = pending.link();
        let failure = match &outcome {
            Outcome::Done => {
                self.link_succeeded(link);
                None
            }
            Outcome::Failed(failure) => {
                self.link_failed(link, failure);
                Some(failure.clone())
            }
        };
        match pending {
            Pending::ReadTeams => {
                self.teams_read_in_flight = false;
                if let Some(failure) = &failure {
                    let delay = self.policy.delay(
                        self.links[link_index(Link::Teams)].consecutive_failures,
                        failure,
                        &mut self.jitter,
                    );
                    self.teams_poll_at = self.now + delay;
                }
                if let Some(repair) = &mut self.repair {
                    repair.teams_done = true;
                }
                self.maybe_resolve_repair();
            }
            Pending::ReadSalesforce => {
                self.salesforce_read_in_flight = false;
                if let Some(repair) = &mut self.repair {
                    repair.salesforce_done = true;
                }
                self.maybe_resolve_repair();
            }
            Pending::WriteTeams(target) => {
                self.teams_lane.in_flight = None;
                match failure {
                    None => {
                        self.teams_lane.attempts = 0;
                        // Readings of what Teams showed before may still arrive (lag).
                        if let Some(previous) = self.teams_known.replace(target.clone()) {
                            if previous != target {
                                let until = self.now + Timing::ms(self.timing.echo_window_ms);
                                self.teams_stale.push((previous, until));
                            }
                        }
                        self.teams_written_at = Some(self.now);
                    }
                    Some(failure) => self.lane_failed(Link::Teams, &failure),
                }
            }
            Pending::ReleaseTeams => {
                self.teams_lane.in_flight = None;
                match failure {
                    None => {
                        self.teams_lane.attempts = 0;
                        self.holding_teams = false;
                        self.session_alive = false;
                        self.keepalive_at = None;
                        self.teams_known = None;
                        self.teams_stale.clear();
                        self.teams_ours.clear();
                    }
                    Some(failure) => self.lane_failed(Link::Teams, &failure),
                }
            }
            Pending::KeepSession => {
                if let Some(failure) = failure {
                    self.session_alive = false;
                    let attempt = self.links[link_index(Link::Teams)].consecutive_failures;
                    let delay = self.policy.delay(attempt, &failure, &mut self.jitter);
                    self.keepalive_at = Some(self.now + delay);
                }
            }
            Pending::WriteSalesforce(value) => {
                self.salesforce_lane.in_flight = None;
                match failure {
                    None => {
                        self.salesforce_lane.attempts = 0;
                        self.salesforce_known = Some(value.state);
                        self.salesforce_known_ooo = Some(value.out_of_office);
                    }
                    Some(failure) => self.lane_failed(Link::Salesforce, &failure),
                }
            }
            Pending::Heartbeat => {}
            Pending::CallEffect(effect) => {
                if let Some(failure) = failure {
                    self.call_effect_failed(effect, &failure);
                }
            }
        }
    }

    fn lane_failed(&mut self, link: Link, failure: &Failure) {
        if let Failure::Rejected { reason } = failure {
            self.diagnostic(format!(
                "{} refused a presence write: {reason}",
                link_name(link)
            ));
        }
        // A rejected write is not retried at once either: the next change, a repair or the
        // backoff brings the latest value.
        let attempt = {
            let lane = self.lane_mut(link);
            lane.attempts += 1;
            lane.attempts
        };
        let retry_at = self.now + self.policy.delay(attempt, failure, &mut self.jitter);
        self.lane_mut(link).retry_at = Some(retry_at);
    }

    fn lane_mut(&mut self, link: Link) -> &mut Lane {
        match link {
            Link::Teams => &mut self.teams_lane,
            Link::Salesforce => &mut self.salesforce_lane,
        }
    }

    fn link_usable(&self, link: Link) -> bool {
        !matches!(
            self.links[link_index(link)].state,
            LinkState::Disconnected {
                sign_in_needed: true,
                ..
            }
        )
    }

    /// Usable and not cooling down after a server asked us to wait.
    fn link_open(&self, link: Link) -> bool {
        self.link_usable(link)
            && self.cooldown_until[link_index(link)].is_none_or(|until| until <= self.now)
    }

    fn link_succeeded(&mut self, link: Link) {
        let health = &mut self.links[link_index(link)];
        let was_connected = health.state.is_connected();
        health.state = LinkState::Connected;
        health.consecutive_failures = 0;
        if !was_connected {
            // S7: a link that comes back (reconnect, sign-in) is read and re-converged.
            self.lane_mut(link).retry_at = None;
            if link == Link::Teams && !self.session_alive && self.holding_teams {
                self.keep_session();
            }
            self.start_repair();
        }
    }

    fn link_failed(&mut self, link: Link, failure: &Failure) {
        let limit = self.timing.failures_before_disconnected;
        let health = &mut self.links[link_index(link)];
        match failure {
            Failure::Rejected { .. } => return, // The server answered: the link works.
            Failure::Unauthorized => {
                health.state = LinkState::Disconnected {
                    reason: "sign-in needed".into(),
                    sign_in_needed: true,
                };
            }
            Failure::Offline { .. } => {
                health.state = LinkState::Disconnected {
                    reason: failure.describe(),
                    sign_in_needed: false,
                };
            }
            Failure::RateLimited { retry_after } => {
                health.state = LinkState::Degraded {
                    reason: failure.describe(),
                };
                if let Some(wait) = retry_after {
                    let wait =
                        (*wait).clamp(self.policy.retry_after_floor, self.policy.retry_after_cap);
                    self.cooldown_until[link_index(link)] = Some(self.now + wait);
                }
            }
            Failure::Transient { .. } => {
                health.state = if health.consecutive_failures + 1 >= limit {
                    LinkState::Disconnected {
                        reason: failure.describe(),
                        sign_in_needed: false,
                    }
                } else {
                    LinkState::Degraded {
                        reason: failure.describe(),
                    }
                };
            }
        }
        health.consecutive_failures += 1;
        if link == Link::Teams {
            self.session_alive = self.session_alive && !matches!(failure, Failure::Offline { .. });
        }
    }

    fn on_quit(&mut self) {
        if self.quitting.is_some() {
            return;
        }
        self.quitting = Some(self.now + Timing::ms(self.timing.quit_grace_ms));
        if self.cc.settings().logout_on_quit && !self.logged_out() {
            let logout = self.cc.logout().label.clone();
            self.set_current(&logout, Source::Tray);
        }
    }

    fn maybe_finish_quit(&mut self) {
        if self.quitting.is_none() || self.shutdown_sent {
            return;
        }
        let teams_settled = self.teams_lane.in_flight.is_none()
            && (self.desired_teams().is_none() || !self.link_usable(Link::Teams));
        let salesforce_settled = self.salesforce_lane.in_flight.is_none()
            && (self.desired_salesforce().is_none() || !self.link_usable(Link::Salesforce));
        if teams_settled && salesforce_settled {
            self.shutdown_sent = true;
            self.effects.push_back(Effect::Shutdown);
        }
    }

    fn diagnostic(&mut self, message: String) {
        self.effects.push_back(Effect::Diagnostic { message });
    }

    fn notice(&mut self, text: String) {
        self.effects
            .push_back(Effect::Ui(UiEffect::Notice { text }));
    }

    // ----------------------------------------------------------------------------------------
    // Calls

    fn on_call_offered(&mut self, offer: CallOffer) {
        let known = self.calls.iter().any(|call| call.call_id == offer.call_id)
            || self.finished_calls.contains(&offer.call_id);
        if known {
            return; // A replayed event: the offer was answered already.
        }
        let number = display_text(&offer.from_number);
        let logout_fallback = self.cc.logout().clone();
        let unknown_state;
        let state = match self.current_state() {
            Some(state) => state,
            None => {
                // Nothing read yet: ring rather than lose a call.
                unknown_state = PresenceStateDef {
                    label: "Unknown".into(),
                    class: PresenceClass::Unknown,
                    teams: None,
                    selectable: false,
                    signals_inbound: true,
                    allows_outbound: false,
                    sort_order: 0,
                };
                &unknown_state
            }
        };
        let class = if state.class == PresenceClass::LoggedOut {
            logout_fallback.class
        } else {
            state.class
        };
        let answer = gate_inbound(
            offer.kind,
            state,
            class,
            self.cc.settings().presence_routing,
        );
        self.send_call_effect(
            CallEffect::Answer {
                call_id: offer.call_id.clone(),
                answer: answer.clone(),
            },
            1,
        );
        match answer {
            OfferAnswer::Signalled => {
                let call_waiting = self.calls.iter().any(|call| call.answered_at.is_some());
                self.calls.push(ActiveCall {
                    call_id: offer.call_id.clone(),
                    kind: offer.kind,
                    number: number.clone(),
                    to_number: display_text(&offer.to_number),
                    caller: None,
                    outbound: false,
                    ringing: true,
                    answered_at: None,
                    call_waiting,
                });
                self.bump_activity();
                let title = match (call_waiting, offer.kind) {
                    (true, _) => "Call waiting",
                    (false, CallKind::Queue) => "Queue call",
                    (false, CallKind::Internal) => "Teams call",
                    _ => "Incoming call",
                };
                self.effects.push_back(Effect::Ui(UiEffect::Ring {
                    call_id: offer.call_id.clone(),
                    title: title.to_string(),
                    body: number,
                    call_waiting,
                }));
                let digits = phone_digits(&offer.from_number);
                if offer.kind != CallKind::Internal && !digits.is_empty() {
                    self.send_call_effect(
                        CallEffect::Lookup {
                            call_id: offer.call_id,
                            digits,
                        },
                        1,
                    );
                }
            }
            OfferAnswer::NotSignalled { reason } => {
                self.remember_finished(&offer.call_id);
                // G2/G5: a direct call blocked by presence is logged with its reason, except
                // while logged out. Queue calls go to another agent; internal calls are not ours
                // to log (C4).
                if offer.kind == CallKind::Direct && class != PresenceClass::LoggedOut {
                    self.blocked_calls.push_front(BlockedCall {
                        call_id: offer.call_id.clone(),
                        kind: offer.kind,
                        number: number.clone(),
                        caller: None,
                        reason: reason.clone(),
                    });
                    self.blocked_calls.truncate(self.timing.recent_calls_kept);
                    self.log_call(
                        &offer.call_id,
                        offer.kind,
                        CallType::Inbound,
                        &reason,
                        Duration::ZERO,
                        &number,
                        &display_text(&offer.to_number),
                        None,
                    );
                }
            }
        }
    }

    fn on_call_progress(&mut self, call_id: &str, progress: CallProgress) {
        let Some(call) = self.calls.iter().find(|call| call.call_id == call_id) else {
            return; // Not ours, or finished already (a replayed event).
        };
        match progress {
            CallProgress::Answered => {
                if call.answered_at.is_none() {
                    self.call_answered(call_id);
                }
            }
            other => self.call_finished(call_id, other),
        }
    }

    fn on_caller(&mut self, call_id: &str, caller: Option<CallerMatch>) {
        let Some(caller) = caller else {
            return;
        };
        let caller = CallerMatch {
            name: display_text(&caller.name),
            ..caller
        };
        if let Some(call) = self.calls.iter_mut().find(|call| call.call_id == call_id) {
            call.caller = Some(caller.clone());
            self.effects.push_back(Effect::Ui(UiEffect::CallerShown {
                call_id: call_id.to_string(),
                name: caller.name,
            }));
        }
    }

    fn call_answered(&mut self, call_id: &str) {
        let first_connected = !self.calls.iter().any(|call| call.answered_at.is_some());
        let now = self.now;
        let Some(call) = self.calls.iter_mut().find(|call| call.call_id == call_id) else {
            return;
        };
        let was_ringing = call.ringing;
        call.ringing = false;
        call.answered_at = Some(now);
        if was_ringing {
            self.effects.push_back(Effect::Ui(UiEffect::StopRinging {
                call_id: call_id.to_string(),
            }));
        }
        if first_connected {
            if self.wrap_up.is_none() {
                self.state_before_call = self.current.clone();
            } else if let Some(wrap_up) = self.wrap_up.take() {
                // A call during wrap-up returns to where the first call left from.
                self.state_before_call = Some(wrap_up.return_to);
            }
            self.changed_during_call = false;
            let on_call = self.cc.on_call().label.clone();
            self.set_current(&on_call, Source::CallInProgress);
        }
    }

    fn call_finished(&mut self, call_id: &str, progress: CallProgress) {
        let Some(index) = self.calls.iter().position(|call| call.call_id == call_id) else {
            return;
        };
        let call = self.calls.remove(index);
        self.remember_finished(call_id);
        if call.ringing {
            self.effects.push_back(Effect::Ui(UiEffect::StopRinging {
                call_id: call_id.to_string(),
            }));
        }
        let duration = call
            .answered_at
            .map_or(Duration::ZERO, |at| self.now.saturating_duration_since(at));
        let answered = call.answered_at.is_some();
        let outcome = match (answered, call.outbound, progress) {
            (true, _, _) => "Completed",
            (false, true, _) => "No answer",
            (false, false, CallProgress::Declined) => "Declined",
            (false, false, _) => "Missed",
        };
        self.recent_calls.push_front(CallRecord {
            call_id: call.call_id.clone(),
            kind: call.kind,
            number: call.number.clone(),
            caller: call.caller.clone(),
            outcome: outcome.to_string(),
            duration_secs: duration.as_secs(),
        });
        self.recent_calls.truncate(self.timing.recent_calls_kept);
        let call_type = if call.outbound {
            CallType::Outbound
        } else if call.kind == CallKind::Internal {
            CallType::Internal
        } else {
            CallType::Inbound
        };
        // C4: internal calls are never logged as missed. G1: missed calls only when enabled.
        let log = match outcome {
            "Missed" | "Declined" => {
                call.kind != CallKind::Internal && self.cc.settings().log_missed_calls
            }
            _ => true,
        };
        if log && !self.logged_out() {
            let (from, to) = if call.outbound {
                (call.to_number.clone(), call.number.clone())
            } else {
                (call.number.clone(), call.to_number.clone())
            };
            self.log_call(
                &call.call_id,
                call.kind,
                call_type,
                outcome,
                duration,
                &from,
                &to,
                call.caller.clone(),
            );
        }
        if answered && !self.calls.iter().any(|other| other.answered_at.is_some()) {
            self.after_last_call();
        }
    }

    /// W1, W3: wrap-up after the last answered call, unless the agent changed state during it.
    fn after_last_call(&mut self) {
        let before = self.state_before_call.take();
        if self.changed_during_call {
            self.changed_during_call = false;
            return;
        }
        let Some(before) = before else {
            return;
        };
        let seconds = self.cc.settings().wrap_up_seconds;
        if seconds > 0 {
            let wrap_up = self.cc.wrap_up().label.clone();
            self.set_current(&wrap_up, Source::WrapUpTimer);
            self.wrap_up = Some(WrapUp {
                until: self.now + Duration::from_secs(u64::from(seconds)),
                return_to: before,
            });
        } else {
            self.set_current(&before.label, before.source);
        }
    }

    fn on_dial(&mut self, call_id: String, number: &str) {
        if let Some(refusal) = self.outbound_refusal() {
            self.notice(refusal);
            return;
        }
        let digits = phone_digits(number);
        if digits.is_empty() {
            self.notice(format!("{:?} is not a phone number", display_text(number)));
            return;
        }
        if self.calls.iter().any(|call| call.call_id == call_id) {
            return;
        }
        self.calls.push(ActiveCall {
            call_id: call_id.clone(),
            kind: CallKind::Outbound,
            number: display_text(number),
            to_number: display_text(number),
            caller: None,
            outbound: true,
            ringing: false,
            answered_at: None,
            call_waiting: false,
        });
        self.bump_activity();
        self.send_call_effect(
            CallEffect::Place {
                call_id,
                number: digits,
            },
            1,
        );
    }

    /// C3: why an outbound call would be refused now, if it would.
    fn outbound_refusal(&self) -> Option<String> {
        // Before the first reading the agent may well be in Do Not Disturb: wait for it.
        let Some(state) = self.current_state() else {
            return Some("Outbound calls wait until your presence is known".to_string());
        };
        match state.class {
            PresenceClass::LoggedOut => Some("No softphone while logged out".to_string()),
            PresenceClass::DoNotDisturb => {
                Some(format!("Outbound calls are blocked while {}", state.label))
            }
            _ if !state.allows_outbound => Some(format!(
                "Outbound calls are not allowed while {}",
                state.label
            )),
            _ => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn log_call(
        &mut self,
        call_id: &str,
        kind: CallKind,
        call_type: CallType,
        disposition: &str,
        duration: Duration,
        from_number: &str,
        to_number: &str,
        caller: Option<CallerMatch>,
    ) {
        let who = caller
            .as_ref()
            .map_or_else(|| from_number.to_string(), |caller| caller.name.clone());
        let subject = match (call_type, disposition) {
            (CallType::Outbound, _) => format!("Call to {to_number}"),
            (_, "Missed") => format!("Missed call from {who}"),
            (_, "Completed") => format!("Call from {who}"),
            (_, reason) => format!("Call from {who} not signalled: {reason}"),
        };
        self.effects.push_back(Effect::LogCall {
            log: CallLog {
                key: call_id.to_string(),
                call_id: call_id.to_string(),
                kind,
                call_type,
                disposition: disposition.to_string(),
                duration,
                from_number: from_number.to_string(),
                to_number: to_number.to_string(),
                caller,
                subject,
            },
        });
    }

    fn remember_finished(&mut self, call_id: &str) {
        self.finished_calls.push_back(call_id.to_string());
        while self.finished_calls.len() > FINISHED_CALLS_KEPT {
            self.finished_calls.pop_front();
        }
    }

    fn send_call_effect(&mut self, effect: CallEffect, attempt: u32) {
        let id = self.track(Pending::CallEffect(effect.clone()));
        let out = match effect {
            CallEffect::Answer { call_id, answer } => Effect::AnswerOffer {
                id,
                call_id,
                answer,
            },
            CallEffect::Update { call_id, action } => Effect::UpdateCall {
                id,
                call_id,
                action,
            },
            CallEffect::Place { call_id, number } => Effect::PlaceCall {
                id,
                call_id,
                number,
            },
            CallEffect::Lookup { call_id, digits } => Effect::LookupCaller {
                id,
                call_id,
                digits,
            },
        };
        self.effects.push_back(out);
        // Remember the attempt number with the effect so a failure knows how far along it is.
        if attempt > 1 {
            self.diagnostic(format!("retrying a call write (attempt {attempt})"));
        }
    }

    fn call_effect_failed(&mut self, effect: CallEffect, failure: &Failure) {
        let still_relevant = match &effect {
            // An offer answer only matters while the call is ringing here or was blocked now.
            CallEffect::Answer { .. } | CallEffect::Update { .. } => true,
            CallEffect::Place { call_id, .. } | CallEffect::Lookup { call_id, .. } => {
                self.calls.iter().any(|call| call.call_id == *call_id)
            }
        };
        let attempts_so_far = self
            .call_retries
            .iter()
            .filter(|(_, _, queued)| queued.call_id() == effect.call_id())
            .count() as u32
            + 1;
        if matches!(failure, Failure::Rejected { .. }) || !still_relevant {
            self.diagnostic(format!(
                "a call write for {} was given up: {}",
                effect.call_id(),
                failure.describe()
            ));
            return;
        }
        if attempts_so_far >= CALL_EFFECT_ATTEMPTS {
            self.diagnostic(format!(
                "a call write for {} failed {CALL_EFFECT_ATTEMPTS} times: {}",
                effect.call_id(),
                failure.describe()
            ));
            return;
        }
        let delay = self
            .policy
            .delay(attempts_so_far, failure, &mut self.jitter);
        self.call_retries
            .push((self.now + delay, attempts_so_far + 1, effect));
    }
}

enum TeamsAction {
    Prefer(TeamsPair),
    Release,
}

fn link_index(link: Link) -> usize {
    match link {
        Link::Teams => 0,
        Link::Salesforce => 1,
    }
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Teams => "Teams",
        Link::Salesforce => "Salesforce",
    }
}

fn is_out_of_office_state(state: &PresenceStateDef) -> bool {
    state
        .teams
        .as_ref()
        .is_some_and(|pair| pair.activity == Activity::OutOfOffice)
}
