//! `presence-core` decides everything Presence Bridge does, and does nothing itself.
//!
//! It is a sans-IO state machine for one agent: it takes inputs (a Teams presence read, a
//! Salesforce record seen, a call offered, the agent's click, a connector's outcome) with the
//! time they happened, and yields effects (write this to Teams, answer that offer, log this
//! call, show this toast) and the next time it wants to be woken. It never reads a clock, a
//! file, the network or the environment, so every rule of `RULES.md` is tested here on a
//! virtual clock in microseconds. Its promises: no echo of our own write is ever synced back;
//! both sides converge once inputs stop; no call is signalled in a Do Not Disturb or logged-out
//! class unless it is internal; every call that must be logged yields exactly one log keyed by
//! its call id.
//!
//! Layout:
//! - [`teams`]: Graph's availability and activity vocabulary.
//! - [`class`]: classes, icons and the out-of-office overlay.
//! - [`config`]: the Call Center presence states and settings as data, and their validation.
//! - [`calls`]: call kinds, gating, caller text.
//! - [`retry`]: failures, backoff with seeded jitter, `Retry-After`.
//! - [`io`]: inputs and effects.
//! - [`engine`]: the engine, in parts that own their state (see its own layout).
//! - [`snapshot`]: what tray and panel render.

pub mod calls;
pub mod class;
pub mod config;
pub mod engine;
pub mod io;
pub mod retry;
pub mod snapshot;
pub mod teams;

pub use calls::{CallKind, CallOffer, CallProgress, CallerMatch, Disposition, OfferAnswer};
pub use class::{IconId, PresenceClass};
pub use config::{
    CallCenter, CallCenterConfig, CallCenterSettings, ConfigError, PresenceStateDef, SyncDirection,
    Timing,
};
pub use engine::{Engine, EngineConfig};
pub use io::{
    CallAction, CallLog, CallType, Effect, EffectId, Input, Link, Outcome, Picker, PresenceWrite,
    SalesforceObservation, SetupNews, Source, UiEffect, UserIntent,
};
pub use retry::{Backoff, Failure, Jitter, RetryPolicy};
pub use snapshot::{
    BlockedCall, CallPhase, CallRecord, CallView, LinkState, LinkView, Snapshot, StateChoice,
    UnsavedCall, WrapUpView,
};
pub use teams::{Activity, Availability, TeamsPair, TeamsPresence};
