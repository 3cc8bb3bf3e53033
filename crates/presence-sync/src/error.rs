//! One error type for the connectors, with the `kind()` the engine branches on.

use std::time::Duration;

use presence_core::Failure;
use thiserror::Error;

/// Longest response body read from a server; anything larger is refused.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a call to a cloud did not work. Each variant says what happened; [`SyncError::kind`] is
/// what the engine makes of it. No code branches on an error's text.
#[derive(Debug, Error)]
pub enum SyncError {
    /// Our credentials were refused and a refresh did not help, or the agent (or the
    /// administrator's policy) refused the sign-in: a sign-in is needed.
    #[error("sign-in needed: {0}")]
    Unauthorized(String),
    /// HTTP 429, or Salesforce's `REQUEST_LIMIT_EXCEEDED`: wait `retry_after`, then try again.
    #[error("throttled by the server")]
    RateLimited { retry_after: Option<Duration> },
    /// The server failed (HTTP 5xx), timed out or cut its answer short: it may pass.
    #[error("the server failed: {0}")]
    Server(String),
    /// The host cannot be reached: name resolution, connection, TLS trust.
    #[error("network: {0}")]
    Network(String),
    /// The server refused this request for good (HTTP 4xx other than 401 and 429): retrying
    /// would not help.
    #[error("the server refused the request: HTTP {status}: {body}")]
    Refused { status: u16, body: String },
    /// The settings name something that cannot be used (a URL that does not parse).
    #[error("the settings cannot be used: {0}")]
    Settings(String),
    /// An answer that is not what the API documents: what was expected, and why not.
    #[error("unexpected answer from the server: {what}{}", .source.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    Malformed {
        what: &'static str,
        #[source]
        source: Option<serde_json::Error>,
    },
    /// The Streaming API refused (a Bayeux error: `403::Unknown client`, say).
    #[error("the stream refused: {0}")]
    Stream(crate::wire::bayeux::BayeuxError),
    /// The OS keyring did not keep a sign-in.
    #[error("the sign-in could not be kept: {0}")]
    Secret(#[from] crate::secrets::SecretError),
}

impl SyncError {
    /// An answer without something the API documents (no `instance_url`, say).
    pub fn missing(what: &'static str) -> Self {
        SyncError::Malformed { what, source: None }
    }

    /// How the engine should treat this failure.
    pub fn kind(&self) -> Failure {
        match self {
            SyncError::Unauthorized(_) => Failure::Unauthorized,
            SyncError::RateLimited { retry_after } => Failure::RateLimited {
                retry_after: *retry_after,
            },
            SyncError::Server(reason) => Failure::Transient {
                reason: reason.clone(),
            },
            SyncError::Malformed { .. } | SyncError::Stream(_) | SyncError::Secret(_) => {
                Failure::Transient {
                    reason: self.to_string(),
                }
            }
            SyncError::Network(reason) => Failure::Offline {
                reason: reason.clone(),
            },
            SyncError::Refused { status, body } => Failure::Rejected {
                reason: format!("HTTP {status}: {body}"),
            },
            SyncError::Settings(reason) => Failure::Rejected {
                reason: reason.clone(),
            },
        }
    }

    /// Classifies a failed request. A certificate the client does not trust is an
    /// offline-class failure with its own words (retried with backoff, never with checks
    /// turned off); a timeout or a cut answer is transient (the outcome is unknown, so the
    /// write is retried, which upsert keys make safe).
    pub fn from_transport(error: &reqwest::Error) -> Self {
        let cause = innermost_cause(error);
        if cause.contains("certificate") || cause.to_ascii_lowercase().contains("tls") {
            SyncError::Network(format!("TLS: {cause}"))
        } else if error.is_timeout() {
            SyncError::Server("timed out".into())
        } else if error.is_connect() {
            if cause.contains("dns") || cause.contains("resolve") || cause.contains("lookup") {
                SyncError::Network(format!("cannot resolve the host: {cause}"))
            } else {
                SyncError::Network(format!("cannot connect: {cause}"))
            }
        } else if error.is_body() || error.is_decode() {
            SyncError::Server("the response was cut off".into())
        } else {
            SyncError::Network(format!("request failed: {cause}"))
        }
    }
}

/// The deepest cause of a transport error, in its own words (not the top level, which names
/// the URL), at most 200 characters.
fn innermost_cause(error: &reqwest::Error) -> String {
    let mut deepest = None;
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        deepest = Some(inner.to_string());
        cause = inner.source();
    }
    deepest
        .unwrap_or_else(|| "no detail".into())
        .chars()
        .take(200)
        .collect()
}

/// Reads a response body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, SyncError> {
    if response
        .content_length()
        .is_some_and(|length| length as usize > MAX_BODY_BYTES)
    {
        return Err(SyncError::missing("a body of at most 1 MiB"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| SyncError::from_transport(&error))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(SyncError::missing("a body of at most 1 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns a non-success status into an error of the right kind.
pub fn status_error(
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> SyncError {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
    match status.as_u16() {
        401 => SyncError::Unauthorized(text),
        429 => SyncError::RateLimited { retry_after },
        // Salesforce's spent daily allowance (its REST error code, not a refusal for good).
        403 if crate::wire::salesforce::error_code(body).as_deref()
            == Some("REQUEST_LIMIT_EXCEEDED") =>
        {
            SyncError::RateLimited { retry_after }
        }
        500..=599 => SyncError::Server(format!("HTTP {status}")),
        code => SyncError::Refused {
            status: code,
            body: text,
        },
    }
}

/// The `Retry-After` of a response: delta-seconds, or an HTTP date measured against the
/// response's own `Date` (so a wrong desktop clock does not stretch or cancel the wait), else
/// against ours. Clamping happens in the engine.
pub fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    retry_after_from(response.headers())
}

pub(crate) fn retry_after_from(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Some(seconds) = presence_core::retry::parse_retry_after_seconds(value) {
        return Some(seconds);
    }
    let at = http_date(headers, reqwest::header::RETRY_AFTER)?;
    let now = http_date(headers, reqwest::header::DATE).unwrap_or_else(chrono::Utc::now);
    // A date in the past means "now"; the engine's floor applies.
    Some((at - now).to_std().unwrap_or_default())
}

/// A header holding an HTTP date (`Wed, 25 Nov 2026 14:00:00 GMT`), if it does.
pub(crate) fn http_date(
    headers: &reqwest::header::HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = headers.get(name)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(value.trim())
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, DATE, RETRY_AFTER};

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates_against_the_servers_date() {
        assert_eq!(
            retry_after_from(&headers(&[(RETRY_AFTER, "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after_from(&headers(&[
                (RETRY_AFTER, "Wed, 25 Nov 2026 14:00:07 GMT"),
                (DATE, "Wed, 25 Nov 2026 14:00:00 GMT"),
            ])),
            Some(Duration::from_secs(7)),
            "measured against the server's Date, not our clock"
        );
        assert_eq!(
            retry_after_from(&headers(&[
                (RETRY_AFTER, "Wed, 25 Nov 2026 13:00:00 GMT"),
                (DATE, "Wed, 25 Nov 2026 14:00:00 GMT"),
            ])),
            Some(Duration::ZERO),
            "a past date means now"
        );
        for garbage in ["-5", "soon", "", "9999999999999999999999999999999999"] {
            assert_eq!(
                retry_after_from(&headers(&[(RETRY_AFTER, garbage)])),
                None,
                "{garbage:?}"
            );
        }
        assert_eq!(retry_after_from(&HeaderMap::new()), None);
    }
}
