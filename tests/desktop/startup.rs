//! `make bench-desktop`: how long the desktop app takes from launch to its tray icon and to its
//! first snapshot on screen (the panel painted with the agent's state), and what it costs a
//! core while idle in the tray with the panel closed. The baseline, same run and emulator: the
//! same sync without the shell, `presence-agent` of the same build, to its first snapshot with
//! a state, and its idle CPU over the same span.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use presence_emulator::Emulator;

use crate::idle::{close_panel, process_tree};
use crate::support::*;
use crate::x11::X;

/// Where trayer docks the icons (`TRAY_AREA`), as a rectangle.
const TRAY_RECT: (i16, i16, u16, u16) = (904, 736, 120, 32);
/// The panel's header, where the state's dot is drawn.
const PANEL_RECT: (i16, i16, u16, u16) = (0, 0, 420, 240);
/// Available's green (`ui/panel.css`).
const AVAILABLE_GREEN: u32 = 0x6B_B7_00;
/// Launches measured, each of the app and of the baseline.
const LAUNCHES: usize = 10;
/// The fast polling after signing in, waited out before the idle span.
const SETTLE: Duration = Duration::from_secs(65);

/// `presence-agent` beside the app under test (`make bench-desktop` builds both).
fn agent_binary() -> PathBuf {
    let path = Path::new(&app_binary()).with_file_name("presence-agent");
    assert!(
        path.exists(),
        "{} is missing: cargo build --release -p presence-sync --bin presence-agent",
        path.display()
    );
    path
}

/// `presence-agent` as `user`, and the moment its first snapshot carrying a state was read.
fn start_agent(
    emu: &Emulator,
    user: &str,
    data: &Path,
) -> (Child, std::sync::mpsc::Receiver<Instant>) {
    let mut child = Command::new(agent_binary())
        .args(["--emulator", &emu.base_url, "--user", user, "--data-dir"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("presence-agent starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        // Every line is read, so that it never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !told
                && serde_json::from_str::<serde_json::Value>(&line)
                    .is_ok_and(|snapshot| snapshot["state"].is_string())
            {
                let _ = tx.send(Instant::now());
                told = true;
            }
        }
    });
    (child, rx)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s CPU times.
fn clock_ticks() -> f64 {
    run("getconf", &["CLK_TCK"])
        .trim()
        .parse()
        .expect("CLK_TCK")
}

/// CPU seconds used by a process tree so far: each process's own user and system time, and
/// the times of the children each has reaped (so a web process that ended still counts).
fn tree_cpu_seconds(root: u32, ticks: f64) -> f64 {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            let after = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .collect::<Vec<_>>();
            // Fields 14 to 17 (utime, stime, cutime, cstime); `after` starts at field 3.
            let fields: Option<Vec<f64>> = (14..=17)
                .map(|n| after.get(n - 3)?.parse::<f64>().ok())
                .collect();
            fields.map(|f| f.iter().sum::<f64>())
        })
        .sum::<f64>()
        / ticks
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-desktop"]
async fn bench_start_up_and_idle_cpu() {
    let emu = Emulator::start().await.expect("emulator");
    let x = X::open();
    let empty_tray = x.pixels(TRAY_RECT);
    let (app_data, agent_data) = (fresh_dir("startup-bench"), fresh_dir("startup-bench-agent"));
    let (mut to_tray, mut to_panel, mut agent_to_snapshot) = (vec![], vec![], vec![]);
    for launch in 0..LAUNCHES {
        // The baseline first: the same sync, headless, signed in as grace.
        let started = Instant::now();
        let (mut agent, first) = start_agent(&emu, "grace", &agent_data);
        let seen = first
            .recv_timeout(Duration::from_secs(30))
            .expect("presence-agent's first snapshot with a state");
        agent_to_snapshot.push((seen - started).as_secs_f64() * 1e3);
        stop(&mut agent);

        let started = Instant::now();
        let mut app = start_ada(&emu, &app_data, &[], "desktop-startup-bench.log");
        let (mut tray, mut panel) = (None, None);
        while tray.is_none() || panel.is_none() {
            let elapsed = started.elapsed();
            if tray.is_none() && x.pixels(TRAY_RECT) != empty_tray {
                tray = Some(elapsed);
            }
            if panel.is_none() && x.shows(PANEL_RECT, AVAILABLE_GREEN) {
                panel = Some(elapsed);
            }
            assert!(
                elapsed < Duration::from_secs(30),
                "launch {launch}: no tray icon ({tray:?}) or no painted panel ({panel:?}) in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        to_tray.extend(tray.map(|t| t.as_secs_f64() * 1e3));
        to_panel.extend(panel.map(|t| t.as_secs_f64() * 1e3));
        stop(&mut app.child);
        until("the tray empty again", Duration::from_secs(10), || {
            (x.pixels(TRAY_RECT) == empty_tray && !x.shows(PANEL_RECT, AVAILABLE_GREEN))
                .then_some(())
        })
        .await;
    }
    eprintln!("| measure | n | median | p90 | p99 | max |\n|---|---|---|---|---|---|");
    percentiles(
        "baseline: presence-agent launch → first snapshot with a state",
        agent_to_snapshot.clone(),
    );
    percentiles("desktop launch → tray icon drawn", to_tray.clone());
    percentiles(
        "desktop launch → first snapshot painted (the panel with the state)",
        to_panel.clone(),
    );

    // Idle: the app in the tray with its panel closed, and the baseline beside it, both past
    // the fast polling that follows signing in.
    let idle = std::env::var("PB_IDLE_CPU_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300u64);
    let app = start_ada(&emu, &app_data, &[], "desktop-startup-bench.log");
    until("the panel", Duration::from_secs(30), || {
        x.shows(PANEL_RECT, AVAILABLE_GREEN).then_some(())
    })
    .await;
    close_panel(&x, &app).await;
    let (mut agent, _) = start_agent(&emu, "grace", &agent_data);
    tokio::time::sleep(SETTLE).await;
    let ticks = clock_ticks();
    let (app_0, agent_0, at_0) = (
        tree_cpu_seconds(app.child.id(), ticks),
        tree_cpu_seconds(agent.id(), ticks),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let (app_1, agent_1, span) = (
        tree_cpu_seconds(app.child.id(), ticks),
        tree_cpu_seconds(agent.id(), ticks),
        at_0.elapsed().as_secs_f64(),
    );
    let (app_pct, agent_pct) = (
        (app_1 - app_0) / span * 100.0,
        (agent_1 - agent_0) / span * 100.0,
    );
    eprintln!(
        "idle {span:.0} s, panel closed: the desktop tree {app_pct:.3} % of a core, baseline presence-agent {agent_pct:.3} %"
    );
    stop(&mut agent);
    drop(app);
    record_figures(
        "footprint.desktop.startup",
        vec![
            (
                "footprint.desktop.startup.tray_icon_p50_ms".into(),
                median_ms(to_tray.clone()),
            ),
            (
                "footprint.desktop.startup.tray_icon_max_ms".into(),
                to_tray.iter().copied().fold(0.0, f64::max),
            ),
            (
                "footprint.desktop.startup.first_snapshot_p50_ms".into(),
                median_ms(to_panel.clone()),
            ),
            (
                "footprint.desktop.startup.first_snapshot_max_ms".into(),
                to_panel.iter().copied().fold(0.0, f64::max),
            ),
            (
                "footprint.desktop.startup.baseline_agent_first_snapshot_p50_ms".into(),
                median_ms(agent_to_snapshot),
            ),
            ("footprint.desktop.startup.n".into(), LAUNCHES as f64),
        ],
    );
    record_figures(
        "footprint.desktop.idle",
        vec![
            ("footprint.desktop.idle.cpu_pct".into(), app_pct),
            (
                "footprint.desktop.idle.baseline_agent_cpu_pct".into(),
                agent_pct,
            ),
            ("footprint.desktop.idle.span_s".into(), span),
        ],
    );
    for dir in [app_data, agent_data] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
