//! The desktop app as an agent meets it: the real binary, its real webview, a tray host, a
//! notification server and the emulator, on a virtual display. Run by `scripts/ui-tests.sh`
//! (`make ui-tests`), which provides them: Xvfb (`DISPLAY`), a private session bus with dunst
//! and `dbus-monitor` writing every notification call to `PB_NOTIFY_LOG`, and trayer docked at
//! the bottom right of a 1024×768 screen. Ignored in a plain `cargo test`, which has none of that.
//!
//! The agent's hands are simulated with xdotool (keyboard and mouse), what the agent sees is
//! read from screenshots (ImageMagick) and from the notifications sent, and every outcome is
//! checked in the clouds' state.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use presence_emulator::Emulator;
use serde_json::{json, Value};

/// Where trayer docks the tray icons (`scripts/ui-tests.sh`): the bottom-right 120×32 pixels.
const TRAY_AREA: &str = "120x32+904+736";
const TRAY_ICON: (u32, u32) = (1005, 751);
/// The colour of the tray icon's badge (a link is not connected).
const BADGE: &str = "#FF8C00";
/// The top of the panel window (420 pixels wide, at the top left): header and calls.
const PANEL_TOP: &str = "420x240+0+0";

/// Kills the app if a check fails half-way.
struct App {
    child: Child,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("{program} could not run: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shots");
    std::fs::create_dir_all(&dir).expect("shots dir");
    dir
}

/// Takes a screenshot and returns the colours (`#RRGGBB`) in a region of it.
fn colours_in(shot: &str, region: &str) -> String {
    let path = shots_dir().join(shot);
    let path = path.to_str().expect("utf-8 path");
    run("import", &["-window", "root", path]);
    run(
        "convert",
        &[
            path,
            "-crop",
            region,
            "+repage",
            "-format",
            "%c",
            "histogram:info:-",
        ],
    )
    .to_uppercase()
}

async fn until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a screenshot shows `colour` in `region`; the last one is kept as `shot`.
async fn until_seen(what: &str, shot: &str, region: &str, colour: &str) {
    until(what, Duration::from_secs(10), || {
        colours_in(shot, region).contains(colour).then_some(())
    })
    .await;
}

/// Waits until Salesforce shows `state` (set from the desktop) and Teams the preferred
/// `availability` written for it.
async fn until_both_clouds(emu: &Emulator, state: &str, availability: &str) {
    until(
        &format!("{state} in Salesforce and {availability} in Teams"),
        Duration::from_secs(10),
        || {
            let whole = emu.state();
            let agent = ada(&whole);
            (agent["salesforce"]["State__c"] == state
                && agent["salesforce"]["Source__c"] == "Desktop"
                && agent["teams"]["preferred"]["availability"] == availability)
                .then_some(())
        },
    )
    .await;
}

/// The call controller with the demo settings at this emulator, its webhook registered at the
/// emulated bot (trusting its certificate): calls go Teams → bot → the app, as in production.
async fn controller(emu: &Emulator) -> presence_controller::Controller {
    let store = std::env::temp_dir()
        .join(format!("pb-desktop-controller-{}", std::process::id()))
        .join("calls.sqlite");
    let _ = std::fs::remove_dir_all(store.parent().expect("a directory"));
    std::fs::create_dir_all(store.parent().expect("a directory")).expect("a scratch directory");
    let settings =
        presence_controller::Settings::demo(&emu.base_url, &store).expect("the demo settings");
    let controller = presence_controller::Controller::start(settings)
        .await
        .expect("the controller starts");
    emu.register_calling_webhook(&controller.webhook_url, controller.certificate());
    controller
}

fn ada(state: &Value) -> &Value {
    state["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|agent| agent["name"] == "ada"))
        .expect("ada is in the demo")
}

fn salesforce_state(emu: &Emulator) -> String {
    ada(&emu.state())["salesforce"]["State__c"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn notify_log() -> String {
    let path =
        std::env::var("PB_NOTIFY_LOG").expect("PB_NOTIFY_LOG (run through scripts/ui-tests.sh)");
    std::fs::read_to_string(path).unwrap_or_default()
}

fn panel_window() -> Option<String> {
    let output = Command::new("xdotool")
        .args(["search", "--name", "^Presence Bridge$"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .map(str::to_string)
}

/// Opens the tray menu with a right click and picks its `entry`-th selectable entry by
/// keyboard (the first lines, which only inform, are skipped by the menu itself).
async fn pick_from_tray(entry: usize, shot: Option<&str>) {
    let (x, y) = (TRAY_ICON.0.to_string(), TRAY_ICON.1.to_string());
    run("xdotool", &["mousemove", &x, &y, "click", "3"]);
    tokio::time::sleep(Duration::from_millis(700)).await;
    for _ in 0..entry {
        run("xdotool", &["key", "Down"]);
    }
    if let Some(shot) = shot {
        colours_in(shot, "420x400+604+368");
    }
    run("xdotool", &["key", "Return"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn an_agent_takes_a_call_from_the_keyboard_picks_from_the_tray_and_quits_logged_out() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = std::env::temp_dir().join(format!("pb-desktop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_text = data.to_str().expect("utf-8 path");
    let mut app = start_app(
        &[
            ("PRESENCE_BRIDGE_EMULATOR", emu.base_url.as_str()),
            ("PRESENCE_BRIDGE_USER", "ada"),
            ("PRESENCE_BRIDGE_DATA_DIR", data_text),
        ],
        "desktop-app.log",
    );

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

/// Starts the app with `env` and its standard error in `target/shots/<log>`.
fn start_app(env: &[(&str, &str)], log: &str) -> App {
    let log = std::fs::File::create(shots_dir().join(log)).expect("log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_presence-bridge"));
    command
        .env_remove("PRESENCE_BRIDGE_EMULATOR")
        .env_remove("PRESENCE_BRIDGE_CONFIG")
        .stdout(Stdio::null())
        .stderr(log);
    for (name, value) in env {
        command.env(name, value);
    }
    App {
        child: command.spawn().expect("the app starts"),
    }
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
    // "Start at login" in the tray menu (after the ten states) writes the session's autostart
    // entry for this very binary.
    until_seen(
        "grace's tray icon",
        "desktop-9-grace.png",
        TRAY_AREA,
        "#6BB700",
    )
    .await;
    pick_from_tray(11, Some("desktop-10-start-at-login.png")).await;
    let entry_path = config_home.join("autostart/presence-bridge.desktop");
    let entry = until("the autostart entry", Duration::from_secs(10), || {
        std::fs::read_to_string(&entry_path).ok()
    })
    .await;
    assert!(
        entry.contains(&format!(
            "\nExec=\"{}\"\n",
            env!("CARGO_BIN_EXE_presence-bridge")
        )),
        "{entry}"
    );
    let _ = app.child.kill();
    let _ = app.child.wait();
    let _ = std::fs::remove_dir_all(&home);
}

/// The wall-clock times (seconds) of the notification calls `member` in the recorded log whose
/// summary is `summary` (`None`: any), in order.
fn notification_times(member: &str, summary: Option<&str>) -> Vec<f64> {
    let log = notify_log();
    let blocks: Vec<&str> = log.split("method call time=").skip(1).collect();
    blocks
        .iter()
        .filter(|block| {
            block
                .lines()
                .next()
                .unwrap_or("")
                .ends_with(&format!("member={member}"))
        })
        .filter(|block| {
            // Notify's arguments: app name, replaces id, icon, summary, body. A first show
            // replaces nothing (0); an update of the caller's name replaces the toast.
            let strings: Vec<&str> = block.lines().skip(1).map(str::trim).collect();
            summary.is_none_or(|summary| {
                strings.get(1) == Some(&"uint32 0")
                    && strings.get(3) == Some(&format!("string \"{summary}\"").as_str())
            })
        })
        .filter_map(|block| block.split_whitespace().next()?.parse().ok())
        .collect()
}

fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

fn percentiles(name: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "| {name} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

/// `make bench-desktop`: how fast a call reaches the agent's desktop and leaves it again.
/// Each round the emulator offers a direct call and the caller hangs up 300 ms into the ring.
/// Measured from the emulator's own timestamps and the notification calls' (dbus-monitor):
/// offer → the sync's answer to the controller (Signalled; the baseline, same run), offer →
/// the ringing toast on the session bus, and the caller's hang-up → the toast closed (C7 asks
/// for under one second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-desktop"]
async fn bench_ring_and_stop_latency() {
    let rounds: usize = std::env::var("PB_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(30);
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = std::env::temp_dir().join(format!("pb-desktop-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let data_text = data.to_str().expect("utf-8 path");
    let _app = start_app(
        &[
            ("PRESENCE_BRIDGE_EMULATOR", emu.base_url.as_str()),
            ("PRESENCE_BRIDGE_USER", "ada"),
            ("PRESENCE_BRIDGE_DATA_DIR", data_text),
        ],
        "desktop-bench.log",
    );
    until("the first presence write", Duration::from_secs(30), || {
        (salesforce_state(&emu) == "Available").then_some(())
    })
    .await;
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
    percentiles("offer → ringing toast on the session bus", toasted);
    percentiles("caller hangs up → toast closed", stopped);
    let _ = std::fs::remove_dir_all(&data);
}
