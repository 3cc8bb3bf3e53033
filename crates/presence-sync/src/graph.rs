//! The Teams side: Microsoft Graph presence, one method per call.

use std::sync::Arc;

use presence_core::{TeamsPair, TeamsPresence};

use crate::auth::TokenSource;
use crate::error::SyncError;
use crate::request::{send_authorized, Transport};
use crate::wire::graph::{ClearSession, NoParameters, PreferredPresence, SessionPresence};
use crate::wire::{self, GraphPresence, GraphUser};

#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenSource>,
    /// The app's client id: the `sessionId` of its presence session.
    client_id: String,
}

impl GraphClient {
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// `base` is `https://graph.microsoft.com` or the emulator.
    pub fn new(base: &str, tokens: Arc<TokenSource>, client_id: &str) -> Result<Self, SyncError> {
        Self::with_transport(base, tokens, client_id, &Transport::default())
    }

    pub fn with_transport(
        base: &str,
        tokens: Arc<TokenSource>,
        client_id: &str,
        transport: &Transport,
    ) -> Result<Self, SyncError> {
        let http = transport.client()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            client_id: client_id.to_string(),
        })
    }

    /// Sends a request with the current token; on a 401 refreshes once and replays it.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Vec<u8>, SyncError> {
        let url = format!("{}{path}", self.base);
        let body = body.map(wire::body).transpose()?;
        send_authorized(&self.http, &self.tokens, method, &url, body.as_ref()).await
    }

    pub async fn me(&self) -> Result<GraphUser, SyncError> {
        let body = self
            .send(reqwest::Method::GET, "/v1.0/me", wire::NO_BODY)
            .await?;
        wire::parse("a Graph user", &body)
    }

    pub async fn my_presence(&self) -> Result<TeamsPresence, SyncError> {
        let body = self
            .send(reqwest::Method::GET, "/v1.0/me/presence", wire::NO_BODY)
            .await?;
        let wire: GraphPresence = wire::parse("a Graph presence", &body)?;
        Ok(wire.into_presence())
    }

    pub async fn set_preferred(&self, target: &TeamsPair) -> Result<(), SyncError> {
        self.send(
            reqwest::Method::POST,
            "/v1.0/me/presence/setUserPreferredPresence",
            Some(&PreferredPresence::new(target)),
        )
        .await
        .map(|_| ())
    }

    /// Keeps the app's presence session alive (refresh before 5 minutes).
    pub async fn keep_session(&self, pair: &TeamsPair) -> Result<(), SyncError> {
        let body = SessionPresence {
            session_id: &self.client_id,
            availability: pair.availability.as_str(),
            activity: pair.activity.as_str(),
            expiration_duration: "PT1H",
        };
        self.send(
            reqwest::Method::POST,
            "/v1.0/me/presence/setPresence",
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Hands Teams back to itself: clears our preferred presence and our session.
    pub async fn release(&self) -> Result<(), SyncError> {
        self.send(
            reqwest::Method::POST,
            "/v1.0/me/presence/clearUserPreferredPresence",
            Some(&NoParameters {}),
        )
        .await?;
        let ours = ClearSession {
            session_id: &self.client_id,
        };
        match self
            .send(
                reqwest::Method::POST,
                "/v1.0/me/presence/clearPresence",
                Some(&ours),
            )
            .await
        {
            // No session of ours left: nothing to clear.
            Err(SyncError::Refused { status: 404, .. }) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
