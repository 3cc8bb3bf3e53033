//! "Start at login": an XDG autostart entry (`$XDG_CONFIG_HOME/autostart/presence-bridge.desktop`)
//! that desktop sessions (GNOME, KDE, Xfce, …) read at login. Off until the agent turns it on
//! from the tray menu; on, the entry starts this very binary.

use std::path::{Path, PathBuf};

const FILE_NAME: &str = "presence-bridge.desktop";

/// The autostart folder: `autostart` in the user's configuration folder.
pub fn folder() -> Option<PathBuf> {
    presence_sync::settings::config_home().map(|dir| dir.join("autostart"))
}

/// Whether the app starts at login.
pub fn enabled() -> bool {
    folder().is_some_and(|folder| folder.join(FILE_NAME).exists())
}

/// Turns starting at login on or off.
pub fn set(on: bool) -> Result<(), String> {
    let folder = folder().ok_or("neither XDG_CONFIG_HOME nor HOME is set")?;
    let exe = std::env::current_exe().map_err(|error| format!("where am I? {error}"))?;
    set_in(&folder, &exe, on).map_err(|error| format!("{}: {error}", folder.display()))
}

/// [`set`] for a chosen folder and binary.
pub fn set_in(folder: &Path, exe: &Path, on: bool) -> std::io::Result<()> {
    let path = folder.join(FILE_NAME);
    if on {
        std::fs::create_dir_all(folder)?;
        std::fs::write(path, desktop_entry(exe))
    } else {
        match std::fs::remove_file(path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// The desktop entry that starts `exe`.
pub fn desktop_entry(exe: &Path) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Presence Bridge\n\
         Comment=Keeps your presence in sync between Salesforce and Microsoft Teams\n\
         Exec={}\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        exec_argument(&exe.to_string_lossy())
    )
}

/// A path as one `Exec` argument: quoted, with `"`, `` ` ``, `$` and `\` escaped (Desktop Entry
/// Specification, "The Exec key"); a `%` is doubled so that it is not a field code.
fn exec_argument(path: &str) -> String {
    let mut quoted = String::from("\"");
    for ch in path.chars() {
        match ch {
            '"' | '`' | '$' | '\\' => {
                quoted.push('\\');
                quoted.push(ch);
            }
            '%' => quoted.push_str("%%"),
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_starts_this_binary_quoted() {
        let entry = desktop_entry(Path::new("/opt/Presence Bridge/presence-bridge"));
        assert!(entry.starts_with("[Desktop Entry]\nType=Application\n"));
        assert!(entry.contains("\nExec=\"/opt/Presence Bridge/presence-bridge\"\n"));
        assert_eq!(exec_argument(r#"/a"b`c$d\e%f"#), r#""/a\"b\`c\$d\\e%%f""#);
    }

    #[test]
    fn turning_it_on_writes_the_entry_and_off_removes_it() {
        let folder = std::env::temp_dir().join(format!("pb-autostart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        let exe = Path::new("/usr/bin/presence-bridge");
        set_in(&folder, exe, true).expect("on");
        let written = std::fs::read_to_string(folder.join(FILE_NAME)).expect("entry");
        assert_eq!(written, desktop_entry(exe));
        set_in(&folder, exe, false).expect("off");
        assert!(!folder.join(FILE_NAME).exists());
        set_in(&folder, exe, false).expect("off twice is fine");
        let _ = std::fs::remove_dir_all(&folder);
    }
}
