//! Outbound calls end to end: the agent dials in the app (the real sync), the app writes an
//! `Agent_Call__c` of `Kind__c = Outbound`, the controller checks C3 again and places the call
//! agent first (the bot rings the agent's Teams from their line, then dials the number into
//! it), and writes the call's one Task.

mod common;

use std::time::Duration;

use common::{controller_for, controller_with, record_of, tasks_of, until, Agent};
use presence_core::UserIntent;
use presence_emulator::Emulator;
use serde_json::Value;

/// The bot's call for an outbound request: the control API's Outbound call of `agent`.
fn placed_call(state: &Value, agent: &str) -> Value {
    state["calls"]
        .as_array()
        .and_then(|calls| {
            calls
                .iter()
                .find(|c| c["kind"] == "Outbound" && c["agent"] == agent)
        })
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_call_the_agent_dials_rings_their_teams_dials_the_number_and_is_logged_once_by_the_controller(
) {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    agent
        .intent(UserIntent::Dial {
            call_id: "out-1".into(),
            number: "+1 415 555 0100".into(),
        })
        .await;
    // Ada's Teams rings from her line and she picks it up (after 1 s); the number is dialled
    // and answers (after 2 s).
    let state = until(&emu, "the far end answers", |s| {
        placed_call(s, "ada")["status"] == "Answered"
    })
    .await;
    let call = placed_call(&state, "ada");
    assert_eq!(call["handled_by"], "bot");
    assert_eq!(call["from"], "+14155550101", "from Ada's own line");
    assert_eq!(call["to"], "+14155550100");
    let leg = call["call_id"].as_str().expect("leg").to_string();
    let actions = emu.with_world(|w| w.calling.legs[&leg].actions.clone());
    assert_eq!(actions, ["create", "invite"]);
    until(&emu, "Answered on the record", |s| {
        record_of(s, "out-1")["Status__c"] == "Answered"
            && record_of(s, "out-1")["Answered_At__c"].is_string()
    })
    .await;
    assert_eq!(
        record_of(&emu.state(), "out-1")["Logged_By_Controller__c"],
        true
    );
    agent.until("on a call", |s| s.label == "On a Call").await;

    tokio::time::sleep(Duration::from_millis(1200)).await;
    agent
        .intent(UserIntent::HangUp {
            call_id: "out-1".into(),
        })
        .await;
    let state = until(&emu, "the bot's call over", |s| {
        placed_call(s, "ada")["outcome"] == "Ended"
    })
    .await;
    assert!(placed_call(&state, "ada")["ended_ms"].is_i64());
    let tasks = tasks_of(&emu, "out-1", 1).await;
    // The app logs nothing of a call the controller logs: still one Task a moment later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks_now = tasks_of(&emu, "out-1", 1).await;
    assert_eq!((tasks.len(), tasks_now.len()), (1, 1), "{tasks_now:?}");
    let task = &tasks_now[0];
    assert_eq!(task["CallDisposition"], "Completed");
    assert_eq!(task["CallType"], "Outbound");
    assert!(
        task["CallDurationInSeconds"]
            .as_f64()
            .is_some_and(|d| d >= 1.0),
        "{task}"
    );
    assert_eq!(task["Subject"], "Call to +14155550100");
    assert!(
        task["WhoId"]
            .as_str()
            .is_some_and(|id| id.starts_with("003")),
        "linked to the contact dialled: {task}"
    );
    agent
        .until("listed in recent calls", |s| {
            s.recent_calls.iter().any(|c| c.call_id == "out-1")
        })
        .await;
}

#[tokio::test]
async fn a_request_from_a_do_not_disturb_agent_is_refused_where_the_call_is_made_and_nothing_is_logged(
) {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    agent.pick("Do Not Disturb").await;
    until(&emu, "DND in Salesforce", |s| {
        s["agents"][0]["salesforce"]["State__c"] == "Do Not Disturb"
    })
    .await;
    // An app whose view was stale asks anyway (the app itself refuses in DND, C3).
    let connectors = agent.handle.connectors().await.expect("connectors");
    connectors
        .salesforce
        .place_call("stale-1", "14155550123")
        .await
        .expect("the request is written");
    let state = until(&emu, "refused on the record", |s| {
        record_of(s, "stale-1")["Status__c"] == "NotSignalled"
    })
    .await;
    assert_eq!(
        record_of(&state, "stale-1")["Reason__c"],
        "Outbound calls are blocked while Do Not Disturb"
    );
    assert_eq!(placed_call(&state, "ada"), Value::Null, "nothing placed");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = emu.state();
    assert!(
        state["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["CallObject"] != "stale-1")),
        "no Task: {}",
        state["tasks"]
    );
}

#[tokio::test]
async fn a_placed_call_the_agent_does_not_pick_up_in_teams_is_a_no_answer_logged_once() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.teams_accept_invite_ms = None;
        w.settings.teams_ring_s = 1;
    });
    let _controller = controller_with(&emu, |_| {}).await;
    let agent = Agent::start(&emu, "grace").await;
    agent
        .intent(UserIntent::Dial {
            call_id: "out-2".into(),
            number: "+1 415 555 0123".into(),
        })
        .await;
    let state = until(&emu, "missed on the record", |s| {
        record_of(s, "out-2")["Status__c"] == "Missed"
    })
    .await;
    assert_eq!(
        record_of(&state, "out-2")["Reason__c"],
        "not picked up in Teams"
    );
    assert_eq!(
        placed_call(&state, "grace")["outcome"],
        "NoAnswer: Grace Hopper did not join"
    );
    agent
        .until("the call gone from the panel", |s| s.calls.is_empty())
        .await;
    let tasks = tasks_of(&emu, "out-2", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tasks_now = tasks_of(&emu, "out-2", 1).await;
    assert_eq!((tasks.len(), tasks_now.len()), (1, 1), "{tasks_now:?}");
    assert_eq!(tasks_now[0]["CallDisposition"], "No answer");
}
