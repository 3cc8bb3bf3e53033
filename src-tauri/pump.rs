//! Carries the sync to the desktop: every snapshot change to the tray and the panel, every UI
//! effect to toasts and the panel, and every new set-up line (a sign-in to do, why the sync
//! cannot run) to standard error, the session's log.

use std::sync::Arc;

use presence_core::{Snapshot, UiEffect};
use tauri::tray::TrayIcon;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::toast::Toasts;
use crate::tray;
use crate::{panel, ShellState, NOTICE_EVENT, SNAPSHOT_EVENT};

/// Runs until the sync ends (its last snapshot stays on show).
pub async fn pump<R: Runtime>(
    app: AppHandle<R>,
    state: Arc<ShellState>,
    tray: Option<TrayIcon<R>>,
    toasts: Option<Toasts>,
) {
    let mut snapshots = state.sync().snapshots();
    let mut effects = state.sync().ui_effects();
    let mut logged = Vec::new();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        log_new_notes(&snapshot, &mut logged);
        redraw(&app, &state, tray.as_ref(), snapshot);
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    // The sync ended; its last snapshot was drawn above.
                    return;
                }
            }
            effect = effects.recv() => match effect {
                Ok(effect) => show_effect(&app, toasts.as_ref(), effect),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    eprintln!("presence-bridge: {missed} desktop effects were skipped");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    let _ = snapshots.changed().await;
                    let last = snapshots.borrow().clone();
                    log_new_notes(&last, &mut logged);
                    return redraw(&app, &state, tray.as_ref(), last);
                }
            },
        }
    }
}

/// Each set-up line once, as it appears.
fn log_new_notes(snapshot: &Snapshot, logged: &mut Vec<String>) {
    for note in &snapshot.notes {
        if !logged.contains(note) {
            eprintln!("presence-bridge: {note}");
            logged.push(note.clone());
        }
    }
}

fn redraw<R: Runtime>(
    app: &AppHandle<R>,
    state: &ShellState,
    tray: Option<&TrayIcon<R>>,
    snapshot: Snapshot,
) {
    let model = state.tray_model_for(&snapshot, crate::autostart::enabled(app));
    if let Some(tray) = tray {
        if state.tray_changed(&model) {
            if let Err(error) = tray::show(app, tray, &model) {
                eprintln!("presence-bridge: the tray icon could not be updated: {error}");
            }
        }
    }
    let _ = app.emit(SNAPSHOT_EVENT, snapshot);
}

/// Tells the agent something the shell itself found (a refusal, a folder that cannot be
/// opened): in the panel when it is open, else as a toast, and in the log either way, so that
/// nothing said is lost while the panel is closed.
pub fn say<R: Runtime>(app: &AppHandle<R>, text: String) {
    tracing::info!("notice: {text}");
    if panel::is_open(app) {
        let _ = app.emit(NOTICE_EVENT, text);
    } else if let Some(toasts) = app.try_state::<Toasts>() {
        toasts.show(UiEffect::Notice { text });
    }
}

/// Redraws now (after a tray click whose own checkmark moved).
pub fn redraw_tray<R: Runtime>(app: &AppHandle<R>, state: &ShellState) {
    let tray = app.tray_by_id(tray::TRAY_ID);
    redraw(app, state, tray.as_ref(), state.snapshot());
}

fn show_effect<R: Runtime>(app: &AppHandle<R>, toasts: Option<&Toasts>, effect: UiEffect) {
    let ringing = matches!(effect, UiEffect::Ring { .. });
    if let UiEffect::Notice { text } = &effect {
        let _ = app.emit(NOTICE_EVENT, text.clone());
    }
    // The toast first: it is a message to the desk's own thread, while a closed panel takes
    // over half a second to build again (a web process to start, the page to load).
    if let Some(toasts) = toasts {
        toasts.show(effect);
    }
    // A ringing call brings the panel up with its Answer button, built on the event loop's
    // thread so that the snapshots and effects behind this one are not held up meanwhile.
    if ringing {
        let handle = app.clone();
        if let Err(error) = app.run_on_main_thread(move || panel::show_ringing(&handle)) {
            tracing::error!("the ringing panel could not be shown: {error}");
        }
    }
}
