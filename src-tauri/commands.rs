//! IPC commands of the panel. Each turns IPC arguments into an engine input or reads the
//! snapshot; none holds logic of its own (the engine refuses what it must, with a notice).

use std::sync::Arc;

use presence_core::{Link, Picker, Snapshot, UserIntent};
use tauri::State;

use crate::{ShellError, ShellState};

/// Longer than any state label, call id or phone number: anything past it is not one.
const MAX_ARGUMENT: usize = 200;

fn bounded(value: String, what: &'static str) -> Result<String, ShellError> {
    if value.len() > MAX_ARGUMENT {
        Err(ShellError::NotA(what))
    } else {
        Ok(value)
    }
}

/// What the panel renders now (afterwards, every change comes as an event).
#[tauri::command]
pub fn snapshot(state: State<'_, Arc<ShellState>>) -> Snapshot {
    state.snapshot()
}

/// The agent picks a state in the panel.
#[tauri::command]
pub async fn pick(state: State<'_, Arc<ShellState>>, label: String) -> Result<(), ShellError> {
    let label = bounded(label, "state")?;
    let intent = UserIntent::Pick {
        label,
        via: Picker::Panel,
    };
    state.send_intent(intent).await
}

#[tauri::command]
pub async fn answer(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), ShellError> {
    let call_id = bounded(call_id, "call")?;
    state.send_intent(UserIntent::Answer { call_id }).await
}

#[tauri::command]
pub async fn decline(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), ShellError> {
    let call_id = bounded(call_id, "call")?;
    state.send_intent(UserIntent::Decline { call_id }).await
}

#[tauri::command]
pub async fn hang_up(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), ShellError> {
    let call_id = bounded(call_id, "call")?;
    state.send_intent(UserIntent::HangUp { call_id }).await
}

/// Places an outbound call; the engine refuses it in Do Not Disturb (C3) with a notice.
#[tauri::command]
pub async fn dial(state: State<'_, Arc<ShellState>>, number: String) -> Result<(), ShellError> {
    let number = bounded(number, "phone number")?;
    let call_id = format!("desktop-{}", uuid::Uuid::new_v4());
    state
        .send_intent(UserIntent::Dial { call_id, number })
        .await
}

#[tauri::command]
pub async fn extend_wrap_up(state: State<'_, Arc<ShellState>>) -> Result<(), ShellError> {
    state.send_intent(UserIntent::ExtendWrapUp).await
}

/// Sends a call log Salesforce refused again, from the panel's "not saved" list.
#[tauri::command]
pub async fn retry_call_log(
    state: State<'_, Arc<ShellState>>,
    key: String,
) -> Result<(), ShellError> {
    let key = bounded(key, "call log")?;
    state.send_intent(UserIntent::RetryCallLog { key }).await
}

/// Signs in to one cloud again (K1), offered while its link says a sign-in is needed.
#[tauri::command]
pub async fn sign_in(state: State<'_, Arc<ShellState>>, link: Link) -> Result<(), ShellError> {
    Ok(state.sync().sign_in_again(link).await?)
}
