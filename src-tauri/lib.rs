//! The desktop shell of Presence Bridge: the only code that depends on Tauri.
//!
//! It owns no presence logic. It starts the agent's sync the one way every sync starts
//! ([`presence_sync::start`]) and turns the engine's [`Snapshot`](presence_core::Snapshot) into
//! what the agent sees: the tray icon and menu, the softphone panel (pushed a [`SNAPSHOT_EVENT`]
//! on every change) and desktop toasts; clicks become engine inputs. The engine runs from the
//! first second, so the tray and panel show its snapshot while the app signs in, and say why
//! when it cannot run.
//!
//! The app lives in the tray: closing the panel releases its window and webview (minimises it
//! without a tray host), and a call or the tray's Open builds it again.
//! Quitting (the tray's Quit, or SIGINT or SIGTERM from the session) logs the agent out first
//! (L7) and waits a few seconds at most for those writes.
//!
//! Layout: `lib.rs` (building the app on any Tauri runtime), `state.rs` (what the parts share,
//! [`ShellError`]), `sync.rs` (starting the sync for this desktop), `pump.rs` (snapshot and UI
//! effects to tray, panel and toasts), `actions.rs` (tray entries and toast buttons to engine
//! inputs), `quit.rs` (Quit and signals), `tray.rs` (snapshot → icon, tooltip, menu),
//! `panel.rs` (the panel window), `toast.rs` (notifications, with Answer and Decline on a
//! ringing call), `sign_in.rs` (where to sign in, the browser), `autostart.rs` (start at
//! login), `commands.rs` (IPC commands, each a few lines), `logging.rs` (the log file),
//! `system.rs` (the browser and the file manager), `update.rs` (signed updates, when the
//! settings turn them on).

mod actions;
mod autostart;
mod commands;
pub mod logging;
mod panel;
mod pump;
mod quit;
mod sign_in;
mod state;
mod sync;
mod system;
mod toast;
mod tray;
mod update;

use std::sync::Arc;

use presence_sync::SyncHandle;
use tauri::{App, Builder, Context, Manager, RunEvent, Runtime};

pub use state::{ShellError, ShellState};

/// The event that carries every new snapshot to the panel; namespaced so no plugin's event
/// can collide.
pub const SNAPSHOT_EVENT: &str = "presence-bridge:snapshot";
/// The event that carries a notice for the agent.
pub const NOTICE_EVENT: &str = "presence-bridge:notice";

/// The parts of the desktop the app uses besides its window. A smoke test on Tauri's mock
/// runtime, which has no tray host, session bus or signals, turns them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desktop {
    /// The tray icon and its menu.
    pub tray: bool,
    /// Toasts over D-Bus.
    pub toasts: bool,
    /// SIGINT and SIGTERM quit (and log out) as the tray's Quit does.
    pub signals: bool,
    /// The panel opens at start; off when the app starts for the tray alone
    /// ([`panel::IN_TRAY`], as the login entry starts it).
    pub panel_at_start: bool,
}

impl Desktop {
    /// All of them: the product.
    pub const ALL: Desktop = Desktop {
        tray: true,
        toasts: true,
        signals: true,
        panel_at_start: true,
    };
}

/// Starts the desktop app and blocks until it quits.
pub fn run() {
    logging::install();
    // First of all: a second launch in the same session hands over to the app that runs (whose
    // panel comes forward) and exits 0 here, while the app is built, before it could start a
    // second sync of the same agent (the sync starts in the set-up, below).
    let builder = Builder::default().plugin(tauri_plugin_single_instance::init(|app, _, _| {
        tracing::info!("Presence Bridge was launched again: showing its panel");
        panel::show(app);
    }));
    let desktop = Desktop {
        panel_at_start: !std::env::args().any(|arg| arg == panel::IN_TRAY),
        ..Desktop::ALL
    };
    match build_app(
        builder,
        tauri::generate_context!(),
        sync::start_for_this_desktop,
        desktop,
    ) {
        // The app lives in the tray: closing the panel, its last window, must not end it
        // (only Quit does, which exits with a code).
        Ok(app) => app.run(|_, event| {
            if let RunEvent::ExitRequested {
                code: None, api, ..
            } = event
            {
                api.prevent_exit();
            }
        }),
        Err(error) => {
            eprintln!("presence-bridge: the desktop shell did not start: {error}");
            std::process::exit(1);
        }
    }
}

/// Builds the app on any Tauri runtime: its plugins, then, in its set-up (the first turn of
/// the event loop, before the panel can call anything), the sync `start_sync` starts, the
/// parts of the `desktop` asked for and the panel's IPC commands.
pub fn build_app<R: Runtime>(
    builder: Builder<R>,
    context: Context<R>,
    start_sync: impl FnOnce() -> SyncHandle + Send + 'static,
    desktop: Desktop,
) -> tauri::Result<App<R>> {
    builder
        .plugin(panel::navigation_guard())
        .plugin(autostart::plugin())
        .plugin(update::plugin())
        .setup(move |app| {
            let for_setup = Arc::new(ShellState::new(start_sync()));
            app.manage(for_setup.clone());
            let handle = app.handle().clone();
            let tray = if desktop.tray {
                let model = for_setup.tray_model(autostart::enabled(&handle));
                for_setup.tray_changed(&model);
                Some(tray::create(&handle, &model, actions::on_tray_action)?)
            } else {
                None
            };
            let toasts = desktop
                .toasts
                .then(|| toast::Toasts::start(actions::on_toast_choice(handle.clone())));
            if let Some(toasts) = &toasts {
                // For the shell's own notices while the panel is closed.
                app.manage(toasts.clone());
            }
            tauri::async_runtime::spawn(pump::pump(
                handle.clone(),
                for_setup.clone(),
                tray,
                toasts,
            ));
            if desktop.signals {
                quit::quit_on_signals(handle.clone());
            }
            panel::open_at_start(&handle, !desktop.panel_at_start);
            if let Some(manifest) = sign_in::update_manifest() {
                update::start(&handle, manifest);
            }
            Ok(())
        })
        .on_window_event(panel::release_on_close)
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::pick,
            commands::answer,
            commands::decline,
            commands::hang_up,
            commands::dial,
            commands::extend_wrap_up,
            commands::sign_in,
            commands::retry_call_log,
        ])
        .build(context)
}
