//! Failures as the engine sees them, and the retry policy: exponential backoff with full jitter
//! drawn from a seeded generator, honouring (and clamping) a server's `Retry-After`.
//! The same policy paces the engine's writes and the durable outbox of the sync runtime.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a connector call failed, as far as policy cares (ARCHITECTURE.md: `kind()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The credentials were refused and could not be refreshed: a sign-in is needed.
    Unauthorized,
    /// The server asked us to slow down (429, Salesforce `REQUEST_LIMIT_EXCEEDED`).
    RateLimited { retry_after: Option<Duration> },
    /// A failure that may pass: 5xx, timeout, reset, malformed body.
    Transient { reason: String },
    /// The network is down or the host unreachable.
    Offline { reason: String },
    /// The server refused this request for good (4xx validation); retrying would not help.
    Rejected { reason: String },
}

impl Failure {
    /// Short text for the link indicator's tooltip.
    pub fn describe(&self) -> String {
        match self {
            Failure::Unauthorized => "sign-in needed".into(),
            Failure::RateLimited { retry_after } => match retry_after {
                Some(wait) => format!("throttled, retrying in {} s", wait.as_secs().max(1)),
                None => "throttled".into(),
            },
            Failure::Transient { reason } => format!("retrying: {reason}"),
            Failure::Offline { reason } => format!("unreachable: {reason}"),
            Failure::Rejected { reason } => format!("refused: {reason}"),
        }
    }
}

/// A small deterministic generator (SplitMix64) so that jitter is reproducible from a seed.
#[derive(Debug, Clone)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next value in `0..=bound`.
    pub fn below_or_equal(&mut self, bound: u64) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if bound == u64::MAX {
            z
        } else {
            z % (bound + 1)
        }
    }
}

/// The retry policy of every retry in the app (the engine's write lanes and call writes, and
/// the connectors' loops: sign-in while offline, the stream's reconnects, the polls that stand
/// in for it, the outbox). Delays grow exponentially from `base` to `cap`, each drawn from the
/// upper half of its step ("equal jitter"), so agents that failed together spread out while
/// the gaps of one agent never shrink; a server's `Retry-After` is honoured but clamped to
/// `[retry_after_floor, retry_after_cap]`.
///
/// Written here rather than taken from `backon` (which reliability.md weighs): the core must
/// stay pure, and one policy has to drive both the engine's timers and the connectors' loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub retry_after_floor: Duration,
    pub retry_after_cap: Duration,
}

impl RetryPolicy {
    /// Exponential from `base` to `cap`; `Retry-After` clamped to [1 s, 15 min].
    pub const fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            retry_after_floor: Duration::from_secs(1),
            retry_after_cap: Duration::from_secs(15 * 60),
        }
    }

    /// The delay before attempt number `attempt` (1 = the first retry).
    pub fn delay(&self, attempt: u32, failure: &Failure, jitter: &mut Jitter) -> Duration {
        if let Failure::RateLimited {
            retry_after: Some(wait),
        } = failure
        {
            // A small jitter on top spreads the agents of one tenant that were throttled together.
            let clamped = (*wait).clamp(self.retry_after_floor, self.retry_after_cap);
            let spread = jitter.below_or_equal(clamped.as_millis() as u64 / 10);
            return clamped + Duration::from_millis(spread);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.cap)
            .as_millis() as u64;
        // The upper half of the step: never immediate, never shorter than the step before.
        let floor = ceiling / 2;
        let drawn = jitter.below_or_equal(ceiling - floor);
        Duration::from_millis(floor + drawn)
    }
}

/// One run of retries under a policy, for a connector's loop: the failures in a row and the
/// jitter. [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    jitter: Jitter,
    failures: u32,
    /// The last gap drawn by the backoff itself: the next is never shorter (at the cap too).
    last: Duration,
}

impl Backoff {
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Self {
            policy,
            jitter: Jitter::new(seed),
            failures: 0,
            last: Duration::ZERO,
        }
    }

    /// Counts a failure and returns how long to wait before the next attempt: a server's
    /// `Retry-After` as the policy clamps it, else a gap no shorter than the one before.
    pub fn next_delay(&mut self, failure: &Failure) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = self.policy.delay(self.failures, failure, &mut self.jitter);
        if matches!(
            failure,
            Failure::RateLimited {
                retry_after: Some(_)
            }
        ) {
            return delay;
        }
        self.last = delay.max(self.last);
        self.last
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The last attempt worked: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
        self.last = Duration::ZERO;
    }
}

/// Parses a `Retry-After` header in its delta-seconds form (integer or decimal). Returns `None`
/// for anything else, so the caller falls back to exponential backoff; negative, huge and
/// garbage values never panic. The HTTP-date form needs the wall clock, so the connectors turn
/// it into seconds before calling the engine.
pub fn parse_retry_after_seconds(raw: &str) -> Option<Duration> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 32 {
        return None;
    }
    let seconds: f64 = text.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    // A year is far beyond any cap; saturate instead of overflowing.
    Some(Duration::from_secs_f64(seconds.min(365.0 * 24.0 * 3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            retry_after_floor: Duration::from_secs(1),
            retry_after_cap: Duration::from_secs(900),
        }
    }

    #[test]
    fn t1_retry_after_is_honoured_with_a_small_spread() {
        let mut jitter = Jitter::new(7);
        let failure = Failure::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        for _ in 0..100 {
            let delay = policy().delay(1, &failure, &mut jitter);
            assert!(delay >= Duration::from_secs(7), "{delay:?}");
            assert!(delay <= Duration::from_millis(7_700), "{delay:?}");
        }
    }

    #[test]
    fn t2_backoff_without_retry_after_grows_and_is_capped() {
        let mut jitter = Jitter::new(1);
        let failure = Failure::RateLimited { retry_after: None };
        let mut max_seen = Duration::ZERO;
        for attempt in 1..=40 {
            let delay = policy().delay(attempt, &failure, &mut jitter);
            assert!(delay >= Duration::from_millis(500));
            assert!(delay <= Duration::from_secs(300));
            max_seen = max_seen.max(delay);
        }
        assert!(
            max_seen > Duration::from_secs(60),
            "backoff grew: {max_seen:?}"
        );
    }

    #[test]
    fn t3_hostile_retry_after_values_are_clamped_or_ignored() {
        assert_eq!(parse_retry_after_seconds("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after_seconds(" 2.5 "),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after_seconds("-3"), None);
        assert_eq!(parse_retry_after_seconds("soon"), None);
        assert_eq!(parse_retry_after_seconds("NaN"), None);
        assert_eq!(parse_retry_after_seconds("inf"), None);
        assert_eq!(parse_retry_after_seconds(""), None);
        let huge = parse_retry_after_seconds("999999999999").unwrap_or_default();
        let mut jitter = Jitter::new(3);
        let delay = policy().delay(
            1,
            &Failure::RateLimited {
                retry_after: Some(huge),
            },
            &mut jitter,
        );
        assert!(delay <= Duration::from_secs(990), "{delay:?}");
        let tiny = policy().delay(
            1,
            &Failure::RateLimited {
                retry_after: Some(Duration::ZERO),
            },
            &mut jitter,
        );
        assert!(tiny >= Duration::from_secs(1));
    }

    #[test]
    fn t2_the_gaps_of_one_run_never_shrink_and_a_reset_starts_over() {
        let offline = Failure::Offline {
            reason: "no route".into(),
        };
        for seed in 0..200 {
            let mut backoff = Backoff::new(
                RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60)),
                seed,
            );
            let gaps: Vec<Duration> = (0..12).map(|_| backoff.next_delay(&offline)).collect();
            assert!(
                gaps.windows(2).all(|w| w[1] >= w[0]),
                "seed {seed}: {gaps:?}"
            );
            assert!(gaps[0] >= Duration::from_millis(500), "{gaps:?}");
            assert!(gaps.iter().all(|gap| *gap <= Duration::from_secs(60)));
            assert!(
                gaps[11] >= Duration::from_secs(30),
                "reached the cap's half"
            );
            assert_eq!(backoff.failures(), 12);
            backoff.reset();
            assert!(backoff.next_delay(&offline) <= Duration::from_secs(1));
        }
        // Agents that failed together do not retry in step.
        let first = |seed| {
            Backoff::new(
                RetryPolicy::exponential(Duration::from_secs(8), Duration::from_secs(60)),
                seed,
            )
            .next_delay(&offline)
        };
        assert!(
            (0..20)
                .map(first)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 10
        );
    }

    #[test]
    fn jitter_is_reproducible_from_its_seed() {
        let mut a = Jitter::new(42);
        let mut b = Jitter::new(42);
        let first: Vec<u64> = (0..10).map(|_| a.below_or_equal(1000)).collect();
        let second: Vec<u64> = (0..10).map(|_| b.below_or_equal(1000)).collect();
        assert_eq!(first, second);
        assert!(first.iter().any(|value| *value != first[0]));
    }
}
