//! Scenarios the emulator starts with. `demo`: a tenant and org with three agents, contacts,
//! a lead and an account with phone numbers, and a Call Center with the default presence
//! states (read from the shipped Call Center file, which is data shared with the app).

use serde_json::{json, Map, Value};

use crate::calling::ResourceAccount;
use crate::world::{IntegrationUser, World};

const DEFAULT_STATES: &str = include_str!(
    "../../../salesforce/force-app/main/default/staticresources/PresenceBridgeDefaultCallCenter.json"
);

/// Loads a scenario by name; `empty` has no agents at all.
pub fn load(world: &mut World, name: &str) -> Result<(), String> {
    match name {
        "demo" => {
            demo(world);
            Ok(())
        }
        "empty" => Ok(()),
        other => Err(format!("unknown scenario {other:?} (demo, empty)")),
    }
}

fn map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The demo's calling bot app, its numbers and the org's integration user, with fixed ids so
/// that a committed controller configuration (`crates/presence-controller/demo.toml`) fits.
pub const DEMO_BOT_APP_ID: &str = "3f6c2d1e-8b4a-4c7e-9f2a-5d8e1b0c7a64";
pub const DEMO_BOT_SECRET: &str = "demo-bot-secret";
pub const DEMO_INTEGRATION_CLIENT_ID: &str = "presence-controller";
pub const DEMO_INTEGRATION_SECRET: &str = "demo-integration-secret";
/// The queue's number (a resource account of the bot, like each agent's direct number).
pub const DEMO_QUEUE_NUMBER: &str = "+14155550110";

fn calling(world: &mut World) {
    world.calling.bot.app_id = DEMO_BOT_APP_ID.into();
    world.calling.bot.client_secret = DEMO_BOT_SECRET.into();
    let mut lines: Vec<(String, String)> = world
        .agents
        .iter()
        .map(|agent| {
            (
                format!("{} (direct)", agent.display_name),
                agent.extension.clone(),
            )
        })
        .collect();
    lines.push(("Support line".into(), DEMO_QUEUE_NUMBER.into()));
    for (index, (display_name, number)) in lines.into_iter().enumerate() {
        world.calling.accounts.push(ResourceAccount {
            id: format!("a1000000-0000-4000-8000-{:012}", index + 1),
            display_name,
            number,
        });
    }
    let user_id = crate::ids::salesforce_id("005", 100);
    let mut user = Map::new();
    user.insert("Name".into(), json!("Presence Bridge Controller"));
    user.insert(
        "Username".into(),
        json!("presence-controller@contoso.example"),
    );
    user.insert("IsActive".into(), json!(true));
    world.insert_user(&user_id, user);
    world.integration = Some(IntegrationUser {
        salesforce_id: user_id,
        username: "presence-controller@contoso.example".into(),
        client_id: DEMO_INTEGRATION_CLIENT_ID.into(),
        client_secret: DEMO_INTEGRATION_SECRET.into(),
    });
}

fn demo(world: &mut World) {
    world.add_agent("ada", "Ada Lovelace", "+14155550101");
    world.add_agent("grace", "Grace Hopper", "+14155550102");
    world.add_agent("alan", "Alan Turing", "+14155550103");
    calling(world);
    let account = world.insert_record(
        "Account",
        map(json!({ "Name": "Initech", "Phone": "+1 (415) 555-0199" })),
    );
    world.insert_record(
        "Contact",
        map(json!({
            "FirstName": "Margaret", "LastName": "Hamilton", "Name": "Margaret Hamilton",
            "Phone": "+1 415 555 0100", "AccountId": account,
        })),
    );
    world.insert_record(
        "Contact",
        map(json!({
            "FirstName": "Edsger", "LastName": "Dijkstra", "Name": "Edsger Dijkstra",
            "Phone": "+31 20 555 0111", "AccountId": account,
        })),
    );
    world.insert_record(
        "Lead",
        map(json!({
            "FirstName": "Katherine", "LastName": "Johnson", "Name": "Katherine Johnson",
            "Company": "Langley", "Phone": "(415) 555-0123",
        })),
    );
    let config: Value = serde_json::from_str(DEFAULT_STATES).unwrap_or(Value::Null);
    let settings = &config["settings"];
    let center = world.insert_record(
        "Call_Center__c",
        map(json!({
            "Name": "Demo Call Center",
            "Wrap_Up_Seconds__c": settings["wrap_up_seconds"],
            "Presence_Routing__c": settings["presence_routing"],
            "Sync_Direction__c": settings["sync_direction"],
            "Log_Missed_Calls__c": settings["log_missed_calls"],
        })),
    );
    if let Some(states) = config["states"].as_array() {
        for state in states {
            world.insert_record(
                "Call_Center_Presence_State__c",
                map(json!({
                    "Name": state["label"],
                    "Class__c": state["class"],
                    "Teams_Availability__c": state["teams"]["availability"],
                    "Teams_Activity__c": state["teams"]["activity"],
                    "Selectable__c": state["selectable"],
                    "Signals_Inbound__c": state["signals_inbound"],
                    "Allows_Outbound__c": state["allows_outbound"],
                    "Sort_Order__c": state["sort_order"],
                    "Call_Center__c": center,
                })),
            );
        }
    }
    world.changes.clear();
    world.note("demo scenario loaded");
}
