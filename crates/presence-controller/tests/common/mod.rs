//! What the controller's end-to-end tests share: the demo settings at an emulator, an agent's
//! real sync, and waits on the emulator's state.
#![allow(dead_code)] // each test binary uses its own part of this

use std::time::{Duration, Instant};

use presence_controller::{Controller, Settings};
use presence_core::{Input, Picker, Snapshot, UserIntent};
use presence_emulator::Emulator;
use presence_sync::outbox::Outbox;
use presence_sync::{SignInTarget, Storage, SyncHandle, SyncOptions};
use serde_json::Value;

pub const PATIENCE: Duration = Duration::from_secs(20);

/// The demo settings, pointed at this emulator, with the webhook on a free loopback port and
/// the live calls in a new file.
pub fn settings(emu: &Emulator) -> Settings {
    Settings::demo(&emu.base_url, &scratch("calls.sqlite")).expect("demo.toml is valid")
}

/// A path in a new directory under the system's temporary one.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("presence-controller-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir.join(name)
}

pub async fn controller_for(emu: &Emulator) -> Controller {
    controller_with(emu, |_| {}).await
}

/// The controller with the demo settings changed by `change`, its webhook registered.
pub async fn controller_with(emu: &Emulator, change: impl FnOnce(&mut Settings)) -> Controller {
    // The controller's log, shown with a failing test's output.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("presence_controller=info")
        .with_test_writer()
        .try_init();
    let mut settings = settings(emu);
    change(&mut settings);
    let controller = Controller::start(settings)
        .await
        .expect("the controller starts");
    trust(emu, &controller);
    controller
}

/// Registers the controller's webhook at the emulated bot, trusting its certificate (the demo
/// settings serve HTTPS with a self-signed one).
pub fn trust(emu: &Emulator, controller: &Controller) {
    emu.register_calling_webhook(&controller.webhook_url, controller.certificate());
}

pub struct Agent {
    pub handle: SyncHandle,
    pub task: tokio::task::JoinHandle<Result<(), presence_sync::StartError>>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
    pub async fn start(emu: &Emulator, user: &str) -> Self {
        let mut options = SyncOptions::new(SignInTarget::Emulator {
            url: emu.base_url.clone(),
            user: user.into(),
        });
        options.origin = "controller-test".into();
        options.storage =
            Storage::Outbox(std::sync::Arc::new(Outbox::in_memory().expect("outbox")));
        let (handle, sync) = presence_sync::start(
            options,
            |asked| panic!("no sign-in is asked: {asked}"),
            std::future::pending(),
        );
        let task = tokio::spawn(sync);
        handle.connectors().await.expect("signed in");
        let agent = Self { handle, task };
        until(emu, "a heartbeat and a stream", |s| {
            s["agents"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|a| a["name"] == user && a["heartbeatAgeMs"].is_number())
            }) && s["streaming"]["clients"].as_array().is_some_and(|clients| {
                let subscribed = |who: &dyn Fn(&Value) -> bool| {
                    clients.iter().any(|c| {
                        who(&c["agent"])
                            && c["subscriptions"].as_array().is_some_and(|s| !s.is_empty())
                    })
                };
                // The agent's own stream, and the controller's (the integration user's), if
                // one runs.
                let controller = emu.with_world(|w| w.calling.bot.webhook.is_some());
                subscribed(&|agent| agent == user)
                    && (!controller
                        || subscribed(&|agent| {
                            agent.as_str().is_some_and(|a| a.starts_with("005"))
                        }))
            })
        })
        .await;
        agent
            .until("connected with a state", |s| {
                s.links.iter().all(|l| l.state.is_connected()) && s.state.is_some()
            })
            .await;
        agent
    }

    pub async fn intent(&self, intent: UserIntent) {
        assert!(self.handle.send(Input::User(intent)).await, "driver gone");
    }

    pub async fn pick(&self, label: &str) {
        self.intent(UserIntent::Pick {
            label: label.into(),
            via: Picker::Tray,
        })
        .await;
    }

    pub async fn until(&self, what: &str, check: impl Fn(&Snapshot) -> bool) {
        let mut snapshots = self.handle.snapshots();
        let started = Instant::now();
        while !check(&snapshots.borrow_and_update()) {
            let left = PATIENCE.saturating_sub(started.elapsed());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}: {:?}",
                snapshots.borrow()
            );
            let _ = tokio::time::timeout(left, snapshots.changed()).await;
        }
    }
}

pub async fn until(emu: &Emulator, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let state = emu.state();
        if check(&state) {
            return state;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "timed out waiting for {what}: calls {} records {}",
            state["calls"],
            state["agentCalls"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn call_of<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["calls"]
        .as_array()
        .and_then(|calls| calls.iter().find(|c| c["call_id"] == id))
        .unwrap_or(&Value::Null)
}

pub fn record_of<'a>(state: &'a Value, id: &str) -> &'a Value {
    state["agentCalls"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["Call_Id__c"] == id))
        .unwrap_or(&Value::Null)
}

pub fn leg_actions(emu: &Emulator, id: &str) -> Vec<String> {
    emu.with_world(|w| {
        w.calling
            .legs
            .get(id)
            .map(|leg| leg.actions.clone())
            .unwrap_or_default()
    })
}

/// The Tasks logged for a call (by `CallObject`, the call id), once `count` of them exist.
pub async fn tasks_of(emu: &Emulator, call: &str, count: usize) -> Vec<Value> {
    let state = until(emu, "the call's Task", |s| {
        s["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().filter(|t| t["CallObject"] == call).count() >= count)
    })
    .await;
    state["tasks"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter(|t| t["CallObject"] == call)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// An agent's Salesforce user id.
pub fn salesforce_id(emu: &Emulator, agent: usize) -> String {
    emu.with_world(|w| w.agents[agent].salesforce_id.clone())
}

/// The controller binary on `port` with `store`, at the emulator.
fn spawn_controller(
    emu: &Emulator,
    config: &std::path::Path,
    port: u16,
    store: &std::path::Path,
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_presence-controller"))
        .args(["--config"])
        .arg(config)
        .args([
            "--emulator",
            &emu.base_url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
        ])
        .arg(store)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the controller starts")
}

/// Waits until the controller says where it listens (its last line at start).
fn listening(child: &mut std::process::Child) {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let said = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("webhook listening on"));
    assert!(said.is_some(), "the controller never said where it listens");
    // Its stdout stays read, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The controller binary at the emulator, as the crash tests run it: the demo settings with a
/// ring timeout that ends while a test watches (10 s), on a fixed port and store, so that it
/// can be killed with SIGKILL and started again on the same address and data. Its webhook is
/// registered at the emulated bot, trusting the self-signed certificate it keeps in the store.
pub struct ControllerProcess {
    config: std::path::PathBuf,
    pub store: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl ControllerProcess {
    pub fn start(emu: &Emulator) -> Self {
        let config = scratch("controller.toml");
        let text = include_str!("../../demo.toml").replacen(
            "[[lines]]",
            "[calls]\nring_timeout_s = 10\n\n[[lines]]",
            1,
        );
        std::fs::write(&config, text).expect("config");
        let mut process = Self {
            config,
            store: scratch("calls.sqlite"),
            port: free_port(),
            child: None,
        };
        process.start_again(emu);
        let pem =
            std::fs::read_to_string(process.store.with_extension("webhook.pem")).expect("its PEM");
        let port = process.port;
        emu.with_world(|w| {
            w.calling.bot.webhook = Some(format!("https://127.0.0.1:{port}/api/calling"));
            w.calling.bot.trust_pem = Some(pem);
        });
        process
    }

    /// Starts it (again) if it is not running, and waits until it listens.
    pub fn start_again(&mut self, emu: &Emulator) {
        if self.child.is_none() {
            let mut child = spawn_controller(emu, &self.config, self.port, &self.store);
            listening(&mut child);
            self.child = Some(child);
        }
    }

    /// SIGKILL, and the exit reaped.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            let _ = child.wait();
        }
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Injects a fault at the emulator: `count` times (or until cleared), on paths containing
/// `path_contains` (or every path of `api`).
pub fn fault(
    emu: &Emulator,
    api: presence_emulator::Api,
    kind: presence_emulator::world::FaultKind,
    count: Option<u32>,
    path_contains: Option<String>,
) {
    emu.with_world(|w| {
        w.faults.push(presence_emulator::world::Fault {
            api,
            kind,
            count,
            path_contains,
        })
    });
}
