//! What the shell's parts share (the sync's handle, what the tray shows), and the one error
//! type of its commands.

use std::sync::Mutex;

use presence_core::{Input, Snapshot, UserIntent};
use presence_sync::{SignInAgainError, SyncHandle};
use serde::{Serialize, Serializer};

use crate::tray::TrayModel;
use crate::update::UpdateLine;

/// Why a command or a click did not happen; the panel shows its text.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// An IPC argument that cannot be what it claims (longer than any label, id or number).
    #[error("that is not a {0}")]
    NotA(&'static str),
    /// The sync is not running: it could not start (why is given) or it has ended.
    #[error("the sync is not running{}", .why.as_ref().map(|why| format!(": {why}")).unwrap_or_default())]
    NotRunning { why: Option<String> },
    #[error(transparent)]
    SignIn(#[from] SignInAgainError),
}

/// Commands answer the panel with the error's text.
impl Serialize for ShellError {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// What the shell shares between IPC commands, the tray and the pump.
#[derive(Debug)]
pub struct ShellState {
    /// The agent's sync, from the first second (or one that says why it cannot start).
    sync: SyncHandle,
    /// What the tray shows now, so that it is redrawn only on a change (`None`: redraw).
    shown_tray: Mutex<Option<TrayModel>>,
    /// What the tray says of updates (none unless the settings turn them on).
    update: Mutex<Option<UpdateLine>>,
}

impl ShellState {
    pub fn new(sync: SyncHandle) -> Self {
        Self {
            sync,
            shown_tray: Mutex::new(None),
            update: Mutex::new(None),
        }
    }

    pub fn sync(&self) -> &SyncHandle {
        &self.sync
    }

    /// The snapshot to render now.
    pub fn snapshot(&self) -> Snapshot {
        self.sync.snapshots().borrow().clone()
    }

    /// The tray's model for the snapshot now.
    pub fn tray_model(&self, start_at_login: bool) -> TrayModel {
        self.tray_model_for(&self.snapshot(), start_at_login)
    }

    /// The tray's model for `snapshot`, with what the shell itself has to say (updates).
    pub fn tray_model_for(&self, snapshot: &Snapshot, start_at_login: bool) -> TrayModel {
        let mut model = TrayModel::from_snapshot(snapshot, start_at_login);
        model.update = self.update.lock().ok().and_then(|line| line.clone());
        model
    }

    /// What the tray says of updates from now on.
    pub fn set_update(&self, line: Option<UpdateLine>) {
        if let Ok(mut shown) = self.update.lock() {
            *shown = line;
        }
    }

    /// Keeps `model` as the one shown; true if it differs from what was shown.
    pub fn tray_changed(&self, model: &TrayModel) -> bool {
        match self.shown_tray.lock() {
            Ok(mut shown) if shown.as_ref() != Some(model) => {
                *shown = Some(model.clone());
                true
            }
            _ => false,
        }
    }

    /// Forgets what the tray shows, so that the next redraw happens whatever it is.
    pub fn tray_outdated(&self) {
        if let Ok(mut shown) = self.shown_tray.lock() {
            *shown = None;
        }
    }

    /// Sends the agent's intent to the engine.
    pub async fn send_intent(&self, intent: UserIntent) -> Result<(), ShellError> {
        if self.sync.send(Input::User(intent)).await {
            Ok(())
        } else {
            Err(ShellError::NotRunning {
                why: self.snapshot().notes.first().cloned(),
            })
        }
    }
}
