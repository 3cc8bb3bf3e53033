//! A call's Task that Salesforce refuses for good reaches its agent (reliability issue, harm
//! 2): the controller sets it aside, writes the reason on the agent's offer, the agent's app
//! lists it under "Not saved to Salesforce", and the agent's Retry (through the offer) has the
//! controller send it again: refused again while the cause stays, saved exactly once after.

mod common;

use std::time::Duration;

use common::{call_of, controller_for, record_of, until, Agent};
use presence_core::UserIntent;
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};

fn tasks_for(emu: &Emulator, call: &str) -> usize {
    emu.state()["tasks"].as_array().map_or(0, |tasks| {
        tasks
            .iter()
            .filter(|t| t["Call_Log_Key__c"] == call)
            .count()
    })
}

fn task_attempts(emu: &Emulator, call: &str) -> usize {
    emu.state()["requests"].as_array().map_or(0, |requests| {
        requests
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains(&format!("Call_Log_Key__c/{call}")))
            })
            .count()
    })
}

#[tokio::test]
async fn a_task_salesforce_refuses_is_listed_in_the_agents_app_and_saved_once_on_retry() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    let id = call.call_id.clone();
    // Salesforce refuses this call's Task, as a validation rule would.
    let invalid = FaultKind::Status {
        status: 400,
        retry_after: None,
    };
    let task = format!("Call_Log_Key__c/{id}");
    common::fault(&emu, Api::Salesforce, invalid, None, Some(task));
    agent.until("ringing", |s| s.label == "Ringing").await;
    agent
        .intent(UserIntent::Answer {
            call_id: id.clone(),
        })
        .await;
    until(&emu, "Ada's Teams joins", |s| {
        call_of(s, &id)["teams"] == "answered by Ada Lovelace in Teams"
    })
    .await;
    emu.hang_up(&id).expect("hang up");

    // The refusal is written on the offer and listed in the app, with Salesforce's reason.
    until(&emu, "the refusal on the offer", |s| {
        record_of(s, &id)["Log_Error__c"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP 400 "))
    })
    .await;
    agent
        .until("listed as not saved", |s| {
            s.unsaved_calls
                .iter()
                .any(|u| u.key == id && u.by_controller && u.reason.starts_with("HTTP 400 "))
        })
        .await;
    let shown = agent.handle.snapshots().borrow().clone();
    let line = &shown.unsaved_calls[0];
    assert!(
        line.summary.starts_with("Margaret Hamilton · Completed · "),
        "{line:?}"
    );
    assert!(shown
        .problems
        .contains(&"1 call not saved to Salesforce".to_string()));
    assert_eq!(tasks_for(&emu, &id), 0);
    let refused_once = task_attempts(&emu, &id);
    assert_eq!(refused_once, 1, "a refusal for good is not retried blindly");

    // A Retry while the cause stays: sent once more, refused, listed again.
    agent
        .intent(UserIntent::RetryCallLog { key: id.clone() })
        .await;
    until(&emu, "the second attempt", |_| {
        task_attempts(&emu, &id) == 2
    })
    .await;
    until(&emu, "the refusal written again", |s| {
        record_of(s, &id)["Log_Error__c"].is_string()
            && record_of(s, &id)["Log_Retry_At__c"].is_null()
    })
    .await;
    agent
        .until("listed again", |s| {
            s.unsaved_calls.iter().any(|u| u.key == id)
        })
        .await;

    // The cause is put right; the Retry saves it once, and the list empties.
    emu.with_world(|w| w.faults.clear());
    agent
        .intent(UserIntent::RetryCallLog { key: id.clone() })
        .await;
    until(&emu, "the Task saved", |_| tasks_for(&emu, &id) == 1).await;
    agent
        .until("the list empty", |s| {
            s.unsaved_calls.is_empty()
                && !s
                    .problems
                    .iter()
                    .any(|p| p.contains("not saved to Salesforce"))
        })
        .await;
    let state = emu.state();
    assert!(record_of(&state, &id)["Log_Error__c"].is_null());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tasks_for(&emu, &id), 1, "exactly one Task");
}
