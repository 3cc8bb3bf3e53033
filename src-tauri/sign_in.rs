//! Where the desktop signs in, and how a sign-in prompt reaches the agent.
//!
//! `PRESENCE_BRIDGE_EMULATOR` (what `make run` sets) chooses the built-in emulator, as
//! `PRESENCE_BRIDGE_USER` (default `ada`); only a loopback `http://` address is taken. Otherwise the settings file does
//! (`PRESENCE_BRIDGE_CONFIG`, default `$XDG_CONFIG_HOME/presence-bridge/settings.toml`), the
//! same file `presence-agent --config` reads: it names the tenant, the client ids and the
//! Salesforce login host, or an `[emulator]`. A browser sign-in opens the system browser; the
//! address is also shown in the panel and the tray menu, as is a device code.

use std::path::PathBuf;

use presence_sync::settings::{self, Settings};
use presence_sync::{SignInPrompt, SignInTarget};

/// The sign-in target this desktop is set up for, or what to do to set it up.
pub fn target() -> Result<SignInTarget, String> {
    if let Ok(text) = std::env::var("PRESENCE_BRIDGE_EMULATOR") {
        // Only a loopback http:// address: the environment must not be able to send the
        // agent's sign-in elsewhere. A refused one stops the start with the reason.
        let url = settings::loopback_emulator_url(&text)?;
        let user = std::env::var("PRESENCE_BRIDGE_USER").unwrap_or_else(|_| "ada".into());
        return Ok(SignInTarget::Emulator { url, user });
    }
    let path = std::env::var_os("PRESENCE_BRIDGE_CONFIG")
        .map(PathBuf::from)
        .or_else(settings::default_path)
        .ok_or("not set up: neither HOME nor PRESENCE_BRIDGE_CONFIG says where the settings are")?;
    if !path.exists() {
        return Err(format!(
            "not set up: write {} naming your Microsoft 365 tenant and Salesforce org (see the \
             README), or run `make run` for the demo",
            path.display()
        ));
    }
    Settings::load(&path)
        .map(SignInTarget::from_settings)
        .map_err(|error| error.to_string())
}

/// Where the settings file says to look for the app's updates, if it turns them on. Not with
/// `PRESENCE_BRIDGE_EMULATOR` (the demo); a file that cannot be read says so through
/// [`target`] already.
pub fn update_manifest() -> Option<String> {
    if std::env::var_os("PRESENCE_BRIDGE_EMULATOR").is_some() {
        return None;
    }
    let path = std::env::var_os("PRESENCE_BRIDGE_CONFIG")
        .map(PathBuf::from)
        .or_else(settings::default_path)?;
    let settings = Settings::load(&path).ok()?;
    settings.updates.map(|updates| updates.manifest)
}

/// Opens a browser sign-in's address in the system browser. The address is one argument, never
/// read by a shell.
pub fn open_browser(prompt: &SignInPrompt) {
    let SignInPrompt::Browser { url, .. } = prompt else {
        return;
    };
    if let Err(error) = crate::system::open(url) {
        tracing::warn!(
            "the browser could not be opened ({error}); open the address shown in the panel"
        );
    }
}
