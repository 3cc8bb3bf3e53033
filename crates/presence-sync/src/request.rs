//! One authorized request, shared by every client: the current token, and on a 401 one refresh
//! (single-flight, in the token source) and one replay.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::TokenSource;
use crate::error::{read_body, retry_after, status_error, SyncError};

/// How the clients reach the clouds: timeouts, and (for tests of name resolution) a resolver.
#[derive(Clone)]
pub struct Transport {
    /// The whole request, answer included: a server that accepts and then stalls or drips
    /// bytes is given up on after this, and the failure retried with backoff.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Resolves host names instead of the system resolver.
    pub resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            resolver: None,
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("resolver", &self.resolver.is_some())
            .finish()
    }
}

impl Transport {
    /// An HTTP client with these settings (rustls, the platform's and Mozilla's roots;
    /// certificate checks always on).
    pub fn client(&self) -> Result<reqwest::Client, SyncError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout);
        if let Some(resolver) = &self.resolver {
            builder = builder.dns_resolver(Arc::new(SharedResolver(resolver.clone())));
        }
        builder
            .build()
            .map_err(|error| SyncError::Network(error.to_string()))
    }
}

/// `reqwest` wants a sized resolver; this hands each lookup to the shared one.
struct SharedResolver(Arc<dyn reqwest::dns::Resolve>);

impl reqwest::dns::Resolve for SharedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.resolve(name)
    }
}

pub async fn send_authorized(
    http: &reqwest::Client,
    tokens: &TokenSource,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Vec<u8>, SyncError> {
    let mut token = tokens.access_token().await?;
    for attempt in 0..2 {
        let mut request = http.request(method.clone(), url).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| SyncError::from_transport(&error))?;
        let status = response.status();
        let wait = retry_after(&response);
        if status.is_success() {
            return read_body(response).await;
        }
        let body = read_body(response).await.unwrap_or_default();
        if status.as_u16() == 401 && attempt == 0 {
            token = tokens.refresh_after(&token).await?;
            continue;
        }
        return Err(status_error(status, wait, &body));
    }
    Err(SyncError::Unauthorized(
        "the token was refused again after a refresh".into(),
    ))
}
