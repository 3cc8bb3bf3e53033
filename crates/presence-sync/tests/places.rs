//! The platform folders seam (`presence_sync::places`) on Linux, in a process of its own: the
//! test sets the environment, which no other test may read meanwhile.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use presence_sync::places::{config_home, data_dir, log_dir};

/// One test, since the environment is the process's: XDG variables win, empty or relative
/// ones fall back to `$HOME`'s folders.
#[test]
fn xdg_folders_are_honoured_and_bad_values_fall_back_to_home() {
    let saved: Vec<_> = ["HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"]
        .into_iter()
        .map(|name| (name, std::env::var_os(name)))
        .collect();
    std::env::set_var("HOME", "/home/ada");
    std::env::set_var("XDG_CONFIG_HOME", "/cfg");
    std::env::set_var("XDG_DATA_HOME", "/data");
    std::env::set_var("XDG_STATE_HOME", "/state");
    assert_eq!(config_home(), Some(PathBuf::from("/cfg")));
    assert_eq!(data_dir(), Some(PathBuf::from("/data/presence-bridge")));
    assert_eq!(
        log_dir(),
        Some(PathBuf::from("/state/presence-bridge/logs"))
    );
    std::env::set_var("XDG_CONFIG_HOME", "");
    std::env::set_var("XDG_DATA_HOME", "relative/data");
    std::env::remove_var("XDG_STATE_HOME");
    assert_eq!(config_home(), Some(PathBuf::from("/home/ada/.config")));
    assert_eq!(
        data_dir(),
        Some(PathBuf::from("/home/ada/.local/share/presence-bridge"))
    );
    assert_eq!(
        log_dir(),
        Some(PathBuf::from("/home/ada/.local/state/presence-bridge/logs"))
    );
    for (name, value) in saved {
        match value {
            Some(value) => std::env::set_var(name, value),
            None => std::env::remove_var(name),
        }
    }
}
