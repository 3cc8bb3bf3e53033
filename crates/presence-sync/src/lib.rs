//! `presence-sync` answers "how do we talk to the clouds?". It holds the Graph and Salesforce
//! clients (one method per call, errors classified for the engine), the Streaming API client,
//! sign-in with the `oauth2` crate, and the one async driver that runs the pure engine of
//! `presence-core` against them. Nothing here decides presence: every decision is the
//! engine's; this crate only performs effects and reports outcomes.
//!
//! Layout: [`auth`] (OAuth, tokens, single-flight refresh), [`graph`] and [`salesforce`]
//! (the clients), [`request`] (transport, server clock, API allowance), [`streaming`] (CometD,
//! and SOQL polling when it is unavailable), [`outbox`] (durable call logs and presence
//! writes), [`wire`] (JSON shapes), [`error`], [`mod@driver`], [`local`] (data directory, one
//! sync per agent), [`secrets`], [`settings`], [`loopback`] (the browser sign-in's listener).

pub mod auth;
pub mod driver;
pub mod error;
pub mod graph;
pub mod local;
pub mod loopback;
pub mod outbox;
pub mod request;
pub mod salesforce;
pub mod secrets;
pub mod settings;
pub mod streaming;
pub mod wire;

use std::sync::Arc;

pub use driver::{driver, Connectors, SyncHandle};
pub use error::SyncError;

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
    let redirect = "http://127.0.0.1:53682/callback";
    let entra = auth::OAuthEndpoints::entra(base_url, "organizations", client_id, redirect);
    let graph_tokens = Arc::new(auth::TokenSource::sign_in_auto_approved(entra, user).await?);
    let salesforce = auth::OAuthEndpoints::salesforce(base_url, client_id, redirect);
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

/// The engine's configuration for this agent: the Call Center read from Salesforce, or the
/// shipped defaults (with the reason) when it cannot be read or is invalid.
pub async fn engine_config(
    connectors: &Connectors,
    origin_client: &str,
    jitter_seed: u64,
) -> (presence_core::EngineConfig, Option<String>) {
    let mut config = presence_core::EngineConfig::shipped_default();
    let warning = match connectors.salesforce.load_call_center().await {
        Ok(call_center) => {
            config.call_center = call_center;
            None
        }
        Err(error) => Some(format!(
            "using the shipped Call Center configuration: {error}"
        )),
    };
    config.client_id = origin_client.to_string();
    config.jitter_seed = jitter_seed;
    (config, warning)
}

/// Signs in to the real clouds named in `settings` (silently from a refresh token kept in
/// `secrets` when there is a working one, else in the browser or with a device code, as
/// configured) and builds the connectors. `prompt` receives what to show the agent: the browser address, or
/// the device code and where to enter it.
pub async fn connect_clouds(
    settings: &settings::Settings,
    outbox: Arc<outbox::Outbox>,
    secrets: Arc<dyn secrets::SecretStore>,
    prompt: impl Fn(String) + Send + Sync + 'static,
) -> Result<Connectors, SyncError> {
    use std::time::Duration;
    let prompt = Arc::new(prompt);
    let placeholder = "http://127.0.0.1/callback";
    let entra = auth::OAuthEndpoints::entra(
        &settings.teams.login_base,
        &settings.teams.tenant,
        &settings.teams.client_id,
        placeholder,
    );
    let salesforce = auth::OAuthEndpoints::salesforce(
        &settings.salesforce.login_host,
        &settings.salesforce.client_id,
        placeholder,
    );
    let teams_account = format!(
        "teams:{}:{}",
        settings.teams.tenant, settings.teams.client_id
    );
    let salesforce_account = format!(
        "salesforce:{}:{}",
        settings.salesforce.login_host, settings.salesforce.client_id
    );
    let resumed = (
        auth::TokenSource::resume(entra.clone(), secrets.clone(), &teams_account).await?,
        auth::TokenSource::resume(salesforce.clone(), secrets.clone(), &salesforce_account).await?,
    );
    let (graph_tokens, salesforce_tokens) = match resumed {
        (Some(graph), Some(salesforce)) => (graph, salesforce),
        _ => match settings.sign_in.flow {
            settings::SignInFlow::Browser => {
                let show = |cloud: &'static str| {
                    let prompt = prompt.clone();
                    move |url: String| prompt(format!("Sign in to {cloud} in your browser: {url}"))
                };
                let graph = auth::TokenSource::sign_in_with_browser(
                    entra,
                    show("Microsoft 365"),
                    Duration::from_secs(300),
                )
                .await?;
                let salesforce = auth::TokenSource::sign_in_with_browser(
                    salesforce,
                    show("Salesforce"),
                    Duration::from_secs(300),
                )
                .await?;
                (graph, salesforce)
            }
            settings::SignInFlow::Device => {
                let device_url = format!(
                    "{}/{}/oauth2/v2.0/devicecode",
                    settings.teams.login_base.trim_end_matches('/'),
                    settings.teams.tenant
                );
                let show = |cloud: &'static str| {
                    let prompt = prompt.clone();
                    move |code: auth::DeviceCodePrompt| {
                        prompt(format!(
                            "Sign in to {cloud}: open {} and enter {}",
                            code.verification_uri, code.user_code
                        ))
                    }
                };
                let graph = auth::TokenSource::sign_in_with_device_code(
                    entra,
                    &device_url,
                    show("Microsoft 365"),
                )
                .await?;
                let salesforce =
                    auth::TokenSource::sign_in_salesforce_device(salesforce, show("Salesforce"))
                        .await?;
                (graph, salesforce)
            }
        },
    };
    let keep = |error: secrets::SecretError| SyncError::Server(error.to_string());
    graph_tokens
        .keep_in(secrets.clone(), &teams_account)
        .await
        .map_err(keep)?;
    salesforce_tokens
        .keep_in(secrets, &salesforce_account)
        .await
        .map_err(keep)?;
    let graph = graph::GraphClient::new(
        &settings.teams.graph_base,
        Arc::new(graph_tokens),
        &settings.teams.client_id,
    )?;
    let salesforce = salesforce::SalesforceClient::connect(Arc::new(salesforce_tokens)).await?;
    Ok(Connectors {
        graph: Arc::new(graph),
        salesforce: Arc::new(salesforce),
        outbox,
    })
}
