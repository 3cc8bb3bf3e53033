//! The one async driver: signs in to both clouds, resolves the lines' agents, reads the
//! answering rule, serves the webhook (HTTPS when set), follows `/topic/AgentCalls` and
//! `/topic/AgentPresence` (polling in their place while streaming is unavailable), and feeds
//! every call's [`CallFlow`] with what Graph and the agents' apps say, performing the effects
//! it returns. The held presence is `presence.rs`'s, the restart `restore.rs`'s.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use presence_core::{CallCenter, PresenceClass};
use presence_sync::app_auth::AppCredentials;
use presence_sync::auth::TokenSource;
use presence_sync::outbox::Outbox;
use presence_sync::request::Transport;
use presence_sync::salesforce::SalesforceClient;
use presence_sync::streaming::{FallbackQuery, StreamNews, Streaming};
use presence_sync::SyncError;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::answering::Answering;
use crate::config::Settings;
use crate::directory::{agent_view, eligible, Directory, PresenceRow, Route};
use crate::flow::{Action, AgentView, CallFlow, Effect, Input, Rules};
use crate::graph::{CallEvent, GraphClient, Notification};
use crate::presence::PresenceView;
use crate::store::{CallStore, LiveCall};
use crate::tls::WebhookTls;
use crate::webhook::{Keys, Webhook};

/// Why the controller cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("Graph sign-in (the bot's app, client credentials): {0}")]
    GraphSignIn(SyncError),
    #[error("Salesforce sign-in (the integration user, client credentials): {0}")]
    SalesforceSignIn(SyncError),
    #[error("line {resource_account}: {why}")]
    Line {
        resource_account: String,
        why: String,
    },
    #[error("the Call Center cannot be read: {0}")]
    CallCenter(String),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("the webhook cannot listen on {address}: {error}")]
    Listen {
        address: String,
        error: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

/// Everything a running controller holds.
pub(crate) struct Driver {
    pub(crate) settings: Settings,
    pub(crate) graph: GraphClient,
    pub(crate) salesforce: SalesforceClient,
    /// The agents, lines and queues, resolved.
    pub(crate) directory: Directory,
    /// The Call Center's answering rule for unanswered direct calls.
    pub(crate) answering: Answering,
    /// The agents' presence, kept current from the stream.
    pub(crate) presence: PresenceView,
    /// The Call Center (state classes, presence routing).
    pub(crate) center: CallCenter,
    pub(crate) rules: Rules,
    /// The durable queue of call logs (Tasks), delivered by `outbox::deliver_forever`.
    pub(crate) outbox: Arc<Outbox>,
    /// The refused Tasks already shown to their agents.
    pub(crate) refusals: Arc<crate::unsaved::Refusals>,
    /// Live calls, as also kept in `store`.
    pub(crate) calls: BTreeMap<String, LiveCall>,
    pub(crate) store: CallStore,
    /// The `callbackUri` of every call: `{public_url}/{instance}`.
    pub(crate) callback: String,
}

/// What stands in for the two topics while streaming is unavailable: every agent's records
/// (the integration user sees them all), polled by `LastModifiedDate`.
fn fallback_queries() -> Vec<FallbackQuery> {
    vec![
        FallbackQuery {
            channel: "/topic/AgentCalls".into(),
            object: "Agent_Call__c".into(),
            fields: "Call_Id__c, User__c, Kind__c, Status__c, Reason__c, To_Number__c, Logged_By_Controller__c, Log_Retry_At__c".into(),
            filter: "Call_Id__c != null".into(),
        },
        FallbackQuery {
            channel: "/topic/AgentPresence".into(),
            object: "Agent_Presence__c".into(),
            fields: "User__c, State__c, Changed_At__c".into(),
            filter: "User__c != null".into(),
        },
    ]
}

/// How fast queued call logs are delivered: the app's pace (an outage's backlog drains
/// without a burst).
const LOG_DELIVERIES_PER_SECOND: u32 = presence_sync::driver::OUTBOX_DELIVERIES_PER_SECOND;

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A running controller: its webhook's address and a way to stop it.
#[derive(Debug)]
pub struct Controller {
    pub webhook_address: SocketAddr,
    /// The webhook as served here: `https://{address}/api/calling` with TLS, else `http://…`.
    pub webhook_url: String,
    /// A self-signed certificate's PEM file (`[webhook.tls] self_signed`): what the caller
    /// must trust.
    pub certificate_pem: Option<std::path::PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Controller {
    /// Signs in, resolves the lines, binds the webhook and starts handling calls.
    pub async fn start(settings: Settings) -> Result<Self, ControllerError> {
        let transport = Transport::default();
        let http = transport
            .client()
            .map_err(|e| ControllerError::Other(e.to_string()))?;
        let graph_secret = settings.graph.client_secret.clone().unwrap_or_default();
        let graph_tokens = TokenSource::for_app(
            AppCredentials::entra(
                &settings.graph.login_base,
                &settings.graph.tenant,
                &settings.graph.app_id,
                &graph_secret,
            )
            .over(&transport),
        )
        .await
        .map_err(ControllerError::GraphSignIn)?;
        let graph = GraphClient::new(
            http.clone(),
            &settings.graph.graph_base,
            Arc::new(graph_tokens),
        );
        let sf_secret = settings
            .salesforce
            .client_secret
            .clone()
            .unwrap_or_default();
        let sf_tokens = TokenSource::for_app(
            AppCredentials::salesforce(
                &settings.salesforce.my_domain,
                &settings.salesforce.client_id,
                &sf_secret,
            )
            .over(&transport),
        )
        .await
        .map_err(ControllerError::SalesforceSignIn)?;
        let salesforce = SalesforceClient::connect_with(Arc::new(sf_tokens), &transport)
            .await
            .map_err(ControllerError::SalesforceSignIn)?;
        let center = salesforce
            .load_call_center()
            .await
            .map_err(|e| ControllerError::CallCenter(e.to_string()))?;
        let logged_out: Vec<String> = center
            .states()
            .iter()
            .filter(|state| state.class == PresenceClass::LoggedOut)
            .map(|state| state.label.clone())
            .collect();
        let log_missed_calls = center.settings().log_missed_calls;
        let answering = Answering::load(&salesforce, &graph, &settings.calls.closing_prompt).await;
        let directory = Directory::resolve(&settings, &graph, &salesforce)
            .await
            .map_err(|(resource_account, why)| ControllerError::Line {
                resource_account,
                why,
            })?;
        let listener = tokio::net::TcpListener::bind(&settings.webhook.listen)
            .await
            .map_err(|error| ControllerError::Listen {
                address: settings.webhook.listen.clone(),
                error,
            })?;
        let webhook_address = listener
            .local_addr()
            .map_err(|e| ControllerError::Other(e.to_string()))?;
        let tls = match &settings.webhook.tls {
            Some(tls) => Some(WebhookTls::load(tls, &settings.store.path)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let certificate_pem = tls.as_ref().and_then(|tls| tls.self_signed_pem.clone());
        let mut settings = settings;
        settings
            .webhook
            .public_url
            .get_or_insert_with(|| format!("{scheme}://{webhook_address}/api/calling"));
        let store = CallStore::open(&settings.store.path)?;
        let callback = format!(
            "{}/{}",
            settings
                .webhook
                .public_url
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/'),
            settings.webhook.instance
        );
        let (notifications, received) = mpsc::channel(1024);
        let webhook = Webhook {
            keys: Arc::new(Keys::new(http, &settings.graph.calling_openid)),
            app_id: settings.graph.app_id.clone(),
            notifications,
        };
        let (news_tx, news) = mpsc::channel(256);
        let stream = Streaming::new(
            salesforce.clone(),
            &[
                "/topic/AgentCalls".to_string(),
                "/topic/AgentPresence".to_string(),
            ],
            None,
        )
        .map(|stream| stream.with_fallback(fallback_queries()))
        .map_err(|e| ControllerError::Other(format!("the Streaming API client: {e}")))?;
        let rules = Rules {
            offer_timeout_ms: settings.calls.offer_timeout().as_millis() as i64,
            ring_timeout_ms: settings.calls.ring_timeout().as_millis() as i64,
            heartbeat_timeout_ms: settings.calls.heartbeat_timeout_s as i64 * 1000,
            log_missed_calls,
            logged_out_states: logged_out,
            unanswered: answering.unanswered,
        };
        // The call logs wait here while Salesforce is away, and across a crash.
        let outbox = Arc::new(
            Outbox::open(&settings.store.path.with_extension("outbox.sqlite"))
                .map_err(|e| ControllerError::Other(format!("the call-log outbox: {e}")))?,
        );
        let deliveries = tokio::spawn(presence_sync::outbox::deliver_forever(
            outbox.clone(),
            Arc::new(salesforce.clone()),
            LOG_DELIVERIES_PER_SECOND,
        ));
        let refusals = Arc::new(crate::unsaved::Refusals::default());
        let reporting = tokio::spawn(crate::unsaved::report_forever(
            outbox.clone(),
            salesforce.clone(),
            refusals.clone(),
        ));
        let mut driver = Driver {
            settings,
            graph,
            salesforce,
            directory,
            answering,
            presence: PresenceView::default(),
            center,
            rules,
            outbox,
            refusals,
            calls: BTreeMap::new(),
            store,
            callback,
        };
        driver.read_presence().await;
        driver.restore().await?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let router = crate::webhook::router(webhook);
            let server: std::pin::Pin<
                Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>,
            > = match tls {
                None => Box::pin(async move { axum::serve(listener, router).await }),
                Some(tls) => Box::pin(async move {
                    let config = axum_server::tls_rustls::RustlsConfig::from_config(tls.config);
                    axum_server::tls_rustls::from_tcp_rustls(listener.into_std()?, config)?
                        .serve(router.into_make_service())
                        .await
                }),
            };
            let streaming = tokio::spawn(stream.run(news_tx));
            tokio::select! {
                result = server => if let Err(error) = result { tracing::error!("the webhook stopped: {error}") },
                () = driver.run(received, news) => {}
                _ = stopped => {}
            }
            streaming.abort();
            deliveries.abort();
            reporting.abort();
        });
        Ok(Self {
            webhook_url: format!("{scheme}://{webhook_address}/api/calling"),
            certificate_pem,
            webhook_address,
            stop: Some(stop),
            task,
        })
    }

    /// The self-signed certificate's PEM (what a caller must trust), if the webhook serves
    /// one; `None` too when its file cannot be read (said in the log).
    pub fn certificate(&self) -> Option<String> {
        let path = self.certificate_pem.as_ref()?;
        std::fs::read_to_string(path)
            .map_err(|error| tracing::error!("{}: {error}", path.display()))
            .ok()
    }

    /// Stops handling calls and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Driver {
    async fn run(
        mut self,
        mut received: mpsc::Receiver<Notification>,
        mut news: mpsc::Receiver<StreamNews>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                Some(notification) = received.recv() => self.on_notification(notification).await,
                Some(news) = news.recv() => self.on_news(news).await,
                _ = tick.tick() => self.on_tick().await,
                else => return,
            }
        }
    }

    /// The live call a Graph call id belongs to: the call itself, or the outbound call whose
    /// placed leg it is.
    fn key_of(&self, graph_call: &str) -> Option<String> {
        if self.calls.contains_key(graph_call) {
            return Some(graph_call.to_string());
        }
        self.calls
            .iter()
            .find(|(_, live)| live.flow.graph_call() == Some(graph_call))
            .map(|(key, _)| key.clone())
    }

    async fn on_notification(&mut self, notification: Notification) {
        let Some(event) = notification.event() else {
            tracing::debug!(
                "a notification with nothing for the controller: {}",
                notification.resource_url
            );
            return;
        };
        match event {
            CallEvent::Incoming {
                call,
                from,
                resource_account,
            } => self.incoming(call, from, resource_account).await,
            CallEvent::State { call, state } => self.step_graph(&call, Input::Leg(state)).await,
            CallEvent::Ended { call, result } => {
                self.step_graph(
                    &call,
                    Input::Ended {
                        subcode: result.subcode,
                    },
                )
                .await
            }
            CallEvent::Operation {
                call,
                client_context,
                succeeded,
            } if client_context == "invite" || client_context == "dial" => {
                self.step_graph(&call, Input::Invited { joined: succeeded })
                    .await;
            }
            CallEvent::Operation {
                call,
                client_context,
                ..
            } if client_context == "closing" => {
                self.step_graph(&call, Input::PromptDone).await;
            }
            CallEvent::TransferFailed { call } => {
                self.step_graph(&call, Input::TransferFailed).await;
            }
            CallEvent::Operation { .. } | CallEvent::Roster { .. } => {}
        }
    }

    /// Feeds what Graph said of one of its calls to the live call it belongs to. A call this
    /// controller does not hold (one placed just before a crash, whose id was never kept) is
    /// not one the bot stays in: hung up once established.
    async fn step_graph(&mut self, graph_call: &str, input: Input) {
        match self.key_of(graph_call) {
            Some(key) => self.step(&key, input).await,
            None if input == Input::Leg("established".into()) => {
                tracing::warn!("call {graph_call} is not one this controller holds: hung up");
                if let Err(error) = self.graph.hang_up(graph_call).await {
                    tracing::error!("call {graph_call}: hang-up refused: {error}");
                }
            }
            None => {}
        }
    }

    async fn incoming(&mut self, call: String, from: String, resource_account: String) {
        let account = resource_account.to_ascii_lowercase();
        let Some(route) = self.directory.routes.get(&account).cloned() else {
            tracing::warn!("call {call} for resource account {resource_account:?}, which no [[lines]] or [[queues]] entry names: rejected");
            if let Err(error) = self.graph.reject(&call).await {
                tracing::error!("call {call}: reject refused: {error}");
            }
            return;
        };
        let (flow, effects) = match route {
            Route::Direct { agent, .. } => {
                let Some(salesforce_id) = self
                    .directory
                    .agents
                    .get(&agent)
                    .map(|a| a.salesforce_id.clone())
                else {
                    return;
                };
                let timeout = self.rules.heartbeat_timeout_ms;
                let turned_away = |rows: &BTreeMap<String, PresenceRow>| {
                    let view = agent_view(rows.get(&salesforce_id), &self.center);
                    view.logged_out || view.heartbeat_age_ms.is_none_or(|age| age > timeout)
                };
                let view = match self.presence_rows(&[&salesforce_id], turned_away).await {
                    Ok(rows) => agent_view(rows.get(&salesforce_id), &self.center),
                    Err(error) => {
                        // Without the agent's presence the call cannot be offered safely: Teams takes it.
                        tracing::warn!("call {call}: {agent}'s presence cannot be read ({error}); redirected to their Teams");
                        AgentView {
                            logged_out: true,
                            heartbeat_age_ms: None,
                        }
                    }
                };
                let (mut flow, effects) = CallFlow::incoming(&call, view, &self.rules);
                flow.agent = Some(agent);
                (flow, effects)
            }
            Route::Queue { queue, .. } => {
                let queue = self.directory.queues[queue].clone();
                let ids: Vec<(String, String)> = queue
                    .agents
                    .iter()
                    .filter_map(|upn| {
                        Some((
                            upn.clone(),
                            self.directory.agents.get(upn)?.salesforce_id.clone(),
                        ))
                    })
                    .collect();
                let users: Vec<&str> = ids.iter().map(|(_, id)| id.as_str()).collect();
                // Confirmed when an agent held as gone might be back (a heartbeat not yet read).
                let timeout = self.rules.heartbeat_timeout_ms;
                let someone_gone = |rows: &BTreeMap<String, PresenceRow>| {
                    users.iter().any(|user| {
                        rows.get(*user)
                            .is_none_or(|row| row.heartbeat_age_ms.is_none_or(|age| age > timeout))
                    })
                };
                let rows = match self.presence_rows(&users, someone_gone).await {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(
                            "call {call}: the queue's presence cannot be read ({error}); overflow"
                        );
                        Default::default()
                    }
                };
                let candidates: Vec<(String, Option<PresenceRow>)> = ids
                    .iter()
                    .map(|(upn, id)| (upn.clone(), rows.get(id).cloned()))
                    .collect();
                let order = eligible(&candidates, &self.center, self.rules.heartbeat_timeout_ms);
                tracing::debug!(
                    "call {call}: the queue's agents {candidates:?}, in order {order:?}"
                );
                CallFlow::queued(&call, order, queue.overflow.is_some())
            }
        };
        tracing::info!(
            "call {call} from {from} for {}: {}",
            flow.agent.as_deref().unwrap_or("nobody"),
            flow.not_offered.as_deref().unwrap_or("offered")
        );
        self.calls.insert(
            call.clone(),
            LiveCall {
                flow,
                resource_account: account,
                from,
            },
        );
        self.apply(&call, effects, false).await;
    }

    async fn on_news(&mut self, news: StreamNews) {
        match news {
            StreamNews::Record(changed)
                if SalesforceClient::is_presence_channel(&changed.channel) =>
            {
                self.presence.observe(&changed.record);
            }
            StreamNews::Record(changed) => {
                let text = |field: &str| {
                    changed
                        .record
                        .get(field)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let (Some(call), Some(status)) = (text("Call_Id__c"), text("Status__c")) else {
                    return;
                };
                // The agent asks for a refused Task to be sent again.
                if text("Log_Retry_At__c").is_some() {
                    crate::unsaved::retry(&self.outbox, &self.salesforce, &self.refusals, &call)
                        .await;
                    return;
                }
                let reason = text("Reason__c");
                let claimed = changed
                    .record
                    .get("Logged_By_Controller__c")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if text("Kind__c").as_deref() == Some("Outbound")
                    && status == "Offered"
                    && !claimed
                    && !self.calls.contains_key(&call)
                {
                    self.outbound(&changed.record).await;
                    return;
                }
                // A queue call's offers are `{call}~{attempt}`: only the current one counts.
                let (call, attempt) = match call.split_once('~') {
                    Some((call, attempt)) => {
                        (call.to_string(), attempt.parse().unwrap_or(u32::MAX))
                    }
                    None => (call, 0),
                };
                if self
                    .calls
                    .get(&call)
                    .is_some_and(|live| live.flow.attempt() == attempt)
                {
                    self.step(&call, Input::App { status, reason }).await;
                }
            }
            StreamNews::Connected => tracing::info!("following /topic/AgentCalls"),
            StreamNews::Lost(why) => tracing::warn!("the stream of agents' answers is lost: {why}"),
            StreamNews::Polling { why, .. } => {
                tracing::warn!("the stream is unavailable, polling: {why}")
            }
        }
    }

    /// Starts a live call's flow: kept, then its first effects performed.
    pub(crate) async fn begin(&mut self, live: LiveCall, effects: Vec<Effect>) {
        let call = live.flow.call.clone();
        self.calls.insert(call.clone(), live);
        self.apply(&call, effects, false).await;
    }

    async fn on_tick(&mut self) {
        if self.presence.due(now_ms()) {
            self.read_presence().await;
        }
        let live: Vec<String> = self.calls.keys().cloned().collect();
        for call in live {
            self.step(&call, Input::Tick).await;
        }
    }

    pub(crate) async fn step(&mut self, call: &str, input: Input) {
        let Some(live) = self.calls.get_mut(call) else {
            return;
        };
        let before = live.flow.clone();
        let effects = live.flow.on(input, now_ms(), &self.rules);
        if effects.is_empty() && live.flow == before {
            return;
        }
        self.apply(call, effects, false).await;
    }

    /// Saves the call with its effects, performs them (and what a refusal leads to), then
    /// marks them done, or forgets the call once it is over. `replaying` (at a restart): an
    /// action Graph refuses was done before the crash, or the call is gone, which the
    /// reconciliation that follows finds out.
    pub(crate) async fn apply(&mut self, call: &str, effects: Vec<Effect>, replaying: bool) {
        let mut queue: std::collections::VecDeque<Effect> = effects.into();
        while let Some(effect) = queue.front().cloned() {
            let Some(live) = self.calls.get(call).cloned() else {
                return;
            };
            let pending: Vec<Effect> = queue.iter().cloned().collect();
            if let Err(error) = self.store.save(&live, &pending, now_ms()) {
                // Not kept: a crash now would lose the call's progress; the call goes on.
                tracing::error!("call {call}: {error}");
            }
            queue.pop_front();
            match effect {
                Effect::Log {
                    disposition,
                    duration_s,
                } => self.log(&live, disposition, duration_s).await,
                Effect::Record(write) => {
                    if let Err(error) = self.write_record(&live, &write).await {
                        tracing::error!(
                            "call {call}: Agent_Call__c not written ({write:?}): {error}"
                        );
                    }
                }
                // A call placed before a crash may have rung already: never placed twice.
                Effect::Graph(action @ Action::Place) if replaying => {
                    tracing::warn!("call {call}: it was being placed when the controller stopped; the agent is asked to call again");
                    if let Some(live) = self.calls.get_mut(call) {
                        queue.extend(live.flow.on(Input::Refused(action), now_ms(), &self.rules));
                    }
                }
                Effect::Graph(action) => {
                    let acted = self.act(&live, action).await;
                    if let (Ok(Some(leg)), Some(live)) = (&acted, self.calls.get_mut(call)) {
                        if let Some(outbound) = live.flow.outbound.as_mut() {
                            outbound.leg = Some(leg.clone());
                        }
                    }
                    if let Err(error) = acted {
                        if replaying {
                            tracing::info!(
                                "call {call}: {action:?} again after the restart: {error}"
                            );
                            continue;
                        }
                        tracing::error!("call {call}: {action:?} refused: {error}");
                        if let Some(live) = self.calls.get_mut(call) {
                            queue.extend(live.flow.on(
                                Input::Refused(action),
                                now_ms(),
                                &self.rules,
                            ));
                        }
                    }
                }
            }
        }
        let done = self.calls.get(call).is_none_or(|live| live.flow.is_done());
        let kept = if done {
            self.calls.remove(call);
            self.store.forget(call)
        } else {
            match self.calls.get(call) {
                Some(live) => self.store.save(live, &[], now_ms()),
                None => Ok(()),
            }
        };
        if let Err(error) = kept {
            tracing::error!("call {call}: {error}");
        }
    }
}
