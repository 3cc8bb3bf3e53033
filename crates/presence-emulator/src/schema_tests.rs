//! The emulated org's schema as read from the package: objects, fields, PushTopics.

use super::*;
use serde_json::json;

#[test]
fn the_embedded_package_parses_with_every_object_and_both_topics() {
    let files = PACKAGE_FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()));
    let schema = Schema::from_files(files).expect("the package parses");
    for object in [
        "Agent_Presence__c",
        "Agent_Call__c",
        "Call_Center__c",
        "Call_Center_Presence_State__c",
    ] {
        assert!(schema.object(object).is_some_and(|o| o.custom), "{object}");
    }
    let task = schema.object("Task").expect("Task");
    assert!(
        task.is_external_id("Call_Log_Key__c"),
        "Activity's field is on Task"
    );
    let names: Vec<&str> = schema.topics().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["AgentPresence", "AgentCalls"]);
    let presence = &schema.topics()[0];
    assert_eq!(presence.fields[0], "Id");
    assert!(!presence.fields.iter().any(|f| f == "Heartbeat_At__c"));
    assert_eq!(Schema::package(), &schema);
}

#[test]
fn values_are_checked_as_salesforce_checks_them() {
    let schema = Schema::package();
    let presence = schema.object("Agent_Presence__c").expect("object");
    let source = presence.field("Source__c").expect("field");
    assert!(source.check(&json!("Teams")).is_ok());
    let fault = source.check(&json!("Pigeon")).expect_err("not a value");
    assert_eq!(fault.error_code, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST");
    assert_eq!(
        fault.message,
        "Source: bad value for restricted picklist field: Pigeon"
    );
    let user = presence.field("User__c").expect("field");
    assert_eq!(
        user.check(&json!("0".repeat(19)))
            .expect_err("too long")
            .error_code,
        "STRING_TOO_LONG"
    );
    assert_eq!(
        user.check(&Value::Null).expect_err("required").error_code,
        "REQUIRED_FIELD_MISSING"
    );
    let name = presence.field("Name").expect("auto number");
    assert_eq!(
        name.check(&json!("AP-1"))
            .expect_err("set by the org")
            .error_code,
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    let out_of_office = presence.field("Out_Of_Office__c").expect("field");
    assert_eq!(
        out_of_office
            .check(&json!("yes"))
            .expect_err("a string")
            .error_code,
        "JSON_PARSER_ERROR"
    );
    let changed = presence.field("Changed_At__c").expect("field");
    assert!(changed
        .check(&json!("2026-12-01T10:00:00.000+0000"))
        .is_ok());
    assert!(changed.check(&json!("yesterday")).is_err());
    let sequence = presence.field("Sequence__c").expect("field");
    assert!(sequence.check(&json!(123_456_789_012u64)).is_ok());
    let wrap_up = schema
        .object("Call_Center__c")
        .and_then(|o| o.field("Wrap_Up_Seconds__c"))
        .expect("field");
    assert!(wrap_up.check(&json!(999)).is_ok());
    assert_eq!(
        wrap_up
            .check(&json!(1000))
            .expect_err("four digits")
            .error_code,
        "NUMBER_OUTSIDE_VALID_RANGE"
    );
    let agent = schema
        .object("Agent_Call__c")
        .and_then(|o| o.field("User__c"))
        .expect("lookup");
    assert!(agent.check(&json!("005000000000001AAA")).is_ok());
    assert_eq!(
        agent
            .check(&json!("ada"))
            .expect_err("not an id")
            .error_code,
        "MALFORMED_ID"
    );
}

#[test]
fn auto_numbers_follow_their_display_format() {
    assert_eq!(format_auto_number("AP-{000000}", 7), "AP-000007");
    assert_eq!(format_auto_number("{0}", 42), "42");
    assert_eq!(format_auto_number("no braces", 3), "no braces3");
}

#[test]
fn a_broken_package_file_is_named() {
    let broken = vec![(
        "force-app/main/default/objects/Agent_Call__c/fields/Kind__c.field-meta.xml".to_string(),
        "<CustomField><fullName>Kind__c</fullName><type>Numbr</type>".to_string(),
    )];
    let error = Schema::from_files(broken).expect_err("unclosed");
    assert!(error.file.ends_with("Kind__c.field-meta.xml"), "{error}");
    let unknown = vec![(
        "force-app/main/default/objects/Agent_Call__c/fields/Kind__c.field-meta.xml".to_string(),
        "<CustomField><fullName>Kind__c</fullName><type>Numbr</type></CustomField>".to_string(),
    )];
    assert!(Schema::from_files(unknown)
        .expect_err("type")
        .problem
        .contains("Numbr"));
}
