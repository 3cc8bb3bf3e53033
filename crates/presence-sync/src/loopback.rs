//! Sign-in in the system browser with a loopback redirect (RFC 8252): a listener on
//! 127.0.0.1 with a port of the system's choosing accepts exactly one valid callback (right
//! path, right `state`, a `code`), answers anything else with an error page and keeps waiting,
//! ends the flow on an authorization error, and closes as soon as it has its answer, so a
//! replayed callback finds nothing listening.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::SyncError;

pub const CALLBACK_PATH: &str = "/callback";

/// A listener waiting for the browser to come back.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    pub redirect_url: String,
}

/// What a callback brought (`Debug` leaves the code out).
#[derive(Clone, PartialEq, Eq)]
pub enum Callback {
    Code(String),
    Refused {
        error: String,
        description: Option<String>,
    },
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Callback::Code(_) => f.write_str("Code([redacted])"),
            Callback::Refused { error, description } => f
                .debug_struct("Refused")
                .field("error", error)
                .field("description", description)
                .finish(),
        }
    }
}

impl LoopbackListener {
    /// Binds 127.0.0.1 on a free port (never all interfaces).
    pub async fn bind() -> Result<Self, SyncError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|error| {
            SyncError::Network(format!("cannot listen for the sign-in redirect: {error}"))
        })?;
        let port = listener
            .local_addr()
            .map_err(|error| SyncError::Network(error.to_string()))?
            .port();
        Ok(Self {
            listener,
            redirect_url: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// Waits for the one valid callback carrying `state`, or an authorization error, for at
    /// most `timeout`. The listener is closed when this returns.
    pub async fn wait(self, state: &str, timeout: Duration) -> Result<Callback, SyncError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let accepted = tokio::time::timeout_at(deadline, self.listener.accept()).await;
            let Ok(Ok((mut socket, _))) = accepted else {
                return Err(SyncError::Unauthorized(
                    "sign-in timed out in the browser".into(),
                ));
            };
            let mut buffer = vec![0u8; 8192];
            let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await;
            let Ok(Ok(length)) = read else { continue };
            let request = String::from_utf8_lossy(&buffer[..length]).to_string();
            let verdict = judge(&request, state);
            let (status, page) = match &verdict {
                Verdict::Done(Callback::Code(_)) => (
                    "200 OK",
                    "Signed in. You can close this window and return to Presence Bridge.",
                ),
                Verdict::Done(Callback::Refused { .. }) => (
                    "200 OK",
                    "Sign-in was refused. Return to Presence Bridge to try again.",
                ),
                Verdict::Ignore(reason) => ("400 Bad Request", *reason),
            };
            let body = format!("<!doctype html><title>Presence Bridge</title><p>{page}</p>");
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
            if let Verdict::Done(callback) = verdict {
                return Ok(callback);
            }
        }
    }
}

enum Verdict {
    Done(Callback),
    Ignore(&'static str),
}

fn judge(request: &str, expected_state: &str) -> Verdict {
    let Some(line) = request.lines().next() else {
        return Verdict::Ignore("Empty request.");
    };
    let mut parts = line.split_whitespace();
    if parts.next() != Some("GET") {
        return Verdict::Ignore("Only the sign-in redirect is served here.");
    }
    let target = parts.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return Verdict::Ignore("Not the sign-in redirect.");
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    // The state is checked first: a callback with a wrong state is not ours, whatever it says.
    if params.get("state").map(String::as_str) != Some(expected_state) {
        return Verdict::Ignore("This sign-in answer does not belong to this sign-in.");
    }
    if let Some(error) = params.get("error") {
        return Verdict::Done(Callback::Refused {
            error: error.clone(),
            description: params.get("error_description").cloned(),
        });
    }
    match params.get("code").filter(|code| !code.is_empty()) {
        Some(code) => Verdict::Done(Callback::Code(code.clone())),
        None => Verdict::Ignore("The sign-in answer carried no code."),
    }
}
