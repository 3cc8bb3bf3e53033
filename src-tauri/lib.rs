//! The desktop shell of Presence Bridge: the only code that depends on Tauri.
//!
//! It owns no presence logic. It runs the sync driver of `presence-sync` around the engine and
//! turns the engine's [`Snapshot`](presence_core::Snapshot) into what the agent sees; clicks
//! become engine inputs. With `PRESENCE_BRIDGE_EMULATOR` set (what `make run` does) it signs in
//! to the built-in emulator as `PRESENCE_BRIDGE_USER` (default `ada`); without it the window
//! shows the engine's snapshot for the shipped configuration, unconnected.
//!
//! Layout: `lib.rs` (startup), `commands.rs` (IPC commands, each a few lines).

mod commands;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use presence_core::{Engine, EngineConfig};
use presence_sync::SyncHandle;

/// What the shell shares between IPC commands.
#[derive(Debug, Default)]
pub struct ShellState {
    /// The running sync, once connected.
    sync: Mutex<Option<SyncHandle>>,
    /// Why the sync is not running, if it is not.
    problem: Mutex<Option<String>>,
}

impl ShellState {
    fn handle(&self) -> Option<SyncHandle> {
        self.sync.lock().ok().and_then(|guard| guard.clone())
    }
}

/// Starts the desktop app and blocks until it quits.
pub fn run() {
    let state = Arc::new(ShellState::default());
    let for_setup = state.clone();
    let result = tauri::Builder::default()
        .manage(state)
        .setup(move |_app| {
            start_sync(for_setup.clone());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::snapshot, commands::pick])
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("presence-bridge: the desktop shell stopped: {error}");
        std::process::exit(1);
    }
}

fn start_sync(state: Arc<ShellState>) {
    let Ok(emulator) = std::env::var("PRESENCE_BRIDGE_EMULATOR") else {
        if let Ok(mut problem) = state.problem.lock() {
            *problem = Some("not connected: set PRESENCE_BRIDGE_EMULATOR (make run does)".into());
        }
        return;
    };
    let user = std::env::var("PRESENCE_BRIDGE_USER").unwrap_or_else(|_| "ada".into());
    tauri::async_runtime::spawn(async move {
        // The agent's data directory: its lock (one sync per agent, shared with
        // presence-agent) and the durable outbox. PRESENCE_BRIDGE_DATA_DIR overrides it.
        let dir = std::env::var_os("PRESENCE_BRIDGE_DATA_DIR")
            .map(std::path::PathBuf::from)
            .or_else(presence_sync::local::default_data_dir);
        let data = match dir.map(|dir| presence_sync::local::AgentData::open(&dir, &user)) {
            Some(Ok(data)) => data,
            Some(Err(error)) => return record_problem(&state, error.to_string()),
            None => {
                return record_problem(
                    &state,
                    presence_sync::local::LocalError::NoDataDir.to_string(),
                )
            }
        };
        if let Some(aside) = &data.outbox.quarantined {
            record_problem(
                &state,
                format!(
                    "the outbox was damaged and set aside as {}",
                    aside.display()
                ),
            );
        }
        let outbox = data.outbox.clone();
        let connectors = match presence_sync::connect_emulator(
            &emulator,
            &user,
            presence_sync::EMULATOR_CLIENT_ID,
            outbox,
        )
        .await
        {
            Ok(connectors) => connectors,
            Err(error) => {
                return record_problem(
                    &state,
                    format!("cannot sign in to {emulator} as {user}: {error}"),
                )
            }
        };
        let seed = user.bytes().map(u64::from).sum();
        let (config, warning) =
            presence_sync::engine_config(&connectors, &format!("presence-bridge:{user}"), seed)
                .await;
        if let Some(warning) = warning {
            eprintln!("presence-bridge: {warning}");
        }
        let (handle, driver) =
            presence_sync::driver(Engine::new(config, Instant::now()), connectors);
        if let Ok(mut slot) = state.sync.lock() {
            *slot = Some(handle);
        }
        driver.await;
        drop(data);
    });
}

fn record_problem(state: &ShellState, text: String) {
    eprintln!("presence-bridge: {text}");
    if let Ok(mut problem) = state.problem.lock() {
        *problem = Some(text);
    }
}

/// The snapshot to show when no sync runs: the engine on the shipped configuration.
fn unconnected_snapshot() -> presence_core::Snapshot {
    Engine::new(EngineConfig::shipped_default(), Instant::now()).snapshot()
}
