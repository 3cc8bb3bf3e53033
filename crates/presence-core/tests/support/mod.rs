//! A virtual-clock harness: the engine plus a small model of both clouds that answers its
//! effects the way Graph, Salesforce and the call controller would. Time only moves when a test
//! moves it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use presence_core::{
    CallCenterConfig, CallKind, CallLog, CallOffer, CallProgress, CallerMatch, Effect, EffectId,
    Engine, EngineConfig, Failure, Input, OfferAnswer, Outcome, Picker, PresenceWrite,
    SalesforceObservation, Snapshot, TeamsPair, TeamsPresence, Timing, UiEffect, UserIntent,
};

pub const CLIENT_ID: &str = "test-client";

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// How a side answers right now.
#[derive(Debug, Clone, PartialEq)]
pub enum SideHealth {
    Up,
    Failing(Failure),
}

/// Everything the world saw the engine do.
#[derive(Debug, Default)]
pub struct Record {
    pub teams_writes: Vec<(Duration, TeamsPair)>,
    pub teams_releases: Vec<Duration>,
    pub keepalives: Vec<Duration>,
    pub salesforce_writes: Vec<(Duration, String)>,
    /// Successful Salesforce writes, whole.
    pub salesforce_records: Vec<PresenceWrite>,
    /// Successful Teams writes.
    pub teams_writes_landed: usize,
    pub teams_reads: Vec<Duration>,
    pub salesforce_reads: Vec<Duration>,
    pub heartbeats: Vec<Duration>,
    pub offer_answers: BTreeMap<String, OfferAnswer>,
    /// Every attempt to answer an offer, when and for which call (failed ones too).
    pub offer_answer_attempts: Vec<(Duration, String)>,
    pub logs: Vec<CallLog>,
    pub ui: Vec<UiEffect>,
    pub diagnostics: Vec<String>,
    pub shutdown: bool,
    pub placed_calls: Vec<String>,
    /// Call logs the agent asked to send again (their keys).
    pub retried_logs: Vec<String>,
}

pub struct World {
    pub engine: Engine,
    pub start: Instant,
    pub now: Instant,
    /// What Graph currently reports (after lag).
    pub teams_visible: TeamsPresence,
    /// Our writes that Graph has not folded in yet: (visible at, value).
    pub teams_lagging: VecDeque<(Instant, TeamsPair)>,
    pub teams_lag: Duration,
    /// What the agent set in Teams itself (what Teams shows once we release it).
    pub teams_own: TeamsPresence,
    pub salesforce: Option<String>,
    pub teams_health: SideHealth,
    pub salesforce_health: SideHealth,
    pub record: Record,
    /// Whether reads carry Graph's `sequenceNumber` (older tenants omit it).
    pub teams_sequence_numbers: bool,
    teams_sequence: u64,
    teams_sequenced_value: Option<TeamsPresence>,
    /// Inputs waiting to be fed (connector replies), in order.
    queue: VecDeque<Input>,
}

pub fn presence(availability: &str, activity: &str) -> TeamsPresence {
    TeamsPresence::from_graph(availability, activity, false)
}

pub fn pair(availability: &str, activity: &str) -> TeamsPair {
    TeamsPair::parse(availability, activity)
}

pub fn fast_timing() -> Timing {
    Timing::default()
}

impl World {
    /// A world on the shipped configuration: Salesforce "Available", Teams Available/Available.
    pub fn new() -> Self {
        Self::with(|_| {}, |_| {})
    }

    pub fn with(
        edit_config: impl FnOnce(&mut CallCenterConfig),
        edit_timing: impl FnOnce(&mut Timing),
    ) -> Self {
        let mut config = CallCenterConfig::shipped_default_unvalidated();
        edit_config(&mut config);
        let mut timing = Timing::default();
        edit_timing(&mut timing);
        let call_center = config.validate().expect("test configuration is valid");
        let engine_config =
            EngineConfig::new(call_center, timing, CLIENT_ID, 42).expect("timing is valid");
        let start = Instant::now();
        Self {
            engine: Engine::new(engine_config, start),
            start,
            now: start,
            teams_visible: presence("Available", "Available"),
            teams_lagging: VecDeque::new(),
            teams_lag: Duration::ZERO,
            teams_own: presence("Available", "Available"),
            salesforce: Some("Available".into()),
            teams_health: SideHealth::Up,
            salesforce_health: SideHealth::Up,
            record: Record::default(),
            teams_sequence_numbers: true,
            teams_sequence: 0,
            teams_sequenced_value: None,
            queue: VecDeque::new(),
        }
    }

    /// Starts the engine and lets the first drift repair finish.
    pub fn started(mut self) -> Self {
        self.input(Input::Started);
        self.advance(ms(100));
        self
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn snapshot(&self) -> Snapshot {
        self.engine.snapshot()
    }

    /// Feeds an input and everything it sets off, at the current time.
    pub fn input(&mut self, input: Input) {
        self.queue.push_back(input);
        self.pump();
    }

    fn pump(&mut self) {
        loop {
            while let Some(effect) = self.engine.poll_effect() {
                if std::env::var_os("PB_TRACE").is_some() {
                    eprintln!("{:>10?} effect {effect:?}", self.now - self.start);
                }
                self.perform(effect);
            }
            match self.queue.pop_front() {
                Some(input) => {
                    if std::env::var_os("PB_TRACE").is_some() {
                        eprintln!("{:>10?} input  {input:?}", self.now - self.start);
                    }
                    self.engine.handle_input(self.now, input)
                }
                None => break,
            }
        }
    }

    /// Moves time forward by `by`, waking the engine at every deadline on the way.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            self.apply_teams_lag();
            let next = self.engine.poll_timeout();
            let lag_next = self.teams_lagging.front().map(|(at, _)| *at);
            let step = [next, lag_next]
                .into_iter()
                .flatten()
                .filter(|at| *at <= target)
                .min();
            match step {
                Some(at) => {
                    self.now = self.now.max(at);
                    self.apply_teams_lag();
                    if next.is_some_and(|deadline| deadline <= self.now) {
                        self.engine.handle_timeout(self.now);
                    }
                    self.pump();
                }
                None => break,
            }
        }
        self.now = target;
        self.apply_teams_lag();
        self.engine.handle_timeout(self.now);
        self.pump();
    }

    fn apply_teams_lag(&mut self) {
        while let Some((at, _)) = self.teams_lagging.front() {
            if *at > self.now {
                break;
            }
            let (_, value) = self.teams_lagging.pop_front().unwrap();
            self.teams_visible = TeamsPresence::new(value, self.teams_visible.out_of_office);
        }
    }

    fn t(&self) -> Duration {
        self.now - self.start
    }

    fn outcome(&self, health: &SideHealth) -> Outcome {
        match health {
            SideHealth::Up => Outcome::Done,
            SideHealth::Failing(failure) => Outcome::Failed(failure.clone()),
        }
    }

    fn done(&mut self, id: EffectId, health: SideHealth) {
        let outcome = self.outcome(&health);
        self.queue.push_back(Input::EffectDone { id, outcome });
    }

    fn perform(&mut self, effect: Effect) {
        let t = self.t();
        let teams = self.teams_health.clone();
        let salesforce = self.salesforce_health.clone();
        match effect {
            Effect::ReadTeams { id } => {
                self.record.teams_reads.push(t);
                if teams == SideHealth::Up {
                    // Graph stamps every change of the aggregated presence.
                    if self.teams_sequenced_value.as_ref() != Some(&self.teams_visible) {
                        self.teams_sequence += 1;
                        self.teams_sequenced_value = Some(self.teams_visible.clone());
                    }
                    let mut read = self.teams_visible.clone();
                    if self.teams_sequence_numbers {
                        read = read.with_sequence(format!("C2C{:025}", self.teams_sequence));
                    }
                    self.queue.push_back(Input::TeamsPresence(read));
                }
                self.done(id, teams);
            }
            Effect::ReadSalesforce { id } => {
                self.record.salesforce_reads.push(t);
                if salesforce == SideHealth::Up {
                    if let Some(state) = self.salesforce.clone() {
                        self.queue
                            .push_back(Input::SalesforceState(SalesforceObservation {
                                state,
                                origin_client: None,
                                sequence: None,
                            }));
                    }
                }
                self.done(id, salesforce);
            }
            Effect::WriteTeams { id, target } => {
                self.record.teams_writes.push((t, target.clone()));
                if teams == SideHealth::Up {
                    self.record.teams_writes_landed += 1;
                    // Graph applies writes in order: a write never overtakes an earlier one.
                    let after_earlier = self.teams_lagging.back().map(|(at, _)| *at);
                    let visible_at =
                        (self.now + self.teams_lag).max(after_earlier.unwrap_or(self.now));
                    if visible_at <= self.now {
                        self.teams_visible =
                            TeamsPresence::new(target, self.teams_visible.out_of_office);
                    } else {
                        self.teams_lagging.push_back((visible_at, target));
                    }
                }
                self.done(id, teams);
            }
            Effect::KeepTeamsSession { id, .. } => {
                self.record.keepalives.push(t);
                self.done(id, teams);
            }
            Effect::ReleaseTeams { id } => {
                self.record.teams_releases.push(t);
                if teams == SideHealth::Up {
                    self.teams_lagging.clear();
                    self.teams_visible = self.teams_own.clone();
                }
                self.done(id, teams);
            }
            Effect::WriteSalesforce { id, write } => {
                self.record.salesforce_writes.push((t, write.state.clone()));
                if salesforce == SideHealth::Up {
                    self.record.salesforce_records.push(write.clone());
                    self.salesforce = Some(write.state.clone());
                    // The stream brings our own write back, tagged with our origin.
                    self.queue
                        .push_back(Input::SalesforceState(SalesforceObservation {
                            state: write.state,
                            origin_client: Some(write.origin_client),
                            sequence: Some(write.sequence),
                        }));
                }
                self.done(id, salesforce);
            }
            Effect::Heartbeat { id } => {
                self.record.heartbeats.push(t);
                self.done(id, salesforce);
            }
            Effect::AnswerOffer {
                id,
                call_id,
                answer,
            } => {
                self.record.offer_answer_attempts.push((t, call_id.clone()));
                self.record.offer_answers.insert(call_id, answer);
                self.done(id, salesforce);
            }
            Effect::UpdateCall { id, .. } => self.done(id, salesforce),
            Effect::PlaceCall { id, call_id, .. } => {
                self.record.placed_calls.push(call_id);
                self.done(id, salesforce);
            }
            Effect::LookupCaller {
                id,
                call_id,
                digits,
            } => {
                if salesforce == SideHealth::Up && digits == "14155550100" {
                    self.queue.push_back(Input::CallerIdentified {
                        call_id,
                        caller: Some(CallerMatch {
                            object: "Contact".into(),
                            id: "003000000000001AAA".into(),
                            name: "Ada Lovelace".into(),
                        }),
                    });
                }
                self.done(id, salesforce);
            }
            Effect::LogCall { log } => self.record.logs.push(log),
            Effect::RetryCallLog { key } => self.record.retried_logs.push(key),
            Effect::RequestLogRetry { id, call_id } => {
                self.record
                    .retried_logs
                    .push(format!("controller:{call_id}"));
                self.done(id, salesforce);
            }
            Effect::Ui(ui) => self.record.ui.push(ui),
            Effect::Diagnostic { message } => self.record.diagnostics.push(message),
            Effect::Shutdown => self.record.shutdown = true,
        }
    }

    // ---- acting as the agent

    /// The agent changes Teams by hand (a user-preferred presence in Graph).
    pub fn teams_user_sets(&mut self, availability: &str, activity: &str) {
        let value = presence(availability, activity);
        self.teams_lagging.clear();
        self.teams_visible =
            TeamsPresence::new(value.pair.clone(), self.teams_visible.out_of_office);
        self.teams_own = TeamsPresence::new(value.pair, self.teams_own.out_of_office);
    }

    /// Teams itself changes (a meeting, presenting): app-configured, not a preferred presence.
    pub fn teams_app_sets(&mut self, availability: &str, activity: &str) {
        self.teams_lagging.clear();
        self.teams_visible = TeamsPresence::new(
            pair(availability, activity),
            self.teams_visible.out_of_office,
        );
    }

    pub fn outlook_out_of_office(&mut self, on: bool) {
        self.teams_visible.out_of_office = on;
        self.teams_own.out_of_office = on;
    }

    /// The agent picks a state in Salesforce; the stream delivers it.
    pub fn salesforce_user_sets(&mut self, label: &str) {
        self.salesforce = Some(label.to_string());
        self.input(Input::SalesforceState(SalesforceObservation {
            state: label.to_string(),
            origin_client: Some("salesforce-ui".into()),
            sequence: None,
        }));
    }

    pub fn pick(&mut self, label: &str) {
        self.input(Input::User(UserIntent::Pick {
            label: label.into(),
            via: Picker::Tray,
        }));
    }

    pub fn offer(&mut self, call_id: &str, kind: CallKind, from: &str) {
        self.offer_as(call_id, kind, from, false);
    }

    /// An offer whose Task the call controller says it writes (`Logged_By_Controller__c`).
    pub fn offer_logged_by_controller(&mut self, call_id: &str, kind: CallKind, from: &str) {
        self.offer_as(call_id, kind, from, true);
    }

    fn offer_as(&mut self, call_id: &str, kind: CallKind, from: &str, controller_logs: bool) {
        self.input(Input::CallOffered(CallOffer {
            call_id: call_id.into(),
            kind,
            from_number: from.into(),
            to_number: "+14155550199".into(),
            controller_logs,
        }));
    }

    pub fn progress(&mut self, call_id: &str, progress: CallProgress) {
        self.input(Input::CallProgress {
            call_id: call_id.into(),
            progress,
            controller_logs: false,
        });
    }

    pub fn user(&mut self, intent: UserIntent) {
        self.input(Input::User(intent));
    }

    pub fn answer_of(&self, call_id: &str) -> Option<&OfferAnswer> {
        self.record.offer_answers.get(call_id)
    }

    pub fn signalled(&self, call_id: &str) -> bool {
        self.answer_of(call_id) == Some(&OfferAnswer::Signalled)
    }

    pub fn rang(&self, call_id: &str) -> bool {
        self.record
            .ui
            .iter()
            .any(|ui| matches!(ui, UiEffect::Ring { call_id: id, .. } if id == call_id))
    }

    pub fn logs_for(&self, call_id: &str) -> Vec<&CallLog> {
        self.record
            .logs
            .iter()
            .filter(|log| log.call_id == call_id)
            .collect()
    }

    pub fn salesforce_state(&self) -> &str {
        self.salesforce.as_deref().unwrap_or("")
    }

    pub fn teams_pair(&self) -> TeamsPair {
        self.teams_visible.pair.clone()
    }

    pub fn notices(&self) -> Vec<String> {
        self.record
            .ui
            .iter()
            .filter_map(|ui| match ui {
                UiEffect::Notice { text } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }
}
