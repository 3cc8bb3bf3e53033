//! The tray icon: the snapshot's icon (with a badge while a link is not connected), its
//! tooltip, and a menu that names the state, its source and any link in trouble, and offers
//! every selectable state, the panel and Quit.
//!
//! What the tray shows is a [`TrayModel`] derived from the snapshot by a pure function, so the
//! decision is testable without a desktop; the tray is rebuilt only when the model changes.
//! Linux tray hosts (AppIndicator) show no tooltip, which is why the menu's first lines carry
//! the same text: colour is never the only signal (RULES.md section 1).

use presence_core::{IconId, Link, Snapshot};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Runtime};

/// The tray icon's id.
pub const TRAY_ID: &str = "presence";
const PICK_PREFIX: &str = "pick:";
const SIGN_IN_PREFIX: &str = "sign-in:";
const OPEN_ID: &str = "open";
const AUTOSTART_ID: &str = "autostart";
const LOG_FOLDER_ID: &str = "log-folder";
const QUIT_ID: &str = "quit";
const INSTALL_UPDATE_ID: &str = "install-update";

/// What a tray menu entry asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayAction {
    Pick(String),
    /// Turn starting at login on if it is off, off if it is on (the menu shows which).
    ToggleStartAtLogin,
    /// Sign in to this cloud again (K1).
    SignIn(Link),
    OpenPanel,
    /// Show the log files in the file manager (for a support ticket).
    OpenLogFolder,
    /// Install the verified update waiting, and restart.
    InstallUpdate,
    Quit,
}

impl TrayAction {
    /// The action behind a menu id; `None` for the informational lines.
    pub fn from_menu_id(id: &str) -> Option<Self> {
        match id {
            OPEN_ID => Some(TrayAction::OpenPanel),
            AUTOSTART_ID => Some(TrayAction::ToggleStartAtLogin),
            QUIT_ID => Some(TrayAction::Quit),
            LOG_FOLDER_ID => Some(TrayAction::OpenLogFolder),
            INSTALL_UPDATE_ID => Some(TrayAction::InstallUpdate),
            _ if id.starts_with(SIGN_IN_PREFIX) => id
                .strip_prefix(SIGN_IN_PREFIX)
                .and_then(Link::from_id)
                .map(TrayAction::SignIn),
            _ => id
                .strip_prefix(PICK_PREFIX)
                .map(|label| TrayAction::Pick(label.to_string())),
        }
    }
}

/// Everything the tray shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    pub icon: IconId,
    pub badge: bool,
    pub tooltip: String,
    /// "Available · set in Teams".
    pub status_line: String,
    /// The snapshot's problem lines: why the sync cannot run, a sign-in to do, caveats, each
    /// link that is not connected.
    pub link_lines: Vec<String>,
    /// The links whose sign-in is needed, each with its entry's text ("Sign in to …").
    pub sign_in_needed: Vec<(Link, String)>,
    /// The selectable states, with the one in force checked.
    pub choices: Vec<(String, bool)>,
    /// Whether the app starts at login.
    pub start_at_login: bool,
    /// An update waiting to be installed, or why one was refused (the shell's, not the
    /// snapshot's: [`crate::ShellState::tray_model_for`] adds it).
    pub update: Option<crate::update::UpdateLine>,
}

impl TrayModel {
    /// The model for a snapshot.
    pub fn from_snapshot(snapshot: &Snapshot, start_at_login: bool) -> Self {
        let link_lines = snapshot.problems.clone();
        TrayModel {
            icon: snapshot.icon,
            badge: snapshot.badge,
            tooltip: snapshot.tooltip.clone(),
            status_line: snapshot.status_line.clone(),
            link_lines,
            sign_in_needed: snapshot
                .links
                .iter()
                .filter_map(|view| Some((view.link, view.sign_in.clone()?)))
                .collect(),
            choices: snapshot
                .choices
                .iter()
                .map(|choice| (choice.label.clone(), choice.selected))
                .collect(),
            start_at_login,
            update: None,
        }
    }
}

/// The rendered PNG of a presence icon (sources: `ui/icons/presence/*.svg`, `make icons`).
pub fn icon_png(icon: IconId) -> &'static [u8] {
    match icon {
        IconId::Available => include_bytes!("../icons/presence/available.png"),
        IconId::AvailableOutOfOffice => {
            include_bytes!("../icons/presence/available-out-of-office.png")
        }
        IconId::Away => include_bytes!("../icons/presence/away.png"),
        IconId::DoNotDisturb => include_bytes!("../icons/presence/do-not-disturb.png"),
        IconId::Busy => include_bytes!("../icons/presence/busy.png"),
        IconId::BusyOutOfOffice => include_bytes!("../icons/presence/busy-out-of-office.png"),
        IconId::OutOfOffice => include_bytes!("../icons/presence/out-of-office.png"),
        IconId::Offline => include_bytes!("../icons/presence/offline.png"),
        IconId::LoggedOut => include_bytes!("../icons/presence/logged-out.png"),
        IconId::Unknown => include_bytes!("../icons/presence/unknown.png"),
    }
}

/// Paints the connection badge (a dark orange dot ringed in white, apart from Away's yellow)
/// into the bottom-right corner of an RGBA image.
pub fn paint_badge(rgba: &mut [u8], width: u32, height: u32) {
    let size = width.min(height) as f32;
    let radius = size * 0.22;
    let ring = size * 0.05;
    let (cx, cy) = (width as f32 - radius - 1.0, height as f32 - radius - 1.0);
    for y in 0..height {
        for x in 0..width {
            let distance = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let colour = if distance <= radius - ring {
                [0xff, 0x8c, 0x00, 0xff]
            } else if distance <= radius {
                [0xff, 0xff, 0xff, 0xff]
            } else {
                continue;
            };
            let at = ((y * width + x) * 4) as usize;
            if let Some(pixel) = rgba.get_mut(at..at + 4) {
                pixel.copy_from_slice(&colour);
            }
        }
    }
}

/// The tray image for a model.
fn tray_image(model: &TrayModel) -> tauri::Result<Image<'static>> {
    let image = Image::from_bytes(icon_png(model.icon))?;
    let (width, height) = (image.width(), image.height());
    let mut rgba = image.rgba().to_vec();
    if model.badge {
        paint_badge(&mut rgba, width, height);
    }
    Ok(Image::new_owned(rgba, width, height))
}

/// A menu label as text: `&` would otherwise mark a mnemonic.
fn menu_text(text: &str) -> String {
    text.replace('&', "&&")
}

fn build_menu<R: Runtime>(app: &AppHandle<R>, model: &TrayModel) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::new(
        app,
        menu_text(&model.status_line),
        false,
        None::<&str>,
    )?)?;
    for line in &model.link_lines {
        menu.append(&MenuItem::new(app, menu_text(line), false, None::<&str>)?)?;
    }
    for (link, text) in &model.sign_in_needed {
        menu.append(&MenuItem::with_id(
            app,
            format!("{SIGN_IN_PREFIX}{}", link.id()),
            menu_text(text),
            true,
            None::<&str>,
        )?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    for (label, selected) in &model.choices {
        menu.append(&CheckMenuItem::with_id(
            app,
            format!("{PICK_PREFIX}{label}"),
            menu_text(label),
            true,
            *selected,
            None::<&str>,
        )?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&CheckMenuItem::with_id(
        app,
        AUTOSTART_ID,
        "Start at login",
        true,
        model.start_at_login,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        OPEN_ID,
        "Open Presence Bridge",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        LOG_FOLDER_ID,
        "Open log folder",
        true,
        None::<&str>,
    )?)?;
    if let Some(update) = &model.update {
        let ready = matches!(update, crate::update::UpdateLine::Ready { .. });
        menu.append(&MenuItem::with_id(
            app,
            INSTALL_UPDATE_ID,
            menu_text(&update.text()),
            ready,
            None::<&str>,
        )?)?;
    }
    menu.append(&MenuItem::with_id(
        app,
        QUIT_ID,
        "Quit (logs out)",
        true,
        None::<&str>,
    )?)?;
    Ok(menu)
}

/// Creates the tray icon for a first model. Menu clicks go to `on_action`.
pub fn create<R: Runtime>(
    app: &AppHandle<R>,
    model: &TrayModel,
    on_action: impl Fn(&AppHandle<R>, TrayAction) + Send + Sync + 'static,
) -> tauri::Result<TrayIcon<R>> {
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(tray_image(model)?)
        .tooltip(&model.tooltip)
        .menu(&build_menu(app, model)?)
        .on_menu_event(move |app, event| {
            if let Some(action) = TrayAction::from_menu_id(event.id().as_ref()) {
                on_action(app, action);
            }
        })
        .build(app)
}

/// Shows a new model on the tray icon.
pub fn show<R: Runtime>(
    app: &AppHandle<R>,
    tray: &TrayIcon<R>,
    model: &TrayModel,
) -> tauri::Result<()> {
    tray.set_icon(Some(tray_image(model)?))?;
    tray.set_tooltip(Some(&model.tooltip))?;
    tray.set_menu(Some(build_menu(app, model)?))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_round_trip_to_actions() {
        assert_eq!(
            TrayAction::from_menu_id("pick:Do Not Disturb"),
            Some(TrayAction::Pick("Do Not Disturb".into()))
        );
        assert_eq!(
            TrayAction::from_menu_id(OPEN_ID),
            Some(TrayAction::OpenPanel)
        );
        assert_eq!(TrayAction::from_menu_id(QUIT_ID), Some(TrayAction::Quit));
        assert_eq!(
            TrayAction::from_menu_id(LOG_FOLDER_ID),
            Some(TrayAction::OpenLogFolder)
        );
        for link in [Link::Teams, Link::Salesforce] {
            assert_eq!(
                TrayAction::from_menu_id(&format!("{SIGN_IN_PREFIX}{}", link.id())),
                Some(TrayAction::SignIn(link))
            );
        }
        assert_eq!(
            TrayAction::from_menu_id(INSTALL_UPDATE_ID),
            Some(TrayAction::InstallUpdate)
        );
        assert_eq!(TrayAction::from_menu_id("status"), None);
    }

    #[test]
    fn every_icon_is_a_square_png_with_transparency() {
        for icon in [
            IconId::Available,
            IconId::AvailableOutOfOffice,
            IconId::Away,
            IconId::DoNotDisturb,
            IconId::Busy,
            IconId::BusyOutOfOffice,
            IconId::OutOfOffice,
            IconId::Offline,
            IconId::LoggedOut,
            IconId::Unknown,
        ] {
            let image = Image::from_bytes(icon_png(icon)).expect("decodes");
            assert_eq!((image.width(), image.height()), (64, 64), "{icon:?}");
            assert_eq!(image.rgba()[3], 0, "{icon:?}: the corner is transparent");
        }
    }

    #[test]
    fn the_badge_paints_the_bottom_right_corner_only() {
        let mut rgba = vec![0u8; 64 * 64 * 4];
        paint_badge(&mut rgba, 64, 64);
        let pixel = |x: usize, y: usize| &rgba[(y * 64 + x) * 4..(y * 64 + x) * 4 + 4];
        assert_eq!(pixel(50, 50), [0xff, 0x8c, 0x00, 0xff]);
        assert_eq!(pixel(10, 10), [0, 0, 0, 0]);
        assert_eq!(pixel(50, 10), [0, 0, 0, 0]);
    }

    #[test]
    fn an_unconnected_app_shows_a_badge_and_says_why_in_the_menu() {
        let handle = presence_sync::cannot_start("cannot sign in".into());
        let snapshot = handle.snapshots().borrow().clone();
        let model = TrayModel::from_snapshot(&snapshot, false);
        assert!(model.badge);
        assert_eq!(model.status_line, "Not running");
        assert_eq!(
            model.link_lines,
            [
                "cannot sign in",
                "Teams: disconnected, not running",
                "Salesforce: disconnected, not running",
            ]
        );
        assert!(
            model.choices.is_empty(),
            "nothing offered that cannot be done"
        );
        assert!(!model.status_line.is_empty());
    }

    #[test]
    fn ampersands_stay_text_in_menus() {
        assert_eq!(menu_text("Lunch & Learn"), "Lunch && Learn");
    }
}
