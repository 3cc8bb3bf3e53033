//! A call log Salesforce refuses, as the agent meets it in the real panel: listed under "Not
//! saved to Salesforce" with the reason, written to the log file, and saved once when the agent
//! clicks Retry after the cause is put right.

use std::time::Duration;

use presence_emulator::world::{Fault, FaultKind};
use presence_emulator::{Api, Emulator};
use serde_json::{json, Value};

use crate::support::*;

/// The panel's upper part, where the list sits (under the header and any notice).
const PANEL: &str = "420x420+0+0";
/// The list's pale red ground (`ui/panel.css`, `.unsaved`; its edge is Busy's red).
const UNSAVED: &str = "#FDF3F4";
/// The colour of the panel's link buttons (the list's Retry is the only one shown here).
const LINK: &str = "#0F6CBD";

/// Offers a call to ada as a controller that leaves the call's log to the app writes it
/// (no `Logged_By_Controller__c`), straight into the emulated org. Returns the call id.
fn offer_logged_by_the_app(emu: &Emulator, from: &str) -> String {
    let call_id = uuid::Uuid::new_v4().to_string();
    emu.with_world(|w| {
        let index = w.agent_index("ada").expect("ada");
        let (user, extension) = (
            w.agents[index].salesforce_id.clone(),
            w.agents[index].extension.clone(),
        );
        let now = chrono_now(w.now_ms());
        let fields = json!({
            "Name": call_id, "Call_Id__c": call_id, "User__c": user, "OwnerId": user,
            "Kind__c": "Direct", "From_Number__c": from, "To_Number__c": extension,
            "Status__c": "Offered", "Offered_At__c": now,
        });
        w.insert_record(
            "Agent_Call__c",
            fields.as_object().cloned().unwrap_or_default(),
        )
        .expect("the offer is written");
    });
    call_id
}

fn chrono_now(ms: i64) -> String {
    presence_sync::salesforce::salesforce_datetime(
        chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default(),
    )
}

fn offer_field(emu: &Emulator, call_id: &str, field: &str) -> Option<String> {
    emu.with_world(|w| {
        let id = w.find_record("Agent_Call__c", "Call_Id__c", call_id)?;
        w.record("Agent_Call__c", &id)?
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

fn tasks_for(emu: &Emulator, call_id: &str) -> usize {
    emu.state()["tasks"].as_array().map_or(0, |tasks| {
        tasks
            .iter()
            .filter(|t| t["Call_Log_Key__c"] == call_id)
            .count()
    })
}

/// Where `colour` first appears in `region` of a new screenshot, in screen coordinates.
fn find_colour(shot: &str, region: &str, colour: &str) -> Option<(u32, u32)> {
    colours_in(shot, region);
    let path = shots_dir().join(shot);
    let pixels = run("convert", &[path.to_str()?, "-crop", region, "txt:-"]);
    // Lines read "x,y: (r,g,b)  #RRGGBB  srgb(…)"; the crop keeps the screen's offsets.
    pixels.lines().find_map(|line| {
        if !line.to_uppercase().contains(colour) {
            return None;
        }
        let (at, _) = line.split_once(':')?;
        let (x, y) = at.split_once(',')?;
        Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display: make ui-tests"]
async fn a_refused_call_log_is_shown_with_its_reason_logged_and_saved_once_on_retry() {
    let emu = Emulator::start().await.expect("emulator");
    let home = std::env::temp_dir().join(format!("pb-desktop-unsaved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let (data, state) = (home.join("data"), home.join("state"));
    let mut app = start_ada(
        &emu,
        &data,
        &[("XDG_STATE_HOME", state.to_str().expect("utf-8"))],
        "desktop-unsaved.log",
    );
    until("the panel window", Duration::from_secs(30), panel_window).await;
    until("the first presence write", Duration::from_secs(30), || {
        (salesforce_state(&emu) == "Available").then_some(())
    })
    .await;

    // A missed call whose Task Salesforce refuses (as a validation rule would).
    let call = offer_logged_by_the_app(&emu, "+1 415 555 0100");
    emu.with_world(|w| {
        w.faults.push(Fault {
            api: Api::Salesforce,
            kind: FaultKind::Status {
                status: 400,
                retry_after: None,
            },
            count: None,
            path_contains: Some(format!("Call_Log_Key__c/{call}")),
        })
    });
    until(
        "the app signalled the call",
        Duration::from_secs(10),
        || (offer_field(&emu, &call, "Status__c")? == "Signalled").then_some(()),
    )
    .await;
    emu.with_world(|w| {
        let id = w
            .find_record("Agent_Call__c", "Call_Id__c", &call)
            .expect("the offer");
        let fields = json!({"Status__c": "CallerHungUp", "Ended_At__c": chrono_now(w.now_ms())});
        assert!(w.update_record(
            "Agent_Call__c",
            &id,
            fields.as_object().cloned().unwrap_or_default()
        ));
    });
    until_seen(
        "the list of calls not saved",
        "desktop-11-not-saved.png",
        PANEL,
        UNSAVED,
    )
    .await;
    assert_eq!(tasks_for(&emu, &call), 0);

    // The log file under the XDG state directory says which call and why.
    let log_file = state.join("presence-bridge/logs/presence-bridge.log");
    let logged = until(
        "the refusal in the log file",
        Duration::from_secs(10),
        || {
            let text = std::fs::read_to_string(&log_file).ok()?;
            text.lines()
                .find(|line| line.contains(&call) && line.contains("refused"))
                .map(str::to_string)
        },
    )
    .await;
    assert!(logged.contains("HTTP 400"), "{logged}");

    // The cause is put right; the agent clicks Retry: one Task, and the list goes.
    emu.with_world(|w| w.faults.clear());
    let (x, y) = until("the Retry button", Duration::from_secs(5), || {
        find_colour("desktop-11-not-saved.png", PANEL, LINK)
    })
    .await;
    run(
        "xdotool",
        &[
            "mousemove",
            &(x + 2).to_string(),
            &(y + 2).to_string(),
            "click",
            "1",
        ],
    );
    until("the Task saved", Duration::from_secs(10), || {
        (tasks_for(&emu, &call) == 1).then_some(())
    })
    .await;
    until("the list gone", Duration::from_secs(10), || {
        (!colours_in("desktop-12-saved.png", PANEL).contains(UNSAVED)).then_some(())
    })
    .await;
    assert_eq!(tasks_for(&emu, &call), 1);
    let _ = app.child.kill();
    let _ = app.child.wait();
    let _ = std::fs::remove_dir_all(&home);
}
