//! A call log Salesforce refuses for good reaches the agent (reliability issue, harm 2): the
//! real driver, clients and outbox against the emulator. The refused log is listed in the
//! snapshot with Salesforce's reason, survives a restart on the same outbox file, and the
//! agent's Retry (once the fault is gone) saves it exactly once.

mod common;

use std::sync::Arc;

use common::*;
use presence_core::{UiEffect, UserIntent};
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};
use presence_sync::outbox::Outbox;

const MARGARET: &str = "+1 415 555 0100";

fn tasks_for(emu: &Emulator, call_id: &str) -> usize {
    tasks(&emu.state())
        .iter()
        .filter(|task| task["Call_Log_Key__c"] == call_id)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t7_a_refused_call_log_is_listed_with_its_reason_and_saved_once_on_retry() {
    let emu = Emulator::start().await.expect("emulator");
    let dir = std::env::temp_dir().join(format!("pb-unsaved-{}", uuid::Uuid::new_v4().simple()));
    let path = dir.join("outbox.sqlite");
    let outbox = Arc::new(Outbox::open(&path).expect("outbox"));
    let agent = start_agent_with(&emu, "ada", outbox.clone()).await;
    settle(&emu, &agent, "ada").await;

    // A call the app logs itself, whose Task Salesforce refuses (a validation rule, say).
    let call = offer_logged_by_the_app(&emu, "ada", MARGARET);
    fault(
        &emu,
        Api::Salesforce,
        FaultKind::Status {
            status: 400,
            retry_after: None,
        },
        None,
        Some(&format!("Call_Log_Key__c/{call}")),
    );
    let mut ui = agent.handle.ui_effects();
    until_ui(
        &mut ui,
        "ringing",
        |e| matches!(e, UiEffect::Ring { call_id, .. } if *call_id == call),
    )
    .await;
    end_offer(&emu, &call, "CallerHungUp");
    until_snapshot(&agent, "the refused log listed", |s| {
        s.unsaved_calls.iter().any(|u| u.key == call)
    })
    .await;
    let shown = agent.snapshot();
    let unsaved = &shown.unsaved_calls[0];
    assert!(unsaved.reason.starts_with("HTTP 400 "), "{unsaved:?}");
    assert!(unsaved.summary.contains("Missed"), "{unsaved:?}");
    assert!(unsaved.retry);
    assert!(
        shown
            .problems
            .contains(&"1 call not saved to Salesforce".to_string()),
        "{:?}",
        shown.problems
    );
    assert_eq!(tasks_for(&emu, &call), 0);

    // A retry while Salesforce still refuses: tried once more, listed again, no Task.
    let attempts = |emu: &Emulator| {
        requests(emu)
            .iter()
            .filter(|(_, path, _)| path.contains(&call))
            .count()
    };
    let before = attempts(&emu);
    agent
        .intent(UserIntent::RetryCallLog { key: call.clone() })
        .await;
    until(&emu, "the retry sent", |_| attempts(&emu) == before + 1).await;
    until_snapshot(&agent, "listed again", |s| {
        s.unsaved_calls.iter().any(|u| u.key == call)
    })
    .await;
    assert_eq!(tasks_for(&emu, &call), 0);

    // A restart on the same outbox file: the list is read back.
    drop(agent);
    drop(outbox);
    let outbox = Arc::new(Outbox::open(&path).expect("reopened"));
    let agent = start_agent_with(&emu, "ada", outbox.clone()).await;
    until_snapshot(&agent, "listed after a restart", |s| {
        s.unsaved_calls.iter().any(|u| u.key == call)
    })
    .await;

    // The fault is put right; the agent's Retry saves the call once and empties the list.
    emu.with_world(|w| w.faults.clear());
    agent
        .intent(UserIntent::RetryCallLog { key: call.clone() })
        .await;
    until(&emu, "the Task saved", |_| tasks_for(&emu, &call) == 1).await;
    until_snapshot(&agent, "the list empty", |s| {
        s.unsaved_calls.is_empty()
            && !s
                .problems
                .iter()
                .any(|p| p.contains("not saved to Salesforce"))
    })
    .await;
    // A second Retry of the same key (a double click) sends nothing more.
    agent
        .intent(UserIntent::RetryCallLog { key: call.clone() })
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(tasks_for(&emu, &call), 1);
    assert_eq!(outbox.pending().expect("pending"), 0);
    drop(agent);
    let _ = std::fs::remove_dir_all(dir);
}
