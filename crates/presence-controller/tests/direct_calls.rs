//! The call controller end to end: the emulator plays Microsoft (Graph's calling API, the
//! agents' Teams clients) and Salesforce, the controller runs as it ships (its webhook on
//! loopback, client-credentials sign-in to both), and the agent runs the real sync (the code of
//! `presence-agent` and the desktop app). Every call below goes Teams → bot → Agent_Call__c →
//! the agent's app, and back.

mod common;

use std::time::{Duration, Instant};

use common::{
    call_of, controller_for, leg_actions, record_of, salesforce_id, tasks_of, until, Agent,
};
use presence_core::UserIntent;
use presence_emulator::Emulator;
use serde_json::json;

#[tokio::test]
async fn a_direct_call_rings_in_the_app_with_the_callers_name_connects_in_teams_and_ends_with_its_duration(
) {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    let id = call.call_id.clone();
    assert_eq!(call.handled_by, "bot");
    agent
        .until("ringing with the caller's name", |s| {
            s.label == "Ringing"
                && s.calls
                    .first()
                    .and_then(|c| c.caller.as_ref())
                    .is_some_and(|c| c.name == "Margaret Hamilton")
        })
        .await;
    let state = emu.state();
    assert_eq!(record_of(&state, &id)["Status__c"], "Signalled");
    assert_eq!(leg_actions(&emu, &id), ["answer", "playPrompt"]);

    agent
        .intent(UserIntent::Answer {
            call_id: id.clone(),
        })
        .await;
    let state = until(&emu, "Ada's Teams joins", |s| {
        call_of(s, &id)["teams"] == "answered by Ada Lovelace in Teams"
    })
    .await;
    assert_eq!(leg_actions(&emu, &id), ["answer", "playPrompt", "invite"]);
    assert_eq!(call_of(&state, &id)["status"], "Answered");
    until(&emu, "the answer's time on the record", |s| {
        record_of(s, &id)["Answered_At__c"].is_string()
    })
    .await;

    tokio::time::sleep(Duration::from_millis(1200)).await;
    emu.hang_up(&id).expect("hang up");
    let state = until(&emu, "the end on the record", |s| {
        record_of(s, &id)["Status__c"] == "Ended" && record_of(s, &id)["Ended_At__c"].is_string()
    })
    .await;
    assert_eq!(call_of(&state, &id)["outcome"], "Ended");
    // The controller logs it (the app does not: the offer says so), owned by the agent and
    // linked to the caller.
    let tasks = tasks_of(&emu, &id, 1).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = &tasks[0];
    assert_eq!(task["CallDisposition"], "Completed");
    assert!(
        task["CallDurationInSeconds"]
            .as_f64()
            .is_some_and(|d| d >= 1.0),
        "{task}"
    );
    assert_eq!(task["OwnerId"], json!(salesforce_id(&emu, 0)));
    assert_eq!(task["Subject"], "Call from Margaret Hamilton");
    assert!(
        task["WhoId"]
            .as_str()
            .is_some_and(|id| id.starts_with("003")),
        "{task}"
    );
    assert_eq!(record_of(&state, &id)["Logged_By_Controller__c"], true);
}

#[tokio::test]
async fn a_do_not_disturb_call_never_rings_and_goes_to_the_agents_teams_with_the_reason_recorded() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    agent.pick("Do Not Disturb").await;
    until(&emu, "DND in Salesforce", |s| {
        s["agents"][0]["salesforce"]["State__c"] == "Do Not Disturb"
    })
    .await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    let state = until(&emu, "taken by Teams' rules", |s| {
        call_of(s, &id)["teams"] == "taken by Ada Lovelace's voicemail"
    })
    .await;
    assert_eq!(record_of(&state, &id)["Status__c"], "NotSignalled");
    assert_eq!(
        call_of(&state, &id)["outcome"],
        "NotSignalled: Do Not Disturb"
    );
    assert_eq!(leg_actions(&emu, &id), ["answer", "playPrompt", "transfer"]);
    let snapshot = agent.handle.snapshots().borrow().clone();
    assert!(
        snapshot.calls.iter().all(|c| c.call_id != id),
        "it never rang: {:?}",
        snapshot.calls
    );
    assert!(
        snapshot.blocked_calls.iter().any(|b| b.call_id == id),
        "listed as blocked: {:?}",
        snapshot.blocked_calls
    );
    let tasks = tasks_of(&emu, &id, 1).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0]["CallDisposition"], "Do Not Disturb",
        "G2: the reason"
    );
    assert_eq!(
        tasks[0]["Subject"],
        "Call from Margaret Hamilton not signalled: Do Not Disturb"
    );
}

#[tokio::test]
async fn a_logged_out_agents_call_goes_to_their_teams_at_once_and_nothing_is_offered() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    agent.pick("Logout").await;
    until(&emu, "logged out", |s| s["agents"][0]["loggedOut"] == true).await;
    let started = Instant::now();
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "Ada's Teams rings", |s| {
        call_of(s, &id)["teams"] == "ringing Ada Lovelace"
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "at once: {:?}",
        started.elapsed()
    );
    assert_eq!(leg_actions(&emu, &id), ["redirect"]);
    emu.with_world(|w| w.teams_pick_up(0, true))
        .expect("Ada picks up in Teams");
    let state = until(&emu, "the outcome", |s| {
        call_of(s, &id)["outcome"].is_string()
    })
    .await;
    assert_eq!(
        call_of(&state, &id)["outcome"],
        "NotOffered: answered by Ada Lovelace in Teams"
    );
    assert!(record_of(&state, &id).is_null(), "no Agent_Call__c");
    assert_eq!(
        state["tasks"].as_array().map(Vec::len),
        Some(0),
        "nothing logged (L4)"
    );
}

#[tokio::test]
async fn a_call_the_app_never_answers_is_answered_by_the_bot_and_handed_to_teams() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "grace").await;
    // The app is gone (its heartbeat still fresh): nobody answers the offer.
    agent.task.abort();
    let id = emu
        .place_call("grace", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    let answered = until(&emu, "the bot answers", |_| {
        leg_actions(&emu, &id)
            .first()
            .is_some_and(|a| a == "answer")
    })
    .await;
    let leg = emu
        .with_world(|w| w.calling.legs.get(&id).map(|l| l.created_ms))
        .expect("a leg");
    assert!(
        emu.with_world(|w| w.now_ms()) - leg < 15_000,
        "inside Graph's 15 s: {}",
        call_of(&answered, &id)
    );
    let state = until(&emu, "handed to Teams", |s| {
        record_of(s, &id)["Status__c"] == "Missed"
    })
    .await;
    assert_eq!(
        record_of(&state, &id)["Reason__c"],
        "no answer from the agent's app"
    );
    until(&emu, "transferred", |_| {
        leg_actions(&emu, &id).contains(&"transfer".to_string())
    })
    .await;
    let tasks = tasks_of(&emu, &id, 1).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["CallDisposition"], "Missed");
    assert_eq!(tasks[0]["OwnerId"], json!(salesforce_id(&emu, 1)));
}

#[tokio::test]
async fn notifications_without_a_valid_token_are_refused() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    for token in ["missing", "wrong-key", "wrong-audience", "expired"] {
        emu.with_world(|w| w.settings.webhook_token = token.into());
        let id = emu
            .place_call("alan", "Direct", "+1 415 555 0100")
            .expect("call")
            .call_id;
        let state = until(&emu, token, |s| call_of(s, &id)["outcome"].is_string()).await;
        assert_eq!(
            call_of(&state, &id)["outcome"],
            "NotReached: the bot's webhook answered 403",
            "{token}"
        );
        assert!(
            leg_actions(&emu, &id).is_empty(),
            "{token}: the bot did nothing"
        );
    }
}

#[tokio::test]
async fn with_the_stream_down_answers_arrive_by_polling_and_the_call_still_connects() {
    use presence_emulator::world::FaultKind;
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_for(&emu).await;
    let agent = Agent::start(&emu, "ada").await;
    // CometD answers 503 to everyone from now on: the app and the controller both poll.
    let unavailable = FaultKind::Status {
        status: 503,
        retry_after: None,
    };
    common::fault(
        &emu,
        presence_emulator::Api::Cometd,
        unavailable,
        None,
        None,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    agent
        .until("ringing", |s| s.calls.iter().any(|c| c.call_id == id))
        .await;
    agent
        .intent(UserIntent::Answer {
            call_id: id.clone(),
        })
        .await;
    until(&emu, "Ada's Teams joins", |s| {
        call_of(s, &id)["teams"] == "answered by Ada Lovelace in Teams"
    })
    .await;
    assert_eq!(leg_actions(&emu, &id), ["answer", "playPrompt", "invite"]);
}
