//! What the app hands to the desktop: an address or a folder opened with the system's own
//! handler (the browser, the file manager). The target is one argument, never read by a shell.

use std::ffi::OsStr;

#[cfg(all(unix, not(target_os = "macos")))]
const OPENER: &str = "xdg-open";
#[cfg(target_os = "macos")]
const OPENER: &str = "open";
#[cfg(windows)]
const OPENER: &str = "explorer";

/// Opens `target` as the desktop would on a double-click; the error names the opener.
pub fn open(target: impl AsRef<OsStr>) -> Result<(), String> {
    std::process::Command::new(OPENER)
        .arg(target)
        .spawn()
        .map(drop)
        .map_err(|error| format!("{OPENER}: {error}"))
}
