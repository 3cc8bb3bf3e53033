//! Quitting: the tray's Quit, SIGINT (Ctrl-C in `make run`) and SIGTERM (the session ending)
//! log the agent out first (L7), then the app exits.

use std::sync::Arc;
use std::time::Duration;

use presence_core::Input;
use tauri::{AppHandle, Manager, Runtime};

use crate::ShellState;

/// How long quitting waits for the logout writes (L7) before it exits anyway.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// Logs out (L7), waits for the sync to finish or `QUIT_GRACE`, then exits.
pub fn quit<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<Arc<ShellState>>().inner().clone();
    tauri::async_runtime::spawn(async move {
        let mut snapshots = state.sync().snapshots();
        if state.sync().send(Input::Quit).await {
            // The driver drops its snapshot sender when it has finished.
            let finished = async { while snapshots.changed().await.is_ok() {} };
            if tokio::time::timeout(QUIT_GRACE, finished).await.is_err() {
                eprintln!("presence-bridge: quitting before the logout was confirmed");
            }
        }
        app.exit(0);
    });
}

/// SIGINT and SIGTERM quit as the tray's Quit does.
pub fn quit_on_signals<R: Runtime>(app: AppHandle<R>) {
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
