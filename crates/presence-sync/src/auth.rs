//! Sign-in and tokens for both clouds, with the `oauth2` crate: authorization code with PKCE
//! (S256), refresh with rotation (the new refresh token replaces the old at once), and a
//! single-flight refresh so that many concurrent 401s cause one refresh.
//!
//! Against the emulator the authorization step is a plain HTTP request (the emulator approves
//! at once and redirects with the code), so no browser is involved.

use std::time::{Duration, Instant};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::SyncError;
use crate::request::OAuthHttp;
use crate::secrets::SecretStore;
use crate::wire::{
    self,
    oauth::{DeviceCodeStart, OAuthErrorAnswer},
};

/// Token fields beyond the standard ones: Salesforce's `instance_url` and identity URL.
/// (`Debug` by hand, as for every type here that holds a secret: the id token is left out.)
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct CloudExtras {
    #[serde(default)]
    pub instance_url: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for CloudExtras {}

/// What `Debug` shows of a secret: whether there is one, never its text.
pub(crate) fn redacted(secret: Option<&str>) -> &'static str {
    match secret {
        Some(_) => "[redacted]",
        None => "None",
    }
}

impl std::fmt::Debug for CloudExtras {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudExtras")
            .field("instance_url", &self.instance_url)
            .field("id", &self.id)
            .field("id_token", &redacted(self.id_token.as_deref()))
            .finish()
    }
}

pub(crate) type TokenAnswer = StandardTokenResponse<CloudExtras, BasicTokenType>;
type Response = TokenAnswer;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    Response,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where a cloud signs in.
#[derive(Debug, Clone)]
pub struct OAuthEndpoints {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub redirect_url: String,
    /// Timeouts and resolver of the sign-in's and refreshes' requests (the clients' own).
    pub transport: crate::request::Transport,
}

impl OAuthEndpoints {
    /// Entra ID v2.0 under `login_base` (the real `https://login.microsoftonline.com` or the
    /// emulator), for a tenant (`organizations` or a tenant id, never `common`).
    pub fn entra(login_base: &str, tenant: &str, client_id: &str, redirect_url: &str) -> Self {
        let base = login_base.trim_end_matches('/');
        Self {
            authorize_url: format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            token_url: format!("{base}/{tenant}/oauth2/v2.0/token"),
            client_id: client_id.into(),
            scopes: [
                "openid",
                "profile",
                "offline_access",
                "User.Read",
                "Presence.Read",
                "Presence.ReadWrite",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            redirect_url: redirect_url.into(),
            transport: crate::request::Transport::default(),
        }
    }

    /// Salesforce under its login host or My Domain (or the emulator).
    pub fn salesforce(login_host: &str, client_id: &str, redirect_url: &str) -> Self {
        let base = login_host.trim_end_matches('/');
        Self {
            authorize_url: format!("{base}/services/oauth2/authorize"),
            token_url: format!("{base}/services/oauth2/token"),
            client_id: client_id.into(),
            scopes: vec!["api".into(), "refresh_token".into()],
            redirect_url: redirect_url.into(),
            transport: crate::request::Transport::default(),
        }
    }

    fn client(&self) -> Result<OAuthClient, SyncError> {
        let bad = |what: &str| SyncError::Settings(format!("invalid {what} URL"));
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.authorize_url.clone()).map_err(|_| bad("authorize"))?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(|_| bad("token"))?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_url.clone()).map_err(|_| bad("redirect"))?,
            ))
    }
}

type DeviceClient = oauth2::Client<
    BasicErrorResponse,
    Response,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What to show the agent during a device-code sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodePrompt {
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: Duration,
}

/// The tokens of one cloud (`Debug` shows neither token).
#[derive(Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// When to refresh (a minute before `expires_in` runs out); `None` for Salesforce, whose
    /// tokens last until a 401.
    pub refresh_at: Option<Instant>,
    pub instance_url: Option<String>,
    pub identity_url: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &redacted(Some(&self.access_token)))
            .field("refresh_token", &redacted(self.refresh_token.as_deref()))
            .field("refresh_at", &self.refresh_at)
            .field("instance_url", &self.instance_url)
            .field("identity_url", &self.identity_url)
            .finish()
    }
}

pub(crate) fn tokens_from(response: &Response, previous_refresh: Option<String>) -> Tokens {
    let refresh_at = response
        .expires_in()
        .map(|lifetime| Instant::now() + lifetime.saturating_sub(Duration::from_secs(60)));
    Tokens {
        access_token: response.access_token().secret().clone(),
        // Rotation: a new refresh token replaces the old one; without one, keep the old.
        refresh_token: response
            .refresh_token()
            .map(|token| token.secret().clone())
            .or(previous_refresh),
        refresh_at,
        instance_url: response.extra_fields().instance_url.clone(),
        identity_url: response.extra_fields().id.clone(),
    }
}

/// The OAuth error codes that mean the grant itself is dead and only a sign-in by the agent
/// helps (RFC 6749 §5.2's `invalid_grant`, and the OpenID Connect answers that ask for the user:
/// Entra sends `interaction_required` for MFA and Conditional Access). Every other error
/// (`temporarily_unavailable`, `server_error`, `invalid_client`, …) is the server's or ours and
/// passes: the refresh token is kept and the request retried.
const SIGN_IN_NEEDED: &[&str] = &[
    "invalid_grant",
    "interaction_required",
    "login_required",
    "consent_required",
];

pub(crate) fn oauth_error<T: oauth2::ErrorResponseType + std::fmt::Display + 'static>(
    error: oauth2::RequestTokenError<SyncError, oauth2::StandardErrorResponse<T>>,
) -> SyncError {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            let code = response.error().to_string();
            let text = match response.error_description() {
                Some(description) => format!("{code}: {description}"),
                None => code.clone(),
            };
            if SIGN_IN_NEEDED.contains(&code.as_str()) {
                SyncError::Unauthorized(text)
            } else {
                SyncError::Server(format!("the sign-in server refused for now: {text}"))
            }
        }
        // The transport's own failure (typed by `OAuthHttp`), an oversized answer included.
        oauth2::RequestTokenError::Request(inner) => inner,
        oauth2::RequestTokenError::Parse(inner, _) => SyncError::Malformed {
            what: "a token answer",
            source: Some(inner.into_inner()),
        },
        oauth2::RequestTokenError::Other(text) => SyncError::Server(text),
    }
}

/// The authorization URL (PKCE S256, a fresh `state`, the endpoints' scopes and an optional
/// `login_hint`), with the `state` to check and the verifier to redeem the code with.
fn authorization(
    endpoints: &OAuthEndpoints,
    client: &OAuthClient,
    login_hint: Option<&str>,
) -> (url::Url, CsrfToken, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(endpoints.scopes.iter().map(|s| Scope::new(s.clone())))
        .set_pkce_challenge(challenge);
    if let Some(user) = login_hint {
        request = request.add_extra_param("login_hint", user);
    }
    let (url, csrf) = request.url();
    (url, csrf, verifier)
}

impl OAuthEndpoints {
    /// These endpoints, reached with `transport`'s timeouts and resolver.
    pub fn over(mut self, transport: &crate::request::Transport) -> Self {
        self.transport = transport.clone();
        self
    }

    /// The HTTP client of a sign-in: no redirects followed (against SSRF, and to read the code).
    fn http(&self) -> Result<OAuthHttp, SyncError> {
        self.transport.oauth_client()
    }
}

/// Tokens for one cloud, refreshed on demand by one task at a time.
#[derive(Debug)]
pub struct TokenSource {
    endpoints: OAuthEndpoints,
    http: OAuthHttp,
    tokens: Mutex<Tokens>,
    /// Set when the tokens must be refreshed before their next use whatever their expiry says.
    stale: std::sync::atomic::AtomicBool,
    /// Why the server refused the grant for good (revoked, password changed), once it has.
    /// Every later use fails at once with that reason instead of asking the token endpoint
    /// again (the stream, the polls and the outbox would otherwise each ask, at their own
    /// pace), until a new sign-in is adopted.
    refused: std::sync::Mutex<Option<String>>,
    /// Where the refresh token is kept (and under which account), if anywhere.
    vault: std::sync::Mutex<Option<(std::sync::Arc<dyn SecretStore>, String)>>,
    /// A server's own credentials (`app_auth`): new tokens come from the grant made again,
    /// not from a refresh token.
    pub(crate) app: Option<std::sync::Arc<crate::app_auth::AppCredentials>>,
}

impl TokenSource {
    fn assemble(endpoints: OAuthEndpoints, http: OAuthHttp, tokens: Tokens) -> Self {
        Self {
            endpoints,
            http,
            tokens: Mutex::new(tokens),
            stale: std::sync::atomic::AtomicBool::new(false),
            refused: std::sync::Mutex::new(None),
            vault: std::sync::Mutex::new(None),
            app: None,
        }
    }

    /// The timeouts and resolver its requests use.
    pub fn transport(&self) -> &crate::request::Transport {
        &self.endpoints.transport
    }

    pub fn new(endpoints: OAuthEndpoints, tokens: Tokens) -> Result<Self, SyncError> {
        let http = endpoints.http()?;
        Ok(Self::assemble(endpoints, http, tokens))
    }

    /// Signs in against a server that approves at once (the emulator): authorize with PKCE and
    /// `login_hint`, check `state`, redeem the code.
    pub async fn sign_in_auto_approved(
        endpoints: OAuthEndpoints,
        user: &str,
    ) -> Result<Self, SyncError> {
        let http = endpoints.http()?;
        let client = endpoints.client()?;
        let (url, csrf, verifier) = authorization(&endpoints, &client, Some(user));
        let response = http
            .client()
            .get(url)
            .send()
            .await
            .map_err(|error| SyncError::from_transport(&error))?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| SyncError::missing("a redirect from the authorize endpoint"))?;
        let redirected = url::Url::parse(location)
            .map_err(|_| SyncError::missing("a readable redirect from the authorize endpoint"))?;
        let query: std::collections::HashMap<String, String> =
            redirected.query_pairs().into_owned().collect();
        if let Some(error) = query.get("error") {
            return Err(SyncError::Unauthorized(format!("sign-in refused: {error}")));
        }
        if query.get("state") != Some(csrf.secret()) {
            return Err(SyncError::Unauthorized(
                "sign-in answered with a wrong state".into(),
            ));
        }
        let code = query
            .get("code")
            .ok_or_else(|| SyncError::missing("a code in the sign-in redirect"))?;
        Self::redeem(endpoints, http, &client, code.clone(), verifier).await
    }

    /// Signs in in the system browser: a loopback listener on 127.0.0.1, the authorization URL
    /// (PKCE S256, a fresh `state`) handed to `open_browser`, and the one valid callback's code
    /// redeemed. The endpoints' `redirect_url` is replaced by the listener's.
    pub async fn sign_in_with_browser(
        mut endpoints: OAuthEndpoints,
        open_browser: impl FnOnce(String),
        timeout: Duration,
    ) -> Result<Self, SyncError> {
        let listener = crate::loopback::LoopbackListener::bind().await?;
        endpoints.redirect_url = listener.redirect_url.clone();
        let http = endpoints.http()?;
        let client = endpoints.client()?;
        let (url, csrf, verifier) = authorization(&endpoints, &client, None);
        open_browser(url.to_string());
        let code = match listener.wait(csrf.secret(), timeout).await? {
            crate::loopback::Callback::Code(code) => code,
            crate::loopback::Callback::Refused { error, description } => {
                return Err(SyncError::Unauthorized(format!(
                    "sign-in refused: {error}{}",
                    description.map(|d| format!(" ({d})")).unwrap_or_default()
                )))
            }
        };
        Self::redeem(endpoints, http, &client, code, verifier).await
    }

    /// Redeems an authorization code with its PKCE verifier.
    async fn redeem(
        endpoints: OAuthEndpoints,
        http: OAuthHttp,
        client: &OAuthClient,
        code: String,
        verifier: PkceCodeVerifier,
    ) -> Result<Self, SyncError> {
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(oauth_error)?;
        Ok(Self::assemble(
            endpoints,
            http,
            tokens_from(&response, None),
        ))
    }

    /// Entra's device-code sign-in (for desktops where no browser can come back to a loopback
    /// port): shows the code through `show`, then polls as the server says (`interval`,
    /// `slow_down`) until the agent approves, refuses, or the code expires.
    pub async fn sign_in_with_device_code(
        endpoints: OAuthEndpoints,
        device_url: &str,
        show: impl FnOnce(DeviceCodePrompt),
    ) -> Result<Self, SyncError> {
        let http = endpoints.http()?;
        let client: DeviceClient = oauth2::Client::new(ClientId::new(endpoints.client_id.clone()))
            .set_device_authorization_url(
                oauth2::DeviceAuthorizationUrl::new(device_url.to_string())
                    .map_err(|_| SyncError::Settings("invalid device-code URL".into()))?,
            )
            .set_token_uri(
                TokenUrl::new(endpoints.token_url.clone())
                    .map_err(|_| SyncError::Settings("invalid token URL".into()))?,
            );
        let details: oauth2::StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(endpoints.scopes.iter().map(|s| Scope::new(s.clone())))
            .request_async(&http)
            .await
            .map_err(oauth_error)?;
        show(DeviceCodePrompt {
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            expires_in: details.expires_in(),
        });
        let response = client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, None)
            .await
            .map_err(oauth_error)?;
        Ok(Self::assemble(
            endpoints,
            http,
            tokens_from(&response, None),
        ))
    }

    /// Salesforce's device flow, whose parameters are its own (`response_type=device_code`,
    /// then `grant_type=device&code=…`), so it is spoken directly.
    pub async fn sign_in_salesforce_device(
        endpoints: OAuthEndpoints,
        show: impl FnOnce(DeviceCodePrompt),
    ) -> Result<Self, SyncError> {
        let http = endpoints.http()?;
        let scope = endpoints.scopes.join(" ");
        let response = http
            .client()
            .post(&endpoints.token_url)
            .form(&[
                ("response_type", "device_code"),
                ("client_id", endpoints.client_id.as_str()),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .map_err(|error| SyncError::from_transport(&error))?;
        let body = crate::error::read_body(response).await?;
        let started: DeviceCodeStart = wire::parse("a device-code answer", &body)?;
        let mut interval = Duration::from_secs(started.interval.unwrap_or(5));
        show(DeviceCodePrompt {
            user_code: started.user_code,
            verification_uri: started.verification_uri,
            expires_in: Duration::from_secs(600),
        });
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            tokio::time::sleep(interval).await;
            let response = http
                .client()
                .post(&endpoints.token_url)
                .form(&[
                    ("grant_type", "device"),
                    ("client_id", endpoints.client_id.as_str()),
                    ("code", started.device_code.as_str()),
                ])
                .send()
                .await
                .map_err(|error| SyncError::from_transport(&error))?;
            let ok = response.status().is_success();
            let body = crate::error::read_body(response).await?;
            if ok {
                let parsed: Response = wire::parse("a token answer", &body)?;
                return Ok(Self::assemble(endpoints, http, tokens_from(&parsed, None)));
            }
            let refusal: OAuthErrorAnswer = wire::parse("an OAuth error answer", &body)?;
            match refusal.error.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += Duration::from_secs(5),
                other => {
                    return Err(SyncError::Unauthorized(format!(
                        "device sign-in ended: {other}{}",
                        refusal
                            .error_description
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default()
                    )))
                }
            }
            if Instant::now() > deadline {
                return Err(SyncError::Unauthorized("the device code expired".into()));
            }
        }
    }

    /// Keeps the refresh token in `store` under `account` from now on (and saves it now).
    pub async fn keep_in(
        &self,
        store: std::sync::Arc<dyn SecretStore>,
        account: &str,
    ) -> Result<(), crate::secrets::SecretError> {
        if let Some(secret) = self.tokens.lock().await.refresh_token.clone() {
            store.save(account, &secret)?;
        }
        if let Ok(mut vault) = self.vault.lock() {
            *vault = Some((store, account.to_string()));
        }
        Ok(())
    }

    fn keep(&self, secret: &str) {
        let vault = self.vault.lock().ok().and_then(|v| v.clone());
        if let Some((store, account)) = vault {
            if let Err(error) = store.save(&account, secret) {
                tracing::warn!("the rotated refresh token could not be saved: {error}");
            }
        }
    }

    /// Signs in again without the agent from a refresh token kept in `store`. `Ok(None)` when
    /// there is none or it no longer works (it is then forgotten, and a sign-in is needed).
    pub async fn resume(
        endpoints: OAuthEndpoints,
        store: std::sync::Arc<dyn SecretStore>,
        account: &str,
    ) -> Result<Option<Self>, SyncError> {
        let Some(refresh) = store.load(account)? else {
            return Ok(None);
        };
        let source = Self::new(
            endpoints,
            Tokens {
                access_token: String::new(),
                refresh_token: Some(refresh),
                refresh_at: None,
                instance_url: None,
                identity_url: None,
            },
        )?;
        if let Ok(mut vault) = source.vault.lock() {
            *vault = Some((store.clone(), account.to_string()));
        }
        match source.refresh_after("").await {
            Ok(_) => Ok(Some(source)),
            Err(SyncError::Unauthorized(_)) => {
                let _ = store.delete(account);
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Takes over the tokens of a fresh sign-in (after the server refused ours: revoked, or the
    /// password changed), keeping its refresh token where ours was kept. Everything that holds
    /// this source uses the new tokens from its next request on.
    pub async fn adopt(&self, signed_in: TokenSource) {
        let fresh = signed_in.tokens.into_inner();
        let mut tokens = self.tokens.lock().await;
        if let Some(secret) = &fresh.refresh_token {
            self.keep(secret);
        }
        *tokens = fresh;
        self.stale.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut refused) = self.refused.lock() {
            *refused = None;
        }
    }

    /// The refusal that ended this sign-in, as the error every use now gets.
    fn refusal(&self) -> Option<SyncError> {
        let refused = self.refused.lock().ok()?.clone()?;
        Some(SyncError::Unauthorized(format!(
            "{refused} (sign in again to resume)"
        )))
    }

    /// Makes the next use refresh the tokens first. After the machine slept, their lifetimes
    /// ran on the servers' clocks while the monotonic one stood still, so `refresh_at` cannot be
    /// trusted; refreshing before the first call avoids a burst of 401s.
    pub fn refresh_before_next_use(&self) {
        self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The current access token, refreshed first if it is about to expire (or was marked with
    /// [`TokenSource::refresh_before_next_use`]).
    pub async fn access_token(&self) -> Result<String, SyncError> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        // Decided and refreshed under the lock: nobody is handed the old token meanwhile.
        let mut tokens = self.tokens.lock().await;
        let marked = self.stale.swap(false, std::sync::atomic::Ordering::SeqCst);
        if marked || tokens.refresh_at.is_some_and(|at| at <= Instant::now()) {
            let refreshed = self.refresh_locked(&mut tokens).await;
            if marked && matches!(refreshed, Err(SyncError::Network(_) | SyncError::Server(_))) {
                // Not reached (the network is not back yet): still due at the next use.
                self.stale.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            return refreshed;
        }
        Ok(tokens.access_token.clone())
    }

    pub async fn snapshot(&self) -> Tokens {
        self.tokens.lock().await.clone()
    }

    /// Refreshes because `failed` was refused. Single flight: whoever holds the lock refreshes;
    /// everyone else finds a newer token and uses it.
    pub async fn refresh_after(&self, failed: &str) -> Result<String, SyncError> {
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        let mut tokens = self.tokens.lock().await;
        if tokens.access_token != failed {
            return Ok(tokens.access_token.clone());
        }
        self.refresh_locked(&mut tokens).await
    }

    /// Redeems the refresh token; the caller holds the lock.
    async fn refresh_locked(&self, tokens: &mut Tokens) -> Result<String, SyncError> {
        // Checked again under the lock: a caller that waited for it while the grant was
        // refused must not ask once more.
        if let Some(refusal) = self.refusal() {
            return Err(refusal);
        }
        if let Some(app) = &self.app {
            // A refused grant is the server's configuration (a secret changed): not kept as
            // a refusal, so that the next attempt, after the retry policy's wait, asks again.
            *tokens = app.grant().await?;
            return Ok(tokens.access_token.clone());
        }
        let refresh = tokens
            .refresh_token
            .clone()
            .ok_or_else(|| SyncError::Unauthorized("no refresh token: sign in again".into()))?;
        let client = self.endpoints.client()?;
        let response = match client
            .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
            .request_async(&self.http)
            .await
            .map_err(oauth_error)
        {
            Ok(response) => response,
            Err(SyncError::Unauthorized(reason)) => {
                if let Ok(mut refused) = self.refused.lock() {
                    *refused = Some(reason.clone());
                }
                return Err(SyncError::Unauthorized(reason));
            }
            Err(other) => return Err(other),
        };
        // The rotated refresh token is in place before anyone uses the new access token.
        let mut fresh = tokens_from(&response, Some(refresh));
        if fresh.instance_url.is_none() {
            fresh.instance_url = tokens.instance_url.clone();
            fresh.identity_url = tokens.identity_url.clone();
        }
        // The rotated refresh token is saved before the new access token is used (A3).
        if fresh.refresh_token != tokens.refresh_token {
            if let Some(secret) = &fresh.refresh_token {
                crash_if_asked_before_saving_a_refresh();
                self.keep(secret);
            }
        }
        *tokens = fresh;
        Ok(tokens.access_token.clone())
    }
}

/// Debug builds only, for row A4's test: with `PRESENCE_BRIDGE_TEST_CRASH_BEFORE_SAVING_REFRESH`
/// set, the process dies by SIGKILL, as in a crash, after the server rotated the refresh token
/// and before the new one is saved. Release builds have no such door.
fn crash_if_asked_before_saving_a_refresh() {
    #[cfg(all(debug_assertions, unix))]
    if std::env::var_os("PRESENCE_BRIDGE_TEST_CRASH_BEFORE_SAVING_REFRESH").is_some() {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

// The tests (Debug never shows a secret) live beside it, to keep this file about sign-in.
#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
