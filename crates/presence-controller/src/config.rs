//! The controller's settings: one tenant and one org. A TOML file (see `demo.toml` and the
//! crate's README); secrets may come from the environment instead of the file.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} is not valid controller settings: {error}")]
    Parse { path: String, error: String },
    #[error("{0}")]
    Invalid(String),
}

/// Microsoft's side: the bot's Entra app (application permissions, client credentials).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// `https://login.microsoftonline.com`.
    #[serde(default = "login_base")]
    pub login_base: String,
    /// `https://graph.microsoft.com`.
    #[serde(default = "graph_base")]
    pub graph_base: String,
    /// The tenant id (client credentials need the tenant, not `organizations`).
    pub tenant: String,
    /// The bot's Microsoft App ID.
    pub app_id: String,
    /// The app's client secret; `PRESENCE_CONTROLLER_GRAPH_SECRET` overrides it.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Where the calling service publishes the keys its webhook tokens are signed with.
    #[serde(default = "calling_openid")]
    pub calling_openid: String,
}

/// Salesforce's side: a connected app whose client-credentials flow runs as an integration
/// user with the `Presence_Bridge_Admin` permission set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSettings {
    /// The org's My Domain (`https://example.my.salesforce.com`).
    pub my_domain: String,
    pub client_id: String,
    /// `PRESENCE_CONTROLLER_SALESFORCE_SECRET` overrides it.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// The demo's settings file, as shipped beside the crate.
pub const DEMO: &str = include_str!("../demo.toml");

/// The calling webhook this controller serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// Address to listen on (behind the HTTPS front that Azure reaches).
    #[serde(default = "listen")]
    pub listen: String,
    /// The public URL of the webhook as set on the Azure Bot's Calling tab; each call's
    /// `callbackUri` is this URL (notifications of a call come back to it). Default: the
    /// address listened on (`http://…/api/calling`), for loopback demos and tests only.
    #[serde(default)]
    pub public_url: Option<String>,
    /// This instance's name, put in each call's `callbackUri` (`{public_url}/{instance}`) so
    /// that a front door can route a call's notifications to the instance that owns it.
    #[serde(default = "instance")]
    pub instance: String,
    /// HTTPS served by the controller itself; without it the webhook is plain HTTP, for a
    /// TLS-terminating front (Azure Application Gateway, a reverse proxy) or loopback tests.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

/// The webhook's certificate: PEM files (the chain and its private key), or, for demos on
/// loopback, one made at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain, PEM (the server's certificate first).
    #[serde(default)]
    pub cert: Option<std::path::PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: Option<std::path::PathBuf>,
    /// Make a certificate for 127.0.0.1, ::1 and localhost at start, and write it (PEM) to
    /// `<store>.webhook.pem` for the caller to trust (the demo's emulator does).
    #[serde(default)]
    pub self_signed: bool,
}

/// Where the live calls are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// The SQLite file of live calls (created if missing).
    pub path: std::path::PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: "presence-controller.sqlite".into(),
        }
    }
}

/// Timers of a call (the Call Center's own settings are read from Salesforce).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallSettings {
    /// How long the agent's app has to say Signalled or NotSignalled.
    pub offer_timeout_s: u64,
    /// How long a signalled call rings in the app.
    pub ring_timeout_s: u64,
    /// An agent whose app's heartbeat is older than this is treated as logged out (L7).
    pub heartbeat_timeout_s: u64,
    /// How long the agent's Teams rings when a call is redirected to it (15 to 90).
    pub redirect_timeout_s: u64,
    /// What the caller hears while the app rings (service-hosted media: an HTTPS .wav).
    pub ringback_prompt: String,
    /// What a caller hears before an unanswered call ends, when the Call Center's rule is
    /// EndWithPrompt and its `End_Prompt_Url__c` is empty.
    pub closing_prompt: String,
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            offer_timeout_s: 5,
            ring_timeout_s: 20,
            heartbeat_timeout_s: 120,
            redirect_timeout_s: 30,
            ringback_prompt: "https://presence-bridge.example/media/ringback.wav".into(),
            closing_prompt: "https://presence-bridge.example/media/closing.wav".into(),
        }
    }
}

impl CallSettings {
    pub fn offer_timeout(&self) -> Duration {
        Duration::from_secs(self.offer_timeout_s)
    }

    pub fn ring_timeout(&self) -> Duration {
        Duration::from_secs(self.ring_timeout_s)
    }
}

/// A number the bot owns (a resource account) and whose calls it routes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The resource account's object id (`applicationInstance.id` in notifications).
    pub resource_account: String,
    /// The agent whose direct number it is: their UPN in Entra.
    pub agent: String,
    /// The number (E.164), for the records and logs (`To_Number__c`, the Task's number).
    #[serde(default)]
    pub number: Option<String>,
    /// Their Salesforce username, when it is not the UPN.
    #[serde(default)]
    pub salesforce_username: Option<String>,
}

/// A queue's number (a resource account) and the agents its calls are offered to (C5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSettings {
    pub resource_account: String,
    #[serde(default)]
    pub number: Option<String>,
    /// The agents' UPNs; each call goes to the eligible ones one at a time, longest idle first.
    pub agents: Vec<String>,
    /// Where a call goes once no agent is left (a user's UPN: their Teams rules apply); without
    /// one, the call is turned away (or hung up once answered).
    #[serde(default)]
    pub overflow: Option<String>,
}

/// Everything the controller runs with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub graph: GraphSettings,
    pub salesforce: SalesforceSettings,
    pub webhook: WebhookSettings,
    #[serde(default)]
    pub calls: CallSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub queues: Vec<QueueSettings>,
}

fn login_base() -> String {
    "https://login.microsoftonline.com".into()
}
fn graph_base() -> String {
    "https://graph.microsoft.com".into()
}
fn calling_openid() -> String {
    "https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration".into()
}
fn instance() -> String {
    "1".into()
}
fn listen() -> String {
    "127.0.0.1:9441".into()
}

impl Settings {
    /// Reads and checks a settings file; secrets from the environment win over the file's.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: shown.clone(),
            error,
        })?;
        let mut settings = Self::parse(&text).map_err(|error| match error {
            ConfigError::Parse { error, .. } => ConfigError::Parse { path: shown, error },
            other => other,
        })?;
        if let Ok(secret) = std::env::var("PRESENCE_CONTROLLER_GRAPH_SECRET") {
            settings.graph.client_secret = Some(secret);
        }
        if let Ok(secret) = std::env::var("PRESENCE_CONTROLLER_SALESFORCE_SECRET") {
            settings.salesforce.client_secret = Some(secret);
        }
        settings.check()?;
        Ok(settings)
    }

    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Parse {
            path: "the settings".into(),
            error: error.to_string(),
        })
    }

    /// Points every cloud at one emulator (`presence-emulator`), as the demo and tests run.
    /// The demo settings (`demo.toml`: the emulator's demo tenant and org, HTTPS with a
    /// self-signed certificate) pointed at the emulator at `base`, listening on a free
    /// loopback port and keeping its live calls in `store`: what `make run` starts, and what
    /// every end-to-end test of the product runs.
    pub fn demo(base: &str, store: &Path) -> Result<Self, ConfigError> {
        let mut settings =
            Self::parse(&DEMO.replace("127.0.0.1:9441", "127.0.0.1:0"))?.at_emulator(base);
        settings.store.path = store.to_path_buf();
        settings.check()?;
        Ok(settings)
    }

    pub fn at_emulator(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/').to_string();
        self.graph.login_base = base.clone();
        self.graph.graph_base = base.clone();
        self.graph.calling_openid = format!("{base}/v1/.well-known/OpenIdConfiguration");
        self.salesforce.my_domain = base;
        self
    }

    /// What cannot work, said before anything starts.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |what: String| Err(ConfigError::Invalid(what));
        if self
            .graph
            .client_secret
            .as_deref()
            .is_none_or(str::is_empty)
        {
            return invalid(
                "graph.client_secret (or PRESENCE_CONTROLLER_GRAPH_SECRET) is needed".into(),
            );
        }
        if self
            .salesforce
            .client_secret
            .as_deref()
            .is_none_or(str::is_empty)
        {
            return invalid(
                "salesforce.client_secret (or PRESENCE_CONTROLLER_SALESFORCE_SECRET) is needed"
                    .into(),
            );
        }
        for (what, url) in [
            ("graph.login_base", &self.graph.login_base),
            ("graph.graph_base", &self.graph.graph_base),
            ("graph.calling_openid", &self.graph.calling_openid),
            ("salesforce.my_domain", &self.salesforce.my_domain),
        ] {
            if url::Url::parse(url).is_err() {
                return invalid(format!("{what} is not a URL: {url:?}"));
            }
        }
        if let Some(tls) = &self.webhook.tls {
            match (&tls.cert, &tls.key, tls.self_signed) {
                (Some(_), Some(_), false) | (None, None, true) => {}
                _ => {
                    return invalid(
                        "webhook.tls takes cert and key (PEM files), or self_signed = true".into(),
                    )
                }
            }
        }
        if let Some(url) = &self.webhook.public_url {
            if url::Url::parse(url).is_err() {
                return invalid(format!("webhook.public_url is not a URL: {url:?}"));
            }
        }
        if self.webhook.instance.is_empty()
            || !self
                .webhook
                .instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return invalid(format!(
                "webhook.instance must be letters, digits and '-': {:?}",
                self.webhook.instance
            ));
        }
        if !(15..=90).contains(&self.calls.redirect_timeout_s) {
            return invalid(
                "calls.redirect_timeout_s must be between 15 and 90 (Graph's range)".into(),
            );
        }
        if self.calls.offer_timeout_s == 0 || self.calls.offer_timeout_s > 10 {
            return invalid(
                "calls.offer_timeout_s must be 1 to 10: the caller waits, and Teams gives up on a bot at 15 s".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        let accounts = self.lines.iter().map(|l| &l.resource_account);
        for account in accounts.chain(self.queues.iter().map(|q| &q.resource_account)) {
            if !seen.insert(account.to_ascii_lowercase()) {
                return invalid(format!(
                    "resource account {account} is listed twice in [[lines]] and [[queues]]"
                ));
            }
        }
        if let Some(queue) = self.queues.iter().find(|q| q.agents.is_empty()) {
            return invalid(format!("queue {} has no agents", queue.resource_account));
        }
        Ok(())
    }
}
