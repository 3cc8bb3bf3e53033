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

/// Row C3, a laptop that sleeps for eight hours on the way home: the `presence-agent` process
/// is stopped (SIGSTOP) while the network goes (every connection to the clouds cut), the
/// servers' tokens expire and the wall clock moves eight hours on. It wakes (SIGCONT) still without a network and the agent picks twice; then the network
/// returns. The resume is seen, tokens are refreshed before the first API call, the Teams
/// session is made again, the last pick reaches both clouds, a call rings and is logged once,
/// and the return costs no 429: Teams' presence budget is set to what
/// the agent's steady state needs and a little more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_a_night_asleep_without_network_resumes_without_a_burst_or_a_lost_call() {
    use presence_emulator::world::{Fault, FaultKind};
    use presence_emulator::Api;
    use std::io::Write as _;
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let data_dir = scratch("c3");
    let clock_file = data_dir.join("faketime");
    std::fs::write(&clock_file, "+0\n").expect("clock file");
    let clock = clock_file.to_string_lossy().to_string();
    let mut agent = agent_with_clock(
        &emu,
        &data_dir,
        &[
            ("FAKETIME_TIMESTAMP_FILE", clock.as_str()),
            ("FAKETIME_NO_CACHE", "1"),
        ],
    );
    ready(&emu).await;
    // The agent's steady state, measured: Teams presence requests in 30 s.
    let graph = |emu: &Emulator| counter(&emu.state(), "graph");
    let steady_from = graph(&emu);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let steady = graph(&emu) - steady_from;
    let budget = u32::try_from(steady + 10).expect("a budget");
    eprintln!("steady state: {steady} Graph requests in 30 s; budget set to {budget}");
    emu.with_world(|w| w.settings.throttle_budget = budget);

    // Asleep, and the network gone.
    let pid = rustix::process::Pid::from_child(&agent.child);
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).expect("SIGSTOP");
    emu.with_world(|w| {
        for api in [Api::Graph, Api::Entra, Api::Salesforce, Api::Cometd] {
            w.faults.push(Fault {
                api,
                kind: FaultKind::Drop,
                count: None,
                path_contains: None,
            });
        }
    });
    for api in [Api::Entra, Api::Salesforce] {
        emu.with_world(|w| presence_emulator::control::end_tokens(w, api, Some("ada"), false))
            .expect("tokens expired");
    }
    std::fs::write(&clock_file, "+8h\n").expect("eight hours on");
    emu.with_world(|w| w.clock.advance(Duration::from_secs(8 * 3600)));
    // Awake, still offline: two picks wait for the network.
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).expect("SIGCONT");
    let stdin = agent.child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "pick Lunch").expect("pick");
    writeln!(stdin, "pick Do Not Disturb").expect("pick");
    stdin.flush().expect("flush");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        agent.said("resumed after about 2880"),
        "the sleep is seen: {}",
        agent.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    );

    // The network returns.
    let mark = requests(&emu).len();
    let back = Instant::now();
    emu.with_world(|w| w.faults.clear());
    let took = until(&emu, "the last pick in both clouds", |s| {
        salesforce_state(s) == Some("Do Not Disturb")
            && teams(s) == ("DoNotDisturb".into(), "DoNotDisturb".into())
    })
    .await;
    eprintln!("the last pick reached both clouds {took:?} after the network returned");
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen: Vec<_> = requests(&emu).into_iter().skip(mark).collect();
    let first = |wanted: &dyn Fn(&str, &str) -> bool| {
        seen.iter()
            .position(|(method, path, _)| wanted(method, path))
    };
    let agent_token = first(&|m, p| m == "POST" && p == "/organizations/oauth2/v2.0/token");
    let graph_call = first(&|_, p| p.starts_with("/v1.0/me/"));
    let salesforce_token = first(&|_, p| p == "/services/oauth2/token");
    let salesforce_call = first(&|_, p| p.contains("Agent_Presence__c"));
    assert!(
        agent_token.is_some() && agent_token < graph_call,
        "Entra refreshed before Graph: {seen:?}"
    );
    assert!(
        salesforce_token.is_some() && salesforce_token < salesforce_call,
        "Salesforce refreshed before REST: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|(_, p, s)| p.ends_with("/presence/setPresence") && *s == 200),
        "the Teams session made again: {seen:?}"
    );
    let refused: Vec<_> = seen
        .iter()
        .filter(|(_, _, status)| *status == 429 || *status == 401)
        .collect();
    assert!(refused.is_empty(), "no burst refused: {refused:?}");
    assert_eq!(emu.state()["throttling"]["throttled"], 0, "no 429 at all");
    // And calls work again: offered, signalled, logged once.
    writeln!(agent.child.stdin.as_mut().expect("stdin"), "pick Available").expect("pick");
    until(&emu, "Available", |s| {
        salesforce_state(s) == Some("Available")
    })
    .await;
    let call = a_call_is_offered_and_signalled(&emu).await;
    emu.hang_up(&call).expect("hang up");
    until(&emu, "the Task", |s| tasks(s).len() == 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(tasks(&emu.state()).len(), 1, "logged once");
    eprintln!(
        "{} requests in the {:?} after the network returned, none refused",
        seen.len(),
        back.elapsed()
    );
    let _ = std::fs::remove_dir_all(data_dir);
}
