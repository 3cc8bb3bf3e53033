//! Every acceptance story of RULES.md §8 through the real wire: the engine, the real Graph,
//! Salesforce and Streaming clients and the driver, against the emulator on 127.0.0.1, with
//! the real call controller (`presence-controller`) owning every call to the agent. The
//! engine-only versions live in `presence-core/tests/acceptance.rs`; here each story is played
//! as an agent would see it, and checked in the emulator's state (what the clouds hold).
//!
//! A17 (a missed call while Salesforce is down, delivered once, also after SIGKILL) is in
//! `tests/outbox.rs`, because it kills the `presence-agent` process.
//!
//! Wrap-up stories run with a 3-second wrap-up instead of 30 (the Call Center's own setting,
//! read from Salesforce like any other), so that the suite stays fast.

mod common;

use std::time::Duration;

use common::*;
use presence_core::{UiEffect, UserIntent};
use presence_emulator::world::{Fault, FaultKind};
use presence_emulator::{Api, Emulator};
use serde_json::{json, Value};

const MARGARET: &str = "+1 415 555 0100";
const EDSGER: &str = "+1 415 555 0101";

/// Changes the Call Center record before the agent starts (the agent reads it at start).
fn call_center(emu: &Emulator, fields: Value) {
    let id = emu
        .with_world(|w| w.records["Call_Center__c"].keys().next().cloned())
        .expect("a call center");
    let fields = fields.as_object().cloned().expect("fields");
    assert!(emu.with_world(|w| w.update_record("Call_Center__c", &id, fields)));
}

/// Waits until the call has ended with an outcome starting with `prefix`.
async fn until_outcome(emu: &Emulator, call_id: &str, prefix: &str) -> String {
    until(emu, &format!("call {call_id}: {prefix}"), |_| {
        emu.call(call_id)
            .and_then(|c| c.outcome)
            .is_some_and(|o| o.starts_with(prefix))
    })
    .await;
    emu.call(call_id).and_then(|c| c.outcome).expect("outcome")
}

async fn until_salesforce(emu: &Emulator, label: &str) {
    until(emu, &format!("Salesforce {label}"), |s| {
        salesforce_state(s) == Some(label)
    })
    .await;
}

async fn until_teams(emu: &Emulator, availability: &str, activity: &str) {
    until(emu, &format!("Teams {availability}/{activity}"), |s| {
        teams(s) == (availability.to_string(), activity.to_string())
    })
    .await;
}

/// The outbound calls the app has created in Salesforce.
fn outbound_records(emu: &Emulator) -> usize {
    emu.state()["agentCalls"]
        .as_array()
        .map(|calls| calls.iter().filter(|c| c["Kind__c"] == "Outbound").count())
        .unwrap_or(0)
}

/// The agent dials; the app refuses with a notice and nothing reaches Salesforce.
async fn assert_outbound_refused(emu: &Emulator, agent: &Agent) {
    let snapshot = agent.snapshot();
    assert!(!snapshot.outbound_allowed, "{snapshot:?}");
    let mut ui = agent.handle.ui_effects();
    agent
        .intent(UserIntent::Dial {
            call_id: "outbound-refused".into(),
            number: EDSGER.into(),
        })
        .await;
    until_ui(&mut ui, "a refusal", |e| {
        matches!(e, UiEffect::Notice { .. })
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outbound_records(emu), 0, "no outbound call was placed");
}

/// Places a direct call, waits until it is signalled, and checks the ringing reached the UI.
async fn signalled_call(emu: &Emulator, agent: &Agent, kind: &str, from: &str) -> String {
    let mut ui = agent.handle.ui_effects();
    let call = emu.place_call("ada", kind, from).expect("call");
    until_call(emu, &call.call_id, "Signalled").await;
    // A queue call's offer to this agent is `{call}~{n}`.
    let id = call.call_id.clone();
    let offer = format!("{id}~");
    until_ui(
        &mut ui,
        "ringing",
        |e| matches!(e, UiEffect::Ring { call_id, .. } if *call_id == id || call_id.starts_with(&offer)),
    )
    .await;
    call.call_id
}

/// Waits `span` and checks `check` held on the emulator's state all along.
async fn holds_for(emu: &Emulator, span: Duration, what: &str, check: impl Fn(&Value) -> bool) {
    let started = std::time::Instant::now();
    while started.elapsed() < span {
        let state = emu.state();
        assert!(check(&state), "{what} stopped holding: {}", ada(&state));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_dnd_set_in_teams_reaches_salesforce_and_blocks_calls_both_ways() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    assert_eq!(salesforce_state(&emu.state()), Some("Available"));
    emu.teams_set_status("ada", "DoNotDisturb", "DoNotDisturb")
        .expect("teams");
    until_salesforce(&emu, "Do Not Disturb").await;
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    let outcome = until_outcome(&emu, &call.call_id, "NotSignalled").await;
    assert_eq!(outcome, "NotSignalled: Do Not Disturb");
    until_snapshot(&agent, "the state", |s| {
        s.state.as_deref() == Some("Do Not Disturb")
    })
    .await;
    assert_outbound_refused(&emu, &agent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_on_a_call_picked_in_salesforce_writes_busy_busy_to_teams() {
    let emu = Emulator::start().await.expect("emulator");
    let _agent = ready_agent(&emu, "ada").await;
    emu.salesforce_pick("ada", "On a Call").expect("pick");
    until_teams(&emu, "Busy", "Busy").await;
    let state = emu.state();
    let preferred = &ada(&state)["teams"]["preferred"];
    assert_eq!(preferred["activity"], "Busy", "not InACall: {preferred}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a3_presenting_or_focusing_blocks_direct_calls_and_outbound() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    emu.teams_activity("ada", "presentation", true)
        .expect("present");
    until_salesforce(&emu, "Presenting").await;
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    assert_eq!(
        until_outcome(&emu, &call.call_id, "NotSignalled").await,
        "NotSignalled: Presenting",
        "the controller is told why"
    );
    assert_outbound_refused(&emu, &agent).await;

    emu.teams_activity("ada", "presentation", false)
        .expect("stop");
    emu.teams_activity("ada", "focus", true).expect("focus");
    until_salesforce(&emu, "Do Not Disturb").await;
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    until_outcome(&emu, &call.call_id, "NotSignalled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a4_busy_in_a_call_or_away_in_teams_still_rings() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    emu.teams_activity("ada", "call", true).expect("in a call");
    until(&emu, "Salesforce follows the Teams call", |s| {
        matches!(salesforce_state(s), Some("In a Call" | "On a Call"))
    })
    .await;
    let first = signalled_call(&emu, &agent, "Direct", MARGARET).await;
    emu.hang_up(&first).expect("hang up");
    emu.teams_activity("ada", "call", false).expect("call over");
    emu.teams_set_status("ada", "Away", "Away").expect("away");
    until_salesforce(&emu, "Away").await;
    signalled_call(&emu, &agent, "Direct", MARGARET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_out_of_office_still_rings_and_shows_the_overlay() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    emu.with_world(|w| {
        presence_emulator::control::teams_out_of_office(w, "ada", true, Some("On leave".into()))
    })
    .expect("ooo");
    until_snapshot(&agent, "the out-of-office overlay", |s| {
        s.out_of_office && s.label == "Available, out of office"
    })
    .await;
    until(&emu, "Out_Of_Office__c in Salesforce", |s| {
        ada(s)["salesforce"]["Out_Of_Office__c"] == true
    })
    .await;
    signalled_call(&emu, &agent, "Direct", MARGARET).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a6_dnd_wins_over_out_of_office() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    emu.with_world(|w| presence_emulator::control::teams_out_of_office(w, "ada", true, None))
        .expect("ooo");
    until_snapshot(&agent, "out of office", |s| s.out_of_office).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    emu.teams_set_status("ada", "DoNotDisturb", "DoNotDisturb")
        .expect("dnd");
    until_salesforce(&emu, "Do Not Disturb").await;
    until_snapshot(&agent, "Do Not Disturb without the overlay", |s| {
        s.label == "Do Not Disturb" && !s.out_of_office
    })
    .await;
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    until_outcome(&emu, &call.call_id, "NotSignalled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a7_logout_hands_calls_and_presence_back_to_teams() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    agent.pick("Logout").await;
    until_salesforce(&emu, "Logout").await;
    until(&emu, "Teams released", |s| {
        ada(s)["teams"]["preferred"].is_null()
    })
    .await;
    until_snapshot(&agent, "no connection to Teams", |s| {
        s.no_connection_to_teams
    })
    .await;
    let mut ui = agent.handle.ui_effects();
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    // Not offered: straight to her own Teams (its rules apply), nothing written (L2, L4).
    until(&emu, "Ada's Teams rings", |_| {
        emu.call(&call.call_id).and_then(|c| c.teams).as_deref() == Some("ringing Ada Lovelace")
    })
    .await;
    assert!(emu
        .call(&call.call_id)
        .is_some_and(|c| c.record_id.is_none()));
    // Teams is the agent's own again: a change there stays there.
    emu.teams_set_status("ada", "Busy", "Busy").expect("busy");
    holds_for(&emu, Duration::from_secs(3), "Logout in Salesforce", |s| {
        salesforce_state(s) == Some("Logout") && tasks(s).is_empty()
    })
    .await;
    assert!(
        !std::iter::from_fn(|| ui.try_recv().ok()).any(|e| matches!(e, UiEffect::Ring { .. })),
        "nothing rang"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_with_presence_routing_a_queue_call_is_not_offered_while_busy() {
    let emu = Emulator::start().await.expect("emulator");
    call_center(&emu, json!({ "Presence_Routing__c": true }));
    let _controller = controller(&emu).await;
    let _agent = ready_agent(&emu, "ada").await;
    emu.salesforce_pick("ada", "Busy").expect("busy");
    until_teams(&emu, "Busy", "Busy").await;
    let mut ui = _agent.handle.ui_effects();
    let call = emu.place_call("ada", "Queue", MARGARET).expect("call");
    // The controller routes by presence (C5): nobody of the queue may take it (Ada is Busy,
    // Grace and Alan run no app), so it overflows to Grace's Teams and Ada never sees it.
    until(&emu, "Grace's Teams rings", |_| {
        emu.call(&call.call_id).and_then(|c| c.teams).as_deref() == Some("ringing Grace Hopper")
    })
    .await;
    assert!(
        !std::iter::from_fn(|| ui.try_recv().ok()).any(|e| matches!(e, UiEffect::Ring { .. })),
        "nothing rang"
    );
    holds_for(
        &emu,
        Duration::from_secs(1),
        "no Task for a queue call",
        |s| tasks(s).is_empty(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_without_presence_routing_a_queue_call_is_offered_while_away() {
    let emu = Emulator::start().await.expect("emulator");
    call_center(&emu, json!({ "Presence_Routing__c": false }));
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    emu.salesforce_pick("ada", "Away").expect("away");
    until_snapshot(&agent, "Away", |s| s.state.as_deref() == Some("Away")).await;
    signalled_call(&emu, &agent, "Queue", MARGARET).await;
}

/// Answers a signalled call and waits until the controller has it connected.
async fn answer(emu: &Emulator, agent: &Agent, call_id: &str) {
    agent
        .intent(UserIntent::Answer {
            call_id: call_id.into(),
        })
        .await;
    until_call(emu, call_id, "Answered").await;
    // The agent's Teams rings with the controller's invitation and picks up.
    until(emu, "connected in Teams", |_| {
        emu.call(call_id)
            .and_then(|c| c.teams)
            .is_some_and(|t| t.starts_with("answered by"))
    })
    .await;
    until_salesforce(emu, "On a Call").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a10_an_answered_call_ends_in_wrap_up_then_the_state_before() {
    let emu = Emulator::start().await.expect("emulator");
    call_center(&emu, json!({ "Wrap_Up_Seconds__c": 3 }));
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    let call = signalled_call(&emu, &agent, "Direct", MARGARET).await;
    answer(&emu, &agent, &call).await;
    until_teams(&emu, "Busy", "Busy").await;
    emu.hang_up(&call).expect("hang up");
    until_salesforce(&emu, "Wrap-up").await;
    until_snapshot(&agent, "the wrap-up timer", |s| s.wrap_up.is_some()).await;
    let wrapped = std::time::Instant::now();
    until_salesforce(&emu, "Available").await;
    let took = wrapped.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "wrap-up lasted its 3 s, not {took:?}"
    );
    until_teams(&emu, "Available", "Available").await;
    until(&emu, "the answered call's Task", |s| tasks(s).len() == 1).await;
    assert_eq!(tasks(&emu.state())[0]["Call_Log_Key__c"], call.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a11_dnd_chosen_during_the_call_skips_wrap_up() {
    let emu = Emulator::start().await.expect("emulator");
    call_center(&emu, json!({ "Wrap_Up_Seconds__c": 3 }));
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    let call = signalled_call(&emu, &agent, "Direct", MARGARET).await;
    answer(&emu, &agent, &call).await;
    agent.pick("Do Not Disturb").await;
    until_salesforce(&emu, "Do Not Disturb").await;
    emu.hang_up(&call).expect("hang up");
    until_call(&emu, &call, "Ended").await;
    holds_for(&emu, Duration::from_secs(4), "Do Not Disturb", |s| {
        salesforce_state(s) == Some("Do Not Disturb")
    })
    .await;
    assert!(agent.snapshot().wrap_up.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a12_an_unanswered_outbound_call_has_no_wrap_up() {
    let emu = Emulator::start().await.expect("emulator");
    call_center(&emu, json!({ "Wrap_Up_Seconds__c": 3 }));
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    agent
        .intent(UserIntent::Dial {
            call_id: "outbound-1".into(),
            number: EDSGER.into(),
        })
        .await;
    until(&emu, "the outbound call in Salesforce", |_| {
        outbound_records(&emu) == 1
    })
    .await;
    agent
        .intent(UserIntent::HangUp {
            call_id: "outbound-1".into(),
        })
        .await;
    until(&emu, "the outbound call cancelled", |s| {
        s["agentCalls"].as_array().is_some_and(|calls| {
            calls
                .iter()
                .any(|c| c["Kind__c"] == "Outbound" && c["Status__c"] == "Ended")
        })
    })
    .await;
    holds_for(&emu, Duration::from_secs(4), "no wrap-up", |s| {
        salesforce_state(s) != Some("Wrap-up")
    })
    .await;
    assert!(agent.snapshot().wrap_up.is_none());
    assert_eq!(agent.snapshot().state.as_deref(), Some("Available"));
}

fn cut(emu: &Emulator, api: Api) {
    emu.with_world(|w| {
        w.faults.push(Fault {
            api,
            kind: FaultKind::Drop,
            count: None,
            path_contains: None,
        })
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a13_sides_that_drifted_during_a_network_cut_converge_when_it_returns() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.long_poll_ms = 1000);
    let agent = ready_agent(&emu, "ada").await;
    for api in [Api::Graph, Api::Salesforce, Api::Cometd] {
        cut(&emu, api);
    }
    until_snapshot(&agent, "both links down", |s| {
        s.links.iter().all(|l| !l.state.is_connected())
    })
    .await;
    // Meanwhile the agent changes Teams; Salesforce still says Available.
    emu.teams_set_status("ada", "Away", "Away").expect("away");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(salesforce_state(&emu.state()), Some("Available"));
    emu.with_world(|w| w.faults.clear());
    until_salesforce(&emu, "Away").await;
    until_snapshot(&agent, "links back and Away", |s| {
        s.links.iter().all(|l| l.state.is_connected()) && s.state.as_deref() == Some("Away")
    })
    .await;
    assert_eq!(teams(&emu.state()), ("Away".into(), "Away".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a14_a_second_direct_call_during_a_call_is_signalled_as_call_waiting() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    let first = signalled_call(&emu, &agent, "Direct", MARGARET).await;
    answer(&emu, &agent, &first).await;
    let mut ui = agent.handle.ui_effects();
    let second = emu.place_call("ada", "Direct", EDSGER).expect("call");
    until_call(&emu, &second.call_id, "Signalled").await;
    let id = second.call_id.clone();
    let ring = until_ui(
        &mut ui,
        "call waiting",
        |e| matches!(e, UiEffect::Ring { call_id, .. } if *call_id == id),
    )
    .await;
    assert!(
        matches!(
            ring,
            UiEffect::Ring {
                call_waiting: true,
                ..
            }
        ),
        "{ring:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a15_an_internal_call_ignores_dnd_and_is_not_logged() {
    // DND does not stop it: it never reaches the controller.
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    agent.pick("Do Not Disturb").await;
    until_salesforce(&emu, "Do Not Disturb").await;
    // A Teams user calling Ada rings her Teams directly: no bot is in the call, so presence
    // is not considered and Presence Bridge logs nothing (C4).
    let mut ui = agent.handle.ui_effects();
    let call = emu
        .place_call("ada", "Internal", EDSGER)
        .expect("call")
        .call_id;
    until(&emu, "Ada's Teams rings", |_| {
        emu.call(&call).and_then(|c| c.teams).as_deref() == Some("ringing Ada Lovelace")
    })
    .await;
    emu.hang_up(&call).expect("hang up");
    until_outcome(&emu, &call, "CallerHungUp").await;
    assert!(
        !std::iter::from_fn(|| ui.try_recv().ok()).any(|e| matches!(e, UiEffect::Ring { .. })),
        "nothing rang in the app"
    );
    holds_for(&emu, Duration::from_secs(2), "nothing logged", |s| {
        tasks(s).is_empty() && salesforce_state(s) == Some("Do Not Disturb")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a16_teams_echoing_our_busy_is_not_written_back_to_salesforce() {
    let emu = Emulator::start().await.expect("emulator");
    let _agent = ready_agent(&emu, "ada").await;
    emu.salesforce_pick("ada", "Busy").expect("busy");
    until_teams(&emu, "Busy", "Busy").await;
    let record = ada(&emu.state())["salesforce"].clone();
    // Teams keeps reporting our Busy on every poll for a while (the echo).
    holds_for(&emu, Duration::from_secs(4), "Salesforce untouched", |s| {
        let now = &ada(s)["salesforce"];
        now["State__c"] == record["State__c"]
            && now["Source__c"] == record["Source__c"]
            && now["Changed_At__c"] == record["Changed_At__c"]
    })
    .await;
    assert_eq!(record["Source__c"], "Salesforce");
}
