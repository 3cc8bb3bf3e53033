//! The softphone panel's window: shown from the tray or when a call rings. Closing it hides it
//! to the tray, where Quit ends the app; on a desktop without a tray host it is minimised
//! instead, so that it can always be found again (a second launch would find the agent's sync
//! already running).

use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};

/// The panel window's label in `tauri.conf.json`.
const PANEL: &str = "main";

/// Whether the panel may load `url`: only its own pages (`tauri://localhost` on Linux and
/// macOS, `http(s)://tauri.localhost` on Windows). A link in caller data, a script setting
/// `window.location`, a redirect: anything else is refused (reliability row B5), and said.
pub fn may_load(url: &tauri::Url) -> bool {
    let allowed = match (url.scheme(), url.host_str()) {
        ("tauri", Some("localhost")) => true,
        ("http" | "https", Some("tauri.localhost")) => url.port().is_none(),
        _ => false,
    };
    if !allowed {
        tracing::warn!("the panel was kept from loading {url}");
    }
    allowed
}

/// A plugin that holds every webview of the app to [`may_load`].
pub fn navigation_guard<R: Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("navigation-guard")
        .on_navigation(|_, url| may_load(url))
        .build()
}

/// Shows the panel (un-minimised) and gives it the keyboard, as the tray's "Open" asks.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    show_ringing(app);
    if let Some(window) = app.get_webview_window(PANEL) {
        let _ = window.set_focus();
    }
}

/// Shows the panel for a ringing call without taking the keyboard: the agent may be typing in
/// Salesforce, and an Enter meant for a note must not answer the call. Once the agent moves to
/// the panel, its Answer button has the focus.
pub fn show_ringing<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(PANEL) {
        let _ = window.unminimize();
        let _ = window.show();
    }
}

/// Closing the panel hides it (or minimises it, without a tray host); the app goes on.
pub fn hide_instead_of_closing<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == PANEL {
            api.prevent_close();
            let window = window.clone();
            tauri::async_runtime::spawn(async move {
                let _ = if tray_host_present().await {
                    window.hide()
                } else {
                    window.minimize()
                };
            });
        }
    }
}

/// Whether a tray host that shows our icon runs: a StatusNotifierWatcher on the session bus
/// (KDE, GNOME's AppIndicator extension, Xfce, Cinnamon, …). Asked at each close, since a
/// panel may start after the app.
#[cfg(all(unix, not(target_os = "macos")))]
async fn tray_host_present() -> bool {
    async fn ask() -> zbus::Result<bool> {
        let connection = zbus::Connection::session().await?;
        let bus = zbus::fdo::DBusProxy::new(&connection).await?;
        let watcher = zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher")?;
        Ok(bus.name_has_owner(watcher).await?)
    }
    ask().await.unwrap_or(false)
}

/// Windows and macOS always have a tray (notification area, menu bar).
#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn tray_host_present() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::may_load;

    #[test]
    fn the_panel_loads_its_own_pages_and_nothing_else() {
        for own in [
            "tauri://localhost/",
            "tauri://localhost/index.html",
            "http://tauri.localhost/index.html",
            "https://tauri.localhost/",
        ] {
            assert!(may_load(&own.parse().expect("url")), "{own}");
        }
        for other in [
            "https://evil.example/",
            "http://localhost:8080/",
            "http://tauri.localhost:8080/",
            "https://tauri.localhost.evil.example/",
            "file:///etc/passwd",
            "javascript:alert(1)",
            "data:text/html,<script>1</script>",
            "tauri://evil.example/",
        ] {
            assert!(!may_load(&other.parse().expect("url")), "{other}");
        }
    }
}
