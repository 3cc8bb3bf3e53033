//! The Call Center's answering rule for unanswered direct calls (C6), end to end: the admin
//! sets `Unanswered_Calls__c` (and `Overflow_Target__c`, `End_Prompt_Url__c`) on the Call
//! Center record, the controller reads it at start, and a call the agent's app blocks,
//! declines or does not answer goes there, with the reason on the record and one Task.

mod common;

use common::{call_of, controller_for, leg_actions, record_of, tasks_of, until, Agent};
use presence_core::UserIntent;
use presence_emulator::Emulator;
use serde_json::{json, Value};

/// Sets fields of the org's Call Center record, as an admin would on its page.
fn set_call_center(emu: &Emulator, fields: Value) {
    emu.with_world(|w| {
        let id = w
            .records
            .get("Call_Center__c")
            .and_then(|records| records.keys().next().cloned())
            .expect("the org has a Call Center");
        let fields = fields.as_object().cloned().expect("fields");
        assert!(w.update_record("Call_Center__c", &id, fields));
    });
}

/// Ada in Do Not Disturb, with the app running.
async fn ada_in_do_not_disturb(emu: &Emulator) -> Agent {
    let agent = Agent::start(emu, "ada").await;
    agent.pick("Do Not Disturb").await;
    until(emu, "DND in Salesforce", |s| {
        s["agents"][0]["salesforce"]["State__c"] == "Do Not Disturb"
    })
    .await;
    agent
}

#[tokio::test]
async fn a_blocked_call_goes_to_the_overflow_number_and_to_the_agents_teams_when_it_does_not_answer(
) {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    set_call_center(
        &emu,
        json!({ "Unanswered_Calls__c": "Overflow", "Overflow_Target__c": "+1 415 555 0199" }),
    );
    let _controller = controller_for(&emu).await;
    let _agent = ada_in_do_not_disturb(&emu).await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    let state = until(&emu, "taken by the overflow number", |s| {
        call_of(s, &id)["teams"] == "taken by +14155550199"
    })
    .await;
    assert_eq!(leg_actions(&emu, &id), ["answer", "playPrompt", "transfer"]);
    assert_eq!(record_of(&state, &id)["Reason__c"], "Do Not Disturb");
    let tasks = tasks_of(&emu, &id, 1).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["CallDisposition"], "Do Not Disturb");

    // The number does not answer: Ada's own Teams takes the call (her voicemail).
    emu.with_world(|w| w.settings.far_end_answers = false);
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "taken by Ada's voicemail", |s| {
        call_of(s, &id)["teams"] == "taken by Ada Lovelace's voicemail"
    })
    .await;
    assert_eq!(
        leg_actions(&emu, &id),
        ["answer", "playPrompt", "transfer", "transfer"]
    );
    assert_eq!(tasks_of(&emu, &id, 1).await.len(), 1, "still one Task");
}

#[tokio::test]
async fn a_declined_call_goes_to_the_overflow_user_when_the_target_is_a_teams_user() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    set_call_center(
        &emu,
        json!({ "Unanswered_Calls__c": "Overflow", "Overflow_Target__c": "grace@contoso.example" }),
    );
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    agent
        .until("ringing", |s| s.calls.iter().any(|c| c.call_id == id))
        .await;
    agent
        .intent(UserIntent::Decline {
            call_id: id.clone(),
        })
        .await;
    let state = until(&emu, "taken by Grace's Teams", |s| {
        call_of(s, &id)["teams"] == "taken by Grace Hopper's voicemail"
    })
    .await;
    assert_eq!(record_of(&state, &id)["Status__c"], "Declined");
    assert_eq!(
        tasks_of(&emu, &id, 1).await[0]["CallDisposition"],
        "Declined"
    );
}

#[tokio::test]
async fn end_with_prompt_plays_the_call_centers_prompt_and_ends_the_call() {
    let emu = Emulator::start().await.expect("emulator");
    set_call_center(
        &emu,
        json!({ "Unanswered_Calls__c": "EndWithPrompt", "End_Prompt_Url__c": "https://cdn.contoso.example/closed.wav" }),
    );
    let _controller = controller_for(&emu).await;
    let _agent = ada_in_do_not_disturb(&emu).await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    let started = std::time::Instant::now();
    while !leg_actions(&emu, &id).contains(&"delete".to_string()) {
        assert!(
            started.elapsed() < common::PATIENCE,
            "never hung up: {:?}",
            leg_actions(&emu, &id)
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        leg_actions(&emu, &id),
        ["answer", "playPrompt", "playPrompt", "delete"]
    );
    let prompts = emu.with_world(|w| w.calling.legs[&id].prompts.clone());
    assert_eq!(
        prompts[1], "https://cdn.contoso.example/closed.wav",
        "the Call Center's prompt"
    );
    let state = emu.state();
    assert_eq!(
        call_of(&state, &id)["outcome"],
        "NotSignalled: Do Not Disturb"
    );
    assert_eq!(
        call_of(&state, &id)["teams"],
        Value::Null,
        "Teams never rang"
    );
    assert_eq!(tasks_of(&emu, &id, 1).await.len(), 1);
}

#[tokio::test]
async fn an_overflow_target_that_is_neither_a_user_nor_a_number_leaves_calls_with_the_agents_teams()
{
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    set_call_center(
        &emu,
        json!({ "Unanswered_Calls__c": "Overflow", "Overflow_Target__c": "the front desk" }),
    );
    let _controller = controller_for(&emu).await;
    let _agent = ada_in_do_not_disturb(&emu).await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "taken by Ada's voicemail", |s| {
        call_of(s, &id)["teams"] == "taken by Ada Lovelace's voicemail"
    })
    .await;
}
