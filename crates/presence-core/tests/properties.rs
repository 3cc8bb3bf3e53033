//! Property tests over random interleavings of Teams changes, Salesforce changes, picks, calls,
//! echoes lagging up to 10 minutes and connector failures:
//! (a) the engine never writes back an echo of its own write;
//! (b) both sides converge once inputs stop;
//! (c) no call is signalled in a DoNotDisturb or LoggedOut class unless it is internal;
//! (d) writes per genuine change are bounded.

mod support;

use presence_core::{
    CallCenterConfig, CallKind, CallProgress, Failure, Input, Link, PresenceClass, Source,
    UserIntent,
};
use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
enum Op {
    TeamsUser(usize),
    TeamsApp(usize),
    OutOfOffice(bool),
    SalesforceUser(usize),
    Pick(usize),
    Advance(u64),
    Lag(u64),
    TeamsFails(Option<usize>),
    SalesforceFails(Option<usize>),
    Offer(usize),
    Answer,
    CallEnds(usize),
    /// The Salesforce stream was (re)subscribed.
    Resubscribe,
}

const TEAMS_USER: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("BeRightBack", "BeRightBack"),
    ("Away", "Away"),
    ("Offline", "OffWork"),
];

const TEAMS_APP: &[(&str, &str)] = &[
    ("Busy", "InACall"),
    ("Busy", "InAMeeting"),
    ("DoNotDisturb", "Presenting"),
    ("DoNotDisturb", "Focusing"),
    ("PresenceUnknown", "PresenceUnknown"),
    ("AvailableIdle", "Inactive"),
];

const KINDS: &[CallKind] = &[CallKind::Direct, CallKind::Queue, CallKind::Internal];
const PROGRESS: &[CallProgress] = &[
    CallProgress::CallerHungUp,
    CallProgress::Missed,
    CallProgress::Ended,
    CallProgress::Declined,
];

fn selectable() -> Vec<String> {
    CallCenterConfig::shipped_default()
        .selectable()
        .map(|state| state.label.clone())
        .collect()
}

fn failure(index: usize) -> Failure {
    match index % 4 {
        0 => Failure::Offline {
            reason: "down".into(),
        },
        1 => Failure::Transient {
            reason: "503".into(),
        },
        2 => Failure::RateLimited {
            retry_after: Some(secs(7)),
        },
        _ => Failure::RateLimited { retry_after: None },
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TEAMS_USER.len()).prop_map(Op::TeamsUser),
        1 => (0..TEAMS_APP.len()).prop_map(Op::TeamsApp),
        1 => any::<bool>().prop_map(Op::OutOfOffice),
        3 => (0..20usize).prop_map(Op::SalesforceUser),
        2 => (0..20usize).prop_map(Op::Pick),
        5 => (0..20_000u64).prop_map(Op::Advance),
        1 => (0..600u64).prop_map(Op::Lag),
        1 => proptest::option::of(0..4usize).prop_map(Op::TeamsFails),
        1 => proptest::option::of(0..4usize).prop_map(Op::SalesforceFails),
        2 => (0..KINDS.len()).prop_map(Op::Offer),
        1 => Just(Op::Answer),
        1 => (0..PROGRESS.len()).prop_map(Op::CallEnds),
        1 => Just(Op::Resubscribe),
    ]
}

/// Only what happens on the Salesforce side and the desktop: no Teams change by anyone.
fn salesforce_side_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..20usize).prop_map(Op::SalesforceUser),
        2 => (0..20usize).prop_map(Op::Pick),
        5 => (0..20_000u64).prop_map(Op::Advance),
        1 => (0..600u64).prop_map(Op::Lag),
        1 => proptest::option::of(0..4usize).prop_map(Op::TeamsFails),
        1 => proptest::option::of(0..4usize).prop_map(Op::SalesforceFails),
        1 => Just(Op::Resubscribe),
    ]
}

/// Only what happens in Teams.
fn teams_side_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TEAMS_USER.len()).prop_map(Op::TeamsUser),
        1 => (0..TEAMS_APP.len()).prop_map(Op::TeamsApp),
        1 => any::<bool>().prop_map(Op::OutOfOffice),
        5 => (0..20_000u64).prop_map(Op::Advance),
        1 => proptest::option::of(0..4usize).prop_map(Op::TeamsFails),
        1 => proptest::option::of(0..4usize).prop_map(Op::SalesforceFails),
    ]
}

struct Run {
    world: World,
    genuine_changes: usize,
    next_call: usize,
    calls: Vec<String>,
    signalled_while_blocking: Vec<String>,
}

impl Run {
    fn new() -> Self {
        Self {
            world: World::new().started(),
            genuine_changes: 0,
            next_call: 0,
            calls: Vec::new(),
            signalled_while_blocking: Vec::new(),
        }
    }

    fn apply(&mut self, op: &Op) {
        let labels = selectable();
        let w = &mut self.world;
        match op {
            Op::TeamsUser(i) => {
                let (a, b) = TEAMS_USER[*i];
                w.teams_user_sets(a, b);
                self.genuine_changes += 1;
            }
            Op::TeamsApp(i) => {
                let (a, b) = TEAMS_APP[*i];
                w.teams_app_sets(a, b);
                self.genuine_changes += 1;
            }
            Op::OutOfOffice(on) => {
                w.outlook_out_of_office(*on);
                self.genuine_changes += 1;
            }
            Op::SalesforceUser(i) => {
                if w.salesforce_health == SideHealth::Up {
                    w.salesforce_user_sets(&labels[i % labels.len()]);
                    self.genuine_changes += 1;
                }
            }
            Op::Pick(i) => {
                w.pick(&labels[i % labels.len()]);
                self.genuine_changes += 1;
            }
            Op::Advance(ms_) => w.advance(ms(*ms_)),
            Op::Lag(s) => w.teams_lag = secs(*s),
            Op::Resubscribe => w.input(Input::Resubscribed {
                link: Link::Salesforce,
            }),
            Op::TeamsFails(f) => {
                w.teams_health = f.map_or(SideHealth::Up, |i| SideHealth::Failing(failure(i)))
            }
            Op::SalesforceFails(f) => {
                w.salesforce_health = f.map_or(SideHealth::Up, |i| SideHealth::Failing(failure(i)))
            }
            Op::Offer(k) => {
                let kind = KINDS[*k];
                let id = format!("call-{}", self.next_call);
                self.next_call += 1;
                let blocking = w
                    .snapshot()
                    .state
                    .and_then(|label| {
                        CallCenterConfig::shipped_default()
                            .state(&label)
                            .map(|s| s.class)
                    })
                    .is_some_and(|class| {
                        matches!(
                            class,
                            PresenceClass::DoNotDisturb | PresenceClass::LoggedOut
                        )
                    });
                w.offer(&id, kind, "+14155550100");
                if blocking && kind != CallKind::Internal && (w.signalled(&id) || w.rang(&id)) {
                    self.signalled_while_blocking.push(id.clone());
                }
                self.calls.push(id);
            }
            Op::Answer => {
                if let Some(id) = self.calls.last().cloned() {
                    w.user(UserIntent::Answer { call_id: id });
                    self.genuine_changes += 1;
                }
            }
            Op::CallEnds(p) => {
                if let Some(id) = self.calls.pop() {
                    w.progress(&id, PROGRESS[*p].clone());
                    self.genuine_changes += 2; // the end, and the wrap-up that may follow
                }
            }
        }
    }

    /// Stops all inputs: ends the calls, heals both links, lets lag and wrap-up run out.
    fn settle(&mut self) {
        let w = &mut self.world;
        for id in self.calls.drain(..) {
            w.progress(&id, CallProgress::Ended);
        }
        w.teams_health = SideHealth::Up;
        w.salesforce_health = SideHealth::Up;
        w.advance(secs(45 * 60));
    }

    fn assert_converged(&self) {
        let w = &self.world;
        let shown = w.snapshot();
        let cc = CallCenterConfig::shipped_default();
        let state = shown.state.clone().expect("a state is known");
        assert_eq!(
            w.salesforce_state(),
            state,
            "Salesforce shows the engine's state"
        );
        let def = cc.state(&state).expect("configured");
        if def.class == PresenceClass::LoggedOut {
            return;
        }
        let teams = &w.teams_visible;
        let agrees = def.teams_target() == Some(&teams.pair.normalised())
            || cc
                .state_for_teams(teams)
                .is_some_and(|s| s.label == def.label)
            || teams.class() == PresenceClass::Unknown;
        assert!(
            agrees,
            "Teams shows {} while the state is {state}",
            teams.pair
        );
    }
}

proptest! {
    // 256 cases in `make test`; PROPTEST_CASES=40000 in `make soak`.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// (b), (c), (d) over everything at once.
    #[test]
    fn any_interleaving_converges_blocks_calls_in_dnd_and_bounds_writes(
        ops in proptest::collection::vec(op(), 1..45)
    ) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op);
        }
        prop_assert!(run.signalled_while_blocking.is_empty(),
            "signalled in DND/LoggedOut: {:?}", run.signalled_while_blocking);
        run.settle();
        run.assert_converged();
        let landed = run.world.record.salesforce_records.len() + run.world.record.teams_writes_landed;
        let bound = 3 * run.genuine_changes + 6;
        prop_assert!(landed <= bound, "{landed} writes landed for {} genuine changes", run.genuine_changes);
    }

    /// (a): with no change made in Teams, nothing Teams reports (our own writes echoing back
    /// late, stale readings) is ever written to Salesforce.
    #[test]
    fn echoes_of_our_teams_writes_are_never_written_to_salesforce(
        ops in proptest::collection::vec(salesforce_side_op(), 1..45),
        sequence_numbers in any::<bool>(),
    ) {
        let mut run = Run::new();
        run.world.teams_sequence_numbers = sequence_numbers;
        for op in &ops {
            run.apply(op);
        }
        run.settle();
        let echoed: Vec<_> = run.world.record.salesforce_records.iter()
            .filter(|write| matches!(write.source, Source::Teams | Source::OutlookOutOfOffice))
            .collect();
        prop_assert!(echoed.is_empty(), "written back to Salesforce: {echoed:?}");
        run.assert_converged();
    }

    /// (a) the other way: with no change made in Salesforce or on the desktop, nothing is
    /// written to Teams (every value came from Teams).
    #[test]
    fn echoes_of_our_salesforce_writes_are_never_written_to_teams(
        ops in proptest::collection::vec(teams_side_op(), 1..45),
    ) {
        let mut run = Run::new();
        for op in &ops {
            run.apply(op);
        }
        run.settle();
        prop_assert_eq!(run.world.record.teams_writes_landed, 0);
        run.assert_converged();
    }
}
