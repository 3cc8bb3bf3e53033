//! The connectors' retries, all on the core's one policy ([`presence_core::RetryPolicy`]:
//! exponential, capped, `Retry-After` honoured, jittered from a seed that differs between
//! agents), each loop with its own [`presence_core::Backoff`]. The engine's own retries (write
//! lanes, call writes) use the same policy with the Call Center's timing.

use std::time::Duration;

use presence_core::RetryPolicy;

/// Signing in while the network is not there (N1): 1 s, doubling to a minute.
pub const SIGN_IN: RetryPolicy =
    RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60));

/// Handshaking the Streaming API again after a failure: quickly at first, at most 30 s apart.
pub const STREAM: RetryPolicy =
    RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(30));

/// The SOQL polls that stand in for the stream, while they fail (they run every
/// [`crate::streaming::POLL_EVERY`] while they work).
pub const POLLS: RetryPolicy =
    RetryPolicy::exponential(Duration::from_secs(4), crate::streaming::POLL_MAX);

/// Delivering a queued call log (its attempts are counted in the outbox, across restarts).
pub const OUTBOX: RetryPolicy =
    RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(300));

/// The jitter seed for an agent: agents of one tenant that fail together retry apart.
pub fn seed(agent: &str) -> u64 {
    agent.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
