//! `presence-controller` answers "who takes this call?". It is a Teams calling bot, one per
//! tenant and org, that owns every call to the numbers it holds (resource accounts), offers
//! each one to the agent's Presence Bridge through `Agent_Call__c`, and applies the answering
//! rules: an agent who is logged out (or whose app is gone) is not offered the call, which goes
//! to their own Teams at once; a call the app does not signal, the agent declines or nobody
//! answers is handed to the agent's Teams (its rules and voicemail); an answered call is joined
//! by the agent's Teams while the bot stays in the call to see its end. It places the
//! outbound calls agents dial in the app (C3 checked again), agent first, and it writes every
//! call's Task.
//!
//! It signs in to Graph with client credentials (application permissions) and to Salesforce as
//! an integration user (client credentials), checks every webhook notification's bearer token
//! against the calling service's published keys, and follows the agents' answers on
//! `/topic/AgentCalls`.
//!
//! Layout: [`config`] (settings), [`directory`] (agents, lines and queues resolved; presence
//! read and queue eligibility), [`webhook`] (the HTTPS calling webhook and its token check),
//! [`graph`] (notifications and actions), [`flow`] (one call's pure state machine) and
//! [`flow_outbound`] (an outbound call's), `placing` (an outbound request taken up),
//! [`store`] (live calls on disk), [`presence`] (the agents' presence held, kept current from
//! the stream), `answering` (the Call Center's rule for unanswered calls), `unsaved` (refused
//! Tasks shown to their agents, and their Retry), [`tls`] (the webhook's HTTPS), [`driver`] (sign-in, lines, the one loop that runs the flows), `restore`
//! (the restart).

mod answering;
pub mod config;
pub mod directory;
pub mod driver;
mod effects;
pub mod flow;
pub mod flow_outbound;
pub mod graph;
mod placing;
pub mod presence;
mod restore;
pub mod store;
pub mod tls;
mod unsaved;
pub mod webhook;

pub use config::Settings;
pub use driver::{Controller, ControllerError};
