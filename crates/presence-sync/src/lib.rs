//! `presence-sync` answers "how do we talk to the clouds?". It holds the Graph and Salesforce
//! clients (one method per call, errors classified for the engine), the Streaming API client,
//! sign-in with the `oauth2` crate, and the one async driver that runs the pure engine of
//! `presence-core` against them. Nothing here decides presence: every decision is the
//! engine's; this crate only performs effects and reports outcomes.
//!
//! Layout: [`auth`] (OAuth, tokens, single-flight refresh), [`app_auth`] (a server's own
//! client-credentials sign-in), [`graph`] and [`salesforce`]
//! (the clients), [`request`] (transport, server clock, API allowance), [`streaming`] (CometD,
//! and SOQL polling when it is unavailable), [`outbox`] (durable call logs and presence
//! writes), [`wire`] (JSON shapes), [`error`], [`mod@driver`] and its [`SyncHandle`], [`local`] (data directory, one
//! sync per agent), [`secrets`], [`settings`], [`loopback`] (the browser sign-in's listener),
//! [`connect`] (sign-in to the emulator or the configured clouds, waiting for the network),
//! [`start`] (the one way to start a sync: data, sign-in, Call Center, driver), [`retry`] (the
//! connectors' retries on the core's one policy), [`fuzzing`] (every parser of outside data,
//! for the fuzzers and their corpus tests).

pub mod app_auth;
pub mod auth;
pub mod connect;
pub mod driver;
mod effects;
pub mod error;
pub mod fuzzing;
pub mod graph;
mod handle;
pub mod local;
pub mod loopback;
pub mod outbox;
pub mod places;
pub mod request;
pub mod retry;
pub mod salesforce;
pub mod secrets;
pub mod settings;
pub mod start;
pub mod streaming;
pub mod wire;

pub use connect::{
    connect_clouds, connect_emulator, connect_emulator_with, sign_in_again, SignInPrompt,
    SignInTarget, EMULATOR_CLIENT_ID,
};
pub use error::SyncError;
pub use handle::{Connectors, SignInAgainError, SyncHandle};
pub use start::{cannot_start, start, StartError, Storage, SyncOptions};
