//! The Salesforce wire shapes read and written as the org does.

use super::*;
use serde_json::json;

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

#[test]
fn an_offer_says_whether_the_controller_could_save_its_task() {
    // An older PushTopic without the field says nothing either way.
    let old = json!({"Call_Id__c": "c1", "Kind__c": "Direct", "Status__c": "Ended"});
    assert_eq!(controller_log(&map(old)), None);
    let saved = json!({"Call_Id__c": "c1", "Kind__c": "Direct", "From_Number__c": "+1 415 555 0100", "Log_Error__c": null});
    assert!(matches!(
        controller_log(&map(saved)),
        Some(Input::ControllerLog { reason: None, ref number, ref at, .. })
            if number == "+1 415 555 0100" && at == "at an unknown time"
    ));
    let refused = json!({
        "Call_Id__c": "c2~1", "Kind__c": "Outbound", "To_Number__c": "+1\u{202e}415", "From_Number__c": "+2",
        "Offered_At__c": "2026-12-02T14:02:00.000+0000", "Log_Error__c": "HTTP 400 X: <b>no</b>",
    });
    let Some(Input::ControllerLog {
        call_id,
        number,
        at,
        reason,
    }) = controller_log(&map(refused))
    else {
        panic!("a refusal");
    };
    assert_eq!(call_id, "c2~1");
    assert!(
        !number.contains('\u{202e}'),
        "the number is display text: {number:?}"
    );
    assert!(
        at.contains(", ") && at.len() >= "Dec 2, 14:02".len(),
        "{at}"
    );
    assert_eq!(
        reason.as_deref(),
        Some("HTTP 400 X: <b>no</b>"),
        "text, escaped where shown"
    );
}

#[test]
fn call_records_become_engine_events() {
    let offered = json!({"Call_Id__c": "c1", "Kind__c": "Direct", "Status__c": "Offered", "From_Number__c": "+1"});
    assert!(matches!(
        call_event(&map(offered)),
        Some(CallEvent::Offered(_))
    ));
    let outbound = json!({"Call_Id__c": "c2", "Kind__c": "Outbound", "Status__c": "Offered"});
    assert_eq!(call_event(&map(outbound)), None);
    let weird = json!({"Call_Id__c": "c3", "Kind__c": "Carrier pigeon", "Status__c": "Offered"});
    assert_eq!(call_event(&map(weird)), None);
    // A field of the wrong type: ignored with a warning, never a panic.
    let wrong = json!({"Call_Id__c": 7, "Kind__c": "Direct", "Status__c": "Offered"});
    assert_eq!(call_event(&map(wrong)), None);
    let nulls = json!({"Call_Id__c": "c4", "Kind__c": "Queue", "Status__c": "Ended", "From_Number__c": null});
    assert!(matches!(
        call_event(&map(nulls)),
        Some(CallEvent::Progress {
            progress: CallProgress::Ended,
            controller_logs: false,
            ..
        })
    ));
    // The controller refused an outbound call, and says it logs the ones it places.
    let refused = json!({"Call_Id__c": "c5", "Kind__c": "Outbound", "Status__c": "NotSignalled",
        "Reason__c": "Outbound calls are blocked while Do Not Disturb", "Logged_By_Controller__c": true});
    assert_eq!(
        call_event(&map(refused)),
        Some(CallEvent::Progress {
            call_id: "c5".into(),
            progress: CallProgress::NotPlaced(
                "Outbound calls are blocked while Do Not Disturb".into()
            ),
            controller_logs: true,
        })
    );
    // An inbound call's NotSignalled is the app's own write: no event.
    let own = json!({"Call_Id__c": "c6", "Kind__c": "Direct", "Status__c": "NotSignalled"});
    assert_eq!(call_event(&map(own)), None);
}

#[test]
fn presence_records_read_fractional_sequences_and_skip_stateless_ones() {
    let record =
        json!({"State__c": "Busy", "Sequence__c": 4.0, "Origin_Client__c": null, "Id": "a01"});
    let observation = presence_observation(&map(record)).expect("an observation");
    assert_eq!(observation.sequence, Some(4));
    assert_eq!(observation.origin_client, None);
    assert_eq!(presence_observation(&map(json!({"State__c": null}))), None);
    let negative = json!({"State__c": "Away", "Sequence__c": -3});
    assert_eq!(
        presence_observation(&map(negative)).and_then(|o| o.sequence),
        Some(0)
    );
}

#[test]
fn the_upsert_bodies_name_our_fields() {
    let write = PresenceWrite {
        state: "Lunch".into(),
        source: presence_core::Source::Panel,
        sequence: 9,
        origin_client: "presence-bridge:ada".into(),
        out_of_office: false,
        teams: None,
    };
    let body = serde_json::to_value(PresenceUpsert::new(&write, "T".into())).expect("json");
    assert_eq!(
        body,
        json!({
            "State__c": "Lunch", "Source__c": write.source.record_value(), "Sequence__c": 9,
            "Origin_Client__c": "presence-bridge:ada", "Out_Of_Office__c": false,
            "Changed_At__c": "T", "Heartbeat_At__c": "T",
        })
    );
    let status = CallStatusUpsert {
        status: "NotSignalled",
        reason: Some("Do Not Disturb"),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(status).expect("json"),
        json!({ "Status__c": "NotSignalled", "Reason__c": "Do Not Disturb" })
    );
    let log = CallLog {
        key: "k".into(),
        call_id: "c".into(),
        kind: CallKind::Queue,
        call_type: CallType::Inbound,
        disposition: "Completed".into(),
        duration: std::time::Duration::from_secs(61),
        from_number: "+1".into(),
        to_number: "+2".into(),
        caller: Some(CallerMatch {
            object: "Account".into(),
            id: "001".into(),
            name: "Acme".into(),
        }),
        subject: "x".repeat(300),
        owner: Some("005000000000001AAA".into()),
        offer_record: None,
    };
    let task = serde_json::to_value(TaskUpsert::new(&log, "2026-12-01".into())).expect("json");
    assert_eq!(task["WhatId"], "001");
    assert!(task.get("WhoId").is_none());
    assert_eq!(task["CallDisposition"], "Completed");
    assert_eq!(task["Status"], "Completed");
    assert_eq!(task["CallDurationInSeconds"], 61);
    assert_eq!(task["Subject"].as_str().map(str::len), Some(255));
    assert_eq!(
        task["OwnerId"], "005000000000001AAA",
        "the agent owns a Task the controller writes"
    );
}
