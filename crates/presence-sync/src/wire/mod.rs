//! The clouds' JSON as typed structs, named like the APIs, converted to engine types once,
//! here. What we read ignores unknown fields and keeps unknown enum values as text; what we
//! send is a struct per request body, so a field name is written in one place.
//!
//! - [`graph`]: Microsoft Graph presence and user, and the presence request bodies.
//! - [`salesforce`]: our package's records as REST and the Streaming API carry them, query
//!   pages, SOSL answers, and the upsert bodies.
//! - [`bayeux`]: CometD messages of the Streaming API, and its `code:args:message` errors.
//! - [`oauth`]: the Salesforce device flow's answers (Entra's are read by the `oauth2` crate).

pub mod bayeux;
pub mod graph;
pub mod oauth;
pub mod salesforce;

pub use graph::{GraphPresence, GraphUser, OutOfOfficeSettings};
pub use salesforce::{
    call_event, controller_log, presence_observation, CallEvent, QueryPage, SearchAnswer, UserInfo,
    CALL_FIELDS, PRESENCE_FIELDS,
};

/// The body of a request without one (a GET), typed for the clients' `send`.
pub(crate) const NO_BODY: Option<&graph::NoParameters> = None;

/// Reads a typed answer, or says what was expected and why it did not parse.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    what: &'static str,
    body: &[u8],
) -> Result<T, crate::SyncError> {
    serde_json::from_slice(body).map_err(|source| crate::SyncError::Malformed {
        what,
        source: Some(source),
    })
}

/// A typed request body as JSON (it cannot fail for these structs: every key is a string).
pub(crate) fn body(value: &impl serde::Serialize) -> Result<serde_json::Value, crate::SyncError> {
    serde_json::to_value(value).map_err(|source| crate::SyncError::Malformed {
        what: "a request body",
        source: Some(source),
    })
}
