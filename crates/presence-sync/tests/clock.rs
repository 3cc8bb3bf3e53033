//! Section 7 rows C1 and C2: the `presence-agent` process with a wrong or jumping wall clock
//! (libfaketime, the monotonic clock left alone), against the emulator on 127.0.0.1 whose
//! clock is right. `make deps` installs `faketime`.

mod common;

use std::io::{BufRead, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use presence_emulator::Emulator;

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

struct Agent {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "presence-clock-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

/// Starts `presence-agent` with libfaketime preloaded and `fake` as its clock setting.
fn agent_with_clock(emu: &Emulator, data_dir: &Path, fake: &[(&str, &str)]) -> Agent {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "libfaketime is missing: run `make deps`"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_presence-agent"))
        .args(["--emulator", &emu.base_url, "--user", "ada", "--data-dir"])
        .arg(data_dir)
        .env("LD_PRELOAD", LIBFAKETIME)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
        .envs(fake.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("presence-agent");
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stderr.take().expect("stderr");
    let sink = stderr.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        }
    });
    Agent { child, stderr }
}

impl Agent {
    fn said(&self, text: &str) -> bool {
        self.stderr
            .lock()
            .map(|s| s.contains(text))
            .unwrap_or(false)
    }
}

async fn ready(emu: &Emulator) {
    until(emu, "a heartbeat and the stream", |s| {
        ada(s)["heartbeatAgeMs"].is_number() && subscribed(s, "ada")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn a_call_is_offered_and_signalled(emu: &Emulator) -> String {
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    assert_eq!(call.handled_by, "bot", "{call:?}");
    // Offered: the controller saw a live heartbeat (by Salesforce's clock).
    until_call(emu, &call.call_id, "Signalled").await;
    call.call_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_a_clock_three_hours_off_at_start_changes_nothing_for_the_agent() {
    for skew in ["-3h", "+3h"] {
        let emu = Emulator::start().await.expect("emulator");
        let _controller = controller(&emu).await;
        let data_dir = scratch("c1");
        let agent = agent_with_clock(&emu, &data_dir, &[("FAKETIME", skew)]);
        ready(&emu).await;
        // The times written to Salesforce are Salesforce's, not the skewed desktop's.
        let age = ada(&emu.state())["heartbeatAgeMs"].as_i64().expect("age");
        assert!(
            age.abs() < 60_000,
            "{skew}: heartbeat {age} ms old by the server's clock"
        );
        assert!(
            agent.said("this computer's clock is 3 h 0 min"),
            "{skew}: the skew is said: {}",
            agent.stderr.lock().map(|s| s.clone()).unwrap_or_default()
        );
        // Sync both ways and calls work.
        emu.teams_set_status("ada", "Away", "Away").expect("teams");
        until(&emu, "Away in Salesforce", |s| {
            salesforce_state(s) == Some("Away")
        })
        .await;
        let call = a_call_is_offered_and_signalled(&emu).await;
        emu.hang_up(&call).expect("hang up");
        until(&emu, "the Task", |s| tasks(s).len() == 1).await;
        // No "expired" loop: the tokens are those of the sign-in (lifetimes count from
        // receipt on the monotonic clock).
        // (The agent's own grants: the call controller signs in to its tenant's endpoint.)
        let agent_tokens = requests(&emu)
            .iter()
            .filter(|(method, path, _)| {
                method == "POST" && path == "/organizations/oauth2/v2.0/token"
            })
            .count();
        assert_eq!(agent_tokens, 1, "{skew}: {:?}", requests(&emu));
        assert!(
            requests(&emu).iter().all(|(_, _, status)| *status != 401),
            "{skew}: no token was refused"
        );
        drop(agent);
        let _ = std::fs::remove_dir_all(data_dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_a_clock_jump_mid_run_is_a_resume_not_a_storm() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data_dir = scratch("c2");
    let clock_file = data_dir.join("faketime");
    std::fs::write(&clock_file, "+0\n").expect("clock file");
    let clock = clock_file.to_string_lossy().to_string();
    let agent = agent_with_clock(
        &emu,
        &data_dir,
        &[
            ("FAKETIME_TIMESTAMP_FILE", clock.as_str()),
            ("FAKETIME_NO_CACHE", "1"),
        ],
    );
    ready(&emu).await;
    let before = requests(&emu).len();
    // NTP steps the clock eight hours forward.
    std::fs::write(&clock_file, "+8h\n").expect("jump");
    let jumped = Instant::now();
    while !agent.said("resumed after about 2880") {
        assert!(
            jumped.elapsed() < Duration::from_secs(15),
            "the jump was seen as a resume: {}",
            agent.stderr.lock().map(|s| s.clone()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after: Vec<_> = requests(&emu).into_iter().skip(before).collect();
    assert!(
        after.iter().all(|(_, _, status)| *status != 401),
        "no mass 'token expired': {after:?}"
    );
    let polls = after
        .iter()
        .filter(|(method, path, _)| method == "GET" && path == "/v1.0/me/presence")
        .count();
    assert!(polls >= 2, "the timers still fire: {polls} Teams polls");
    // A step back of an hour is no resume, and no harm.
    std::fs::write(&clock_file, "+7h\n").expect("step back");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let call = a_call_is_offered_and_signalled(&emu).await;
    emu.hang_up(&call).expect("hang up");
    until(&emu, "the Task", |s| tasks(s).len() == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let state = emu.state();
    assert_eq!(tasks(&state).len(), 1, "logged once");
    assert_eq!(salesforce_state(&state), Some("Available"), "no flip");
    drop(agent);
    let _ = std::fs::remove_dir_all(data_dir);
}
