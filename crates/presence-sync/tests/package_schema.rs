//! The app reads and writes only what our Salesforce package defines: every field of every
//! record the app reads, every body it writes, every query it sends, the external ids it
//! upserts by and the fields its subscriptions filter on are checked against the package's
//! metadata in `salesforce/` (read by the emulator's schema, which the end-to-end tests run
//! against). A second test removes a field from a copy of the package and expects it named.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use presence_core::{PresenceWrite, Source};
use presence_emulator::schema::Schema;
use presence_sync::wire::salesforce::{
    AgentCallRecord, AgentPresenceRecord, CallCenterRecord, CallStatusUpsert, HeartbeatUpsert,
    OutboundCallUpsert, PresenceStateRecord, PresenceUpsert, CALL_FIELDS, PRESENCE_FIELDS,
};
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::Serialize;

/// One use of a field by the app: `Object.Field` and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Use {
    object: &'static str,
    field: String,
    how: &'static str,
}

/// The field names a record type reads (its serde names, renames applied). Serde's derive
/// hands a struct's field list to `deserialize_struct`; this deserializer keeps it and stops.
/// (serde-reflection traces types fully but refuses `flatten`, which some records use; the
/// names are all we need.)
fn fields_read<'de, T: Deserialize<'de>>() -> Vec<String> {
    struct Recorder(Vec<String>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("field names recorded")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Recorder {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = fields.iter().map(|f| f.to_string()).collect();
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut recorder = Recorder(Vec::new());
    let _ = T::deserialize(&mut recorder);
    assert!(
        !recorder.0.is_empty(),
        "{} names no fields",
        std::any::type_name::<T>()
    );
    recorder.0
}

/// The top-level keys of a body as the app sends it.
fn fields_written(body: &impl Serialize) -> Vec<String> {
    match serde_json::to_value(body).expect("a body serialises") {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        other => panic!("a body is a JSON object, not {other}"),
    }
}

/// The fields a SOQL query names (selected and in WHERE / ORDER BY), as the emulator parses it.
fn fields_queried(soql: &str) -> (String, Vec<String>) {
    let query = presence_emulator::soql::parse(soql).expect("the app's query parses");
    let mut fields = query.fields.clone();
    fields.extend(query.conditions.iter().map(|c| c.field.clone()));
    fields.extend(query.order_by.iter().map(|(f, _)| f.clone()));
    (query.object, fields)
}

fn every_use() -> BTreeSet<Use> {
    let mut uses = BTreeSet::new();
    let mut add = |object: &'static str, fields: Vec<String>, how: &'static str| {
        for field in fields {
            uses.insert(Use { object, field, how });
        }
    };
    // Reads: records from queries and stream events.
    add(
        "Agent_Presence__c",
        fields_read::<AgentPresenceRecord>(),
        "read",
    );
    add("Agent_Call__c", fields_read::<AgentCallRecord>(), "read");
    add("Call_Center__c", fields_read::<CallCenterRecord>(), "read");
    add(
        "Call_Center_Presence_State__c",
        fields_read::<PresenceStateRecord>(),
        "read",
    );
    // Queries.
    for (soql, how) in [
        (
            format!("SELECT Id, {PRESENCE_FIELDS} FROM Agent_Presence__c WHERE User__c = 'x'"),
            "query",
        ),
        (
            format!("SELECT Id, {CALL_FIELDS} FROM Agent_Call__c WHERE User__c = 'x'"),
            "query",
        ),
        (CallCenterRecord::SOQL.to_string(), "query"),
        (PresenceStateRecord::soql("a01"), "query"),
    ] {
        let (object, fields) = fields_queried(&soql);
        let object = match object.as_str() {
            "Agent_Presence__c" => "Agent_Presence__c",
            "Agent_Call__c" => "Agent_Call__c",
            "Call_Center__c" => "Call_Center__c",
            "Call_Center_Presence_State__c" => "Call_Center_Presence_State__c",
            other => panic!("unexpected object {other}"),
        };
        add(object, fields, how);
    }
    // Writes: each body with every optional part present.
    let write = PresenceWrite {
        state: "Lunch".into(),
        source: Source::Teams,
        sequence: 3,
        origin_client: "desktop-1".into(),
        out_of_office: false,
        teams: Some(presence_core::TeamsPair::parse("Away", "Away")),
    };
    add(
        "Agent_Presence__c",
        fields_written(&PresenceUpsert::new(
            &write,
            "2026-12-01T10:00:00.000+0000".into(),
        )),
        "written",
    );
    add(
        "Agent_Presence__c",
        fields_written(&HeartbeatUpsert {
            heartbeat_at: "2026-12-01T10:00:00.000+0000".into(),
        }),
        "written",
    );
    add(
        "Agent_Call__c",
        fields_written(&CallStatusUpsert {
            status: "Ended",
            reason: Some("caller hung up"),
            answered_at: Some("2026-12-01T10:00:00.000+0000".into()),
            ended_at: Some("2026-12-01T10:01:00.000+0000".into()),
        }),
        "written",
    );
    add(
        "Agent_Call__c",
        fields_written(&OutboundCallUpsert {
            name: "call-1",
            user: "005000000000001AAA",
            kind: "Outbound",
            to_number: "+15550100",
            status: "Offered",
            offered_at: "2026-12-01T10:00:00.000+0000".into(),
        }),
        "written",
    );
    // Upserts by external id, and the subscriptions' filter field.
    for (object, field) in [
        ("Agent_Presence__c", "User__c"),
        ("Agent_Call__c", "Call_Id__c"),
        ("Task", "Call_Log_Key__c"),
    ] {
        add(object, vec![field.to_string()], "external id");
    }
    add("Agent_Presence__c", vec!["User__c".into()], "stream filter");
    add("Agent_Call__c", vec!["User__c".into()], "stream filter");
    uses
}

/// The uses the schema does not allow, as `Object.Field (how)`.
fn faults(schema: &Schema) -> Vec<String> {
    let mut faults = Vec::new();
    for usage in every_use() {
        let Some(object) = schema.object(usage.object) else {
            faults.push(format!("{} ({}): no such object", usage.object, usage.how));
            continue;
        };
        let known = object.has_field(&usage.field);
        let fits = match usage.how {
            "external id" => object.is_external_id(&usage.field),
            "stream filter" => schema
                .topics()
                .iter()
                .any(|topic| topic.object == usage.object && topic.fields.contains(&usage.field)),
            _ => known,
        };
        if !fits {
            faults.push(format!("{}.{} ({})", usage.object, usage.field, usage.how));
        }
    }
    faults
}

fn salesforce_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../salesforce")
}

#[test]
fn every_field_the_app_uses_is_defined_by_the_package() {
    let schema = Schema::from_dir(&salesforce_dir()).expect("the package reads");
    let uses = every_use();
    assert!(uses.len() > 40, "the app's uses were found: {}", uses.len());
    assert_eq!(faults(&schema), Vec::<String>::new());
    // The emulator's org is that package.
    assert_eq!(&schema, Schema::package());
}

#[test]
fn a_field_removed_from_the_package_is_named() {
    let copy = std::env::temp_dir().join(format!("pb-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    for path in Schema::package_file_paths() {
        let target = copy.join(path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("temp dir");
        std::fs::copy(salesforce_dir().join(path), &target).expect("copy");
    }
    // A field outside the PushTopic's query (else the copy's topic would not read at all).
    let removed =
        "force-app/main/default/objects/Agent_Presence__c/fields/Heartbeat_At__c.field-meta.xml";
    std::fs::remove_file(copy.join(removed)).expect("the field file exists");
    let unexternal =
        copy.join("force-app/main/default/objects/Agent_Call__c/fields/Call_Id__c.field-meta.xml");
    let text = std::fs::read_to_string(&unexternal).expect("read");
    std::fs::write(
        &unexternal,
        text.replace("<externalId>true</externalId>", ""),
    )
    .expect("write");

    let schema = Schema::from_dir(&copy).expect("the copy reads");
    let found = faults(&schema);
    let _ = std::fs::remove_dir_all(&copy);
    assert_eq!(
        found,
        [
            "Agent_Call__c.Call_Id__c (external id)",
            "Agent_Presence__c.Heartbeat_At__c (written)",
        ]
    );
}
