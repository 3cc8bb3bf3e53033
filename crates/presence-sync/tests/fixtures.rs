//! The clients' wire types read the same documented JSON fixtures the emulator is checked
//! against (the workspace's `fixtures/wire/`, owned by neither), so a wrong field name cannot
//! hide on both sides at once.

use presence_core::PresenceClass;
use presence_sync::wire::{presence_observation, GraphPresence};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/../../fixtures/wire/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).expect("fixture")
}

#[test]
fn the_graph_presence_fixture_reads_as_busy_in_a_call_with_its_sequence() {
    let wire: GraphPresence =
        serde_json::from_str(&fixture("graph-presence.json")).expect("parses");
    let presence = wire.into_presence();
    assert_eq!(presence.class(), PresenceClass::Busy);
    assert_eq!(presence.pair.activity.as_str(), "InACall");
    assert!(!presence.out_of_office);
    assert_eq!(
        presence.sequence.as_deref(),
        Some("C2C0000000000000000000000003")
    );
}

#[test]
fn the_pushtopic_event_fixture_reads_as_a_salesforce_observation() {
    let event: Value = serde_json::from_str(&fixture("pushtopic-event.json")).expect("parses");
    let record = event["data"]["sobject"].as_object().expect("sobject");
    let observation = presence_observation(record).expect("an observation");
    assert_eq!(observation.state, "Busy");
    assert_eq!(event["data"]["event"]["replayId"].as_i64(), Some(13));
}

#[test]
fn the_error_fixtures_classify_as_the_engine_expects() {
    use presence_sync::error::status_error;
    let graph = fixture("graph-error-429.json");
    let error = status_error(
        reqwest::StatusCode::TOO_MANY_REQUESTS,
        Some(std::time::Duration::from_secs(2)),
        graph.as_bytes(),
    );
    assert!(matches!(
        error.kind(),
        presence_core::Failure::RateLimited {
            retry_after: Some(_)
        }
    ));
    let salesforce = fixture("salesforce-error.json");
    let error = status_error(
        reqwest::StatusCode::UNAUTHORIZED,
        None,
        salesforce.as_bytes(),
    );
    assert_eq!(error.kind(), presence_core::Failure::Unauthorized);
    let limit =
        br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
    let error = status_error(reqwest::StatusCode::FORBIDDEN, None, limit);
    assert!(
        matches!(error.kind(), presence_core::Failure::RateLimited { .. }),
        "T5: a long cool-down, not a rejection"
    );
}

#[test]
fn the_streaming_fixtures_read_as_typed_bayeux_messages() {
    use presence_sync::wire::bayeux::Message;
    let handshake: Vec<Message> =
        serde_json::from_str(&fixture("cometd-handshake.json")).expect("parses");
    assert!(handshake[0].succeeded());
    assert_eq!(
        handshake[0].client_id.as_deref(),
        Some("41kdiuvgig2tfxdh9weakuiwyh")
    );
    let event: Message = serde_json::from_str(&fixture("pushtopic-event.json")).expect("parses");
    let (record, replay_id) = event.event().expect("an event");
    assert_eq!(replay_id, 13);
    assert!(presence_sync::wire::presence_observation(record).is_some());
}

#[test]
fn the_salesforce_error_fixture_names_its_error_code() {
    let body = fixture("salesforce-error.json");
    assert_eq!(
        presence_sync::wire::salesforce::error_code(body.as_bytes()).as_deref(),
        Some("INVALID_SESSION_ID")
    );
    assert_eq!(presence_sync::wire::salesforce::error_code(b"<html>"), None);
}
