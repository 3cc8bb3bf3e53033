//! IPC commands of the panel. Each turns IPC arguments into an engine input or reads the
//! snapshot; none holds logic of its own (the engine refuses what it must, with a notice).

use std::sync::Arc;

use presence_core::{Link, Picker, UserIntent};
use tauri::{AppHandle, State};

use crate::{send_intent, PanelView, ShellState};

/// Longer than any state label, call id or phone number: anything past it is not one.
const MAX_ARGUMENT: usize = 200;

fn bounded(value: String, what: &str) -> Result<String, String> {
    if value.len() > MAX_ARGUMENT {
        Err(format!("that is not a {what}"))
    } else {
        Ok(value)
    }
}

#[tauri::command]
pub fn snapshot(state: State<'_, Arc<ShellState>>) -> PanelView {
    state.view()
}

/// The agent picks a state in the panel.
#[tauri::command]
pub async fn pick(state: State<'_, Arc<ShellState>>, label: String) -> Result<(), String> {
    let label = bounded(label, "state")?;
    let intent = UserIntent::Pick {
        label,
        via: Picker::Panel,
    };
    send_intent(&state, intent).await
}

#[tauri::command]
pub async fn answer(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), String> {
    let call_id = bounded(call_id, "call")?;
    send_intent(&state, UserIntent::Answer { call_id }).await
}

#[tauri::command]
pub async fn decline(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), String> {
    let call_id = bounded(call_id, "call")?;
    send_intent(&state, UserIntent::Decline { call_id }).await
}

#[tauri::command]
pub async fn hang_up(state: State<'_, Arc<ShellState>>, call_id: String) -> Result<(), String> {
    let call_id = bounded(call_id, "call")?;
    send_intent(&state, UserIntent::HangUp { call_id }).await
}

/// Places an outbound call; the engine refuses it in Do Not Disturb (C3) with a notice.
#[tauri::command]
pub async fn dial(state: State<'_, Arc<ShellState>>, number: String) -> Result<(), String> {
    let number = bounded(number, "phone number")?;
    let call_id = format!("desktop-{}", uuid::Uuid::new_v4());
    send_intent(&state, UserIntent::Dial { call_id, number }).await
}

#[tauri::command]
pub async fn extend_wrap_up(state: State<'_, Arc<ShellState>>) -> Result<(), String> {
    send_intent(&state, UserIntent::ExtendWrapUp).await
}

/// Signs in to one cloud again (K1), offered while its link says a sign-in is needed.
#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, Arc<ShellState>>,
    link: Link,
) -> Result<(), String> {
    crate::sign_in_again(&app, &state, link).await
}
