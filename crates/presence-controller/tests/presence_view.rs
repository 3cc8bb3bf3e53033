//! The controller holds the agents' presence, kept current from `/topic/AgentPresence` (and
//! read whole every 15 s for the heartbeats): a call's arrival reads no presence from
//! Salesforce, and a call the held view would turn away is checked against Salesforce first.

mod common;

use common::{call_of, controller_for, record_of, until, Agent};
use presence_emulator::Emulator;

fn presence_queries(emu: &Emulator) -> u64 {
    emu.state()["counters"]["salesforce soql Agent_Presence__c"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_call_is_offered_from_the_held_view_and_a_turn_away_is_confirmed_first() {
    let emu = Emulator::start().await.expect("emulator");
    // The app runs before the controller starts: its first read holds Ada's heartbeat.
    let agent = Agent::start(&emu, "ada").await;
    let _controller = controller_for(&emu).await;
    // Its stream subscribed, and the one catch-up poll that follows a subscription done.
    until(&emu, "the controller's stream", |s| {
        s["streaming"]["clients"].as_array().is_some_and(|clients| {
            clients.iter().any(|c| {
                c["agent"].as_str().is_some_and(|a| a.starts_with("005"))
                    && c["subscriptions"].as_array().is_some_and(|s| !s.is_empty())
            })
        })
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = presence_queries(&emu);
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "signalled", |s| {
        record_of(s, &id)["Status__c"] == "Signalled"
    })
    .await;
    assert_eq!(
        presence_queries(&emu),
        before,
        "no presence read at the call's arrival"
    );
    emu.hang_up(&id).expect("hang up");

    // Ada logs out in Salesforce: the stream says so; the turn-away is confirmed, then done.
    emu.salesforce_pick("ada", "Logout").expect("logged out");
    until(&emu, "logged out", |s| s["agents"][0]["loggedOut"] == true).await;
    agent
        .until("logged out in the app", |s| s.label == "Logout")
        .await;
    // The controller's own stream brings it a moment later (a call in between would be
    // offered, and the app would answer it NotSignalled: Logout).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = presence_queries(&emu);
    let away = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "straight to her Teams", |s| {
        call_of(s, &away)["teams"] == "ringing Ada Lovelace"
    })
    .await;
    assert_eq!(presence_queries(&emu), before + 1, "confirmed once");
    assert!(record_of(&emu.state(), &away).is_null(), "nothing offered");

    // Back to Available in the app: the stream brings it, and the next call is offered
    // without a read.
    agent.pick("Available").await;
    until(&emu, "available", |s| {
        s["agents"][0]["salesforce"]["State__c"] == "Available"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = presence_queries(&emu);
    let back = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "signalled again", |s| {
        record_of(s, &back)["Status__c"] == "Signalled"
    })
    .await;
    assert_eq!(presence_queries(&emu), before);
}
