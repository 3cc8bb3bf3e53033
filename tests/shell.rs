//! The shell on Tauri's mock runtime: the app built by `build_app`, with the panel's IPC
//! commands answered from a real sync signed in to the emulator over loopback. (The real
//! webview, tray and toasts are `tests/desktop/`, under Xvfb.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use presence_bridge::{build_app, Desktop, SNAPSHOT_EVENT};
use presence_core::Snapshot;
use presence_emulator::Emulator;
use presence_sync::{SignInTarget, Storage, SyncOptions};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Listener, Manager, WebviewWindow};

const PATIENCE: Duration = Duration::from_secs(20);

/// The app's own context (its capabilities decide what the panel may call), for the mock runtime.
fn context() -> tauri::Context<MockRuntime> {
    tauri::generate_context!("tauri.conf.json", test = true)
}

fn invoke(
    panel: &WebviewWindow<MockRuntime>,
    cmd: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        // The panel's own origin on Linux: the capability covers it, and nothing remote.
        url: "tauri://localhost".parse().expect("url"),
        body: InvokeBody::Json(body),
        headers: Default::default(),
        invoke_key: tauri::test::INVOKE_KEY.to_string(),
    };
    get_ipc_response(panel, request)
        .map(|answer| answer.deserialize().expect("JSON"))
        .map_err(|refusal| refusal.as_str().map_or(refusal.to_string(), str::to_string))
}

/// Whether the command is refused: with an error from its handler or Tauri's checks, or, for a
/// request that never reaches a command (the mock runtime then drops its answer), not at all.
fn is_refused(panel: &WebviewWindow<MockRuntime>, cmd: &str, body: serde_json::Value) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| invoke(panel, cmd, body)))
        .map_or(true, |answer| answer.is_err())
}

fn snapshot(panel: &WebviewWindow<MockRuntime>) -> Snapshot {
    let value = invoke(panel, "snapshot", serde_json::json!({})).expect("a snapshot");
    serde_json::from_value(value).expect("a Snapshot")
}

/// Runs the app's set-up (as its first event-loop turn does: the panel window from the
/// configuration, then the shell's own set-up) and returns the panel.
fn set_up(app: &mut tauri::App<MockRuntime>) -> WebviewWindow<MockRuntime> {
    // The one way to run the set-up without handing the thread to the event loop.
    #[allow(deprecated)]
    app.run_iteration(|_, _| {});
    app.get_webview_window("main").expect("the panel window")
}

/// No tray, toasts or signals: the mock runtime has none of them.
const HEADLESS: Desktop = Desktop {
    tray: false,
    toasts: false,
    signals: false,
    panel_at_start: true,
};

/// The app around a sync that could not start (`why`), set up, and its panel.
fn app_that_cannot_sync(why: &str) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let sync = presence_sync::cannot_start(why.into());
    let mut app =
        build_app(mock_builder(), context(), move || sync, HEADLESS).expect("the app builds");
    let panel = set_up(&mut app);
    (app, panel)
}

fn until(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_panel_commands_drive_a_real_sync_through_the_app_on_the_mock_runtime() {
    let emu = tauri::async_runtime::block_on(Emulator::start()).expect("emulator");
    let mut options = SyncOptions::new(SignInTarget::Emulator {
        url: emu.base_url.clone(),
        user: "ada".into(),
    });
    let outbox = presence_sync::outbox::Outbox::in_memory().expect("outbox");
    options.storage = Storage::Outbox(Arc::new(outbox));
    let (sync, running) = presence_sync::start(options, |_| {}, std::future::pending());
    tauri::async_runtime::spawn(running);
    let mut app = build_app(mock_builder(), context(), move || sync, HEADLESS)
        .expect("the app builds on the mock runtime");
    let pushed = Arc::new(Mutex::new(Vec::<Snapshot>::new()));
    let seen = pushed.clone();
    app.listen_any(SNAPSHOT_EVENT, move |event| {
        if let Ok(snapshot) = serde_json::from_str::<Snapshot>(event.payload()) {
            seen.lock().expect("pushed").push(snapshot);
        }
    });
    let panel = set_up(&mut app);

    // The snapshot command answers from the first second, then with both links up.
    until("both links connected", || {
        let shown = snapshot(&panel);
        shown.links.iter().all(|link| link.state.is_connected()) && shown.state.is_some()
    });
    // A pick from the panel reaches Salesforce and Teams.
    let picked = invoke(
        &panel,
        "pick",
        serde_json::json!({ "label": "Do Not Disturb" }),
    );
    assert_eq!(picked, Ok(serde_json::Value::Null));
    until("Do Not Disturb in Salesforce", || {
        emu.state()["agents"][0]["salesforce"]["State__c"] == "Do Not Disturb"
    });
    until("the panel shows it", || {
        snapshot(&panel).state.as_deref() == Some("Do Not Disturb")
    });
    // Every change was pushed to the panel as an event, the last one included.
    until("the change pushed as an event", || {
        pushed
            .lock()
            .expect("pushed")
            .iter()
            .any(|shown| shown.state.as_deref() == Some("Do Not Disturb"))
    });

    // Bad input gets a clear error and changes nothing.
    let refused = invoke(
        &panel,
        "pick",
        serde_json::json!({ "label": "x".repeat(300) }),
    );
    assert_eq!(refused, Err("that is not a state".to_string()));
    let refused = invoke(&panel, "answer", serde_json::json!({ "callId": 7 }));
    assert!(refused.is_err(), "a call id that is no string: {refused:?}");
    // Every command with arguments (B4): of the wrong type, missing, too long, unknown.
    let long = "9".repeat(201);
    for (command, body) in [
        ("pick", serde_json::json!({})),
        ("pick", serde_json::json!({ "label": 5 })),
        ("decline", serde_json::json!({ "callId": long })),
        ("hang_up", serde_json::json!({})),
        ("dial", serde_json::json!({ "number": long })),
        ("dial", serde_json::json!({ "number": null })),
        ("sign_in", serde_json::json!({ "link": "Bogus" })),
        ("sign_in", serde_json::json!({ "link": ["Teams"] })),
        ("retry_call_log", serde_json::json!({ "key": long })),
        (
            "retry_call_log",
            serde_json::json!({ "key": { "sql": "1=1" } }),
        ),
        ("read_tokens", serde_json::json!({})),
        (
            "plugin:shell|execute",
            serde_json::json!({ "program": "sh" }),
        ),
    ] {
        assert!(
            is_refused(&panel, command, body.clone()),
            "{command} {body}"
        );
    }
    // A page from anywhere but the panel's own origin may call nothing, nor a forged key.
    let request = |url: &str, key: &str| InvokeRequest {
        cmd: "snapshot".into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: url.parse().expect("url"),
        body: InvokeBody::Json(serde_json::json!({})),
        headers: Default::default(),
        invoke_key: key.to_string(),
    };
    let key = tauri::test::INVOKE_KEY;
    let answered = |request| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            get_ipc_response(&panel, request).is_ok()
        }))
        .unwrap_or(false)
    };
    assert!(
        !answered(request("https://evil.example", key)),
        "a remote origin"
    );
    assert!(
        !answered(request("tauri://localhost", "not-the-key")),
        "a forged key"
    );
    assert!(
        answered(request("tauri://localhost", key)),
        "the panel itself"
    );
    assert_eq!(
        emu.state()["agents"][0]["salesforce"]["State__c"],
        "Do Not Disturb"
    );
}

#[test]
fn an_app_that_cannot_start_its_sync_says_why_in_its_snapshot_and_refuses_commands() {
    let (_app, panel) =
        app_that_cannot_sync("not set up: write ~/.config/presence-bridge/settings.toml");
    let shown = snapshot(&panel);
    assert_eq!(shown.status_line, "Not running");
    assert_eq!(
        shown.notes,
        ["not set up: write ~/.config/presence-bridge/settings.toml"]
    );
    let refused = invoke(&panel, "pick", serde_json::json!({ "label": "Available" }));
    assert_eq!(
        refused,
        Err(
            "the sync is not running: not set up: write ~/.config/presence-bridge/settings.toml"
                .to_string()
        )
    );
    let refused = invoke(&panel, "sign_in", serde_json::json!({ "link": "Teams" }));
    assert_eq!(refused, Err("not connected yet".to_string()));
}

/// Least privilege (issue 12): the panel's capability grants Tauri's event listening and the
/// app's own commands, nothing else of Tauri's core. Each call below was open to the page under
/// `core:default`: repainting or removing the tray, building menus, reading paths, renaming or
/// closing windows, opening the devtools, forging the shell's own events.
#[test]
fn the_panel_may_listen_and_call_our_commands_and_nothing_else_of_tauri() {
    let (_app, panel) = app_that_cannot_sync("not set up");
    for (command, body) in [
        (
            "plugin:tray|set_icon",
            serde_json::json!({ "rid": 0, "icon": null }),
        ),
        (
            "plugin:tray|set_tooltip",
            serde_json::json!({ "rid": 0, "tooltip": "hacked" }),
        ),
        (
            "plugin:menu|new",
            serde_json::json!({ "kind": "Menu", "options": {} }),
        ),
        (
            "plugin:path|resolve_directory",
            serde_json::json!({ "directory": 11 }),
        ),
        ("plugin:app|version", serde_json::json!({})),
        ("plugin:app|app_hide", serde_json::json!({})),
        (
            "plugin:window|set_title",
            serde_json::json!({ "label": "main", "value": "x" }),
        ),
        (
            "plugin:window|close",
            serde_json::json!({ "label": "main" }),
        ),
        (
            "plugin:webview|internal_toggle_devtools",
            serde_json::json!({}),
        ),
        (
            "plugin:event|emit",
            serde_json::json!({ "event": SNAPSHOT_EVENT, "payload": {} }),
        ),
        ("plugin:autostart|enable", serde_json::json!({})),
        // The page can neither look for nor install an update: only the tray's entry can.
        ("plugin:updater|check", serde_json::json!({})),
        (
            "plugin:updater|download_and_install",
            serde_json::json!({ "rid": 1 }),
        ),
    ] {
        let answer = invoke(&panel, command, body.clone());
        let refusal = answer.expect_err(command);
        assert!(
            refusal.contains("not allowed"),
            "{command} {body}: refused by the capability, not by its handler: {refusal}"
        );
    }
    // What the page does use is granted: its commands, and listening to the shell's events.
    let snapshot = invoke(&panel, "snapshot", serde_json::json!({}));
    assert!(snapshot.is_ok(), "{snapshot:?}");
    let listening = invoke(
        &panel,
        "plugin:event|listen",
        serde_json::json!({ "event": SNAPSHOT_EVENT, "target": { "kind": "Any" }, "handler": 7 }),
    );
    let id = listening.expect("listening is granted");
    let unlistened = invoke(
        &panel,
        "plugin:event|unlisten",
        serde_json::json!({ "event": SNAPSHOT_EVENT, "eventId": id }),
    );
    assert!(unlistened.is_ok(), "{unlistened:?}");
}

/// Reliability row B4: the capability files grant exactly this list, so a permission added in
/// passing (`core:default`, a plugin's `default`) fails here and is argued for in review.
#[test]
fn the_capability_files_grant_exactly_the_reviewed_list() {
    const REVIEWED: &[&str] = &[
        "core:event:allow-listen",
        "core:event:allow-unlisten",
        "allow-snapshot",
        "allow-pick",
        "allow-answer",
        "allow-decline",
        "allow-hang-up",
        "allow-dial",
        "allow-extend-wrap-up",
        "allow-sign-in",
        "allow-retry-call-log",
    ];
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/capabilities");
    let mut granted = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("the capabilities folder") {
        let path = entry.expect("an entry").path();
        let text = std::fs::read_to_string(&path).expect("a capability file");
        let capability: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(
            capability["windows"],
            serde_json::json!(["main"]),
            "{path:?}"
        );
        assert!(
            capability.get("remote").is_none(),
            "{path:?} opens IPC to remote pages"
        );
        for permission in capability["permissions"].as_array().expect("permissions") {
            granted.push(
                permission
                    .as_str()
                    .expect("a permission by name")
                    .to_string(),
            );
        }
    }
    assert_eq!(granted, REVIEWED);
}
