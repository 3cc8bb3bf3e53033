//! "Start at login", through `tauri-plugin-autostart`: on Linux an XDG autostart entry
//! (`~/.config/autostart/presence-bridge.desktop`) that desktop sessions (GNOME, KDE, Xfce, …)
//! read at login, a login item on macOS, the `Run` key on Windows; the same calls on each.
//! Off until the agent turns it on from the tray menu; on, the entry starts this very binary
//! in the tray (`--in-tray`), its panel closed.

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

/// The plugin, naming the entry after the binary (`presence-bridge.desktop`), not after the
/// product name with its space.
pub fn plugin<R: Runtime>() -> TauriPlugin<R> {
    tauri_plugin_autostart::Builder::new()
        .app_name("presence-bridge")
        // At login the app starts in the tray, its panel closed (and its webview not built).
        .args([crate::panel::IN_TRAY])
        .build()
}

/// Whether the app starts at login (false where the plugin is not installed or cannot tell).
pub fn enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<AutoLaunchManager>()
        .is_some_and(|manager| manager.is_enabled().unwrap_or(false))
}

/// Turns starting at login on or off.
pub fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), String> {
    let manager = app
        .try_state::<AutoLaunchManager>()
        .ok_or("this build cannot start at login")?;
    let done = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|error| error.to_string())
}
