//! Signing an agent in: to the emulator without a browser, or to the clouds a settings file
//! names (silently from a kept refresh token, else in the browser or with a device code), and
//! waiting for the network when it is not there. [`crate::start`] runs it for every sync (the
//! desktop app, `presence-agent`, the tests, the benchmark), which differ only in how they show
//! a [`SignInPrompt`].

use std::sync::Arc;

use presence_core::Link;

use crate::error::SyncError;
use crate::handle::Connectors;
use crate::start::SyncOptions;
use crate::{auth, graph, outbox, request, salesforce, secrets, settings};

/// The app's client id used against the emulator (any id works there).
pub const EMULATOR_CLIENT_ID: &str = "presence-bridge-emulator";

/// Signs an agent in to both emulated clouds without a browser and builds the connectors.
pub async fn connect_emulator(
    base_url: &str,
    user: &str,
    client_id: &str,
    outbox: Arc<outbox::Outbox>,
) -> Result<Connectors, SyncError> {
    connect_emulator_with(
        base_url,
        user,
        client_id,
        outbox,
        &request::Transport::default(),
    )
    .await
}

/// [`connect_emulator`] with chosen timeouts (and resolver) for the clients.
pub async fn connect_emulator_with(
    base_url: &str,
    user: &str,
    client_id: &str,
    outbox: Arc<outbox::Outbox>,
    transport: &request::Transport,
) -> Result<Connectors, SyncError> {
    let entra = emulator_endpoints(base_url, client_id, presence_core::Link::Teams).over(transport);
    let graph_tokens = Arc::new(auth::TokenSource::sign_in_auto_approved(entra, user).await?);
    let salesforce =
        emulator_endpoints(base_url, client_id, presence_core::Link::Salesforce).over(transport);
    let salesforce_tokens =
        Arc::new(auth::TokenSource::sign_in_auto_approved(salesforce, user).await?);
    let graph = graph::GraphClient::with_transport(base_url, graph_tokens, client_id, transport)?;
    let salesforce =
        salesforce::SalesforceClient::connect_with(salesforce_tokens, transport).await?;
    Ok(Connectors {
        graph: Arc::new(graph),
        salesforce: Arc::new(salesforce),
        outbox,
    })
}

/// What the agent must do to sign in interactively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInPrompt {
    /// Open `url` in the system browser (authorization code with PKCE; the answer comes back
    /// to a listener on 127.0.0.1).
    Browser { link: Link, url: String },
    /// Open `uri` on any device and enter `code`.
    DeviceCode {
        link: Link,
        uri: String,
        code: String,
    },
}

impl SignInPrompt {
    /// The cloud the agent is asked to sign in to.
    pub fn link(&self) -> Link {
        match self {
            SignInPrompt::Browser { link, .. } | SignInPrompt::DeviceCode { link, .. } => *link,
        }
    }
}

impl std::fmt::Display for SignInPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInPrompt::Browser { link, url } => {
                write!(f, "Sign in to {} in your browser: {url}", link.cloud_name())
            }
            SignInPrompt::DeviceCode { link, uri, code } => {
                let cloud = link.cloud_name();
                write!(f, "Sign in to {cloud}: open {uri} and enter {code}")
            }
        }
    }
}

/// Where an agent's sync signs in.
#[derive(Debug, Clone)]
pub enum SignInTarget {
    /// The emulator, as one of its agents, without a browser.
    Emulator { url: String, user: String },
    /// The real clouds a settings file names.
    Clouds(Box<settings::Settings>),
}

impl SignInTarget {
    /// A settings file's target: its `[emulator]` section if it has one, else its clouds.
    pub fn from_settings(settings: settings::Settings) -> Self {
        match &settings.emulator {
            Some(emulator) => SignInTarget::Emulator {
                url: emulator.url.clone(),
                user: emulator.user.clone(),
            },
            None => SignInTarget::Clouds(Box::new(settings)),
        }
    }

    /// The name the agent's data (lock, outbox) is kept under: the emulator agent's name, or
    /// `agent` for the one person signed in to real clouds on this desktop account.
    pub fn agent(&self) -> &str {
        match self {
            SignInTarget::Emulator { user, .. } => user,
            SignInTarget::Clouds(_) => "agent",
        }
    }
}

/// Signs in to `target` and builds the connectors; `secrets` keeps real-cloud refresh tokens.
async fn connect_target(
    target: &SignInTarget,
    client_id: &str,
    secrets: &Arc<dyn secrets::SecretStore>,
    outbox: Arc<outbox::Outbox>,
    transport: &request::Transport,
    prompt: Arc<dyn Fn(SignInPrompt) + Send + Sync>,
) -> Result<Connectors, SyncError> {
    match target {
        SignInTarget::Emulator { url, user } => {
            connect_emulator_with(url, user, client_id, outbox, transport).await
        }
        SignInTarget::Clouds(settings) => {
            let prompt = move |asked| prompt(asked);
            connect_clouds(settings, outbox, secrets.clone(), transport, prompt).await
        }
    }
}

/// Where the sign-ins of `target` keep their refresh tokens: real clouds' in the OS keyring
/// under `keyring_service`, or, when no keyring answers, in memory only, and `warn` is told
/// that the sign-in then lasts only while the process runs; the emulator's in memory.
pub(crate) fn secret_store(
    target: &SignInTarget,
    keyring_service: &str,
    warn: impl Fn(String),
) -> Arc<dyn secrets::SecretStore> {
    match target {
        SignInTarget::Emulator { .. } => Arc::new(secrets::MemoryStore::default()),
        SignInTarget::Clouds(_) => {
            let (store, unavailable) = secrets::keyring_or_memory(keyring_service);
            if let Some(reason) = unavailable {
                warn(format!(
                    "{reason}; this sign-in lasts only while the app runs"
                ));
            }
            store
        }
    }
}

/// Signs in to the options' target, waiting for the network when it is not there (N1): before
/// each wait ([`crate::retry::SIGN_IN`]: about 1 s, growing to a minute, a server's
/// `Retry-After` honoured) `on_offline` hears why and for how long. Refresh tokens are kept in
/// `secrets` ([`secret_store`]). Refusals (a bad client id, a revoked sign-in) end it, and so
/// does any failure once the agent was asked to sign in interactively: that is not repeated
/// behind the agent's back (the start-up offers it to the agent again).
pub(crate) async fn connect_when_online(
    options: &SyncOptions,
    outbox: Arc<outbox::Outbox>,
    secrets: Arc<dyn secrets::SecretStore>,
    prompt: impl Fn(SignInPrompt) + Send + Sync + 'static,
    on_offline: impl Fn(&SyncError, std::time::Duration),
) -> Result<Connectors, SyncError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let SyncOptions {
        target,
        client_id,
        transport,
        ..
    } = options;
    let prompted = Arc::new(AtomicBool::new(false));
    let prompt: Arc<dyn Fn(SignInPrompt) + Send + Sync> = {
        let prompted = prompted.clone();
        Arc::new(move |asked| {
            prompted.store(true, Ordering::SeqCst);
            prompt(asked)
        })
    };
    let mut backoff =
        presence_core::Backoff::new(crate::retry::SIGN_IN, crate::retry::seed(target.agent()));
    loop {
        let attempt = connect_target(
            target,
            client_id,
            &secrets,
            outbox.clone(),
            transport,
            prompt.clone(),
        )
        .await;
        match attempt {
            Err(error)
                if matches!(
                    error.kind(),
                    presence_core::Failure::Offline { .. }
                        | presence_core::Failure::Transient { .. }
                ) && !prompted.load(Ordering::SeqCst) =>
            {
                let gap = backoff.next_delay(&error.kind());
                on_offline(&error, gap);
                tokio::time::sleep(gap).await;
            }
            other => return other,
        }
    }
}

/// Signs in to the real clouds named in `settings` (silently from a refresh token kept in
/// `secrets` when there is a working one, else in the browser or with a device code, as
/// configured) and builds the connectors. `prompt` receives what to show the agent: the browser address, or
/// the device code and where to enter it.
pub async fn connect_clouds(
    settings: &settings::Settings,
    outbox: Arc<outbox::Outbox>,
    secrets: Arc<dyn secrets::SecretStore>,
    transport: &request::Transport,
    prompt: impl Fn(SignInPrompt) + Send + Sync + 'static,
) -> Result<Connectors, SyncError> {
    let prompt = Arc::new(prompt);
    let (entra, teams_account) = cloud_endpoints(settings, presence_core::Link::Teams);
    let (salesforce, salesforce_account) =
        cloud_endpoints(settings, presence_core::Link::Salesforce);
    let (entra, salesforce) = (entra.over(transport), salesforce.over(transport));
    let show = prompt.clone();
    let prompt = move |asked| show(asked);
    // Each cloud on its own, kept as soon as it is signed in: when the second sign-in fails
    // and the agent tries again, the first resumes without asking twice.
    let graph_tokens =
        match auth::TokenSource::resume(entra.clone(), secrets.clone(), &teams_account).await? {
            Some(resumed) => resumed,
            None => {
                interactive_sign_in(settings, presence_core::Link::Teams, transport, &prompt)
                    .await?
            }
        };
    graph_tokens
        .keep_in(secrets.clone(), &teams_account)
        .await?;
    let salesforce_tokens =
        match auth::TokenSource::resume(salesforce.clone(), secrets.clone(), &salesforce_account)
            .await?
        {
            Some(resumed) => resumed,
            None => {
                interactive_sign_in(
                    settings,
                    presence_core::Link::Salesforce,
                    transport,
                    &prompt,
                )
                .await?
            }
        };
    salesforce_tokens
        .keep_in(secrets, &salesforce_account)
        .await?;
    let graph = graph::GraphClient::with_transport(
        &settings.teams.graph_base,
        Arc::new(graph_tokens),
        &settings.teams.client_id,
        transport,
    )?;
    let salesforce =
        salesforce::SalesforceClient::connect_with(Arc::new(salesforce_tokens), transport).await?;
    Ok(Connectors {
        graph: Arc::new(graph),
        salesforce: Arc::new(salesforce),
        outbox,
    })
}

/// A cloud's OAuth endpoints at the emulator (which approves at once and redirects nowhere).
fn emulator_endpoints(
    base_url: &str,
    client_id: &str,
    link: presence_core::Link,
) -> auth::OAuthEndpoints {
    let redirect = "http://127.0.0.1:53682/callback";
    match link {
        presence_core::Link::Teams => {
            auth::OAuthEndpoints::entra(base_url, "organizations", client_id, redirect)
        }
        presence_core::Link::Salesforce => {
            auth::OAuthEndpoints::salesforce(base_url, client_id, redirect)
        }
    }
}

/// A cloud's OAuth endpoints as `settings` name them, and the account its refresh token is
/// kept under. The redirect is a placeholder: the browser sign-in binds its own port.
fn cloud_endpoints(
    settings: &settings::Settings,
    link: presence_core::Link,
) -> (auth::OAuthEndpoints, String) {
    let placeholder = "http://127.0.0.1/callback";
    match link {
        presence_core::Link::Teams => (
            auth::OAuthEndpoints::entra(
                &settings.teams.login_base,
                &settings.teams.tenant,
                &settings.teams.client_id,
                placeholder,
            ),
            format!(
                "teams:{}:{}",
                settings.teams.tenant, settings.teams.client_id
            ),
        ),
        presence_core::Link::Salesforce => (
            auth::OAuthEndpoints::salesforce(
                &settings.salesforce.login_host,
                &settings.salesforce.client_id,
                placeholder,
            ),
            format!(
                "salesforce:{}:{}",
                settings.salesforce.login_host, settings.salesforce.client_id
            ),
        ),
    }
}

/// Signs the agent in to one cloud as `settings` say: in the browser, or with a device code.
async fn interactive_sign_in(
    settings: &settings::Settings,
    link: presence_core::Link,
    transport: &request::Transport,
    prompt: &(impl Fn(SignInPrompt) + Send + Sync),
) -> Result<auth::TokenSource, SyncError> {
    let (endpoints, _) = cloud_endpoints(settings, link);
    let endpoints = endpoints.over(transport);
    match settings.sign_in.flow {
        settings::SignInFlow::Browser => {
            auth::TokenSource::sign_in_with_browser(
                endpoints,
                |url| prompt(SignInPrompt::Browser { link, url }),
                std::time::Duration::from_secs(300),
            )
            .await
        }
        settings::SignInFlow::Device => {
            let show = |code: auth::DeviceCodePrompt| {
                prompt(SignInPrompt::DeviceCode {
                    link,
                    uri: code.verification_uri,
                    code: code.user_code,
                })
            };
            match link {
                presence_core::Link::Teams => {
                    let device_url = format!(
                        "{}/{}/oauth2/v2.0/devicecode",
                        settings.teams.login_base.trim_end_matches('/'),
                        settings.teams.tenant
                    );
                    auth::TokenSource::sign_in_with_device_code(endpoints, &device_url, show).await
                }
                presence_core::Link::Salesforce => {
                    auth::TokenSource::sign_in_salesforce_device(endpoints, show).await
                }
            }
        }
    }
}

/// Signs the agent in again to one cloud while the sync runs (K1: the server refused our
/// tokens and the link says a sign-in is needed): the running clients take the new tokens over.
/// The caller then tells the engine with `Input::SignedIn`.
pub async fn sign_in_again(
    target: &SignInTarget,
    link: presence_core::Link,
    connectors: &Connectors,
    client_id: &str,
    prompt: impl Fn(SignInPrompt) + Send + Sync,
) -> Result<(), SyncError> {
    let running = match link {
        presence_core::Link::Teams => connectors.graph.tokens(),
        presence_core::Link::Salesforce => connectors.salesforce.tokens(),
    };
    let transport = running.transport().clone();
    let fresh = match target {
        SignInTarget::Emulator { url, user } => {
            let endpoints = emulator_endpoints(url, client_id, link).over(&transport);
            auth::TokenSource::sign_in_auto_approved(endpoints, user).await?
        }
        SignInTarget::Clouds(settings) => {
            interactive_sign_in(settings, link, &transport, &prompt).await?
        }
    };
    running.adopt(fresh).await;
    Ok(())
}
