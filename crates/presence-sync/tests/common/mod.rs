//! What the end-to-end tests share: an agent (engine + real clients + driver) signed in to an
//! emulator on 127.0.0.1, and waits on the emulator's state or the agent's snapshot.
#![allow(dead_code)] // each test binary uses its own part of this

use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_core::{Input, Picker, Snapshot, UiEffect, UserIntent};
use presence_emulator::Emulator;
use presence_sync::outbox::Outbox;
use presence_sync::request::Transport;
use presence_sync::{SignInTarget, StartError, Storage, SyncHandle, SyncOptions};
use serde_json::Value;

/// How long any wait in these tests may take before it fails with what it saw.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct Agent {
    pub handle: SyncHandle,
    pub task: tokio::task::JoinHandle<Result<(), StartError>>,
    /// The clients the driver runs on (their token sources are shared with it).
    pub connectors: presence_sync::Connectors,
    /// Completes the sync's injected shutdown.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Agent {
    pub async fn pick(&self, label: &str) {
        self.intent(UserIntent::Pick {
            label: label.into(),
            via: Picker::Tray,
        })
        .await;
    }

    pub async fn intent(&self, intent: UserIntent) {
        assert!(self.handle.send(Input::User(intent)).await, "driver gone");
    }

    pub fn snapshot(&self) -> Snapshot {
        self.handle.snapshots().borrow().clone()
    }

    /// Completes the sync's injected shutdown (as SIGTERM does for presence-agent).
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an agent with an in-memory outbox.
pub async fn start_agent(emu: &Emulator, user: &str) -> Agent {
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    start_agent_with(emu, user, outbox).await
}

pub async fn start_agent_with(emu: &Emulator, user: &str, outbox: Arc<Outbox>) -> Agent {
    start_agent_over(emu, user, outbox, &Transport::default()).await
}

/// The options the tests start an agent with: the emulator, this outbox, these timeouts.
pub fn options(
    emu: &Emulator,
    user: &str,
    outbox: Arc<Outbox>,
    transport: &Transport,
) -> SyncOptions {
    let mut options = SyncOptions::new(SignInTarget::Emulator {
        url: emu.base_url.clone(),
        user: user.into(),
    });
    options.origin = "test".into();
    options.storage = Storage::Outbox(outbox);
    options.transport = transport.clone();
    options
}

/// An agent whose clients use `transport` (timeouts, resolver), started the one way every
/// sync starts ([`presence_sync::start`]), once it is signed in.
pub async fn start_agent_over(
    emu: &Emulator,
    user: &str,
    outbox: Arc<Outbox>,
    transport: &Transport,
) -> Agent {
    start_agent_from(options(emu, user, outbox, transport)).await
}

/// An agent started with these options, once it is signed in; its shutdown is
/// [`Agent::shut_down`] (a dropped Agent is a crash: its task is aborted, not quit).
pub async fn start_agent_from(options: SyncOptions) -> Agent {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (handle, sync) = presence_sync::start(
        options,
        |asked| panic!("the emulator asks for no sign-in: {asked}"),
        shutdown,
    );
    let task = tokio::spawn(sync);
    let connectors = handle.connectors().await.expect("signed in");
    Agent {
        handle,
        task,
        connectors,
        stop: Some(stop),
    }
}

/// Whether `user`'s own stream client is subscribed (the controller has one of its own).
pub fn subscribed(state: &Value, user: &str) -> bool {
    state["streaming"]["clients"]
        .as_array()
        .is_some_and(|clients| {
            clients.iter().any(|c| {
                c["agent"] == user && c["subscriptions"].as_array().is_some_and(|s| !s.is_empty())
            })
        })
}

/// Offers a call to `agent` the way a controller that leaves the call's log to the app writes
/// it (an older controller: no `Logged_By_Controller__c`), straight into the emulated org, so
/// that the record streams to the app. The app's own call logging and its outbox are what such
/// tests exercise; the test plays that controller's part ([`end_offer`]). Returns the call id.
pub fn offer_logged_by_the_app(emu: &Emulator, agent: &str, from: &str) -> String {
    let call_id = uuid::Uuid::new_v4().to_string();
    emu.with_world(|w| {
        let index = w.agent_index(agent).expect("an agent");
        let (user, extension) = (w.agents[index].salesforce_id.clone(), w.agents[index].extension.clone());
        let now = chrono::DateTime::from_timestamp_millis(w.now_ms()).unwrap_or_default();
        let fields = serde_json::json!({
            "Name": call_id, "Call_Id__c": call_id, "User__c": user, "OwnerId": user,
            "Kind__c": "Direct", "From_Number__c": from, "To_Number__c": extension,
            "Status__c": "Offered", "Offered_At__c": presence_sync::salesforce::salesforce_datetime(now),
        });
        w.insert_record("Agent_Call__c", fields.as_object().cloned().unwrap_or_default())
            .expect("the offer is written");
    });
    call_id
}

/// The status the offer's record has now.
pub fn offer_status(emu: &Emulator, call_id: &str) -> Option<String> {
    emu.with_world(|w| {
        let id = w.find_record("Agent_Call__c", "Call_Id__c", call_id)?;
        w.record("Agent_Call__c", &id)?
            .get("Status__c")
            .and_then(Value::as_str)
            .map(str::to_string)
    })
}

/// Waits until the offer's record has `status` (written by the app).
pub async fn until_offer(emu: &Emulator, call_id: &str, status: &str) {
    until(emu, &format!("offer {call_id} {status}"), |_| {
        offer_status(emu, call_id).as_deref() == Some(status)
    })
    .await;
}

/// Ends an offer as its controller would: `CallerHungUp`, `Missed`, `Ended`.
pub fn end_offer(emu: &Emulator, call_id: &str, status: &str) {
    emu.with_world(|w| {
        let id = w
            .find_record("Agent_Call__c", "Call_Id__c", call_id)
            .expect("the offer");
        let now = chrono::DateTime::from_timestamp_millis(w.now_ms()).unwrap_or_default();
        let fields = serde_json::json!({
            "Status__c": status,
            "Ended_At__c": presence_sync::salesforce::salesforce_datetime(now),
        });
        assert!(w.update_record(
            "Agent_Call__c",
            &id,
            fields.as_object().cloned().unwrap_or_default()
        ));
    });
}

/// Starts the call controller with the demo settings at this emulator and registers its
/// webhook (trusting its certificate) at the emulated bot: the calls a test places go Teams →
/// bot → `Agent_Call__c` → the agent's app, as in production. Keep it alive for the test.
pub async fn controller(emu: &Emulator) -> presence_controller::Controller {
    controller_with(emu, |_| {}).await
}

/// The call controller with the demo settings changed by `change`.
pub async fn controller_with(
    emu: &Emulator,
    change: impl FnOnce(&mut presence_controller::Settings),
) -> presence_controller::Controller {
    let store = std::env::temp_dir()
        .join(format!("presence-sync-test-{}", uuid::Uuid::new_v4()))
        .join("calls.sqlite");
    std::fs::create_dir_all(store.parent().expect("a directory")).expect("a scratch directory");
    let mut settings =
        presence_controller::Settings::demo(&emu.base_url, &store).expect("the demo settings");
    change(&mut settings);
    let controller = presence_controller::Controller::start(settings)
        .await
        .expect("the controller starts");
    emu.register_calling_webhook(&controller.webhook_url, controller.certificate());
    controller
}

/// Starts an agent and waits until both links are up, the first heartbeat has landed, the
/// stream is subscribed and the engine knows the Salesforce state.
pub async fn ready_agent(emu: &Emulator, user: &str) -> Agent {
    let agent = start_agent(emu, user).await;
    settle(emu, &agent, user).await;
    agent
}

pub async fn settle(emu: &Emulator, agent: &Agent, user: &str) {
    until(emu, "a heartbeat", |s| {
        agent_state(s, user)["heartbeatAgeMs"].is_number()
    })
    .await;
    until(emu, "the agent's stream subscribed", |s| {
        subscribed(s, user)
    })
    .await;
    until_snapshot(agent, "both links connected and a state", |s| {
        s.links.iter().all(|l| l.state.is_connected()) && s.state.is_some()
    })
    .await;
    let problems = agent.snapshot().problems;
    assert!(
        problems.is_empty(),
        "the Call Center is read from Salesforce, nothing is wrong: {problems:?}"
    );
}

/// Waits until `check` holds on the emulator's state, returning how long it took.
pub async fn until(emu: &Emulator, what: &str, check: impl Fn(&Value) -> bool) -> Duration {
    until_within(emu, what, PATIENCE, check).await
}

/// [`until`] for what may take longer than [`PATIENCE`].
pub async fn until_within(
    emu: &Emulator,
    what: &str,
    patience: Duration,
    check: impl Fn(&Value) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        if check(&emu.state()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < patience,
            "timed out waiting for {what}: {}",
            emu.state()["agents"][0]
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn until_snapshot(agent: &Agent, what: &str, check: impl Fn(&Snapshot) -> bool) {
    let mut snapshots = agent.handle.snapshots();
    let started = Instant::now();
    loop {
        if check(&snapshots.borrow_and_update()) {
            return;
        }
        let left = PATIENCE.saturating_sub(started.elapsed());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}: {:?}",
            snapshots.borrow()
        );
        let _ = tokio::time::timeout(left, snapshots.changed()).await;
    }
}

/// Waits for a UI effect matching `wanted`, skipping others.
pub async fn until_ui(
    ui: &mut tokio::sync::broadcast::Receiver<UiEffect>,
    what: &str,
    wanted: impl Fn(&UiEffect) -> bool,
) -> UiEffect {
    let started = Instant::now();
    loop {
        let left = PATIENCE.saturating_sub(started.elapsed());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        if let Ok(Ok(effect)) = tokio::time::timeout(left, ui.recv()).await {
            if wanted(&effect) {
                return effect;
            }
        }
    }
}

/// Injects a fault at the emulator.
pub fn fault(
    emu: &Emulator,
    api: presence_emulator::Api,
    kind: presence_emulator::world::FaultKind,
    count: Option<u32>,
    path_contains: Option<&str>,
) {
    emu.with_world(|w| {
        w.faults.push(presence_emulator::world::Fault {
            api,
            kind,
            count,
            path_contains: path_contains.map(str::to_string),
        })
    });
}

/// The requests the emulator answered (method, path, status), oldest first.
pub fn requests(emu: &Emulator) -> Vec<(String, String, u64)> {
    emu.state()["requests"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|r| {
                    (
                        r["method"].as_str().unwrap_or("").to_string(),
                        r["path"].as_str().unwrap_or("").to_string(),
                        r["status"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The emulator's answered requests with their time (ms, emulator clock at time scale 1).
pub fn timed_requests(emu: &Emulator) -> Vec<(i64, String, u64)> {
    emu.state()["requests"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|r| {
                    let at = chrono::DateTime::parse_from_rfc3339(r["at"].as_str()?).ok()?;
                    Some((
                        at.timestamp_millis(),
                        r["path"].as_str()?.to_string(),
                        r["status"].as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the emulator's call has the wanted status.
pub async fn until_call(
    emu: &Emulator,
    call_id: &str,
    status: &str,
) -> presence_emulator::world::Call {
    until(emu, &format!("call {call_id} {status}"), |_| {
        emu.call(call_id).is_some_and(|c| c.status == status)
    })
    .await;
    emu.call(call_id).expect("call")
}

pub fn agent_state<'a>(state: &'a Value, user: &str) -> &'a Value {
    state["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|a| a["name"] == user))
        .unwrap_or(&Value::Null)
}

pub fn ada(state: &Value) -> &Value {
    agent_state(state, "ada")
}

pub fn salesforce_state(state: &Value) -> Option<&str> {
    ada(state)["salesforce"]["State__c"].as_str()
}

pub fn teams(state: &Value) -> (String, String) {
    let t = &ada(state)["teams"];
    (
        t["availability"].as_str().unwrap_or("").into(),
        t["activity"].as_str().unwrap_or("").into(),
    )
}

pub fn tasks(state: &Value) -> Vec<Value> {
    state["tasks"].as_array().cloned().unwrap_or_default()
}

pub fn counter(state: &Value, name: &str) -> u64 {
    state["counters"][name].as_u64().unwrap_or(0)
}

/// A missed inbound call's log with this key.
pub fn call_log(key: &str) -> presence_core::CallLog {
    presence_core::CallLog {
        key: key.into(),
        call_id: key.into(),
        kind: presence_core::CallKind::Direct,
        call_type: presence_core::CallType::Inbound,
        disposition: "Missed".into(),
        duration: Duration::ZERO,
        from_number: "+14155550100".into(),
        to_number: "+14155550101".into(),
        caller: None,
        subject: format!("Missed call {key}"),
        owner: None,
        offer_record: None,
    }
}

/// A one-shot HTTP server on 127.0.0.1 that answers every request with `response` (raw bytes)
/// and closes: for answers the emulator does not give (HTML, huge or deeply nested bodies).
pub fn canned_server(response: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut head = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = std::io::Read::read(&mut stream, &mut head);
            let _ = std::io::Write::write_all(&mut stream, &response);
        }
    });
    format!("http://{address}")
}

pub fn http_response(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// A resolver that knows no names, as when DNS is down.
pub struct NoDns;

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            Err::<reqwest::dns::Addrs, _>(Box::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "dns lookup failed: no such host",
            ))
                as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (installed by make deps)");
    assert!(status.success(), "openssl {args:?}");
}

/// An HTTPS server on 127.0.0.1 whose certificate is self-signed (`openssl s_server`, from
/// `make deps`): trusted by nobody, for the TLS failure of row N5. Stopped when dropped.
pub struct UntrustedTls {
    server: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl UntrustedTls {
    pub fn start() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "presence-tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ],
            &dir,
        );
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
            probe.local_addr().expect("address").port()
        };
        let server = std::process::Command::new("openssl")
            .args([
                "s_server", "-quiet", "-www", "-cert", "cert.pem", "-key", "key.pem",
            ])
            .args(["-accept", &format!("127.0.0.1:{port}")])
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "s_server up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { server, dir, port }
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A client that follows no redirects, as a test's browser.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Plays the agent's browser for one sign-in: authorize (auto-approved), then the redirect back.
pub async fn approve_in_browser(url: &str) -> reqwest::StatusCode {
    let browser = no_redirects();
    let approved = browser.get(url).send().await.expect("authorize");
    let back = approved.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    browser.get(&back).send().await.expect("callback").status()
}

/// Real-cloud settings (the browser flow), pointed at the emulator as the clouds.
pub fn clouds_at(emu: &Emulator) -> presence_sync::settings::Settings {
    clouds_at_url(&emu.base_url)
}

/// [`clouds_at`] for an emulator known only by its address (in a child process).
pub fn clouds_at_url(base: &str) -> presence_sync::settings::Settings {
    let ids = "[teams]\nclient_id = \"app\"\n[salesforce]\nclient_id = \"app\"\n";
    let mut settings = presence_sync::settings::Settings::from_layers(Some(ids)).expect("settings");
    settings.teams.login_base = base.to_string();
    settings.teams.graph_base = base.to_string();
    settings.teams.client_id = presence_sync::EMULATOR_CLIENT_ID.into();
    settings.salesforce.login_host = base.to_string();
    settings.salesforce.client_id = presence_sync::EMULATOR_CLIENT_ID.into();
    settings
}

/// A running sync's task.
pub type SyncTask = tokio::task::JoinHandle<Result<(), StartError>>;
/// The browser sign-ins a sync asks for: the cloud and the address.
pub type BrowserPrompts = tokio::sync::mpsc::UnboundedReceiver<(presence_core::Link, String)>;

/// Starts the sync with `options`; every browser sign-in it asks for arrives on the receiver
/// (the cloud and the address), for the test to play the agent's browser.
pub fn start_with_browser_prompts(options: SyncOptions) -> (SyncHandle, SyncTask, BrowserPrompts) {
    let (asked_tx, asked) = tokio::sync::mpsc::unbounded_channel();
    let (handle, sync) = presence_sync::start(
        options,
        move |prompt| {
            if let presence_sync::SignInPrompt::Browser { link, url } = prompt {
                let _ = asked_tx.send((*link, url.clone()));
            }
        },
        std::future::pending(),
    );
    (handle, tokio::spawn(sync), asked)
}

/// Waits up to `patience` until every link of the sync is connected; the panic says where
/// they stand.
pub async fn until_all_connected(handle: &SyncHandle, patience: Duration) {
    let mut snapshots = handle.snapshots();
    let connected = tokio::time::timeout(patience, async {
        while !snapshots
            .borrow_and_update()
            .links
            .iter()
            .all(|l| l.state.is_connected())
        {
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    let links = handle.snapshots().borrow().links.clone();
    assert!(
        connected.is_ok() && links.iter().all(|l| l.state.is_connected()),
        "not connected within {patience:?}: {links:?}"
    );
}
