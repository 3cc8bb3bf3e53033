//! What every route shares: the shared state, fault injection, request counting, error bodies
//! in each cloud's own shape.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::clock::graph_date;
use crate::ids;
use crate::world::{Api, FaultKind, World};

/// The state every handler sees.
#[derive(Debug)]
pub struct Shared {
    pub world: Mutex<World>,
    /// Woken whenever streaming events may have been queued.
    pub events: Notify,
    /// Woken whenever notifications for the calling bot may have been queued.
    pub notifications: Notify,
    pub base_url: Mutex<String>,
}

pub type AppState = Arc<Shared>;

impl Shared {
    /// The world, even if a handler panicked while holding it (state stays usable).
    pub fn world(&self) -> MutexGuard<'_, World> {
        match self.world.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn base_url(&self) -> String {
        match self.base_url.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Counts the request and applies an injected fault, if one matches. Returns the response to
/// send instead of the real one.
pub async fn gate(state: &AppState, api: Api, route: &str, path: &str) -> Option<Response> {
    let fault = {
        let mut world = state.world();
        world.count(api.name());
        world.count(&format!("{} {route}", api.name()));
        world.take_fault(api, path)
    };
    match fault? {
        FaultKind::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            None
        }
        FaultKind::Drop => Some(dropped_connection()),
        // Taken by the request log layer, after the request was carried out.
        FaultKind::LostReply => None,
        FaultKind::Malformed => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"availability\": \"Avail",
            )
                .into_response(),
        ),
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Some(error_for(state, api, status, retry_after))
        }
    }
}

/// A response whose body fails mid-way: the client sees the connection reset.
pub fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Vec<u8>, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "emulated dropped connection",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "4096")
        .body(Body::from_stream(failing))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// The error body each cloud sends for a status.
pub fn error_for(
    state: &AppState,
    api: Api,
    status: StatusCode,
    retry_after: Option<u64>,
) -> Response {
    let now = state.world().now_ms();
    let mut response = match api {
        Api::Graph => {
            let code = match status.as_u16() {
                429 => "TooManyRequests",
                401 => "InvalidAuthenticationToken",
                403 => "Forbidden",
                404 => "NotFound",
                400 => "BadRequest",
                503 => "serviceNotAvailable",
                _ => "UnknownError",
            };
            graph_error(status, code, "Emulated fault.", now)
        }
        Api::Entra => entra_error(
            status,
            "temporarily_unavailable",
            90006,
            "The server is temporarily unavailable (emulated fault).",
            now,
        ),
        Api::Salesforce | Api::Cometd => {
            let (code, message) = match status.as_u16() {
                401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
                403 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
                404 => ("NOT_FOUND", "The requested resource does not exist"),
                429 | 503 => ("SERVER_UNAVAILABLE", "Server unavailable (emulated fault)."),
                _ => (
                    "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred (emulated fault).",
                ),
            };
            salesforce_error(status, code, message, None)
        }
    };
    if let Some(seconds) = retry_after {
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

/// Graph's error envelope.
pub fn graph_error(status: StatusCode, code: &str, message: &str, now_ms: i64) -> Response {
    let request_id = ids::guid();
    let mut inner = json!({
        "date": graph_date(now_ms),
        "request-id": request_id,
        "client-request-id": request_id,
    });
    if status == StatusCode::TOO_MANY_REQUESTS {
        inner["code"] = json!("429");
        inner["message"] = json!("Please retry after");
        inner["status"] = json!("429");
    }
    let body = json!({ "error": { "code": code, "message": message, "innerError": inner } });
    let mut response = (status, graph_json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
            ),
        );
    }
    response
}

/// A Graph JSON body with Graph's content type and headers.
pub fn graph_json(body: Value) -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
}

/// Entra's token-endpoint error body.
pub fn entra_error(
    status: StatusCode,
    error: &str,
    aadsts: u32,
    text: &str,
    now_ms: i64,
) -> Response {
    let trace = ids::guid();
    let correlation = ids::guid();
    let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|at| at.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default();
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{aadsts}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}"),
        "error_codes": [aadsts],
        "timestamp": timestamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": format!("https://login.microsoftonline.com/error?code={aadsts}"),
    });
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Salesforce's error array.
pub fn salesforce_error(
    status: StatusCode,
    code: &str,
    message: &str,
    fields: Option<Vec<String>>,
) -> Response {
    let mut entry = json!({ "message": message, "errorCode": code });
    if let Some(fields) = fields {
        entry["fields"] = json!(fields);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        json!([entry]).to_string(),
    )
        .into_response()
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
}
