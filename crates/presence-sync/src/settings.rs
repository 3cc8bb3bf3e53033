//! Settings: the defaults are a checked-in file embedded in the binary; the user's file is
//! merged over them, key by key. Unknown keys are refused with their name, endpoints are
//! limited to the real clouds' hosts over HTTPS, and only the emulator, when chosen explicitly,
//! may be plain HTTP on loopback.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

pub const DEFAULTS: &str = include_str!("../defaults/settings.toml");

/// Whether a settings file is this user's to trust: not writable by group or others, and
/// owned by this user or by root. Another user who owns it could point the app at their own
/// endpoints (reliability row B2).
#[cfg(unix)]
fn private_to_this_user(metadata: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err("writable by others; make it private (chmod 600)".into());
    }
    let owner = metadata.uid();
    if owner != 0 && owner != rustix::process::geteuid().as_raw() {
        return Err(format!(
            "owned by another user (uid {owner}); it must be yours or root's"
        ));
    }
    Ok(())
}

/// Where the desktop app looks for the user's file: `presence-bridge/settings.toml` in the
/// user's configuration folder ([`crate::places::config_home`]).
pub fn default_path() -> Option<PathBuf> {
    crate::places::config_home()
        .map(|dir| dir.join(crate::places::APP_FOLDER).join("settings.toml"))
}

/// An emulator address taken from the environment (`PRESENCE_BRIDGE_EMULATOR`): only a
/// loopback `http://` one (127.0.0.1, ::1 or localhost) is honoured, as the demo's emulator
/// never runs elsewhere. Anything else would let whoever sets the environment point the app's
/// sign-in and data at a server of their choosing, so it is refused with the reason.
pub fn loopback_emulator_url(text: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "PRESENCE_BRIDGE_EMULATOR is refused: {why} (it must be a loopback http:// address such as http://127.0.0.1:8787)"
        ))
    };
    let Ok(url) = url::Url::parse(text.trim()) else {
        return refuse(&format!("{:?} is not an address", text.trim()));
    };
    if url.scheme() != "http" {
        return refuse(&format!("{} is not http://", url.scheme()));
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if !loopback {
        return refuse(&format!(
            "{} is not this machine",
            url.host_str().unwrap_or("no host")
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("it carries credentials");
    }
    Ok(text.trim().trim_end_matches('/').to_string())
}

/// Largest settings file read.
pub const MAX_SETTINGS_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub teams: TeamsSettings,
    pub salesforce: SalesforceSettings,
    pub sign_in: SignInSettings,
    #[serde(default)]
    pub emulator: Option<EmulatorSettings>,
    /// The desktop app's own updates; absent (the default), the app never looks for one and
    /// is updated as it was installed (IT's package deployment).
    #[serde(default)]
    pub updates: Option<UpdateSettings>,
}

/// Where the desktop app reads its update manifest (Tauri's `latest.json`). Whatever the
/// manifest names is installed only when its signature is by the key built into the app, so
/// the address decides where updates come from, never what is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// `https://…`, or `http://` on loopback (a local mirror, a test).
    pub manifest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    pub login_base: String,
    pub graph_base: String,
    pub tenant: String,
    pub client_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSettings {
    pub login_host: String,
    pub client_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignInFlow {
    Browser,
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSettings {
    pub flow: SignInFlow,
}

/// Run against the built-in emulator instead of the real clouds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorSettings {
    pub url: String,
    pub user: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{path}: {problem}")]
    File { path: String, problem: String },
    #[error("settings: {0}")]
    Invalid(String),
}

const GRAPH_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];
const LOGIN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
];

fn salesforce_host_allowed(host: &str) -> bool {
    host == "login.salesforce.com"
        || host == "test.salesforce.com"
        || (host.ends_with(".my.salesforce.com") && host.len() > ".my.salesforce.com".len())
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(base), toml::Value::Table(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

impl Settings {
    /// The embedded defaults alone.
    pub fn defaults() -> Result<Self, SettingsError> {
        Self::from_layers(None)
    }

    /// The defaults with `user` (TOML text) merged over them, validated.
    pub fn from_layers(user: Option<&str>) -> Result<Self, SettingsError> {
        let mut merged: toml::Value = toml::from_str(DEFAULTS)
            .map_err(|e| SettingsError::Invalid(format!("embedded defaults: {e}")))?;
        if let Some(text) = user {
            let layer: toml::Value =
                toml::from_str(text).map_err(|e| SettingsError::Invalid(e.to_string()))?;
            merge(&mut merged, layer);
        }
        let settings: Settings = merged
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError::Invalid(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads the user's file over the defaults. Refused, with the reason: anything but a
    /// regular file (a FIFO would block the read, a device could be endless), a file larger
    /// than [`MAX_SETTINGS_BYTES`] (also if it grows while read), and on Unix a file others
    /// may write or that belongs to another user (root's, as IT deploys it, is taken). A
    /// symlink is followed and its target judged.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        use std::io::Read as _;
        let file_error = |problem: String| SettingsError::File {
            path: path.display().to_string(),
            problem,
        };
        let too_large = || file_error(format!("larger than {MAX_SETTINGS_BYTES} bytes"));
        let metadata = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
        if !metadata.is_file() {
            return Err(file_error("not a regular file".into()));
        }
        if metadata.len() > MAX_SETTINGS_BYTES {
            return Err(too_large());
        }
        #[cfg(unix)]
        private_to_this_user(&metadata).map_err(file_error)?;
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_SETTINGS_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| file_error(e.to_string()))?;
        if text.len() as u64 > MAX_SETTINGS_BYTES {
            return Err(too_large());
        }
        Self::from_layers(Some(&text)).map_err(|error| match error {
            SettingsError::Invalid(problem) => file_error(problem),
            other => other,
        })
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(updates) = &self.updates {
            let url = url::Url::parse(&updates.manifest)
                .map_err(|e| SettingsError::Invalid(format!("updates.manifest: {e}")))?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
                return Err(SettingsError::Invalid(format!(
                    "updates.manifest must use https:// (plain http:// only on loopback), got {}",
                    updates.manifest
                )));
            }
        }
        if let Some(emulator) = &self.emulator {
            let url = url::Url::parse(&emulator.url)
                .map_err(|e| SettingsError::Invalid(format!("emulator.url: {e}")))?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
            if url.scheme() != "http" || !loopback {
                return Err(SettingsError::Invalid(
                    "emulator.url must be http:// on loopback (127.0.0.1 or localhost)".into(),
                ));
            }
            if emulator.user.trim().is_empty() {
                return Err(SettingsError::Invalid(
                    "emulator.user must name an agent".into(),
                ));
            }
            return Ok(());
        }
        let https_host = |key: &str, value: &str| -> Result<String, SettingsError> {
            let url = url::Url::parse(value)
                .map_err(|e| SettingsError::Invalid(format!("{key}: {e}")))?;
            if url.scheme() != "https" {
                return Err(SettingsError::Invalid(format!(
                    "{key} must use https://, got {value}"
                )));
            }
            Ok(url.host_str().unwrap_or("").to_ascii_lowercase())
        };
        let graph = https_host("teams.graph_base", &self.teams.graph_base)?;
        if !GRAPH_HOSTS.contains(&graph.as_str()) {
            return Err(SettingsError::Invalid(format!(
                "teams.graph_base: {graph} is not a Microsoft Graph host"
            )));
        }
        let login = https_host("teams.login_base", &self.teams.login_base)?;
        if !LOGIN_HOSTS.contains(&login.as_str()) {
            return Err(SettingsError::Invalid(format!(
                "teams.login_base: {login} is not an Entra ID host"
            )));
        }
        let salesforce = https_host("salesforce.login_host", &self.salesforce.login_host)?;
        if !salesforce_host_allowed(&salesforce) {
            return Err(SettingsError::Invalid(format!(
                "salesforce.login_host: {salesforce} is not login.salesforce.com, test.salesforce.com or a My Domain (*.my.salesforce.com)"
            )));
        }
        let tenant = self.teams.tenant.trim().to_ascii_lowercase();
        if tenant.is_empty() || tenant == "common" || tenant == "consumers" {
            return Err(SettingsError::Invalid(
                "teams.tenant must be \"organizations\" or the tenant id (presence needs work or school accounts)".into(),
            ));
        }
        for (key, value) in [
            ("teams.client_id", &self.teams.client_id),
            ("salesforce.client_id", &self.salesforce.client_id),
        ] {
            if value.trim().is_empty() {
                return Err(SettingsError::Invalid(format!(
                    "{key} is not set: the app registration's client id is needed"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_http_emulator_is_taken_from_the_environment() {
        for good in [
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/",
            "http://[::1]:9000",
            "http://localhost:8787",
        ] {
            assert!(loopback_emulator_url(good).is_ok(), "{good}");
        }
        assert_eq!(
            loopback_emulator_url(" http://127.0.0.1:1/ ").as_deref(),
            Ok("http://127.0.0.1:1")
        );
        for (bad, why) in [
            ("https://127.0.0.1:8787", "not http://"),
            ("http://login.example.com", "not this machine"),
            ("http://10.0.0.5:8787", "not this machine"),
            ("http://127.0.0.1.evil.example", "not this machine"),
            ("http://user:pw@127.0.0.1:8787", "credentials"),
            ("127.0.0.1:8787", "not an address"),
            ("not a url", "not an address"),
        ] {
            let refused = loopback_emulator_url(bad).expect_err(bad);
            assert!(
                refused.contains(why) && refused.contains("PRESENCE_BRIDGE_EMULATOR"),
                "{bad}: {refused}"
            );
        }
    }

    const GOOD: &str = r#"
        [teams]
        tenant = "0b7f0b3e-1111-2222-3333-444455556666"
        client_id = "11111111-2222-3333-4444-555555555555"
        [salesforce]
        login_host = "https://acme.my.salesforce.com"
        client_id = "3MVG9.consumer.key"
    "#;

    #[test]
    fn updates_are_off_unless_named_and_only_from_https_or_loopback() {
        assert_eq!(
            Settings::from_layers(Some(GOOD)).expect("valid").updates,
            None
        );
        for good in [
            "https://updates.example.com/presence-bridge/latest.json",
            "http://127.0.0.1:8080/latest.json",
        ] {
            let text = format!("{GOOD}\n[updates]\nmanifest = \"{good}\"\n");
            let settings = Settings::from_layers(Some(&text)).expect(good);
            assert_eq!(settings.updates.map(|u| u.manifest).as_deref(), Some(good));
        }
        for bad in [
            "http://updates.example.com/latest.json",
            "ftp://127.0.0.1/latest.json",
            "latest.json",
        ] {
            let text = format!("{GOOD}\n[updates]\nmanifest = \"{bad}\"\n");
            let refused = Settings::from_layers(Some(&text)).expect_err(bad);
            assert!(
                refused.to_string().contains("updates.manifest"),
                "{bad}: {refused}"
            );
        }
        let unknown =
            format!("{GOOD}\n[updates]\nmanifest = \"https://u.example/l.json\"\nauto = true\n");
        assert!(Settings::from_layers(Some(&unknown)).is_err());
    }

    #[test]
    fn the_user_file_is_merged_over_the_embedded_defaults() {
        let settings = Settings::from_layers(Some(GOOD)).expect("valid");
        assert_eq!(
            settings.teams.graph_base, "https://graph.microsoft.com",
            "from the defaults"
        );
        assert_eq!(
            settings.salesforce.login_host, "https://acme.my.salesforce.com",
            "from the user"
        );
        assert_eq!(settings.sign_in.flow, SignInFlow::Browser);
    }

    #[test]
    fn bad_settings_are_refused_with_a_message_naming_the_key() {
        let cases = [
            (format!("{GOOD}\n[teams.extra]\nx = 1"), "unknown field"),
            (
                GOOD.replace("[salesforce]", "[salesforce]\ncolour = \"red\""),
                "unknown field `colour`",
            ),
            (
                GOOD.replace("0b7f0b3e-1111-2222-3333-444455556666", "common"),
                "teams.tenant",
            ),
            (
                GOOD.replace(
                    "https://acme.my.salesforce.com",
                    "http://acme.my.salesforce.com",
                ),
                "https",
            ),
            (
                GOOD.replace("https://acme.my.salesforce.com", "https://evil.example.com"),
                "My Domain",
            ),
            (
                format!("{GOOD}\n[sign_in]\nflow = \"carrier-pigeon\""),
                "unknown variant",
            ),
            (
                GOOD.replace("3MVG9.consumer.key", ""),
                "salesforce.client_id",
            ),
            (
                format!("{GOOD}\n[emulator]\nurl = \"http://10.0.0.5:8787\"\nuser = \"ada\""),
                "loopback",
            ),
            ("[teams\nbroken".to_string(), "expected"),
        ];
        for (text, expected) in cases {
            let error = Settings::from_layers(Some(&text))
                .expect_err(expected)
                .to_string();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
        let graph = format!("{GOOD}\n").replace(
            "[teams]",
            "[teams]\ngraph_base = \"https://graph.evil.example\"",
        );
        assert!(Settings::from_layers(Some(&graph))
            .expect_err("host")
            .to_string()
            .contains("not a Microsoft Graph host"));
    }

    #[test]
    fn the_emulator_is_allowed_only_when_chosen_explicitly_and_on_loopback() {
        let settings = Settings::from_layers(Some(
            "[emulator]\nurl = \"http://127.0.0.1:8787\"\nuser = \"ada\"",
        ))
        .expect("valid");
        assert_eq!(settings.emulator.map(|e| e.user), Some("ada".into()));
        assert!(
            Settings::defaults().is_err(),
            "the defaults alone lack the client ids"
        );
    }

    #[test]
    fn world_writable_or_huge_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("pb-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("settings.toml");
        std::fs::write(&path, GOOD).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
            assert!(Settings::load(&path)
                .expect_err("writable")
                .to_string()
                .contains("writable by others"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        assert!(Settings::load(&path).is_ok());
        std::fs::write(&path, "#".repeat(70_000)).expect("write");
        assert!(Settings::load(&path)
            .expect_err("huge")
            .to_string()
            .contains("larger than"));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Row B2: a settings path that is a link, a directory, a FIFO, a device, or another
    /// user's file.
    #[cfg(unix)]
    #[test]
    fn links_are_judged_by_their_target_and_odd_or_foreign_files_are_refused() {
        use std::os::unix::fs::{symlink, PermissionsExt as _};
        let dir = std::env::temp_dir().join(format!("pb-settings-b2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let refused = |path: &Path, reason: &str| {
            let error = Settings::load(path).expect_err(reason).to_string();
            assert!(
                error.contains(reason) && error.contains(&path.display().to_string()),
                "{path:?}: {error}"
            );
        };
        let own = dir.join("own.toml");
        std::fs::write(&own, GOOD).expect("write");
        std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let link = dir.join("link.toml");
        symlink(&own, &link).expect("symlink");
        assert!(
            Settings::load(&link).is_ok(),
            "a link to the user's own file"
        );

        let shared = dir.join("shared.toml");
        std::fs::write(&shared, GOOD).expect("write");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let to_shared = dir.join("to-shared.toml");
        symlink(&shared, &to_shared).expect("symlink");
        refused(&to_shared, "writable by others");

        let dangling = dir.join("dangling.toml");
        symlink(dir.join("gone.toml"), &dangling).expect("symlink");
        refused(&dangling, "No such file");
        refused(&dir, "not a regular file");
        let to_device = dir.join("device.toml");
        symlink("/dev/zero", &to_device).expect("symlink");
        refused(&to_device, "not a regular file");
        let fifo = dir.join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success(), "mkfifo");
        refused(&fifo, "not a regular file");

        // Another user's file, private to them: only root can make one here.
        let theirs = dir.join("theirs.toml");
        std::fs::write(&theirs, GOOD).expect("write");
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&theirs, Some(4321), Some(4321)).expect("chown");
            refused(&theirs, "owned by another user (uid 4321)");
            std::os::unix::fs::chown(&theirs, Some(0), Some(0)).expect("chown");
            assert!(
                Settings::load(&theirs).is_ok(),
                "root's file, as IT deploys it"
            );
        } else {
            eprintln!("not root: a file of another user cannot be made; its refusal is untested");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
