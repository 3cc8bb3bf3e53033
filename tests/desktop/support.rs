//! What the desktop tests share: the app started as a process, the screen read back through
//! screenshots, the tray menu driven by keyboard, and waits on the emulator.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use presence_emulator::Emulator;
use serde_json::Value;

/// Where trayer docks the tray icons (`scripts/ui-tests.sh`): the bottom-right 120×32 pixels.
pub const TRAY_AREA: &str = "120x32+904+736";
pub const TRAY_ICON: (u32, u32) = (1005, 751);
/// The colour of the tray icon's badge (a link is not connected).
pub const BADGE: &str = "#FF8C00";
/// The top of the panel window (420 pixels wide, at the top left): header and calls.
pub const PANEL_TOP: &str = "420x240+0+0";

/// Kills the app if a check fails half-way.
pub struct App {
    pub child: Child,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(program: &str, args: &[&str]) -> String {
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

pub fn shots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shots");
    std::fs::create_dir_all(&dir).expect("shots dir");
    dir
}

/// Takes a screenshot and returns the colours (`#RRGGBB`) in a region of it.
pub fn colours_in(shot: &str, region: &str) -> String {
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

pub async fn until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
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
pub async fn until_seen(what: &str, shot: &str, region: &str, colour: &str) {
    until(what, Duration::from_secs(10), || {
        colours_in(shot, region).contains(colour).then_some(())
    })
    .await;
}

/// Waits until Salesforce shows `state` (set from the desktop) and Teams the preferred
/// `availability` written for it.
pub async fn until_both_clouds(emu: &Emulator, state: &str, availability: &str) {
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
pub async fn controller(emu: &Emulator) -> presence_controller::Controller {
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

pub fn ada(state: &Value) -> &Value {
    state["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|agent| agent["name"] == "ada"))
        .expect("ada is in the demo")
}

pub fn salesforce_state(emu: &Emulator) -> String {
    ada(&emu.state())["salesforce"]["State__c"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn notify_log() -> String {
    let path =
        std::env::var("PB_NOTIFY_LOG").expect("PB_NOTIFY_LOG (run through scripts/ui-tests.sh)");
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn panel_window() -> Option<String> {
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
pub async fn pick_from_tray(entry: usize, shot: Option<&str>) {
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

/// The rounds a benchmark runs: `PB_BENCH_ROUNDS`, else 30.
pub fn bench_rounds() -> usize {
    std::env::var("PB_BENCH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(30)
}

/// An empty directory for one test's data, under the system's temporary directory.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-desktop-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The app signed in as ada against `emu`, its data in `data`, with `more` environment and
/// its standard error in `target/shots/<log>`.
pub fn start_ada(emu: &Emulator, data: &Path, more: &[(&str, &str)], log: &str) -> App {
    let data = data.to_str().expect("a UTF-8 data directory");
    let mut env = vec![
        ("PRESENCE_BRIDGE_EMULATOR", emu.base_url.as_str()),
        ("PRESENCE_BRIDGE_USER", "ada"),
        ("PRESENCE_BRIDGE_DATA_DIR", data),
    ];
    env.extend_from_slice(more);
    start_app(&env, log)
}

/// Waits for the sync's first presence write: Salesforce says Available.
pub async fn until_first_write(emu: &Emulator) {
    until("the first presence write", Duration::from_secs(30), || {
        (salesforce_state(emu) == "Available").then_some(())
    })
    .await;
}

/// The app under test: this build's, or the one in `PB_APP_BIN` (`make bench-desktop` sets the
/// release build there).
pub fn app_binary() -> String {
    std::env::var("PB_APP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_presence-bridge").into())
}

/// Starts the app with `env` and its standard error in `target/shots/<log>`.
pub fn start_app(env: &[(&str, &str)], log: &str) -> App {
    let log = std::fs::File::create(shots_dir().join(log)).expect("log");
    let mut command = Command::new(app_binary());
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

/// The wall-clock times (seconds) of the notification calls `member` in the recorded log whose
/// summary is `summary` (`None`: any), in order.
pub fn notification_times(member: &str, summary: Option<&str>) -> Vec<f64> {
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

pub fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

pub fn percentiles(name: &str, mut samples: Vec<f64>) {
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

/// Puts `figures` into `bench/results.json` in place of every key under `part.`, beside what
/// `make bench` measured; `presence-bench report` shows them.
pub fn record_figures(part: &str, figures: Vec<(String, f64)>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results.json");
    let mut results = presence_bench::results::Results::load(&path).expect("the results file");
    results.replace_part(part, figures);
    results.save(&path).expect("the results file written");
}
