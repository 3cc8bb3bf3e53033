//! Starting the agent's sync for this desktop: where to sign in (see `sign_in.rs`), the data
//! directory (`PRESENCE_BRIDGE_DATA_DIR` overrides it), the browser for a sign-in. Why a sync
//! cannot start is in its snapshot, which the pump also writes to standard error.

use presence_sync::{Storage, SyncHandle, SyncOptions};

/// Starts the sync this desktop is set up for, or one that says what to set up.
pub fn start_for_this_desktop() -> SyncHandle {
    let target = match crate::sign_in::target() {
        Ok(target) => target,
        Err(problem) => return presence_sync::cannot_start(problem),
    };
    let mut options = SyncOptions::new(target);
    options.storage = Storage::DataDir(
        std::env::var_os("PRESENCE_BRIDGE_DATA_DIR").map(std::path::PathBuf::from),
    );
    // Signals are the shell's own (quit.rs): it logs out through the handle, then exits the app.
    let (handle, sync) = presence_sync::start(
        options,
        crate::sign_in::open_browser,
        std::future::pending(),
    );
    // Its end (a quit, or why it could not start) is in the last snapshot.
    tauri::async_runtime::spawn(async move {
        let _ended = sync.await;
    });
    handle
}
