//! The controller killed with SIGKILL while five calls are in flight, then started again on the
//! same address and store: no call is lost, none is offered twice, each ends as it should. The
//! controller is the real binary; the emulator and the agents' syncs run in this process and
//! live through the crash.

mod common;

use std::time::{Duration, Instant};

use common::{call_of, record_of, until, Agent, ControllerProcess};
use presence_core::UserIntent;
use presence_emulator::Emulator;
use serde_json::Value;

fn offered_at(state: &Value, id: &str) -> Value {
    record_of(state, id)["Offered_At__c"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_killed_with_five_calls_in_flight_loses_none_and_doubles_none() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    // The demo settings serve HTTPS with a self-signed certificate, kept across the restart.
    let mut controller = ControllerProcess::start(&emu);
    let ada = Agent::start(&emu, "ada").await;
    let grace = Agent::start(&emu, "grace").await;
    emu.salesforce_pick("alan", "Logout")
        .expect("alan logged out");

    // A: ada answers and is connected. B: a second call to ada rings (call waiting).
    let a = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("A")
        .call_id;
    until(&emu, "A signalled", |s| {
        record_of(s, &a)["Status__c"] == "Signalled"
    })
    .await;
    ada.intent(UserIntent::Answer { call_id: a.clone() }).await;
    until(&emu, "A connected", |s| {
        record_of(s, &a)["Answered_At__c"].is_string()
    })
    .await;
    let b = emu
        .place_call("ada", "Direct", "+31 20 555 0111")
        .expect("B")
        .call_id;
    // C and E ring at grace's; D is alan's, who is logged out: straight to his Teams.
    let c = emu
        .place_call("grace", "Direct", "(415) 555-0123")
        .expect("C")
        .call_id;
    until(&emu, "B and C signalled", |s| {
        record_of(s, &b)["Status__c"] == "Signalled" && record_of(s, &c)["Status__c"] == "Signalled"
    })
    .await;
    let e = emu
        .place_call("grace", "Direct", "+1 (415) 555-0199")
        .expect("E")
        .call_id;
    let d = emu
        .place_call("alan", "Direct", "+1 415 555 0100")
        .expect("D")
        .call_id;
    let before = until(&emu, "E signalled, D at alan's Teams", |s| {
        record_of(s, &e)["Status__c"] == "Signalled"
            && call_of(s, &d)["teams"] == "ringing Alan Turing"
    })
    .await;

    controller.kill();
    // While it is down: ada declines B, grace answers C.
    ada.intent(UserIntent::Decline { call_id: b.clone() }).await;
    grace
        .intent(UserIntent::Answer { call_id: c.clone() })
        .await;
    until(&emu, "the apps' answers", |s| {
        record_of(s, &b)["Status__c"] == "Declined" && record_of(s, &c)["Status__c"] == "Answered"
    })
    .await;

    controller.start_again(&emu);
    until(&emu, "C joined in grace's Teams", |s| {
        call_of(s, &c)["teams"] == "answered by Grace Hopper in Teams"
    })
    .await;
    until(&emu, "B handed to ada's Teams", |s| {
        call_of(s, &b)["teams"] == "taken by Ada Lovelace's voicemail"
    })
    .await;
    emu.with_world(|w| w.teams_pick_up(2, true))
        .expect("alan picks up D in Teams");
    emu.hang_up(&a).expect("A's caller hangs up");
    emu.hang_up(&c).expect("C's caller hangs up");
    let after = until(&emu, "every call settled", |s| {
        record_of(s, &a)["Status__c"] == "Ended"
            && record_of(s, &c)["Status__c"] == "Ended"
            && record_of(s, &e)["Status__c"] == "Missed"
            && call_of(s, &d)["outcome"].is_string()
    })
    .await;
    assert_eq!(record_of(&after, &b)["Status__c"], "Declined");
    assert_eq!(
        call_of(&after, &d)["outcome"],
        "NotOffered: answered by Alan Turing in Teams"
    );
    assert!(record_of(&after, &d).is_null(), "D was never offered");
    let records = after["agentCalls"].as_array().expect("records");
    assert_eq!(
        records.len(),
        4,
        "one Agent_Call__c per offered call: {records:?}"
    );
    for id in [&a, &b, &c, &e] {
        assert_eq!(
            offered_at(&before, id),
            offered_at(&after, id),
            "{id} was not offered again"
        );
    }
    // Every leg ends, and the controller keeps nothing once all are over.
    let started = Instant::now();
    loop {
        let live = emu.with_world(|w| {
            w.calling
                .legs
                .values()
                .filter(|l| l.state != presence_emulator::calling::LegState::Terminated)
                .count()
        });
        let kept = presence_controller::store::CallStore::open(&controller.store)
            .and_then(|s| s.load())
            .map(|c| c.len())
            .unwrap_or(usize::MAX);
        if live == 0 && kept == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{live} legs live, {kept} calls kept"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tasks = after["tasks"].as_array().cloned().unwrap_or_default();
    for id in [&a, &b, &c, &d, &e] {
        let logged = tasks
            .iter()
            .filter(|t| t["CallObject"] == Value::String(id.to_string()))
            .count();
        assert!(logged <= 1, "{id} logged {logged} times");
    }
    drop(controller);
    drop((ada, grace));
}
