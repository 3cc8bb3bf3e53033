//! The emulator's settings (`GET|POST /_emulator/settings`): budgets, lifetimes, timeouts and
//! the fidelity knobs of Graph's calling side. Every key and its default is in the README;
//! unknown keys are refused.

use serde::{Deserialize, Serialize};

/// One documented key per field; `POST /_emulator/settings` takes any subset.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub throttle_budget: u32,
    pub throttle_window_s: u64,
    /// Entra access-token lifetime.
    pub token_lifetime_s: u64,
    /// Salesforce access-token lifetime (its session timeout).
    pub salesforce_session_s: u64,
    /// Accepted and shown for the checks that set it; no longer used (the built-in call
    /// controller is retired; `presence-controller` has its own timers).
    pub ring_timeout_s: u64,
    /// As `ring_timeout_s`: kept, unused.
    pub offer_timeout_s: u64,
    pub heartbeat_timeout_s: u64,
    pub long_poll_ms: u64,
    pub replay_retention_s: u64,
    pub device_polls_before_approval: u32,
    /// Seconds until the far end of an outbound call answers (or, with `far_end_answers`
    /// off, the invitation of it fails).
    pub outbound_answer_s: u64,
    pub api_daily_limit: u64,
    /// Seconds between device-code polls the client is told to keep.
    pub device_interval_s: u64,
    /// Salesforce issues a new refresh token on every refresh (off by default, as in orgs).
    pub salesforce_rotate_refresh: bool,
    /// Graph: seconds the bot has to answer, reject or redirect an incoming call.
    pub answer_deadline_s: u64,
    /// Graph: milliseconds the bot's webhook has to acknowledge a notification.
    pub webhook_ack_ms: u64,
    /// Graph: milliseconds until a prompt operation completes.
    pub operation_ms: u64,
    /// Graph: how long an agent's Teams rings for an invitation or a transfer.
    pub teams_ring_s: u64,
    /// The agent picks up their Teams this many ms after it rings for an invitation (into a
    /// call they answered in the app); `null`: only when told (`POST /_emulator/teams/{agent}/answer`).
    pub teams_accept_invite_ms: Option<u64>,
    /// Graph: `in-order` (establishing, then established) or `swapped`, as Graph may send them.
    pub establish_order: String,
    /// Graph: the bearer token on webhook POSTs: `valid`, `missing`, `wrong-key`,
    /// `wrong-audience` or `expired`.
    pub webhook_token: String,
    /// Graph: the PSTN number an outbound call dials answers (`false`: it does not pick up).
    pub far_end_answers: bool,
    /// Salesforce: the org's concurrent Streaming API clients (1,000 in Enterprise Edition,
    /// 2,000 in Unlimited and Performance, 20 in Developer); a handshake beyond it is refused
    /// with `403::Handshake denied` and the reason `403::Organization concurrent user limit
    /// exceeded`.
    pub streaming_client_limit: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            throttle_budget: 1500,
            throttle_window_s: 30,
            token_lifetime_s: 4479,
            salesforce_session_s: 7200,
            ring_timeout_s: 20,
            offer_timeout_s: 5,
            heartbeat_timeout_s: 120,
            long_poll_ms: 110_000,
            replay_retention_s: 24 * 3600,
            device_polls_before_approval: 1,
            outbound_answer_s: 2,
            api_daily_limit: 100_000,
            device_interval_s: 5,
            salesforce_rotate_refresh: false,
            answer_deadline_s: 15,
            webhook_ack_ms: 5000,
            operation_ms: 200,
            teams_ring_s: 30,
            teams_accept_invite_ms: Some(1000),
            establish_order: "in-order".into(),
            webhook_token: "valid".into(),
            far_end_answers: true,
            streaming_client_limit: 1000,
        }
    }
}
