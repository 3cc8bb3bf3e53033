//! The Streaming client against the emulator: replay ids kept in the durable store, so a new
//! process resumes after the last event it handled.

use std::sync::Arc;

use presence_emulator::Emulator;
use presence_sync::outbox::Outbox;
use presence_sync::streaming::Streaming;
use presence_sync::{connect_emulator, EMULATOR_CLIENT_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_stream_resumes_after_the_last_event_it_handled() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.long_poll_ms = 300);
    let store = Arc::new(Outbox::in_memory().expect("store"));
    let connectors = connect_emulator(&emu.base_url, "ada", EMULATOR_CLIENT_ID, store.clone())
        .await
        .expect("sign in");
    let channel = format!(
        "/topic/AgentPresence?User__c={}",
        connectors.salesforce.user_id
    );
    let mut first = Streaming::new(
        (*connectors.salesforce).clone(),
        std::slice::from_ref(&channel),
        Some(store.clone()),
    )
    .expect("stream");
    first.handshake().await.expect("handshake");
    emu.salesforce_pick("ada", "Busy").expect("pick");
    let records = first.connect_once().await.expect("connect");
    assert_eq!(records.len(), 1);
    // Kept under the filtered name, as an earlier version did: still found.
    store
        .save_replay_position(&channel, records[0].replay_id)
        .expect("save");
    drop(first);
    // Two changes while no process listens.
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    emu.salesforce_pick("ada", "Available").expect("pick");
    let mut second = Streaming::new(
        (*connectors.salesforce).clone(),
        std::slice::from_ref(&channel),
        Some(store.clone()),
    )
    .expect("stream");
    // The replay map is keyed by the topic, without the filter, as Salesforce wants it.
    assert_eq!(
        second.replay.get("/topic/AgentPresence").copied(),
        Some(records[0].replay_id)
    );
    assert_eq!(second.replay.len(), 1, "{:?}", second.replay);
    second.handshake().await.expect("handshake");
    let missed = second.connect_once().await.expect("connect");
    let states: Vec<&str> = missed
        .iter()
        .filter_map(|r| r.record.get("State__c").and_then(|v| v.as_str()))
        .collect();
    assert_eq!(
        states,
        vec!["Lunch", "Available"],
        "nothing lost, nothing repeated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_replay_id_past_retention_falls_back_to_new_events() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.long_poll_ms = 300;
        w.settings.replay_retention_s = 60;
    });
    let store = Arc::new(Outbox::in_memory().expect("store"));
    let connectors = connect_emulator(&emu.base_url, "ada", EMULATOR_CLIENT_ID, store.clone())
        .await
        .expect("sign in");
    let channel = format!(
        "/topic/AgentPresence?User__c={}",
        connectors.salesforce.user_id
    );
    emu.salesforce_pick("ada", "Busy").expect("pick");
    store.save_replay_position(&channel, 0).expect("save");
    emu.with_world(|w| w.clock.advance(std::time::Duration::from_secs(120)));
    let mut stream = Streaming::new(
        (*connectors.salesforce).clone(),
        std::slice::from_ref(&channel),
        Some(store),
    )
    .expect("stream");
    let refused = stream.handshake().await;
    assert!(
        refused.is_err(),
        "the stored id is outside the retention window"
    );
    assert_eq!(
        stream.replay.get("/topic/AgentPresence").copied(),
        Some(-1),
        "it starts from new events; a repair covers the gap"
    );
    stream.handshake().await.expect("second handshake succeeds");
}
