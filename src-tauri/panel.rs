//! The softphone panel's window: built when the agent opens it from the tray or a call rings,
//! and released (window, webview and its web processes) when the agent closes it, so that the
//! app idles as the tray alone; Quit in the tray ends the app. On a desktop without a tray host
//! closing minimises it instead, so that it can always be found again (a second launch would
//! find the agent's sync already running).

use tauri::webview::{NewWindowResponse, PageLoadEvent};
use tauri::{
    AppHandle, Manager, Runtime, WebviewWindow, WebviewWindowBuilder, Window, WindowEvent,
};

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

/// Opens the panel at start, unless the app was started for the tray alone ([`IN_TRAY`], as
/// the login entry starts it): then nothing but the tray runs until the agent opens the panel
/// or a call rings. Without a tray host the panel is always built, minimised, so that the app
/// can be found.
pub fn open_at_start<R: Runtime>(app: &AppHandle<R>, in_tray: bool) {
    if !in_tray {
        return show(app);
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if !tray_host_present().await {
            if let Some(window) = window(&app, Focus::Leave) {
                let _ = window.minimize();
            }
        }
    });
}

/// The argument that starts the app in the tray with its panel closed.
pub const IN_TRAY: &str = "--in-tray";

/// Shows the panel (un-minimised) and gives it the keyboard, as the tray's "Open" asks.
pub fn show<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = window(app, Focus::Take) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// Shows the panel for a ringing call without taking the keyboard: the agent may be typing in
/// Salesforce, and an Enter meant for a note must not answer the call. Once the agent moves to
/// the panel, its Answer button has the focus.
pub fn show_ringing<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = window(app, Focus::Leave) {
        let _ = window.unminimize();
        let _ = window.show();
    }
}

/// Whether the panel is open (built; it may be minimised).
pub fn is_open<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.get_webview_window(PANEL).is_some()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Focus {
    Take,
    Leave,
}

/// The panel's window, built from `tauri.conf.json` when it is not open: its page asks for the
/// snapshot as it loads, so a panel built for a ringing call shows the call.
fn window<R: Runtime>(app: &AppHandle<R>, focus: Focus) -> Option<WebviewWindow<R>> {
    if let Some(window) = app.get_webview_window(PANEL) {
        return Some(window);
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == PANEL) else {
        tracing::error!("tauri.conf.json has no window labelled {PANEL}: no panel to show");
        return None;
    };
    match WebviewWindowBuilder::from_config(app, config).and_then(|builder| {
        let builder = builder
            .focused(focus == Focus::Take)
            // `window.open` and `target="_blank"` links open nothing (reliability row B5).
            .on_new_window(|url, _| {
                tracing::warn!("the panel was kept from opening a window for {url}");
                NewWindowResponse::Deny
            })
            .on_page_load(|window, page| {
                if page.event() == PageLoadEvent::Finished {
                    tracing::info!("the panel loaded {}", page.url());
                    run_test_script(&window);
                }
            });
        builder.build()
    }) {
        Ok(window) => Some(window),
        Err(error) => {
            tracing::error!("the panel could not be built: {error}");
            None
        }
    }
}

/// Debug builds only: runs the script in `PRESENCE_BRIDGE_TEST_PAGE_SCRIPT` in the panel's
/// page once it has loaded, the way the UI test of row B5 plays a page that tries to leave
/// (`tests/desktop/guard.rs`). Release builds have no such door.
#[cfg(debug_assertions)]
fn run_test_script<R: Runtime>(window: &WebviewWindow<R>) {
    if let Ok(script) = std::env::var("PRESENCE_BRIDGE_TEST_PAGE_SCRIPT") {
        tracing::warn!("running the test script in the panel's page (a debug build)");
        if let Err(error) = window.eval(script) {
            tracing::error!("the test script could not run: {error}");
        }
    }
}

#[cfg(not(debug_assertions))]
fn run_test_script<R: Runtime>(_: &WebviewWindow<R>) {}

/// Closing the panel releases it, window and webview (its web processes end), so that an idle
/// app is the tray alone; it is built again when the agent opens it or a call rings. Without a
/// tray host it is minimised instead: there would be nothing left to open it from.
pub fn release_on_close<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        if window.label() == PANEL {
            api.prevent_close();
            let window = window.clone();
            tauri::async_runtime::spawn(async move {
                let _ = if tray_host_present().await {
                    tracing::info!("the panel was closed: its webview is released");
                    window.destroy()
                } else {
                    window.minimize()
                };
            });
        }
    }
}

/// Whether a tray host that shows our icon runs: a StatusNotifierWatcher on the session bus
/// (KDE, GNOME's AppIndicator extension, Xfce, Cinnamon, …), or on X an XEmbed system tray
/// (trayer, stalonetray, older panels), where appindicator falls back to. Asked at each close,
/// since a panel may start after the app.
#[cfg(all(unix, not(target_os = "macos")))]
async fn tray_host_present() -> bool {
    async fn watcher() -> zbus::Result<bool> {
        let connection = zbus::Connection::session().await?;
        let bus = zbus::fdo::DBusProxy::new(&connection).await?;
        let watcher = zbus::names::BusName::try_from("org.kde.StatusNotifierWatcher")?;
        Ok(bus.name_has_owner(watcher).await?)
    }
    if watcher().await.unwrap_or(false) {
        return true;
    }
    tauri::async_runtime::spawn_blocking(xembed_tray)
        .await
        .unwrap_or(false)
}

/// Whether the X display (if any) has a system tray: an owner of `_NET_SYSTEM_TRAY_S<screen>`
/// (freedesktop System Tray Protocol).
#[cfg(all(unix, not(target_os = "macos")))]
fn xembed_tray() -> bool {
    use x11rb::protocol::xproto::ConnectionExt;
    let ask = || -> Result<bool, Box<dyn std::error::Error>> {
        let (connection, screen) = x11rb::connect(None)?;
        let name = format!("_NET_SYSTEM_TRAY_S{screen}");
        let selection = connection
            .intern_atom(false, name.as_bytes())?
            .reply()?
            .atom;
        let owner = connection.get_selection_owner(selection)?.reply()?.owner;
        Ok(owner != x11rb::NONE)
    };
    ask().unwrap_or(false)
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
