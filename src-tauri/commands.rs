//! IPC commands of the panel. Each turns IPC arguments into an engine input or reads the
//! snapshot; none holds logic of its own.

use presence_core::Snapshot;
use tauri::State;

use crate::ShellState;

/// The engine's current snapshot, for the panel to render.
#[tauri::command]
pub fn snapshot(state: State<'_, ShellState>) -> Result<Snapshot, String> {
    let engine = state
        .engine
        .lock()
        .map_err(|_| "the engine is unavailable after an earlier failure".to_string())?;
    Ok(engine.snapshot())
}
