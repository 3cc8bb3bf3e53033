//! A server signing in as itself: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4), for
//! the call controller. Entra issues app-only Graph tokens this way (scope
//! `https://graph.microsoft.com/.default`, application permissions), and Salesforce signs a
//! server in as the "run as" integration user of a connected app's client-credentials flow.
//! Neither answers with a refresh token: when the access token ends or is refused, the
//! [`TokenSource`] made by [`TokenSource::for_app`] simply makes the grant again.

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, Scope, StandardRevocableToken,
    TokenUrl,
};

use crate::auth::{tokens_from, OAuthEndpoints, TokenAnswer, TokenSource, Tokens};

/// A client with only a token endpoint, whose answers keep Salesforce's `instance_url`.
type AppClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;
use crate::error::SyncError;

/// What a server signs in with.
#[derive(Clone)]
pub struct AppCredentials {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub transport: crate::request::Transport,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &crate::auth::redacted(Some(&self.client_secret)),
            )
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl AppCredentials {
    /// An Entra app in `tenant` asking for Graph's application permissions.
    pub fn entra(login_base: &str, tenant: &str, client_id: &str, secret: &str) -> Self {
        Self {
            token_url: format!(
                "{}/{tenant}/oauth2/v2.0/token",
                login_base.trim_end_matches('/')
            ),
            client_id: client_id.into(),
            client_secret: secret.into(),
            scopes: vec!["https://graph.microsoft.com/.default".into()],
            transport: crate::request::Transport::default(),
        }
    }

    /// A Salesforce connected app whose client-credentials flow runs as an integration user
    /// (the org's My Domain: Salesforce refuses the flow on login.salesforce.com).
    pub fn salesforce(my_domain: &str, client_id: &str, secret: &str) -> Self {
        Self {
            token_url: format!("{}/services/oauth2/token", my_domain.trim_end_matches('/')),
            client_id: client_id.into(),
            client_secret: secret.into(),
            scopes: Vec::new(),
            transport: crate::request::Transport::default(),
        }
    }

    pub fn over(mut self, transport: &crate::request::Transport) -> Self {
        self.transport = transport.clone();
        self
    }

    /// Makes the grant once: fresh tokens, or why not.
    pub async fn grant(&self) -> Result<Tokens, SyncError> {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|_| SyncError::Settings(format!("invalid token URL {:?}", self.token_url)))?;
        let client: AppClient = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            // In the form (client_secret_post): both Entra and Salesforce take it there.
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let http = self.transport.oauth_client()?;
        let request = self
            .scopes
            .iter()
            .fold(client.exchange_client_credentials(), |request, scope| {
                request.add_scope(Scope::new(scope.clone()))
            });
        let response = request
            .request_async(&http)
            .await
            .map_err(crate::auth::oauth_error)?;
        Ok(tokens_from(&response, None))
    }
}

impl TokenSource {
    /// A token source for a server: the grant is made now and again whenever the tokens end
    /// or are refused (there is no refresh token to redeem).
    pub async fn for_app(credentials: AppCredentials) -> Result<Self, SyncError> {
        let tokens = credentials.grant().await?;
        let endpoints = OAuthEndpoints {
            authorize_url: credentials.token_url.clone(),
            token_url: credentials.token_url.clone(),
            client_id: credentials.client_id.clone(),
            scopes: credentials.scopes.clone(),
            // Unused: no browser takes part in this grant.
            redirect_url: "http://127.0.0.1/".into(),
            transport: credentials.transport.clone(),
        };
        let mut source = TokenSource::new(endpoints, tokens)?;
        source.app = Some(std::sync::Arc::new(credentials));
        Ok(source)
    }
}
