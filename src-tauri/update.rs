//! The app's own updates, when the settings turn them on (`[updates] manifest = "https://…"`;
//! off by default, as IT usually deploys the package itself). The manifest (Tauri's
//! `latest.json`) is read at start and every six hours. A newer version is downloaded and its
//! minisign signature checked against the public key built into the app
//! (`plugins.updater.pubkey` in `tauri.conf.json`) before anything else happens: a package
//! that fails the check is refused, said in the tray and the log, and never installed
//! (reliability row U1); a verified one waits for the agent to choose "Install update … and
//! restart" in the tray (through pkexec and dpkg for the `.deb`), so no call is cut by it.
//!
//! The check and the signature are `tauri-plugin-updater`'s; this file only decides when,
//! and what the agent is told.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_updater::UpdaterExt as _;

use crate::{pump, ShellState};

/// How often the manifest is read again.
const CHECK_EVERY: Duration = Duration::from_secs(6 * 3600);
/// The manifest and the package, each.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// What the tray says of updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateLine {
    /// Verified and waiting: the entry installs it.
    Ready { version: String },
    /// Refused or failed: an informational line with the reason.
    Problem { text: String },
}

impl UpdateLine {
    pub fn text(&self) -> String {
        match self {
            UpdateLine::Ready { version } => format!("Install update {version} and restart"),
            UpdateLine::Problem { text } => text.clone(),
        }
    }
}

/// A verified update and its package, kept until the agent installs it.
#[derive(Default)]
pub struct Pending {
    ready: Mutex<Option<(tauri_plugin_updater::Update, Vec<u8>)>>,
}

/// The plugin, with the built-in key. Debug builds take another key from
/// `PRESENCE_BRIDGE_TEST_UPDATE_PUBKEY` (the U1 test signs its packages with a key of its
/// own); release builds have no such door.
pub fn plugin<R: Runtime>() -> tauri::plugin::TauriPlugin<R, tauri_plugin_updater::Config> {
    let builder = tauri_plugin_updater::Builder::new();
    #[cfg(debug_assertions)]
    let builder = match std::env::var("PRESENCE_BRIDGE_TEST_UPDATE_PUBKEY") {
        Ok(key) => builder.pubkey(key),
        Err(_) => builder,
    };
    builder.build()
}

/// Starts looking for updates at `manifest`, now and every [`CHECK_EVERY`].
pub fn start<R: Runtime>(app: &AppHandle<R>, manifest: String) {
    app.manage(Arc::new(Pending::default()));
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            let line = check_once(&app, &manifest).await;
            // A failed look does not hide an update already verified and waiting.
            let waiting = app
                .state::<Arc<Pending>>()
                .ready
                .lock()
                .is_ok_and(|ready| ready.is_some());
            let line = line.filter(|line| !(waiting && matches!(line, UpdateLine::Problem { .. })));
            if let Some(line) = line {
                let state = app.state::<Arc<ShellState>>().inner().clone();
                state.set_update(Some(line));
                pump::redraw_tray(&app, &state);
            }
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

/// One look: `None` when there is nothing newer (or it is already waiting).
async fn check_once<R: Runtime>(app: &AppHandle<R>, manifest: &str) -> Option<UpdateLine> {
    // The tray's line is short (a menu is no place for a paragraph); the log has the detail.
    let problem = |line: String, detail: String| {
        tracing::warn!("{line}: {detail}");
        Some(UpdateLine::Problem { text: line })
    };
    let unchecked = |error: tauri_plugin_updater::Error| {
        problem(
            "Updates cannot be checked (see the log)".into(),
            format!("{manifest}: {error}"),
        )
    };
    let url = match manifest.parse() {
        Ok(url) => url,
        Err(error) => return unchecked(tauri_plugin_updater::Error::UrlParse(error)),
    };
    let updater = app
        .updater_builder()
        .endpoints(vec![url])
        .and_then(|builder| builder.timeout(REQUEST_TIMEOUT).build());
    let updater = match updater {
        Ok(updater) => updater,
        Err(error) => return unchecked(error),
    };
    let update = match updater.check().await {
        Ok(Some(update)) => update,
        Ok(None) => {
            tracing::info!("updates: {manifest} offers nothing newer");
            return None;
        }
        Err(error) => return unchecked(error),
    };
    let version = update.version.clone();
    let pending = app.state::<Arc<Pending>>().inner().clone();
    if pending
        .ready
        .lock()
        .is_ok_and(|ready| ready.as_ref().is_some_and(|(u, _)| u.version == version))
    {
        return None;
    }
    tracing::info!(
        "updates: version {version} offered at {}; downloading",
        update.download_url
    );
    match update.download(|_, _| {}, || {}).await {
        Ok(bytes) => {
            tracing::info!(
                "updates: version {version} downloaded ({} bytes) and its signature verified; it installs from the tray",
                bytes.len()
            );
            if let Ok(mut ready) = pending.ready.lock() {
                *ready = Some((update, bytes));
            }
            Some(UpdateLine::Ready { version })
        }
        Err(
            error @ (tauri_plugin_updater::Error::Minisign(_)
            | tauri_plugin_updater::Error::SignatureUtf8(_)
            | tauri_plugin_updater::Error::Base64(_)),
        ) => problem(
            format!("Update {version} refused: not signed by Presence Bridge"),
            format!("{error}; nothing was installed"),
        ),
        Err(error) => problem(
            format!("Update {version} not downloaded (see the log)"),
            error.to_string(),
        ),
    }
}

/// Installs the waiting update (its signature is checked once more) and restarts the app;
/// a failure is said and the app goes on.
pub fn install<R: Runtime>(app: &AppHandle<R>) {
    let Some(pending) = app.try_state::<Arc<Pending>>() else {
        return;
    };
    let ready = pending.ready.lock().ok().and_then(|mut ready| ready.take());
    let Some((update, bytes)) = ready else {
        pump::say(app, "There is no update waiting to be installed.".into());
        return;
    };
    let app = app.clone();
    // pkexec asks for a password: not on the event loop's thread.
    tauri::async_runtime::spawn_blocking(move || match update.install(&bytes) {
        Ok(()) => {
            tracing::info!("updates: version {} installed; restarting", update.version);
            app.restart();
        }
        Err(error) => {
            let text = format!("Update {} was not installed: {error}", update.version);
            pump::say(&app, text.clone());
            let state = app.state::<Arc<ShellState>>().inner().clone();
            state.set_update(Some(UpdateLine::Problem { text }));
            pump::redraw_tray(&app, &state);
        }
    });
}
