//! The desktop shell of Presence Bridge: the only code that depends on Tauri.
//!
//! It owns no presence logic. It runs the sync driver of `presence-sync` around the engine and
//! turns the engine's [`Snapshot`](presence_core::Snapshot) into what the agent sees: the tray
//! icon and menu, the softphone panel (pushed a [`SNAPSHOT_EVENT`] on every change) and desktop
//! toasts; clicks become engine inputs. It signs in to the built-in emulator (what `make run`
//! does) or to the clouds the settings file names (see `sign_in.rs`); until it is signed in,
//! the tray and panel show the engine's snapshot for the shipped configuration and why.
//!
//! The app lives in the tray: closing the panel hides it (minimises it without a tray host). Quitting (the tray's Quit, or SIGINT
//! or SIGTERM from the session) logs the agent out first (L7) and waits a few seconds at most
//! for those writes.
//!
//! Layout: `lib.rs` (start-up, the snapshot and UI-effect pump, signing in again, quit),
//! `tray.rs` (snapshot → icon, tooltip, menu), `panel.rs` (the panel window), `toast.rs`
//! (notifications, with Answer and Decline on a ringing call), `sign_in.rs` (where to sign in,
//! the browser), `autostart.rs` (start at login), `commands.rs` (IPC commands, each a few
//! lines).

mod autostart;
mod commands;
mod panel;
mod sign_in;
mod toast;
mod tray;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The event that carries every new panel view; namespaced so no plugin's event can collide.
pub const SNAPSHOT_EVENT: &str = "presence-bridge:snapshot";
/// The event that carries a notice for the agent.
pub const NOTICE_EVENT: &str = "presence-bridge:notice";

use presence_core::{Engine, EngineConfig, Input, Link, Picker, Snapshot, UiEffect, UserIntent};
use presence_sync::{Connectors, SignInPrompt, SignInTarget, SyncHandle};
use serde::Serialize;
use tauri::tray::TrayIcon;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::toast::{ToastChoice, Toasts};
use crate::tray::{TrayAction, TrayModel};

/// How long quitting waits for the logout writes (L7) before it exits anyway.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// What the shell shares between IPC commands, the tray and the pump.
#[derive(Debug, Default)]
pub struct ShellState {
    /// The running sync, once connected.
    sync: Mutex<Option<SyncHandle>>,
    /// Why the sync is not running, if it is not.
    problem: Mutex<Option<String>>,
    /// What the tray shows now, so that it is redrawn only on a change.
    tray_model: Mutex<Option<TrayModel>>,
    /// Where the sync signed in and the clients it runs on, for signing in again (K1).
    session: Mutex<Option<(SignInTarget, Connectors)>>,
    /// The links whose sign-in is under way, so that a second click starts no second one.
    signing_in: Mutex<Vec<Link>>,
}

impl ShellState {
    fn handle(&self) -> Option<SyncHandle> {
        self.sync.lock().ok().and_then(|guard| guard.clone())
    }

    fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    /// The snapshot to render: the running sync's, or the unconnected engine's.
    fn snapshot(&self) -> Snapshot {
        match self.handle() {
            Some(handle) => handle.snapshots().borrow().clone(),
            None => unconnected_snapshot(),
        }
    }

    fn view(&self) -> PanelView {
        PanelView {
            snapshot: self.snapshot(),
            problem: self.problem(),
        }
    }
}

/// What the panel renders: the snapshot, and why the sync is not running if it is not.
#[derive(Debug, Clone, Serialize)]
pub struct PanelView {
    snapshot: Snapshot,
    problem: Option<String>,
}

/// Starts the desktop app and blocks until it quits.
pub fn run() {
    let state = Arc::new(ShellState::default());
    let for_setup = state.clone();
    let app = tauri::Builder::default()
        .manage(state)
        .setup(move |app| {
            let handle = app.handle().clone();
            let model = TrayModel::from_snapshot(
                &for_setup.snapshot(),
                for_setup.problem().as_deref(),
                autostart::enabled(),
            );
            let tray = tray::create(&handle, &model, on_tray_action)?;
            if let Ok(mut slot) = for_setup.tray_model.lock() {
                *slot = Some(model);
            }
            let toasts = Toasts::start(on_toast_choice(handle.clone(), for_setup.clone()));
            start_sync(handle.clone(), for_setup.clone(), tray, toasts);
            quit_on_signals(handle);
            Ok(())
        })
        .on_window_event(panel::hide_instead_of_closing)
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::pick,
            commands::answer,
            commands::decline,
            commands::hang_up,
            commands::dial,
            commands::extend_wrap_up,
            commands::sign_in,
        ])
        .build(tauri::generate_context!());
    match app {
        Ok(app) => app.run(|_, _| {}),
        Err(error) => {
            eprintln!("presence-bridge: the desktop shell did not start: {error}");
            std::process::exit(1);
        }
    }
}

fn on_tray_action<R: Runtime>(app: &AppHandle<R>, action: TrayAction) {
    let state = app.state::<Arc<ShellState>>().inner().clone();
    match action {
        TrayAction::OpenPanel => panel::show(app),
        TrayAction::Quit => quit(app.clone()),
        TrayAction::StartAtLogin(on) => {
            if let Err(problem) = autostart::set(on) {
                let _ = app.emit(NOTICE_EVENT, format!("starting at login: {problem}"));
            }
            redraw_tray(app, &state);
        }
        TrayAction::SignIn(link) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(problem) = sign_in_again(&app, &state, link).await {
                    let _ = app.emit(NOTICE_EVENT, problem);
                }
            });
        }
        TrayAction::Pick(label) => {
            // The menu's own checkmark moved on the click; redraw from the snapshot whatever
            // the engine decides.
            if let Ok(mut model) = state.tray_model.lock() {
                *model = None;
            }
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let intent = UserIntent::Pick {
                    label,
                    via: Picker::Tray,
                };
                send_or_say(&app, &state, intent).await;
                redraw_tray(&app, &state);
            });
        }
    }
}

/// Answers or declines a call as the agent chose on its toast.
fn on_toast_choice<R: Runtime>(
    app: AppHandle<R>,
    state: Arc<ShellState>,
) -> impl Fn(String, ToastChoice) + Send + Sync + 'static {
    move |call_id, choice| {
        let (app, state) = (app.clone(), state.clone());
        tauri::async_runtime::spawn(async move {
            let intent = match choice {
                ToastChoice::Answer => UserIntent::Answer { call_id },
                ToastChoice::Decline => UserIntent::Decline { call_id },
            };
            send_or_say(&app, &state, intent).await;
        });
    }
}

/// Sends an intent from the tray or a toast, where no caller waits for an answer: a refusal
/// ("not connected yet") is shown in the panel.
async fn send_or_say<R: Runtime>(app: &AppHandle<R>, state: &ShellState, intent: UserIntent) {
    if let Err(problem) = send_intent(state, intent).await {
        let _ = app.emit(NOTICE_EVENT, problem);
    }
}

/// Sends the agent's intent to the engine.
pub(crate) async fn send_intent(state: &ShellState, intent: UserIntent) -> Result<(), String> {
    let handle = state.handle().ok_or("not connected yet")?;
    if handle.send(Input::User(intent)).await {
        Ok(())
    } else {
        Err("the sync has stopped".into())
    }
}

/// Signs in to one cloud again while the sync runs (K1), then tells the engine.
pub(crate) async fn sign_in_again<R: Runtime>(
    app: &AppHandle<R>,
    state: &Arc<ShellState>,
    link: Link,
) -> Result<(), String> {
    let session = state
        .session
        .lock()
        .ok()
        .and_then(|session| session.clone());
    let ((target, connectors), handle) = session.zip(state.handle()).ok_or("not connected yet")?;
    {
        let mut busy = state.signing_in.lock().map_err(|_| "busy")?;
        if busy.contains(&link) {
            return Err(format!(
                "the sign-in to {} is already under way",
                link.cloud_name()
            ));
        }
        busy.push(link);
    }
    let signed_in = presence_sync::sign_in_again(
        &target,
        link,
        &connectors,
        presence_sync::EMULATOR_CLIENT_ID,
        sign_in_prompt(app, state),
    )
    .await;
    if let Ok(mut busy) = state.signing_in.lock() {
        busy.retain(|other| *other != link);
    }
    if let Err(error) = signed_in {
        // In place of the prompt, which is of no use any more.
        let failure = format!("the sign-in to {} failed: {error}", link.cloud_name());
        record_problem(app, state, failure.clone());
        return Err(failure);
    }
    if let Ok(mut problem) = state.problem.lock() {
        *problem = None;
    }
    if handle.send(Input::SignedIn { link }).await {
        Ok(())
    } else {
        Err("the sync has stopped".into())
    }
}

/// Shows a sign-in prompt: the browser opens, and the panel and tray menu say what to do.
fn sign_in_prompt<R: Runtime>(
    app: &AppHandle<R>,
    state: &Arc<ShellState>,
) -> impl Fn(SignInPrompt) + Send + Sync + 'static {
    let (app, state) = (app.clone(), state.clone());
    move |prompt| {
        sign_in::open_browser(&prompt);
        record_problem(&app, &state, prompt.to_string());
    }
}

/// Logs out (L7), waits for the sync to finish or `QUIT_GRACE`, then exits.
fn quit<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<Arc<ShellState>>().inner().clone();
    tauri::async_runtime::spawn(async move {
        if let Some(handle) = state.handle() {
            let mut snapshots = handle.snapshots();
            if handle.send(Input::Quit).await {
                // The driver drops its snapshot sender when it has finished.
                let finished = async { while snapshots.changed().await.is_ok() {} };
                if tokio::time::timeout(QUIT_GRACE, finished).await.is_err() {
                    eprintln!("presence-bridge: quitting before the logout was confirmed");
                }
            }
        }
        app.exit(0);
    });
}

/// SIGINT (Ctrl-C in `make run`) and SIGTERM (the session ending) quit as the tray's Quit does.
fn quit_on_signals<R: Runtime>(app: AppHandle<R>) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            eprintln!("presence-bridge: cannot watch for signals; quit from the tray to log out");
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        quit(app);
    });
}

fn start_sync<R: Runtime>(
    app: AppHandle<R>,
    state: Arc<ShellState>,
    tray: TrayIcon<R>,
    toasts: Toasts,
) {
    let target = match sign_in::target() {
        Ok(target) => target,
        Err(problem) => return record_problem(&app, &state, problem),
    };
    let user = target.agent().to_string();
    tauri::async_runtime::spawn(async move {
        // The agent's data directory: its lock (one sync per agent, shared with
        // presence-agent) and the durable outbox. PRESENCE_BRIDGE_DATA_DIR overrides it.
        let dir = std::env::var_os("PRESENCE_BRIDGE_DATA_DIR")
            .map(std::path::PathBuf::from)
            .or_else(presence_sync::local::default_data_dir);
        let data = match dir.map(|dir| presence_sync::local::AgentData::open(&dir, &user)) {
            Some(Ok(data)) => data,
            Some(Err(error)) => return record_problem(&app, &state, error.to_string()),
            None => {
                return record_problem(
                    &app,
                    &state,
                    presence_sync::local::LocalError::NoDataDir.to_string(),
                )
            }
        };
        if let Some(aside) = &data.outbox.quarantined {
            record_problem(
                &app,
                &state,
                format!(
                    "the outbox was damaged and set aside as {}",
                    aside.display()
                ),
            );
        }
        // A warning (no keyring: the sign-in lasts only while the app runs) stays on show.
        let warning_kept = Mutex::new(None);
        let connected = presence_sync::connect_when_online(
            &target,
            presence_sync::EMULATOR_CLIENT_ID,
            "presence-bridge",
            data.outbox.clone(),
            sign_in_prompt(&app, &state),
            |warning| {
                record_problem(&app, &state, warning.clone());
                if let Ok(mut kept) = warning_kept.lock() {
                    *kept = Some(warning);
                }
            },
            |error, gap| {
                let text = format!("offline ({error}); trying again in {} s", gap.as_secs());
                record_problem(&app, &state, text);
            },
        )
        .await;
        let connectors = match connected {
            Ok(connectors) => connectors,
            Err(error) => {
                return record_problem(&app, &state, format!("cannot sign in: {error}"));
            }
        };
        if let Ok(mut problem) = state.problem.lock() {
            *problem = warning_kept.lock().ok().and_then(|mut kept| kept.take());
        }
        let seed = user.bytes().map(u64::from).sum();
        let (config, warning) =
            presence_sync::engine_config(&connectors, &format!("presence-bridge:{user}"), seed)
                .await;
        if let Some(warning) = warning {
            eprintln!("presence-bridge: {warning}");
        }
        if let Ok(mut session) = state.session.lock() {
            *session = Some((target, connectors.clone()));
        }
        let (handle, driver) =
            presence_sync::driver(Engine::new(config, Instant::now()), connectors);
        let pump = pump(app, state.clone(), handle.clone(), tray, toasts);
        if let Ok(mut slot) = state.sync.lock() {
            *slot = Some(handle);
        }
        tokio::join!(driver, pump);
        drop(data);
    });
}

/// Carries every snapshot change to the tray and the panel, and every UI effect to toasts and
/// the panel, until the sync ends.
async fn pump<R: Runtime>(
    app: AppHandle<R>,
    state: Arc<ShellState>,
    handle: SyncHandle,
    tray: TrayIcon<R>,
    toasts: Toasts,
) {
    let mut snapshots = handle.snapshots();
    let mut effects = handle.ui_effects();
    drop(handle);
    redraw(&app, &state, &tray, snapshots.borrow_and_update().clone());
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                redraw(&app, &state, &tray, snapshot);
            }
            effect = effects.recv() => match effect {
                Ok(effect) => show_effect(&app, &toasts, effect),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    eprintln!("presence-bridge: {missed} desktop effects were skipped");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

fn redraw<R: Runtime>(
    app: &AppHandle<R>,
    state: &ShellState,
    tray: &TrayIcon<R>,
    snapshot: Snapshot,
) {
    let problem = state.problem();
    let model = TrayModel::from_snapshot(&snapshot, problem.as_deref(), autostart::enabled());
    let changed = match state.tray_model.lock() {
        Ok(mut shown) if shown.as_ref() != Some(&model) => {
            *shown = Some(model.clone());
            true
        }
        _ => false,
    };
    if changed {
        if let Err(error) = tray::show(app, tray, &model) {
            eprintln!("presence-bridge: the tray icon could not be updated: {error}");
        }
    }
    let view = PanelView { snapshot, problem };
    let _ = app.emit(SNAPSHOT_EVENT, view);
}

fn redraw_tray<R: Runtime>(app: &AppHandle<R>, state: &ShellState) {
    if let Some(tray) = app.tray_by_id(tray::TRAY_ID) {
        redraw(app, state, &tray, state.snapshot());
    }
}

fn show_effect<R: Runtime>(app: &AppHandle<R>, toasts: &Toasts, effect: UiEffect) {
    match &effect {
        // A ringing call brings the panel up with its Answer button.
        UiEffect::Ring { .. } => panel::show_ringing(app),
        UiEffect::Notice { text } => {
            let _ = app.emit(NOTICE_EVENT, text.clone());
        }
        UiEffect::CallerShown { .. } | UiEffect::StopRinging { .. } => {}
    }
    toasts.show(effect);
}

/// Says why the sync is not running: on standard error, in the tray menu and in the panel.
fn record_problem<R: Runtime>(app: &AppHandle<R>, state: &ShellState, text: String) {
    eprintln!("presence-bridge: {text}");
    if let Ok(mut problem) = state.problem.lock() {
        *problem = Some(text);
    }
    redraw_tray(app, state);
}

/// The snapshot to show when no sync runs: the engine on the shipped configuration.
fn unconnected_snapshot() -> Snapshot {
    Engine::new(EngineConfig::shipped_default(), Instant::now()).snapshot()
}
