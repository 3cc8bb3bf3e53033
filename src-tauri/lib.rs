//! The desktop shell of Presence Bridge: the only code that depends on Tauri.
//!
//! It owns no presence logic. It builds the engine from the shipped Call Center configuration,
//! and turns the engine's [`Snapshot`](presence_core::Snapshot) into what the agent sees. Until
//! the sync runtime lands, the window shows the snapshot of the default configuration.
//!
//! Layout: `lib.rs` (startup), `commands.rs` (IPC commands, each a few lines).

mod commands;

use std::sync::Mutex;
use std::time::Instant;

use presence_core::{Engine, EngineConfig};

/// What the shell shares between IPC commands.
#[derive(Debug)]
pub struct ShellState {
    engine: Mutex<Engine>,
}

/// Starts the desktop app and blocks until it quits.
pub fn run() {
    let engine = Engine::new(EngineConfig::shipped_default(), Instant::now());
    let state = ShellState {
        engine: Mutex::new(engine),
    };
    let result = tauri::Builder::default()
        .manage(state)
        .invoke_handler(tauri::generate_handler![commands::snapshot])
        .run(tauri::generate_context!());
    if let Err(error) = result {
        eprintln!("presence-bridge: the desktop shell stopped: {error}");
        std::process::exit(1);
    }
}
