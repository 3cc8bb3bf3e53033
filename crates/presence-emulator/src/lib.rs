//! `presence-emulator` answers "what would the clouds say?": Microsoft Graph presence and
//! calling (a calling bot's side of the communications API, and the agents' Teams clients),
//! Entra ID sign-in, Salesforce (OAuth, REST, the Streaming API over CometD), all on one
//! loopback port, speaking the real wire formats so that the very same client code runs against it or against a real tenant and org. A control API under `/_emulator/` (and a page
//! at `/_emulator/ui`) lets tests, benchmarks and the demo act as the agent in Teams and
//! Salesforce, place calls, inject faults and move time. It keeps its own wire types and
//! imports nothing from the app.
//!
//! Layout: [`world`] (all state, one lock), [`graph`] (presence aggregation) and
//! [`graph_api`] (its routes), [`oauth`] (Entra and Salesforce sign-in), [`rest`] and
//! [`soql`] (Salesforce REST), [`cometd`] (streaming), [`calling`] (Graph's call legs),
//! [`teams_clients`] (the agents' Teams, deadlines, call outcomes), [`calling_api`] (the
//! calling routes and the webhook notifier), [`calling_control`] (its control routes),
//! [`calling_outbound`] (calls the bot places), [`control`] (the control surface), [`settings`]
//! (its settings), [`scenario`] (the demo data), [`clock`], [`ids`], [`http`] (faults,
//! counters, error bodies).

// Handlers return a ready HTTP response as their error; boxing it would only add noise.
#![allow(clippy::result_large_err)]

pub mod calling;
pub mod calling_api;
pub mod calling_control;
pub mod calling_outbound;
pub mod clock;
pub mod cometd;
pub mod control;
pub mod graph;
pub mod graph_api;
pub mod http;
pub mod ids;
pub mod oauth;
pub mod oidc;
pub mod push_topics;
pub mod rest;
pub mod salesforce_oauth;
pub mod scenario;
pub mod schema;
pub mod settings;
pub mod soql;
pub mod teams_clients;
pub mod tls;
pub mod world;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use http::{AppState, Shared};
pub use world::{Api, World};

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct Options {
    pub scenario: String,
    pub time_scale: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            scenario: "demo".into(),
            time_scale: 1.0,
        }
    }
}

/// Builds the shared state for a scenario.
pub fn shared(options: &Options) -> Result<AppState, String> {
    let mut world = World::new(options.time_scale);
    scenario::load(&mut world, &options.scenario)?;
    Ok(Arc::new(Shared {
        world: Mutex::new(world),
        events: tokio::sync::Notify::new(),
        notifications: tokio::sync::Notify::new(),
        base_url: Mutex::new(String::new()),
    }))
}

/// Every route, on one router.
pub fn router(state: AppState) -> Router {
    Router::new()
        // Entra ID
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(oauth::entra_authorize),
        )
        .route("/{tenant}/oauth2/v2.0/token", post(oauth::entra_token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(oidc::discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(oidc::keys))
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(oauth::entra_devicecode),
        )
        // Graph
        .route("/v1.0/me", get(graph_api::me_profile))
        .route("/v1.0/me/presence", get(graph_api::me_presence))
        .route("/v1.0/users/{id}/presence", get(graph_api::user_presence))
        .route(
            "/v1.0/communications/presences/{id}",
            get(graph_api::user_presence),
        )
        .route(
            "/v1.0/communications/getPresencesByUserId",
            post(graph_api::get_presences_by_user_id),
        )
        .route(
            "/v1.0/{who}/presence/{action}",
            post(graph_api::presence_action),
        )
        .route(
            "/v1.0/users/{who}/presence/{action}",
            post(users_presence_action),
        )
        .route("/v1.0/users/{id}", get(graph_api::user_profile))
        // Graph: calling bots
        .route("/v1.0/communications/calls", post(calling_api::create_call))
        .route(
            "/v1.0/communications/calls/{id}",
            get(calling_api::get_call).delete(calling_api::delete_call),
        )
        .route(
            "/v1.0/communications/calls/{id}/{action}",
            post(calling_api::call_action),
        )
        .route(
            "/v1.0/communications/calls/{id}/participants/{action}",
            post(calling_api::participants_action),
        )
        .route(
            "/v1/.well-known/OpenIdConfiguration",
            get(calling_api::calling_discovery),
        )
        .route("/v1/keys", get(calling_api::calling_keys))
        // Salesforce
        .route(
            "/services/oauth2/authorize",
            get(salesforce_oauth::salesforce_authorize),
        )
        .route(
            "/services/oauth2/token",
            post(salesforce_oauth::salesforce_token),
        )
        .route(
            "/services/oauth2/revoke",
            post(salesforce_oauth::salesforce_revoke),
        )
        .route(
            "/services/oauth2/userinfo",
            get(salesforce_oauth::salesforce_userinfo),
        )
        .route("/services/data", get(rest::versions))
        .route("/services/data/", get(rest::versions))
        .route(
            "/services/data/{version}/{*rest}",
            axum::routing::any(rest::dispatch),
        )
        .route("/cometd/{*path}", post(cometd::bayeux))
        // Control
        .route("/_emulator/state", get(control::get_state))
        .route("/_emulator/ui", get(control::ui))
        .route(
            "/_emulator/teams/{agent}/status",
            post(control::post_teams_status),
        )
        .route(
            "/_emulator/teams/{agent}/{what}",
            post(control::post_teams_activity),
        )
        .route(
            "/_emulator/salesforce/{agent}/state",
            post(control::post_salesforce_state),
        )
        .route(
            "/_emulator/salesforce/records",
            post(control::post_salesforce_record),
        )
        .route("/_emulator/calls", post(control::post_call))
        .route("/_emulator/calls/{id}", get(control::get_call))
        .route("/_emulator/calls/{id}/hangup", post(control::post_hangup))
        .route(
            "/_emulator/calling",
            get(calling_control::get_calling).post(calling_control::post_calling),
        )
        .route(
            "/_emulator/teams/{agent}/answer",
            post(calling_control::post_teams_answer),
        )
        .route(
            "/_emulator/teams/{agent}/decline",
            post(calling_control::post_teams_decline),
        )
        .route(
            "/_emulator/faults",
            post(control::post_fault).delete(control::delete_faults),
        )
        .route("/_emulator/cometd/fault", post(control::post_cometd_fault))
        .route("/_emulator/tokens/{action}", post(control::post_tokens))
        .route(
            "/_emulator/settings",
            get(control::get_settings).post(control::post_settings),
        )
        .route("/_emulator/clock/advance", post(control::post_advance))
        .route(
            "/_emulator/device/approve",
            post(control::post_device_approve),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            note_request,
        ))
        .with_state(state)
}

/// Notes every answered request to the clouds in `state.requests` (the control API is not
/// one of them), so that checks can see the order of calls and their statuses; and carries
/// out `lost_reply` faults (the request is handled, its answer replaced by a cut connection).
async fn note_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let api = Api::of_path(&path);
    let lose_reply = api.is_some_and(|api| state.world().take_lost_reply(api, &path));
    let response = next.run(request).await;
    if api.is_some() {
        state
            .world()
            .saw_request(&method, &path, response.status().as_u16());
    }
    if lose_reply {
        return http::dropped_connection();
    }
    response
}

async fn users_presence_action(
    state: axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Path((who, action)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    graph_api::presence_action(state, headers, axum::extract::Path((who, action)), body).await
}

/// Serves the emulator on `listener` until `shutdown` completes. The background ticker
/// (ring timeouts, session fades, streaming clients) runs for as long as the server does.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`serve`], over HTTPS when given a TLS identity (its URLs then start with `https://`).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<tls::TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if let Ok(mut base) = state.base_url.lock() {
        *base = format!("{scheme}://{address}");
    }
    let ticker = tokio::spawn(tick_forever(state.clone()));
    let notifier = tokio::spawn(calling_api::deliver_forever(state.clone()));
    let result = match tls {
        Some(identity) => tls::serve_tls(listener, state, identity, shutdown).await,
        None => {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(shutdown)
                .await
        }
    };
    ticker.abort();
    notifier.abort();
    result
}

async fn tick_forever(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    loop {
        interval.tick().await;
        {
            let mut world = state.world();
            world.tick_calling();
            let now = world.now_ms();
            let mut changed = Vec::new();
            for (id, user) in world.graph.iter_mut() {
                if user.refresh(now) {
                    changed.push(id.clone());
                }
            }
            for id in changed {
                world.note(format!(
                    "graph presence of {id} changed on its own (fade or expiry)"
                ));
            }
            // Streaming clients that stopped polling are forgotten (403::Unknown client later).
            let forget_after = world.settings.long_poll_ms as i64 * 2 + 40_000;
            world
                .comet_clients
                .retain(|_, client| now - client.last_seen_ms < forget_after);
        }
        state.events.notify_waiters();
        state.notifications.notify_one();
    }
}

/// A running emulator on 127.0.0.1 with a free port: its base URL and typed control helpers.
#[derive(Debug)]
pub struct Emulator {
    pub base_url: String,
    pub address: SocketAddr,
    pub state: AppState,
    /// The certificate it serves HTTPS with, if it does.
    tls_cert_pem: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Emulator {
    /// Starts the demo scenario on 127.0.0.1:0.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            options,
        )
        .await
    }

    /// Starts on a chosen address (port 0: a free one), e.g. where an app was told to look
    /// before the emulator was up.
    pub async fn start_on(address: SocketAddr, options: Options) -> std::io::Result<Self> {
        Self::launch(address, options, None).await
    }

    /// Starts the demo scenario over HTTPS on 127.0.0.1:0 with a new self-signed certificate
    /// ([`Emulator::tls_certificate`] is what a client must trust).
    pub async fn start_tls() -> std::io::Result<Self> {
        let identity = tls::TlsIdentity::generate().map_err(std::io::Error::other)?;
        let address = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
        Self::launch(address, Options::default(), Some(identity)).await
    }

    /// The certificate (PEM) of an emulator serving HTTPS.
    pub fn tls_certificate(&self) -> Option<&str> {
        self.tls_cert_pem.as_deref()
    }

    async fn launch(
        address: SocketAddr,
        options: Options,
        tls: Option<tls::TlsIdentity>,
    ) -> std::io::Result<Self> {
        let state = shared(&options).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let tls_cert_pem = tls.as_ref().map(|identity| identity.cert_pem.clone());
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(serve_with(listener, state.clone(), tls, async {
            let _ = rx.await;
        }));
        Ok(Self {
            base_url: format!("{scheme}://{address}"),
            address,
            state,
            tls_cert_pem,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Runs `action` on the emulated world (the same functions the control API calls), then
    /// wakes streaming clients.
    pub fn with_world<T>(&self, action: impl FnOnce(&mut World) -> T) -> T {
        let result = action(&mut self.state.world());
        self.state.events.notify_waiters();
        self.state.notifications.notify_one();
        result
    }

    pub fn teams_set_status(
        &self,
        agent: &str,
        availability: &str,
        activity: &str,
    ) -> Result<(), control::ControlError> {
        self.with_world(|w| control::teams_set_status(w, agent, availability, activity))
    }

    pub fn teams_activity(
        &self,
        agent: &str,
        what: &str,
        on: bool,
    ) -> Result<(), control::ControlError> {
        self.with_world(|w| control::teams_activity(w, agent, what, on))
    }

    pub fn salesforce_pick(
        &self,
        agent: &str,
        state: &str,
    ) -> Result<String, control::ControlError> {
        self.with_world(|w| control::salesforce_pick(w, agent, state))
    }

    pub fn place_call(
        &self,
        agent: &str,
        kind: &str,
        from: &str,
    ) -> Result<world::Call, control::ControlError> {
        self.with_world(|w| control::place_call(w, agent, kind, from))
    }

    /// Registers the calling bot's webhook, and the certificate (PEM) its notifier trusts
    /// besides the public roots, as `POST /_emulator/calling` does.
    pub fn register_calling_webhook(&self, url: &str, trust_pem: Option<String>) {
        self.with_world(|w| {
            w.calling.bot.webhook = Some(url.to_string());
            w.calling.bot.trust_pem = trust_pem;
        });
    }

    pub fn hang_up(&self, call_id: &str) -> Result<world::Call, control::ControlError> {
        self.with_world(|w| control::hang_up(w, call_id))
    }

    pub fn call(&self, call_id: &str) -> Option<world::Call> {
        self.with_world(|w| w.calls.iter().find(|c| c.call_id == call_id).cloned())
    }

    pub fn state(&self) -> serde_json::Value {
        self.with_world(control::state_json)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
