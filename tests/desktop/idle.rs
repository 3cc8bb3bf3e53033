//! Light when idle: closing the panel releases its window and webview (the web processes end),
//! the app goes on in the tray, and a ringing call or the tray's Open builds the panel again.
//! `bench_idle_footprint_and_ring_to_panel` measures what that buys and costs
//! (`make bench-desktop`, on the release build).

use std::time::{Duration, Instant};

use presence_emulator::Emulator;

use crate::support::*;
use crate::x11::X;

/// The panel's rectangle on screen (the top left, as `PANEL_TOP`), for pixel reads.
const PANEL_RECT: (i16, i16, u16, u16) = (0, 0, 420, 240);
/// The ringing call's Answer button (`ui/panel.css`).
const ANSWER_GREEN: u32 = 0x23_7B_4B;

/// The memory of the app's process tree: the app and every process under it (WebKit's web and
/// network processes), from `/proc`.
#[derive(Debug, Clone, Default)]
pub struct Footprint {
    /// Resident set, MiB (shared pages counted in each process that maps them).
    pub rss: f64,
    /// Proportional set, MiB (shared pages divided among their users): what the tree costs.
    pub pss: f64,
    /// Anonymous memory (heaps, stacks, JIT), MiB: what the tree allocated, not its libraries.
    pub anonymous: f64,
    pub processes: usize,
    /// WebKit's web processes among them (the panel's page).
    pub web_processes: usize,
    /// Each process: `name RSS/PSS/anonymous MiB`.
    pub parts: Vec<String>,
}

/// A process and every process under it, from `/proc`'s parent links.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so read after the
        // last ')'.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid) in &parents {
            if tree.contains(ppid) && !tree.contains(pid) {
                tree.push(*pid);
                grew = true;
            }
        }
    }
    tree
}

pub fn footprint(root: u32) -> Footprint {
    let tree = process_tree(root);
    let mut total = Footprint::default();
    for pid in tree {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        let kib = |field: &str| -> f64 {
            rollup
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0.0)
        };
        let (rss, pss, anonymous) = (
            kib("Rss:") / 1024.0,
            kib("Pss:") / 1024.0,
            kib("Anonymous:") / 1024.0,
        );
        total.rss += rss;
        total.pss += pss;
        total.anonymous += anonymous;
        total.processes += 1;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        total
            .parts
            .push(format!("{} {rss:.0}/{pss:.0}/{anonymous:.0}", comm.trim()));
        if comm.starts_with("WebKitWebProces") {
            total.web_processes += 1;
        }
    }
    total
}

/// Closes the panel as the window manager's close button would, and waits until its window
/// and web processes are gone.
pub async fn close_panel(x: &X, app: &App) {
    let window = until("the panel window", Duration::from_secs(10), panel_window).await;
    x.ask_to_close(window.parse().expect("an X window id"));
    until(
        "the panel and its web process released",
        Duration::from_secs(10),
        || (panel_window().is_none() && footprint(app.child.id()).web_processes == 0).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a display, a tray host and a notification server: make ui-tests"]
async fn a_closed_panel_is_released_and_built_again_by_a_call_and_by_the_tray() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = fresh_dir("idle");
    let mut app = start_ada(&emu, &data, &[], "desktop-idle.log");
    until_first_write(&emu).await;
    until_seen("the panel", "desktop-idle-1.png", PANEL_TOP, "#6BB700").await;
    let open = footprint(app.child.id());
    assert!(open.web_processes >= 1, "the panel's page runs: {open:?}");

    let x = X::open();
    close_panel(&x, &app).await;
    let closed = footprint(app.child.id());
    eprintln!("panel open: {open:?}\npanel closed: {closed:?}");
    assert!(
        app.child.try_wait().expect("the app's status").is_none(),
        "closing the panel ended the app"
    );
    assert!(closed.pss < open.pss, "releasing the panel freed nothing");
    // Still in sync with the panel closed: a change in Teams reaches Salesforce.
    emu.teams_set_status("ada", "Away", "Away")
        .expect("Teams status");
    until("Away in Salesforce", Duration::from_secs(10), || {
        (salesforce_state(&emu) == "Away").then_some(())
    })
    .await;

    // A call builds the panel again, ringing, with the caller shown.
    emu.teams_set_status("ada", "Available", "Available")
        .expect("Teams status");
    until("Available in Salesforce", Duration::from_secs(10), || {
        (salesforce_state(&emu) == "Available").then_some(())
    })
    .await;
    let call = emu
        .place_call("ada", "Direct", "+14155550100")
        .expect("call");
    until_seen(
        "the ringing panel, built again",
        "desktop-idle-2-ringing.png",
        PANEL_TOP,
        "#237B4B",
    )
    .await;
    emu.hang_up(&call.call_id).expect("hang up");

    // Closed again, the tray's "Open Presence Bridge" (after the states and Start at login)
    // brings it back.
    close_panel(&x, &app).await;
    // Without a window manager the tray menu now and then opens before it holds the keyboard,
    // and the keys go nowhere: such a menu is closed and asked again, up to three times.
    for _ in 0..3 {
        pick_from_tray(12, None).await;
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(3)
            && !colours_in("desktop-idle-3-reopened.png", PANEL_TOP).contains("#6BB700")
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if colours_in("desktop-idle-3-reopened.png", PANEL_TOP).contains("#6BB700") {
            break;
        }
        run("xdotool", &["key", "Escape"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    until_seen(
        "the panel opened from the tray",
        "desktop-idle-3-reopened.png",
        PANEL_TOP,
        "#6BB700",
    )
    .await;
    let _ = app.child.kill();
    let _ = app.child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// `make bench-desktop`: the app's memory with the panel open and closed, and how fast a call
/// paints the ringing panel when its webview must be built again (the panel is closed before
/// every call, the case the release buys) and shows the toast. Run on the build in
/// `PB_APP_BIN` (the Makefile's release build). The baseline, same run: offer → the sync's
/// answer to the controller (Signalled), which both follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-desktop"]
async fn bench_idle_footprint_and_ring_to_panel() {
    let rounds = bench_rounds();
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data = fresh_dir("idle-bench");
    let app = start_ada(&emu, &data, &[], "desktop-idle-bench.log");
    eprintln!("the app under test: {}", app_binary());
    until_first_write(&emu).await;
    until_seen("the panel", "desktop-idle-bench.png", PANEL_TOP, "#6BB700").await;
    let open = settled_footprint(app.child.id()).await;
    let x = X::open();
    close_panel(&x, &app).await;
    let closed = settled_footprint(app.child.id()).await;
    record_footprints(&[("panel_open", &open), ("panel_closed", &closed)]);

    let rings_before = notification_times("Notify", Some("Incoming call")).len();
    let (mut signalled, mut painted, mut toasted) = (vec![], vec![], vec![]);
    let (mut offer_signalled, mut offer_painted, mut offer_toasted) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let call = emu
            .place_call("ada", "Direct", "+14155550100")
            .expect("call");
        let offered = call.offered_ms as f64;
        // Read the screen every few milliseconds: the first frame with the Answer button.
        let seen = loop {
            if x.shows(PANEL_RECT, ANSWER_GREEN) {
                break wall_ms();
            }
            assert!(wall_ms() - offered < 10_000.0, "no ringing panel in 10 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
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
        let offer = until("the offer to ada", Duration::from_secs(10), || {
            offered_to_agent_ms(&emu, &call.call_id)
        })
        .await;
        signalled.push(answered as f64 - offered);
        offer_signalled.push(answered as f64 - offer);
        offer_painted.push(seen - offer);
        offer_toasted.push(ring * 1000.0 - offer);
        painted.push(seen - offered);
        toasted.push(ring * 1000.0 - offered);
        emu.hang_up(&call.call_id).expect("hang up");
        until("the call over", Duration::from_secs(10), || {
            (!x.shows(PANEL_RECT, ANSWER_GREEN)).then_some(())
        })
        .await;
        close_panel(&x, &app).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!(
        "| process tree | processes | RSS | PSS | anonymous | each: RSS/PSS/anonymous MiB |\n|---|---|---|---|---|---|"
    );
    for (name, footprint) in [("panel open", open), ("panel closed", closed)] {
        eprintln!(
            "| {name} | {} | {:.0} MiB | {:.0} MiB | {:.0} MiB | {} |",
            footprint.processes,
            footprint.rss,
            footprint.pss,
            footprint.anonymous,
            footprint.parts.join(", ")
        );
    }
    eprintln!("| measure | n | median | p90 | p99 | max |\n|---|---|---|---|---|---|");
    percentiles(
        "baseline: call placed → Signalled (the controller's offer and the sync's answer)",
        signalled,
    );
    percentiles(
        "placed → ringing panel painted (panel built again)",
        painted,
    );
    percentiles("placed → ringing toast on the session bus", toasted);
    percentiles(
        "baseline: offered to ada (Agent_Call__c created) → Signalled",
        offer_signalled,
    );
    percentiles(
        "offered to ada (Agent_Call__c created) → ringing panel painted",
        offer_painted,
    );
    percentiles(
        "offered to ada (Agent_Call__c created) → ringing toast",
        offer_toasted,
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Puts the tree's footprints into `bench/results.json` (`footprint.desktop.panel_closed.rss_mb`,
/// …), beside what `make bench` measured; `presence-bench report` shows them.
fn record_footprints(footprints: &[(&str, &Footprint)]) {
    for (state, footprint) in footprints {
        let prefix = format!("footprint.desktop.{state}");
        record_figures(
            &prefix,
            vec![
                (format!("{prefix}.rss_mb"), footprint.rss),
                (format!("{prefix}.pss_mb"), footprint.pss),
                (format!("{prefix}.anonymous_mb"), footprint.anonymous),
                (format!("{prefix}.processes"), footprint.processes as f64),
            ],
        );
    }
}

/// The tree's footprint once it has settled: 5 s after the change, the median of 10 readings
/// half a second apart.
async fn settled_footprint(root: u32) -> Footprint {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut readings = Vec::new();
    for _ in 0..10 {
        readings.push(footprint(root));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    readings.sort_by(|a, b| a.pss.total_cmp(&b.pss));
    let middle = readings.len() / 2;
    readings.swap_remove(middle)
}

/// When the controller offered the call to the agent: its `Agent_Call__c` record's
/// `CreatedDate`, which the emulator stamps with its own clock, the one `offered_ms` uses.
fn offered_to_agent_ms(emu: &Emulator, call_id: &str) -> Option<f64> {
    let state = emu.state();
    let record = state["agentCalls"]
        .as_array()?
        .iter()
        .find(|record| record["Call_Id__c"] == call_id)?;
    let created = record["CreatedDate"].as_str()?;
    chrono::DateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .ok()
        .map(|at| at.timestamp_millis() as f64)
}
