//! One authorized request, shared by every client: the current token, and on a 401 one refresh
//! (single-flight, in the token source) and one replay.

use serde_json::Value;

use crate::auth::TokenSource;
use crate::error::{read_body, retry_after, status_error, SyncError};

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
