//! What the tray's entries and the toasts' buttons ask for, as engine inputs (or the app's
//! own actions: open the panel, start at login, quit). A refusal is shown as a notice: no
//! caller waits for an answer here.

use std::sync::Arc;

use presence_core::{Picker, UserIntent};
use tauri::{AppHandle, Manager, Runtime};

use crate::toast::ToastChoice;
use crate::tray::TrayAction;
use crate::{panel, pump, quit, ShellError, ShellState};

pub fn on_tray_action<R: Runtime>(app: &AppHandle<R>, action: TrayAction) {
    let state = app.state::<Arc<ShellState>>().inner().clone();
    match action {
        TrayAction::OpenPanel => panel::show(app),
        TrayAction::OpenLogFolder => {
            let opened = crate::logging::log_dir()
                .ok_or_else(|| "there is no log folder (no XDG_STATE_HOME or HOME)".to_string())
                .and_then(crate::system::open);
            if let Err(problem) = opened {
                pump::say(app, format!("The log folder cannot be opened: {problem}"));
            }
        }
        TrayAction::Quit => quit::quit(app.clone()),
        TrayAction::InstallUpdate => crate::update::install(app),
        TrayAction::ToggleStartAtLogin => {
            if let Err(problem) = crate::autostart::set(app, !crate::autostart::enabled(app)) {
                pump::say(app, format!("starting at login: {problem}"));
            }
            pump::redraw_tray(app, &state);
        }
        TrayAction::SignIn(link) => {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let signed_in = state.sync().sign_in_again(link).await;
                say_if_refused(&app, signed_in.map_err(ShellError::from));
            });
        }
        TrayAction::Pick(label) => {
            // The menu's own checkmark moved on the click; redraw from the snapshot whatever
            // the engine decides.
            state.tray_outdated();
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let intent = UserIntent::Pick {
                    label,
                    via: Picker::Tray,
                };
                say_if_refused(&app, state.send_intent(intent).await);
                pump::redraw_tray(&app, &state);
            });
        }
    }
}

/// Answers or declines a call as the agent chose on its toast.
pub fn on_toast_choice<R: Runtime>(
    app: AppHandle<R>,
) -> impl Fn(String, ToastChoice) + Send + Sync + 'static {
    move |call_id, choice| {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let state = app.state::<Arc<ShellState>>().inner().clone();
            let intent = match choice {
                ToastChoice::Answer => UserIntent::Answer { call_id },
                ToastChoice::Decline => UserIntent::Decline { call_id },
            };
            say_if_refused(&app, state.send_intent(intent).await);
        });
    }
}

/// Shows a refusal to the agent.
fn say_if_refused<R: Runtime>(app: &AppHandle<R>, result: Result<(), ShellError>) {
    if let Err(problem) = result {
        pump::say(app, problem.to_string());
    }
}
