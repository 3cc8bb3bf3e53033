//! Queue calls through the controller (C5): offered to the queue's eligible agents one at a
//! time, longest idle first (presence-based routing on: Available only), the next one when an
//! agent passes it on, the overflow target once none is left.

mod common;

use std::time::Duration;

use common::{call_of, controller_with, salesforce_id, tasks_of, until, Agent};
use presence_core::UserIntent;
use presence_emulator::Emulator;
use serde_json::{json, Value};

/// The queue's offers of a call (`{call}~{attempt}`), in order, as (attempt, agent's user id,
/// status).
fn offers(state: &Value, call: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = state["agentCalls"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| {
                    let id = r["Call_Id__c"].as_str()?;
                    let attempt = id.strip_prefix(call)?.strip_prefix('~')?;
                    Some((
                        attempt.to_string(),
                        r["User__c"].as_str().unwrap_or("").to_string(),
                        r["Status__c"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_queue_call_skips_a_busy_agent_and_rings_an_available_one() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller_with(&emu, |_| {}).await;
    let ada = Agent::start(&emu, "ada").await;
    let grace = Agent::start(&emu, "grace").await;
    emu.salesforce_pick("ada", "Busy").expect("ada busy");
    ada.until("Busy", |s| s.label == "Busy").await;
    let id = emu
        .place_call("ada", "Queue", "+1 415 555 0100")
        .expect("call")
        .call_id;
    let state = until(&emu, "offered to grace", |s| {
        offers(s, &id).first().is_some_and(|o| o.2 == "Signalled")
    })
    .await;
    let grace_id = salesforce_id(&emu, 1);
    assert_eq!(
        offers(&state, &id),
        [("1".to_string(), grace_id.clone(), "Signalled".to_string())],
        "Busy ada was skipped"
    );
    assert_eq!(call_of(&state, &id)["agent"], "grace");
    grace
        .until("ringing as a queue call", |s| {
            s.calls.first().is_some_and(|c| {
                c.call_id == format!("{id}~1") && c.title.starts_with("Queue call")
            })
        })
        .await;
    grace
        .intent(UserIntent::Answer {
            call_id: format!("{id}~1"),
        })
        .await;
    until(&emu, "joined in grace's Teams", |s| {
        call_of(s, &id)["teams"] == "answered by Grace Hopper in Teams"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    emu.hang_up(&id).expect("hang up");
    let state = until(&emu, "ended", |s| call_of(s, &id)["outcome"] == "Ended").await;
    assert_eq!(offers(&state, &id)[0].2, "Ended");
    let tasks = tasks_of(&emu, &id, 1).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["OwnerId"], json!(grace_id), "grace took it");
    assert_eq!(tasks[0]["CallDisposition"], "Completed");
    drop(ada);
}

#[tokio::test]
async fn a_queue_call_goes_to_the_longest_idle_then_the_next_and_overflows_when_none_is_left() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    let _controller = controller_with(&emu, |s| s.calls.ring_timeout_s = 3).await;
    let ada = Agent::start(&emu, "ada").await;
    let grace = Agent::start(&emu, "grace").await;
    // Grace has been Available longer than Ada; Alan has no app (not eligible).
    emu.salesforce_pick("grace", "Available").expect("grace");
    tokio::time::sleep(Duration::from_millis(50)).await;
    emu.salesforce_pick("ada", "Available").expect("ada");
    ada.until("Available", |s| s.label == "Available").await;
    let id = emu
        .place_call("ada", "Queue", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "offered to grace first", |s| {
        offers(s, &id).first().is_some_and(|o| o.2 == "Signalled")
    })
    .await;
    grace
        .intent(UserIntent::Decline {
            call_id: format!("{id}~1"),
        })
        .await;
    let state = until(&emu, "then to ada, who lets it ring out", |s| {
        offers(s, &id).get(1).is_some_and(|o| o.2 == "Missed")
    })
    .await;
    let (ada_id, grace_id) = (salesforce_id(&emu, 0), salesforce_id(&emu, 1));
    let seen = offers(&state, &id);
    assert_eq!(
        seen,
        [
            ("1".to_string(), grace_id, "Declined".to_string()),
            ("2".to_string(), ada_id, "Missed".to_string())
        ]
    );
    let state = until(&emu, "the overflow took it", |s| {
        call_of(s, &id)["outcome"].is_string()
    })
    .await;
    assert_eq!(
        call_of(&state, &id)["outcome"],
        "Overflow: taken by Grace Hopper's voicemail"
    );
    drop((ada, grace));
}
