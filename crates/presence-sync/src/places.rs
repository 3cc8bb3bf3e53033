//! Where Presence Bridge keeps its files on this desktop: the one seam for the platform's
//! folders, on the `dirs` crate, which knows each platform's convention.
//!
//! | | Linux (XDG) | Windows | macOS |
//! |---|---|---|---|
//! | settings | `$XDG_CONFIG_HOME`, else `~/.config` | `%APPDATA%` | `~/Library/Application Support` |
//! | data (outbox, lock) | `$XDG_DATA_HOME`, else `~/.local/share` | `%APPDATA%` | `~/Library/Application Support` |
//! | logs | `$XDG_STATE_HOME`, else `~/.local/state` | `%LOCALAPPDATA%` | `~/Library/Logs` |
//!
//! The app's own folder, `presence-bridge`, goes inside each. An XDG variable that is empty or
//! relative is ignored, as the XDG Base Directory specification says.

use std::path::PathBuf;

/// The app's folder inside each of the platform's folders.
pub const APP_FOLDER: &str = "presence-bridge";

/// The user's configuration folder (the settings file is `presence-bridge/settings.toml` in it).
pub fn config_home() -> Option<PathBuf> {
    dirs::config_dir()
}

/// The app's data folder: its outbox and the one-sync-per-agent lock.
pub fn data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|dir| dir.join(APP_FOLDER))
}

/// The app's log folder.
pub fn log_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        return dirs::home_dir().map(|home| home.join("Library/Logs").join(APP_FOLDER));
    }
    // Only Linux has a state folder; Windows keeps logs in the local (not roaming) app data.
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|dir| dir.join(APP_FOLDER).join("logs"))
}
