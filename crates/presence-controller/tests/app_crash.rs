//! The agent's app killed with SIGKILL while a call rings, and while one is answered: the
//! controller, which sees each call whole, still leaves exactly one Task per call, also after
//! the app starts again. The app is the real `presence-agent` binary; the controller and the
//! emulator run in this process.

mod common;

use std::io::{BufRead as _, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use common::{call_of, controller_with, record_of, scratch, tasks_of, until};
use presence_emulator::Emulator;

/// `presence-agent`, built beside this test (by `cargo test --workspace`), or built now.
fn presence_agent() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let target = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let binary = target.join("presence-agent");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "presence-sync", "--bin", "presence-agent"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "presence-agent builds");
    }
    binary
}

struct App {
    child: Child,
    stdin: ChildStdin,
}

impl App {
    /// `presence-agent` signed in to the emulator as `user`, once it printed a snapshot.
    fn start(emu: &Emulator, user: &str, data: &std::path::Path) -> Self {
        let mut child = Command::new(presence_agent())
            .args(["--emulator", &emu.base_url, "--user", user, "--data-dir"])
            .arg(data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("presence-agent starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        // Its snapshots are read (and dropped) so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                if line.is_err() {
                    break;
                }
            }
        });
        Self { child, stdin }
    }

    fn say(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("a command");
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

async fn ready(emu: &Emulator, user: &str) {
    until(emu, "the app's heartbeat and stream", |s| {
        s["agents"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["name"] == user && a["heartbeatAgeMs"].is_number())
        }) && s["streaming"]["clients"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["agent"] == user))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_killed_while_a_call_rings_and_while_one_is_answered_leaves_one_task_per_call() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.teams_ring_s = 1);
    let _controller = controller_with(&emu, |s| s.calls.ring_timeout_s = 4).await;
    let data = scratch("ada");

    // Killed while the call rings: the controller's ring timeout (4 s here) hands it to Teams.
    let app = App::start(&emu, "ada", &data);
    ready(&emu, "ada").await;
    let ringing = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "it rings in the app", |s| {
        record_of(s, &ringing)["Status__c"] == "Signalled"
    })
    .await;
    app.kill();
    let missed = tasks_of(&emu, &ringing, 1).await;
    assert_eq!(missed[0]["CallDisposition"], "Missed");

    // Killed while the call is answered: the call goes on in Teams; its end is logged.
    let mut app = App::start(&emu, "ada", &data);
    ready(&emu, "ada").await;
    let answered = emu
        .place_call("ada", "Direct", "+31 20 555 0111")
        .expect("call")
        .call_id;
    until(&emu, "it rings in the app", |s| {
        record_of(s, &answered)["Status__c"] == "Signalled"
    })
    .await;
    app.say(&format!("answer {answered}"));
    until(&emu, "connected in Teams", |s| {
        call_of(s, &answered)["teams"] == "answered by Ada Lovelace in Teams"
    })
    .await;
    app.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    emu.hang_up(&answered).expect("the caller hangs up");
    let completed = tasks_of(&emu, &answered, 1).await;
    assert_eq!(completed[0]["CallDisposition"], "Completed");
    assert!(
        completed[0]["CallDurationInSeconds"]
            .as_f64()
            .is_some_and(|d| d >= 1.0),
        "{}",
        completed[0]
    );

    // The app starts again (its stream replays what it missed): still one Task each.
    let app = App::start(&emu, "ada", &data);
    ready(&emu, "ada").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for call in [&ringing, &answered] {
        assert_eq!(tasks_of(&emu, call, 1).await.len(), 1, "{call}");
    }
    app.kill();
}
