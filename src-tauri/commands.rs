//! IPC commands of the panel. Each turns IPC arguments into an engine input or reads the
//! snapshot; none holds logic of its own.

use std::sync::Arc;

use presence_core::{Input, Picker, Snapshot, UserIntent};
use serde::Serialize;
use tauri::State;

use crate::ShellState;

/// What the panel renders: the snapshot, and why the sync is not running if it is not.
#[derive(Debug, Serialize)]
pub struct PanelView {
    snapshot: Snapshot,
    problem: Option<String>,
}

#[tauri::command]
pub fn snapshot(state: State<'_, Arc<ShellState>>) -> PanelView {
    let problem = state.problem.lock().ok().and_then(|p| p.clone());
    let snapshot = match state.handle() {
        Some(handle) => handle.snapshots().borrow().clone(),
        None => crate::unconnected_snapshot(),
    };
    PanelView { snapshot, problem }
}

/// The agent picks a state in the panel.
#[tauri::command]
pub async fn pick(state: State<'_, Arc<ShellState>>, label: String) -> Result<(), String> {
    if label.len() > 200 {
        return Err("that is not a state".into());
    }
    let handle = state.handle().ok_or("not connected yet")?;
    if handle
        .send(Input::User(UserIntent::Pick {
            label,
            via: Picker::Panel,
        }))
        .await
    {
        Ok(())
    } else {
        Err("the sync has stopped".into())
    }
}
