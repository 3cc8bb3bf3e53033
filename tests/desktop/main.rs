//! The desktop app as an agent meets it: the real binary, its real webview, a tray host, a
//! notification server and the emulator, on a virtual display. Run by `scripts/ui-tests.sh`
//! (`make ui-tests`), which provides them: Xvfb (`DISPLAY`), a private session bus with dunst
//! and `dbus-monitor` writing every notification call to `PB_NOTIFY_LOG`, and trayer docked at
//! the bottom right of a 1024×768 screen. Ignored in a plain `cargo test`, which has none of that.
//!
//! The agent's hands are simulated with xdotool (keyboard and mouse), what the agent sees is
//! read from screenshots (ImageMagick) and from the notifications sent, and every outcome is
//! checked in the clouds' state.

mod browser;
mod guard;
mod idle;
mod startup;
mod support;
mod unsaved;
mod update;
mod x11;

use std::process::Command;
use std::time::{Duration, Instant};

use presence_emulator::Emulator;
use serde_json::{json, Value};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn an_agent_takes_a_call_from_the_keyboard_picks_from_the_tray_and_quits_logged_out() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = std::env::temp_dir().join(format!("pb-desktop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_text = data.to_str().expect("utf-8 path");
    let ada_env = [
        ("PRESENCE_BRIDGE_EMULATOR", emu.base_url.as_str()),
        ("PRESENCE_BRIDGE_USER", "ada"),
        ("PRESENCE_BRIDGE_DATA_DIR", data_text),
    ];
    let mut app = start_app(&ada_env, "desktop-app.log");

    // Signed in, synced, and shown: the panel maps and the tray shows the green Available icon.
    let started = Instant::now();
    let window = until("the panel window", Duration::from_secs(30), panel_window).await;
    until("the first presence write", Duration::from_secs(30), || {
        (salesforce_state(&emu) == "Available").then_some(())
    })
    .await;
    eprintln!("signed in and synced {:?} after start", started.elapsed());
    until_seen(
        "the Available icon in the tray",
        "desktop-1-started.png",
        TRAY_AREA,
        "#6BB700",
    )
    .await;
    until_seen(
        "the Available icon in the panel",
        "desktop-1-started.png",
        PANEL_TOP,
        "#6BB700",
    )
    .await;

    // A call declined from its toast: the notification server's own menu (dunst's context
    // menu, whose chooser scripts/ui-tests.sh sets to pick "Decline") sends the choice back.
    let declined = emu
        .place_call("ada", "Direct", "+14155550100")
        .expect("call");
    until("the first ringing toast", Duration::from_secs(10), || {
        (notification_times("Notify", Some("Incoming call")).len() == 1).then_some(())
    })
    .await;
    run("dunstctl", &["context"]);
    until(
        "the call declined from its toast",
        Duration::from_secs(10),
        || (emu.call(&declined.call_id)?.status == "Declined").then_some(()),
    )
    .await;
    until("its toast closed", Duration::from_secs(10), || {
        (notification_times("CloseNotification", None).len() == 1).then_some(())
    })
    .await;

    // A caller whose name is markup: the toast shows it as text, escaped for dunst (C8).
    let contact = emu.with_world(|world| {
        world.insert_record(
            "Contact",
            serde_json::from_value(
                json!({"Name": "Eve <b>Example</b> & Co", "Phone": "+1 415 555 0142"}),
            )
            .expect("fields"),
        )
    });
    assert!(contact.is_some());
    let offered = Instant::now();
    let call = emu
        .place_call("ada", "Direct", "+14155550142")
        .expect("call");
    until("the ringing toast", Duration::from_secs(10), || {
        (notification_times("Notify", Some("Incoming call")).len() == 2).then_some(())
    })
    .await;
    eprintln!("toast shown {:?} after the offer", offered.elapsed());
    until(
        "the caller's name in the toast, escaped",
        Duration::from_secs(10),
        || {
            notify_log()
                .contains("Eve &lt;b&gt;Example&lt;/b&gt; &amp; Co")
                .then_some(())
        },
    )
    .await;
    assert!(
        !notify_log().contains("<b>Example</b>"),
        "caller markup reached the notification server unescaped"
    );
    // The panel came up ringing (without taking the keyboard); the agent moves to it, where
    // the Answer button (green) has the focus: Enter answers.
    until_seen(
        "the ringing panel",
        "desktop-2-ringing.png",
        PANEL_TOP,
        "#237B4B",
    )
    .await;
    run("xdotool", &["windowfocus", "--sync", &window]);
    run("xdotool", &["key", "Return"]);
    until("the call answered", Duration::from_secs(10), || {
        let call = emu.call(&call.call_id)?;
        (call.status == "Answered").then_some(())
    })
    .await;
    until_both_clouds(&emu, "On a Call", "Busy").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    colours_in("desktop-2b-on-a-call.png", PANEL_TOP);
    until("the toast closed", Duration::from_secs(10), || {
        (notification_times("CloseNotification", None).len() == 2).then_some(())
    })
    .await;

    // The controller's invitation rings Ada's Teams, which picks up: connected.
    until("connected in Teams", Duration::from_secs(10), || {
        let teams = emu.call(&call.call_id)?.teams?;
        teams.starts_with("answered by").then_some(())
    })
    .await;
    // The caller hangs up: wrap-up, and the call logged once (by the controller), linked to
    // the contact.
    emu.hang_up(&call.call_id).expect("hang up");
    until("Wrap-up", Duration::from_secs(10), || {
        (salesforce_state(&emu) == "Wrap-up").then_some(())
    })
    .await;
    let tasks = until("the call's Task", Duration::from_secs(10), || {
        let state = emu.state();
        let tasks: Vec<Value> = state["tasks"]
            .as_array()?
            .iter()
            .filter(|task| task["Call_Log_Key__c"] == call.call_id.as_str())
            .cloned()
            .collect();
        (!tasks.is_empty()).then_some(tasks)
    })
    .await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["CallDisposition"], "Completed");
    assert_eq!(tasks[0]["WhoId"].as_str(), contact.as_deref());
    tokio::time::sleep(Duration::from_millis(300)).await;
    colours_in("desktop-3-wrap-up.png", PANEL_TOP);

    // The tray menu, by keyboard: the seventh selectable entry is Do Not Disturb.
    pick_from_tray(7, Some("desktop-4-tray-menu.png")).await;
    until_both_clouds(&emu, "Do Not Disturb", "DoNotDisturb").await;
    // Do Not Disturb blocks a direct call: no toast, the controller told why (C1, C6).
    let toasts_before = notify_log().matches("\"Incoming call\"").count();
    let blocked = emu
        .place_call("ada", "Direct", "+14155550100")
        .expect("call");
    let outcome = until("the blocked call's answer", Duration::from_secs(10), || {
        emu.call(&blocked.call_id)?.outcome
    })
    .await;
    assert!(outcome.contains("Do Not Disturb"), "{outcome}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    colours_in("desktop-4b-dnd-blocked.png", PANEL_TOP);
    assert_eq!(
        notify_log().matches("\"Incoming call\"").count(),
        toasts_before
    );

    // K1: the Teams sign-in is revoked at the server. The tray icon gets its badge and its menu
    // a "Sign in to Microsoft 365…" entry (the first that can be chosen); choosing it signs in
    // again and the badge goes.
    emu.with_world(|world| {
        presence_emulator::control::end_tokens(
            world,
            presence_emulator::Api::Entra,
            Some("ada"),
            true,
        )
    })
    .expect("revoke");
    until_seen(
        "the badge on the tray icon",
        "desktop-5-sign-in-needed.png",
        TRAY_AREA,
        BADGE,
    )
    .await;
    pick_from_tray(1, Some("desktop-6-sign-in-menu.png")).await;
    until("the badge gone", Duration::from_secs(15), || {
        (!colours_in("desktop-7-signed-in.png", TRAY_AREA).contains(BADGE)).then_some(())
    })
    .await;

    // Back to Available from the tray (its first entry): the tray icon turns green again.
    pick_from_tray(1, None).await;
    until_both_clouds(&emu, "Available", "Available").await;
    until_seen(
        "the Available icon in the tray again",
        "desktop-8-available.png",
        TRAY_AREA,
        "#6BB700",
    )
    .await;

    // A second launch (the agent clicks the app again, the panel buried under another
    // window) hands over to this one, whose panel comes forward, and exits 0 without starting
    // a second sync. (Whether it also takes the keyboard is the window manager's call: focus
    // stealing prevention; there is none here.)
    let cover = Command::new("display")
        .args(["-geometry", "+0+0", "-size", "500x700", "xc:magenta"])
        .spawn()
        .expect("ImageMagick's display");
    let _cover = App { child: cover };
    until_seen(
        "the panel covered",
        "desktop-13-covered.png",
        PANEL_TOP,
        "#FF00FF",
    )
    .await;
    assert!(!colours_in("desktop-13-covered.png", PANEL_TOP).contains("#6BB700"));
    let mut second = start_app(&ada_env, "desktop-second-launch.log");
    let status = until("the second launch to exit", Duration::from_secs(15), || {
        second.child.try_wait().ok().flatten()
    })
    .await;
    assert!(status.success(), "the second launch exited with {status}");
    until_seen(
        "the panel brought forward",
        "desktop-14-second-launch.png",
        PANEL_TOP,
        "#6BB700",
    )
    .await;
    assert_eq!(
        app.child.try_wait().ok().flatten(),
        None,
        "the first runs on"
    );
    let second_log = std::fs::read_to_string(shots_dir().join("desktop-second-launch.log"))
        .expect("the second launch's log");
    // A second sync on the same data would have said so (D5: its outbox is taken) on stderr.
    assert!(
        !second_log.contains("presence-bridge: "),
        "a second sync started: {second_log}"
    );
    assert_eq!(salesforce_state(&emu), "Available");

    // Logout from the tray (its tenth state): Teams gets every call back, and the panel says
    // there is no connection to Teams (L3).
    pick_from_tray(10, None).await;
    until("Logout in Salesforce", Duration::from_secs(10), || {
        (salesforce_state(&emu) == "Logout").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    colours_in("desktop-15-logged-out.png", PANEL_TOP);

    // The session ends (SIGTERM): the app logs out first and hands Teams back (L7, L3).
    run("kill", &["-TERM", &app.child.id().to_string()]);
    let status = until("the app to exit", Duration::from_secs(15), || {
        app.child.try_wait().ok().flatten()
    })
    .await;
    assert!(status.success(), "exit status {status}");
    let state = emu.state();
    let agent = ada(&state);
    assert_eq!(agent["salesforce"]["State__c"], "Logout");
    assert_eq!(agent["loggedOut"], true);
    assert!(agent["teams"]["preferred"].is_null(), "{}", agent["teams"]);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display: make ui-tests"]
async fn a_desktop_without_settings_says_how_to_set_up_and_one_with_settings_signs_in() {
    let home = std::env::temp_dir().join(format!("pb-desktop-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("home");
    let home_text = home.to_str().expect("utf-8");
    let config_home = home.join("config");
    let data_home = home.join("data");
    let (config_home_text, data_home_text) = (
        config_home.to_str().expect("utf-8"),
        data_home.to_str().expect("utf-8"),
    );
    let env = [
        ("HOME", home_text),
        ("XDG_CONFIG_HOME", config_home_text),
        ("XDG_DATA_HOME", data_home_text),
    ];

    // No settings file: the app runs, and says what to write where (panel, tray, stderr).
    let app = start_app(&env, "desktop-unset.log");
    let expected = config_home.join("presence-bridge/settings.toml");
    until("the set-up message", Duration::from_secs(30), || {
        let log = std::fs::read_to_string(shots_dir().join("desktop-unset.log")).ok()?;
        log.contains(&format!("not set up: write {}", expected.display()))
            .then_some(())
    })
    .await;
    drop(app);

    // The same file presence-agent reads, here naming the emulator and agent grace.
    let emu = Emulator::start().await.expect("emulator");
    std::fs::create_dir_all(expected.parent().expect("dir")).expect("config dir");
    std::fs::write(
        &expected,
        format!("[emulator]\nurl = \"{}\"\nuser = \"grace\"\n", emu.base_url),
    )
    .expect("settings");
    let mut app = start_app(&env, "desktop-settings.log");
    until(
        "grace signed in and synced",
        Duration::from_secs(30),
        || {
            let state = emu.state();
            let grace = state["agents"]
                .as_array()?
                .iter()
                .find(|agent| agent["name"] == "grace")?
                .clone();
            (grace["salesforce"]["Origin_Client__c"] == "presence-bridge:grace").then_some(())
        },
    )
    .await;
    assert!(
        data_home.join("presence-bridge").exists(),
        "the agent's data lives under XDG_DATA_HOME"
    );
    // No XDG_STATE_HOME: the log file is under ~/.local/state, and says where it is.
    let log_file = home.join(".local/state/presence-bridge/logs/presence-bridge.log");
    let log_text = std::fs::read_to_string(&log_file).expect("the log file");
    assert!(log_text.contains("logging to "), "{log_text}");
    // "Start at login" in the tray menu (after the ten states) writes the session's autostart
    // entry for this very binary (tauri-plugin-autostart: under ~/.config whatever
    // XDG_CONFIG_HOME says, the path unquoted), and a second pick removes it.
    until_seen(
        "grace's tray icon",
        "desktop-9-grace.png",
        TRAY_AREA,
        "#6BB700",
    )
    .await;
    pick_from_tray(11, Some("desktop-10-start-at-login.png")).await;
    let entry_path = home.join(".config/autostart/presence-bridge.desktop");
    let entry = until("the autostart entry", Duration::from_secs(10), || {
        std::fs::read_to_string(&entry_path).ok()
    })
    .await;
    assert!(
        entry.starts_with("[Desktop Entry]\nType=Application\n"),
        "{entry}"
    );
    assert!(
        entry.contains(&format!(
            "\nExec={} --in-tray\n",
            env!("CARGO_BIN_EXE_presence-bridge")
        )),
        "{entry}"
    );
    // The tray menu is rebuilt (with the checkmark) just after the entry is written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    pick_from_tray(11, Some("desktop-10b-stop-at-login.png")).await;
    until(
        "the autostart entry removed",
        Duration::from_secs(10),
        || (!entry_path.exists()).then_some(()),
    )
    .await;
    let _ = app.child.kill();
    let _ = app.child.wait();
    let _ = std::fs::remove_dir_all(&home);
}

/// `make bench-desktop`: how fast a call reaches the agent's desktop and leaves it again.
/// Each round a direct call is placed into Teams (the controller answers it and offers it to
/// ada) and the caller hangs up 300 ms into the ring. Measured from the emulator's own
/// timestamps and the notification calls' (dbus-monitor): placed → the sync's answer as the
/// controller acts on it (Signalled; the baseline, same run), placed → the ringing toast on
/// the session bus, and the caller's hang-up → the toast closed (C7 asks for under one second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-desktop"]
async fn bench_ring_and_stop_latency() {
    let rounds = bench_rounds();
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = fresh_dir("bench");
    let _app = start_ada(&emu, &data, &[], "desktop-bench.log");
    until_first_write(&emu).await;
    let (rings_before, closes_before) = (
        notification_times("Notify", Some("Incoming call")).len(),
        notification_times("CloseNotification", None).len(),
    );
    let (mut signalled, mut toasted, mut stopped) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let call = emu
            .place_call("ada", "Direct", "+14155550100")
            .expect("call");
        let offered = call.offered_ms as f64;
        let ring = until("the ringing toast", Duration::from_secs(10), || {
            notification_times("Notify", Some("Incoming call"))
                .get(rings_before + round)
                .copied()
        })
        .await;
        let answered = until("the controller told", Duration::from_secs(10), || {
            emu.call(&call.call_id)?.signalled_ms
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let hung_up = wall_ms();
        emu.hang_up(&call.call_id).expect("hang up");
        let closed = until("the toast closed", Duration::from_secs(10), || {
            notification_times("CloseNotification", None)
                .get(closes_before + round)
                .copied()
        })
        .await;
        signalled.push(answered as f64 - offered);
        toasted.push(ring * 1000.0 - offered);
        stopped.push(closed * 1000.0 - hung_up);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("| measure | n | median | p90 | p99 | max |\n|---|---|---|---|---|---|");
    percentiles(
        "baseline: call placed → Signalled (the controller's offer and the sync's answer)",
        signalled,
    );
    percentiles("call placed → ringing toast on the session bus", toasted);
    percentiles("caller hangs up → toast closed", stopped);
    let _ = std::fs::remove_dir_all(&data);
}
