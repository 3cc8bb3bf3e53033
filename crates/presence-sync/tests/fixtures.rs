//! The clients' wire types read the same documented JSON fixtures the emulator is checked
//! against (`crates/presence-emulator/tests/fixtures/`), so a wrong field name cannot hide on
//! both sides at once.

use presence_core::PresenceClass;
use presence_sync::wire::{presence_observation, GraphPresence};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../presence-emulator/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
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
