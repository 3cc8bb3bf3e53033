//! One authorized request, shared by every client: the current token, and on a 401 one refresh
//! (single-flight, in the token source) and one replay.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::auth::TokenSource;
use crate::error::{read_body, retry_after, status_error, SyncError};

/// The sign-in servers' HTTP client, for the `oauth2` crate and our own token requests.
/// Written here because the crate's reqwest adapter reads a whole answer however large
/// (`Response::bytes`); this one reads at most [`crate::error::MAX_BODY_BYTES`] through
/// [`read_body`] (reliability row B1) and keeps transport failures typed, so that a refused
/// connection is retried as a network error and never read as "sign-in needed".
#[derive(Clone, Debug)]
pub struct OAuthHttp(reqwest::Client);

impl OAuthHttp {
    /// The client itself, for the requests the `oauth2` crate does not make.
    pub fn client(&self) -> &reqwest::Client {
        &self.0
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = SyncError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, SyncError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)
                .map_err(|error| SyncError::from_transport(&error))?;
            let response = self
                .0
                .execute(request)
                .await
                .map_err(|error| SyncError::from_transport(&error))?;
            let mut answer = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = read_body(response).await?;
            answer
                .body(body)
                .map_err(|error| SyncError::Server(format!("an unreadable answer: {error}")))
        })
    }
}

/// How the clients reach the clouds: timeouts, certificates trusted besides the system's, and
/// (for tests of name resolution) a resolver.
#[derive(Clone)]
pub struct Transport {
    /// The whole request, answer included: a server that accepts and then stalls or drips
    /// bytes is given up on after this, and the failure retried with backoff.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Resolves host names instead of the system resolver.
    pub resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    /// Certificates (PEM) trusted as roots besides the system's: a company's TLS-inspecting
    /// proxy, or the emulator's self-signed one. Checks are never turned off.
    pub trusted_certificates: Vec<String>,
    /// How long Salesforce is left alone after it refuses for a spent allowance
    /// (`REQUEST_LIMIT_EXCEEDED`, which carries no `Retry-After`). The engine clamps it to
    /// [1 s, 15 min] and cools the whole link: reads, writes and heartbeats.
    pub salesforce_limit_cool_down: Duration,
    /// The whole of one Streaming API long poll: longer than the server's hold of a
    /// `/meta/connect` (110 s at Salesforce), so that a stream the server stopped answering
    /// is given up on and handshaken again (the polls stand in meanwhile).
    pub long_poll_timeout: Duration,
}

impl Default for Transport {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            resolver: None,
            trusted_certificates: Vec::new(),
            salesforce_limit_cool_down: Duration::from_secs(300),
            long_poll_timeout: Duration::from_secs(130),
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("resolver", &self.resolver.is_some())
            .field("trusted_certificates", &self.trusted_certificates.len())
            .field(
                "salesforce_limit_cool_down",
                &self.salesforce_limit_cool_down,
            )
            .field("long_poll_timeout", &self.long_poll_timeout)
            .finish()
    }
}

impl Transport {
    /// An HTTP client with these settings (rustls, the platform's and Mozilla's roots;
    /// certificate checks always on).
    pub fn client(&self) -> Result<reqwest::Client, SyncError> {
        self.builder()?
            .build()
            .map_err(|error| SyncError::Network(error.to_string()))
    }

    /// A client for long polls (the Streaming API): these settings, a cookie store (CometD's
    /// `BAYEUX_BROWSER`), and [`Transport::long_poll_timeout`] in place of the request timeout.
    pub fn long_poll_client(&self) -> Result<reqwest::Client, SyncError> {
        self.builder()?
            .cookie_store(true)
            .timeout(self.long_poll_timeout)
            .build()
            .map_err(|error| SyncError::Network(error.to_string()))
    }

    /// A client for sign-in and token requests: the same timeouts and resolver, and no
    /// redirect followed (against SSRF, and so that the authorization code can be read).
    pub fn oauth_client(&self) -> Result<OAuthHttp, SyncError> {
        self.builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(OAuthHttp)
            .map_err(|error| SyncError::Network(error.to_string()))
    }

    fn builder(&self) -> Result<reqwest::ClientBuilder, SyncError> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.request_timeout)
            .connect_timeout(self.connect_timeout);
        if let Some(resolver) = &self.resolver {
            builder = builder.dns_resolver(Arc::new(SharedResolver(resolver.clone())));
        }
        for pem in &self.trusted_certificates {
            let certificate = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|error| SyncError::Settings(format!("a trusted certificate: {error}")))?;
            builder = builder.add_root_certificate(certificate);
        }
        Ok(builder)
    }
}

/// `reqwest` wants a sized resolver; this hands each lookup to the shared one.
struct SharedResolver(Arc<dyn reqwest::dns::Resolve>);

impl reqwest::dns::Resolve for SharedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.resolve(name)
    }
}

/// A span for people: "3 h 0 min", "12 min", "45 s" (rounded to the unit shown; `Date` has
/// one-second resolution, so the exact figure would only look precise).
fn human_span(ms: u64) -> String {
    let seconds = (ms + 500) / 1000;
    let minutes = (ms + 30_000) / 60_000;
    if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else if ms >= 60_000 {
        format!("{minutes} min")
    } else {
        format!("{seconds} s")
    }
}

/// Salesforce's API allowance as `Sforce-Limit-Info: api-usage=used/limit` tells it.
#[derive(Debug, Default)]
pub struct ApiUsage {
    used: std::sync::atomic::AtomicU64,
    limit: std::sync::atomic::AtomicU64,
}

impl ApiUsage {
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let Some((used, limit)) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .find_map(|part| part.trim().strip_prefix("api-usage="))
            })
            .and_then(|v| v.split_once('/'))
            .and_then(|(used, limit)| {
                Some((used.trim().parse().ok()?, limit.trim().parse().ok()?))
            })
        else {
            return;
        };
        self.used.store(used, std::sync::atomic::Ordering::SeqCst);
        self.limit.store(limit, std::sync::atomic::Ordering::SeqCst);
    }

    /// (used, limit) as last reported, if ever.
    pub fn get(&self) -> Option<(u64, u64)> {
        let limit = self.limit.load(std::sync::atomic::Ordering::SeqCst);
        (limit > 0).then(|| (self.used.load(std::sync::atomic::Ordering::SeqCst), limit))
    }
}

/// The server's clock as its `Date` headers tell it, for the times we write into its records
/// (heartbeats, call times): a desktop clock that is hours off must not make the agent look
/// gone to the call controller. Differences under [`ServerClock::TOLERANCE`] are ignored
/// (`Date` has one-second resolution and answers take time).
#[derive(Debug, Default)]
pub struct ServerClock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl ServerClock {
    pub const TOLERANCE: Duration = Duration::from_secs(30);

    /// Reads the `Date` header of an answer.
    pub fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let Some(date) = crate::error::http_date(headers, reqwest::header::DATE) else {
            return;
        };
        let offset = date.timestamp_millis() - chrono::Utc::now().timestamp_millis();
        let offset = if offset.unsigned_abs() < Self::TOLERANCE.as_millis() as u64 {
            0
        } else {
            offset
        };
        let before = self
            .offset_ms
            .swap(offset, std::sync::atomic::Ordering::SeqCst);
        if offset != 0 && (offset - before).unsigned_abs() >= Self::TOLERANCE.as_millis() as u64 {
            tracing::warn!(
                "this computer's clock is {} {} the server's; times written there are corrected",
                human_span(offset.unsigned_abs()),
                if offset > 0 { "behind" } else { "ahead of" }
            );
        }
    }

    /// How far the server's clock is ahead of ours (negative: behind), 0 within tolerance.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Now, by the server's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.offset()
    }
}

pub async fn send_authorized(
    http: &reqwest::Client,
    tokens: &TokenSource,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> Result<Vec<u8>, SyncError> {
    send_observed(http, tokens, method, url, body, None).await
}

/// What an answer's headers are shown to (the server's clock, its API allowance).
pub type Observer<'a> = &'a (dyn Fn(&reqwest::header::HeaderMap) + Send + Sync);

/// [`send_authorized`], showing every answer's headers to `observe`.
pub async fn send_observed(
    http: &reqwest::Client,
    tokens: &TokenSource,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
    observe: Option<Observer<'_>>,
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
        if let Some(observe) = observe {
            observe(response.headers());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_people_say_them_whatever_the_second_the_date_header_cut() {
        assert_eq!(human_span(10_799_400), "3 h 0 min");
        assert_eq!(human_span(10_800_600), "3 h 0 min");
        assert_eq!(human_span(12 * 60_000 + 10_000), "12 min");
        assert_eq!(human_span(45_200), "45 s");
    }

    #[test]
    fn api_usage_is_read_from_sforce_limit_info() {
        let usage = ApiUsage::default();
        assert_eq!(usage.get(), None);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "sforce-limit-info",
            reqwest::header::HeaderValue::from_static("api-usage=812/15000"),
        );
        usage.observe(&headers);
        assert_eq!(usage.get(), Some((812, 15_000)));
        headers.insert(
            "sforce-limit-info",
            reqwest::header::HeaderValue::from_static("api-usage=lots"),
        );
        usage.observe(&headers);
        assert_eq!(
            usage.get(),
            Some((812, 15_000)),
            "garbage leaves the last figures"
        );
    }
}
