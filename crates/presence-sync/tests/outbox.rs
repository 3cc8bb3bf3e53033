//! The durable outbox on a real SQLite file, and A17 through the wire: a missed call while
//! Salesforce is down is delivered exactly once when it returns, also when the agent process
//! is killed with SIGKILL between queueing and delivery. The same for the agent's presence, and
//! one `presence-agent` per agent and data directory (D5).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use presence_core::CallLog;
use presence_emulator::world::{Fault, FaultKind};
use presence_emulator::{Api, Emulator};
use presence_sync::outbox::Outbox;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "presence-sync-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn log(key: &str) -> CallLog {
    common::call_log(key)
}

#[test]
fn logs_are_kept_once_per_key_in_order_and_survive_reopening() {
    let dir = scratch("order");
    let path = dir.join("outbox.sqlite");
    {
        let outbox = Outbox::open(&path).expect("open");
        assert!(outbox.enqueue(&log("a")).expect("a"));
        assert!(outbox.enqueue(&log("b")).expect("b"));
        assert!(
            !outbox.enqueue(&log("a")).expect("a again"),
            "the same call is one log"
        );
    }
    let outbox = Outbox::open(&path).expect("reopen");
    assert_eq!(outbox.pending().expect("pending"), 2);
    let (first, entry) = outbox.next_pending().expect("next").expect("a row");
    assert_eq!(entry.key, "a");
    outbox.mark_dead(first, "INVALID_FIELD").expect("dead");
    let (second, entry) = outbox.next_pending().expect("next").expect("a row");
    assert_eq!(entry.key, "b", "a poison row does not block the rest");
    outbox.mark_delivered(second).expect("delivered");
    assert_eq!(outbox.pending().expect("pending"), 0);
    assert_eq!(outbox.dead().expect("dead")[0].reason, "INVALID_FIELD");
    let _ = std::fs::remove_dir_all(dir);
}

fn presence(state: &str, sequence: u64) -> presence_core::PresenceWrite {
    presence_core::PresenceWrite {
        state: state.into(),
        source: presence_core::Source::Panel,
        sequence,
        origin_client: "test".into(),
        out_of_office: false,
        teams: None,
    }
}

#[test]
fn a_presence_write_is_staged_until_salesforce_confirms_it_and_the_latest_wins() {
    let dir = scratch("presence");
    let path = dir.join("outbox.sqlite");
    {
        let outbox = Outbox::open(&path).expect("open");
        outbox.stage_presence(&presence("Lunch", 4)).expect("stage");
    }
    let outbox = Outbox::open(&path).expect("reopen");
    let staged = outbox.staged_presence().expect("read").expect("kept");
    assert_eq!(staged.write, presence("Lunch", 4));
    outbox.stage_presence(&presence("Busy", 5)).expect("stage");
    outbox.presence_delivered(4).expect("late confirmation");
    assert_eq!(
        outbox.staged_presence().expect("read").map(|s| s.write),
        Some(presence("Busy", 5)),
        "a late confirmation of an older write leaves the newer one staged"
    );
    outbox.presence_delivered(5).expect("confirmed");
    assert_eq!(outbox.staged_presence().expect("read"), None);
    outbox.stage_presence(&presence("Away", 6)).expect("stage");
    outbox.set_presence_aside("refused").expect("aside");
    assert_eq!(outbox.staged_presence().expect("read"), None);
    let dead = outbox.dead().expect("dead");
    assert_eq!(dead.len(), 1);
    assert!(dead[0].key.starts_with("presence:6:"), "{dead:?}");
    assert_eq!(dead[0].reason, "refused");
    assert_eq!(outbox.pending().expect("pending"), 0, "not a call log");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_corrupt_outbox_file_is_set_aside_and_a_new_one_started() {
    let dir = scratch("corrupt");
    let path = dir.join("outbox.sqlite");
    std::fs::write(
        &path,
        b"this is not a database, it is a poem about databases",
    )
    .expect("write");
    let outbox = Outbox::open(&path).expect("opens anyway");
    let aside = outbox.quarantined.clone().expect("set aside");
    assert!(aside.exists());
    assert_eq!(outbox.salvaged, 0, "nothing could be read from a poem");
    assert!(outbox.enqueue(&log("c")).expect("usable"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_damaged_outbox_is_set_aside_with_every_readable_row_carried_over() {
    let dir = scratch("damaged-index");
    let path = dir.join("outbox.sqlite");
    {
        let outbox = Outbox::open(&path).expect("open");
        for key in ["a", "b", "c", "d"] {
            outbox.enqueue(&log(key)).expect("enqueue");
        }
        let (first, _) = outbox.next_pending().expect("read").expect("a log");
        outbox.mark_delivered(first).expect("delivered");
        outbox
            .save_replay_position("/topic/AgentCalls", 42)
            .expect("position");
    }
    // Damage the index of the keys (a whole page of zeros): the integrity check fails, while
    // the table's own pages still read.
    let (page_size, index_page): (i64, i64) = {
        let raw = rusqlite::Connection::open(&path).expect("raw");
        raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .expect("checkpoint");
        raw.pragma_update(None, "journal_mode", "DELETE")
            .expect("no wal");
        let size = raw
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .expect("page size");
        let page = raw
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'",
                [],
                |r| r.get(0),
            )
            .expect("the key index");
        (size, page)
    };
    let mut bytes = std::fs::read(&path).expect("read");
    let start = ((index_page - 1) * page_size) as usize;
    bytes[start..start + page_size as usize].fill(0);
    std::fs::write(&path, bytes).expect("write");

    let outbox = Outbox::open(&path).expect("opens with a fresh file");
    let aside = outbox.quarantined.clone().expect("set aside");
    assert!(aside.exists(), "the damaged file is kept for inspection");
    assert_eq!(
        outbox.salvaged, 4,
        "three pending logs and the stream position"
    );
    assert_eq!(
        outbox.pending().expect("pending"),
        3,
        "no pending log abandoned"
    );
    assert_eq!(
        outbox.replay_position("/topic/AgentCalls").expect("read"),
        Some(42)
    );
    assert!(
        !outbox.enqueue(&log("b")).expect("enqueue"),
        "b is still there, once"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// An outbox file of 200 pending logs, without its write-ahead log (all in the main file).
fn outbox_file_of_200(name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let dir = scratch(name);
    let path = dir.join("outbox.sqlite");
    {
        let outbox = Outbox::open(&path).expect("open");
        for n in 0..200 {
            outbox
                .enqueue(&log(&format!("log-{n:03}")))
                .expect("enqueue");
        }
    }
    let raw = rusqlite::Connection::open(&path).expect("raw");
    raw.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    raw.pragma_update(None, "journal_mode", "DELETE")
        .expect("no wal");
    drop(raw);
    let bytes = std::fs::read(&path).expect("read");
    (dir, path, bytes)
}

/// Opens a damaged file: it always opens (set aside when it fails its check), stays usable,
/// and every row it still holds, or that was carried over, is one of ours, once.
fn opens_usable_and_keeps_what_it_can(path: &std::path::Path, what: &str) -> usize {
    let outbox = Outbox::open(path).unwrap_or_else(|error| panic!("{what}: {error}"));
    let rows = if outbox.quarantined.is_some() {
        outbox.salvaged
    } else {
        let raw = rusqlite::Connection::open(path).expect("raw");
        raw.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .unwrap_or(0)
    };
    assert!(rows <= 200, "{what}: {rows} rows from 200");
    // Reading every pending row back: unreadable ones are set aside with a reason, never lost.
    let mut keys = std::collections::BTreeSet::new();
    while let Ok(Some((seq, entry))) = outbox.next_pending() {
        assert!(
            keys.insert(entry.key.clone()),
            "{what}: {} twice",
            entry.key
        );
        // A row that reads but cannot be marked is skipped from then on: the loop ends.
        if let Err(error) = outbox.mark_delivered(seq) {
            eprintln!("{what}: {error}");
        }
    }
    assert!(
        outbox.enqueue(&log("after")).is_ok(),
        "{what}: still usable"
    );
    drop(outbox);
    rows
}

#[test]
fn d4_a_truncated_or_bit_flipped_outbox_opens_is_set_aside_when_damaged_and_keeps_what_it_can() {
    let (dir, path, whole) = outbox_file_of_200("truncated");
    // Cut mid-page: the last pages are gone.
    let cut = whole.len() * 2 / 3 + 123;
    std::fs::write(&path, &whole[..cut]).expect("truncate");
    let kept = opens_usable_and_keeps_what_it_can(&path, "truncated");
    assert!(kept > 0, "the rows before the cut are carried over");
    eprintln!(
        "D4: cut at byte {cut} of {}: {kept} of 200 rows carried over",
        whole.len()
    );
    let _ = std::fs::remove_dir_all(dir);

    // One bit flipped, at 40 places spread over the file (header, schema, index and rows).
    let (dir, path, whole) = outbox_file_of_200("bit-flip");
    let mut set_aside = 0;
    for n in 0..40usize {
        let at = (n * 7919 + 13) % whole.len();
        let mut bytes = whole.clone();
        bytes[at] ^= 1 << (n % 8);
        for leftover in std::fs::read_dir(&dir).expect("list").flatten() {
            let _ = std::fs::remove_file(leftover.path());
        }
        std::fs::write(&path, &bytes).expect("flip");
        opens_usable_and_keeps_what_it_can(&path, &format!("bit {} of byte {at}", n % 8));
        set_aside += std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().contains("corrupt-"))
            .count();
    }
    eprintln!("D4: of 40 single-bit flips, {set_aside} failed the check and were set aside");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_outbox_that_cannot_be_opened_for_now_is_left_alone() {
    // A directory where the file should be (as good as a locked or unreadable file): an error
    // to report, not a damaged file to throw away.
    let dir = scratch("unopenable");
    let path = dir.join("outbox.sqlite");
    std::fs::create_dir_all(path.join("inside")).expect("a directory in its place");
    let error = Outbox::open(&path).expect_err("cannot open a directory");
    assert!(!error.is_corruption(), "{error}");
    assert!(path.join("inside").exists(), "nothing was moved");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "nothing set aside: {leftovers:?}");
    let _ = std::fs::remove_dir_all(dir);
}

fn task_fault(emu: &Emulator) {
    emu.with_world(|w| {
        w.faults.push(Fault {
            api: Api::Salesforce,
            kind: FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            count: None,
            path_contains: Some("sobjects/Task".into()),
        })
    });
}

fn tasks(emu: &Emulator) -> Vec<serde_json::Value> {
    emu.state()["tasks"].as_array().cloned().unwrap_or_default()
}

/// A spawned agent that is killed when the test ends, also when it fails half-way.
struct Running(Child);

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(
    emu: &Emulator,
    data_dir: &PathBuf,
) -> (Running, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .args(["--emulator", &emu.base_url, "--user", "ada", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn presence-agent");
    let stdout = child.stdout.take().expect("stdout");
    (Running(child), BufReader::new(stdout))
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a17_a_missed_call_during_an_outage_is_delivered_once_even_after_sigkill() {
    let emu = Emulator::start().await.expect("emulator");
    let data_dir = scratch("sigkill");
    let (mut agent, mut lines) = start_agent(&emu, &data_dir);
    let mut first = String::new();
    lines.read_line(&mut first).expect("first snapshot line");
    assert!(first.starts_with('{'), "{first}");
    wait_for("the agent's heartbeat", || {
        emu.state()["agents"][0]["heartbeatAgeMs"].is_number()
    })
    .await;
    // Salesforce refuses Tasks (down for call logs); a call rings and is missed. (The app's own
    // log: the offer is a controller's that leaves it to the app. The controller's own
    // outbox is the same code, killed in presence-controller's tests/restart.rs.)
    task_fault(&emu);
    let call_id = common::offer_logged_by_the_app(&emu, "ada", "+1 415 555 0100");
    wait_for("the call to be signalled", || {
        common::offer_status(&emu, &call_id).as_deref() == Some("Signalled")
    })
    .await;
    common::end_offer(&emu, &call_id, "CallerHungUp");
    // Queued durably: the row is in the agent's outbox file before anything was delivered.
    let path = data_dir.join("outbox-ada.sqlite");
    wait_for("the log in the outbox", || {
        Outbox::open(&path)
            .ok()
            .and_then(|o| o.pending().ok())
            .is_some_and(|n| n == 1)
    })
    .await;
    wait_for("a failed delivery attempt", || {
        emu.state()["counters"]["salesforce PATCH sobjects"]
            .as_u64()
            .unwrap_or(0)
            > 0
            && tasks(&emu).is_empty()
    })
    .await;
    agent.kill().expect("SIGKILL");
    let _ = agent.wait();
    assert!(
        tasks(&emu).is_empty(),
        "nothing delivered while Salesforce was down"
    );
    // Salesforce comes back; a new agent process delivers the log from the file, once.
    emu.with_world(|w| w.faults.clear());
    let (mut agent, _lines) = start_agent(&emu, &data_dir);
    wait_for("the Task", || !tasks(&emu).is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered = tasks(&emu);
    assert_eq!(delivered.len(), 1, "exactly once: {delivered:?}");
    assert_eq!(delivered[0]["Call_Log_Key__c"], call_id.as_str());
    assert_eq!(delivered[0]["CallDisposition"], "Missed");
    assert_eq!(
        Outbox::open(&path)
            .expect("open")
            .pending()
            .expect("pending"),
        0
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(data_dir);
}

fn say(agent: &mut Running, line: &str) {
    use std::io::Write as _;
    let stdin = agent.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{line}").expect("command");
    stdin.flush().expect("flush");
}

fn ada_state(emu: &Emulator) -> serde_json::Value {
    emu.state()["agents"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presence_pick_survives_sigkill_before_salesforce_has_it() {
    let emu = Emulator::start().await.expect("emulator");
    let data_dir = scratch("presence-kill");
    let (mut agent, _lines) = start_agent(&emu, &data_dir);
    wait_for("the agent's heartbeat", || {
        ada_state(&emu)["heartbeatAgeMs"].is_number()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Salesforce refuses presence writes; the agent picks Lunch on the panel.
    emu.with_world(|w| {
        w.faults.push(Fault {
            api: Api::Salesforce,
            kind: FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            count: None,
            path_contains: Some("Agent_Presence__c".into()),
        })
    });
    say(&mut agent, "pick Lunch");
    wait_for("Teams to show Lunch (Away)", || {
        ada_state(&emu)["teams"]["availability"] == "Away"
    })
    .await;
    let path = data_dir.join("outbox-ada.sqlite");
    wait_for("the write staged in the outbox file", || {
        Outbox::open(&path)
            .ok()
            .and_then(|o| o.staged_presence().ok().flatten())
            .is_some_and(|s| s.write.state == "Lunch")
    })
    .await;
    agent.kill().expect("SIGKILL");
    let _ = agent.wait();
    assert_eq!(ada_state(&emu)["salesforce"]["State__c"], "Available");
    // Salesforce is back; the next run sends the staged write before anything else, so the
    // start-up repair finds the agent's choice instead of overwriting Teams with Available.
    emu.with_world(|w| w.faults.clear());
    let (mut agent, _lines) = start_agent(&emu, &data_dir);
    wait_for("Lunch in Salesforce", || {
        ada_state(&emu)["salesforce"]["State__c"] == "Lunch"
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = ada_state(&emu);
    assert_eq!(state["salesforce"]["State__c"], "Lunch", "{state}");
    assert_eq!(state["teams"]["availability"], "Away", "{state}");
    assert_eq!(
        Outbox::open(&path)
            .expect("open")
            .staged_presence()
            .expect("read"),
        None,
        "confirmed and unstaged"
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d5_a_second_agent_for_the_same_data_refuses_and_the_first_keeps_running() {
    let emu = Emulator::start().await.expect("emulator");
    let data_dir = scratch("single");
    let (mut first, _lines) = start_agent(&emu, &data_dir);
    wait_for("the first agent's heartbeat", || {
        ada_state(&emu)["heartbeatAgeMs"].is_number()
    })
    .await;
    let second = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .args(["--emulator", &emu.base_url, "--user", "ada", "--data-dir"])
        .arg(&data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("second presence-agent");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("already runs") && stderr.contains(&first.id().to_string()),
        "{stderr}"
    );
    // A bad command on standard input is refused; the first agent goes on and obeys the next.
    say(&mut first, "frobnicate now");
    say(&mut first, "pick Do Not Disturb");
    wait_for("Do Not Disturb in Salesforce", || {
        ada_state(&emu)["salesforce"]["State__c"] == "Do Not Disturb"
    })
    .await;
    assert!(first.try_wait().expect("status").is_none(), "still running");
    say(&mut first, "quit");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = first.try_wait().expect("status") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "quit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert_eq!(
        ada_state(&emu)["salesforce"]["State__c"],
        "Logout",
        "quit logs out"
    );
    let _ = std::fs::remove_dir_all(data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_agent_runs_from_a_settings_file_and_explains_bad_ones() {
    let emu = Emulator::start().await.expect("emulator");
    let dir = scratch("config");
    let config = dir.join("settings.toml");
    std::fs::write(
        &config,
        format!("[emulator]\nurl = \"{}\"\nuser = \"grace\"\n", emu.base_url),
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_presence-agent"))
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn"),
    );
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    lines.read_line(&mut line).expect("a snapshot line");
    let snapshot: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert!(snapshot["choices"].is_array());
    wait_for("grace's record", || {
        !emu.state()["agents"][1]["salesforce"].is_null()
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    // A bad file: exit status 2 and a message naming the key.
    std::fs::write(&config, "[teams]\ncolour = \"blue\"\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `colour`"));
    let help = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .arg("--help")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--emulator",
        "--user",
        "--config",
        "--client-id",
        "--data-dir",
    ] {
        assert!(text.contains(flag), "--help documents {flag}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_an_agent_started_offline_says_so_waits_and_connects_when_the_network_returns() {
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        probe.local_addr().expect("address")
    };
    let data_dir = scratch("offline");
    let mut agent = Running(
        Command::new(env!("CARGO_BIN_EXE_presence-agent"))
            .args(["--emulator", &format!("http://{address}"), "--user", "ada"])
            .arg("--data-dir")
            .arg(&data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("presence-agent"),
    );
    let mut stdout = BufReader::new(agent.stdout.take().expect("stdout"));
    let stderr = agent.stderr.take().expect("stderr");
    let gaps = std::sync::Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
    let seen = gaps.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("trying again in ").nth(1) {
                if let Some(secs) = rest.strip_suffix(" s").and_then(|n| n.parse().ok()) {
                    if let Ok(mut gaps) = seen.lock() {
                        gaps.push(secs);
                    }
                }
            }
        }
    });
    // The engine runs from the first second: its first line says it is connecting, and the
    // next one that both clouds are unreachable, with the tray badge on.
    let mut line = || {
        let mut text = String::new();
        stdout.read_line(&mut text).expect("a snapshot line");
        let snapshot: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        snapshot
    };
    let first = line();
    assert_eq!(
        first["links"][0]["state"]["reason"], "connecting",
        "{first}"
    );
    let offline = line();
    let links = offline["links"].as_array().expect("links");
    assert_eq!(links.len(), 2);
    for link in links {
        assert!(
            link["state"]["state"] == "Disconnected",
            "offline shown: {offline}"
        );
    }
    assert_eq!(offline["badge"], true, "the tray badge is on");
    std::thread::spawn(move || for _ in stdout.lines() {});
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(agent.try_wait().expect("status").is_none(), "still running");
    let waited = gaps.lock().expect("gaps").clone();
    assert!(
        waited.len() >= 2 && waited.len() <= 4,
        "a few attempts in 7 s, not a busy loop: {waited:?}"
    );
    assert!(
        waited.windows(2).all(|w| w[1] >= w[0]) && waited[waited.len() - 1] > waited[0],
        "growing gaps: {waited:?}"
    );
    // The network returns: the emulator comes up where the agent was told to look.
    let emu = Emulator::start_on(address, Default::default())
        .await
        .expect("emulator on the same port");
    let started = Instant::now();
    while !emu.state()["agents"][0]["heartbeatAgeMs"].is_number() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "signed in once the network was back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = std::fs::remove_dir_all(data_dir);
}

/// A small deterministic generator for kill moments (no extra crate for one test).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// D1: SIGKILL at random points around a missed call, many times over. Every log the outbox
/// held (what the agent was told was saved) ends up as exactly one Task; no Task is doubled.
/// `PB_D1_LOOPS` sets the loops (20 in `make test`, 200 in `make soak`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_sigkill_at_random_points_loses_and_doubles_no_saved_log() {
    let loops: u64 = std::env::var("PB_D1_LOOPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let emu = Emulator::start().await.expect("emulator");
    let data_dir = scratch("d1");
    let path = data_dir.join("outbox-ada.sqlite");
    let mut moments = Moments(0x5eed ^ loops);
    let mut saved = std::collections::BTreeSet::new();
    for round in 0..loops {
        let (mut agent, _lines) = start_agent(&emu, &data_dir);
        wait_for("the agent's stream", || {
            let state = emu.state();
            state["agents"][0]["heartbeatAgeMs"].is_number()
                && state["streaming"]["clients"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
        })
        .await;
        // Salesforce takes its time with the Task, so that kills land before, during and
        // after the delivery.
        let slow = moments.next_ms(300);
        emu.with_world(|w| {
            w.faults.push(Fault {
                api: Api::Salesforce,
                kind: FaultKind::Delay { ms: slow },
                count: Some(1),
                path_contains: Some("sobjects/Task".into()),
            })
        });
        let call = common::offer_logged_by_the_app(&emu, "ada", "+1 415 555 0100");
        tokio::time::sleep(Duration::from_millis(moments.next_ms(300))).await;
        common::end_offer(&emu, &call, "CallerHungUp");
        tokio::time::sleep(Duration::from_millis(moments.next_ms(350))).await;
        agent.kill().expect("SIGKILL");
        let _ = agent.wait();
        // What the outbox holds now was acknowledged to the agent: it must arrive, once.
        let outbox = Outbox::open(&path).expect("outbox after a kill");
        let pending = outbox.pending().expect("pending");
        drop(outbox);
        let connection = rusqlite::Connection::open(&path).expect("read");
        let mut statement = connection
            .prepare("SELECT key FROM outbox WHERE kind = 'call_log'")
            .expect("query");
        let keys: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("keys");
        saved.extend(keys);
        eprintln!(
            "D1 round {round}: killed with {pending} pending, {} saved so far",
            saved.len()
        );
        emu.with_world(|w| w.faults.clear());
    }
    // One last run drains what is left.
    let (mut agent, _lines) = start_agent(&emu, &data_dir);
    wait_for("the outbox drained", || {
        Outbox::open(&path)
            .ok()
            .and_then(|o| o.pending().ok())
            .is_some_and(|n| n == 0)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = agent.kill();
    let _ = agent.wait();
    let delivered: Vec<String> = tasks(&emu)
        .iter()
        .map(|t| t["Call_Log_Key__c"].as_str().unwrap_or("").to_string())
        .collect();
    let distinct: std::collections::BTreeSet<_> = delivered.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        delivered.len(),
        "no Task doubled: {delivered:?}"
    );
    for key in &saved {
        assert!(distinct.contains(key), "saved log {key} never arrived");
    }
    eprintln!(
        "D1: {loops} kills, {} logs saved, {} Tasks, none lost or doubled",
        saved.len(),
        delivered.len()
    );
    assert!(!saved.is_empty(), "the kills left something to check");
    let _ = std::fs::remove_dir_all(data_dir);
}
