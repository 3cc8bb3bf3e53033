//! The outbox's delivery: one worker that sends queued call logs to Salesforce in order, paced
//! by the org's API allowance, retrying what passes and setting aside what Salesforce refuses
//! for good (with the reason, for the agent's "not saved to Salesforce" list).

use std::sync::Arc;
use std::time::Duration;

use presence_core::{Failure, Jitter};

use super::Outbox;
use crate::error::SyncError;
use crate::salesforce::SalesforceClient;

/// From this share of the org's daily API allowance, logs are sent one every [`SLOW_GAP`].
pub const SLOW_PERCENT: u64 = 80;
/// From this share, logs wait (looked at again every [`HOLD_GAP`]).
pub const HOLD_PERCENT: u64 = 95;
pub const SLOW_GAP: Duration = Duration::from_secs(10);
pub const HOLD_GAP: Duration = Duration::from_secs(300);

#[derive(Debug, PartialEq, Eq)]
enum Pace {
    Normal,
    Slow(Duration),
    Hold(Duration),
}

fn allowance_pace(usage: Option<(u64, u64)>) -> Pace {
    match usage {
        Some((used, limit)) if limit > 0 && used * 100 >= limit * HOLD_PERCENT => {
            Pace::Hold(HOLD_GAP)
        }
        Some((used, limit)) if limit > 0 && used * 100 >= limit * SLOW_PERCENT => {
            Pace::Slow(SLOW_GAP)
        }
        _ => Pace::Normal,
    }
}

/// Delivers queued logs in order, for as long as it runs: one at a time, at most
/// `per_second` a second (an outage's backlog drains without bursting Salesforce's limits),
/// backing off on failures with the engine's retry policy, setting refused rows aside.
pub async fn deliver_forever(
    outbox: Arc<Outbox>,
    salesforce: Arc<SalesforceClient>,
    per_second: u32,
) {
    let policy = crate::retry::OUTBOX;
    let mut jitter = Jitter::new(crate::retry::seed(&salesforce.user_id));
    let spacing = Duration::from_millis(1000 / u64::from(per_second.max(1)));
    let mut held = false;
    loop {
        // The org's allowance is shared with presence and calls, which cannot wait: logs can.
        match allowance_pace(salesforce.api_usage()) {
            Pace::Hold(wait) => {
                if !held {
                    held = true;
                    tracing::warn!(
                        "Salesforce API allowance nearly used up ({:?}); call logs wait",
                        salesforce.api_usage()
                    );
                }
                tokio::time::sleep(wait).await;
                // Still held by the figures we have: ask for fresh ones (any answer brings them).
                if matches!(allowance_pace(salesforce.api_usage()), Pace::Hold(_)) {
                    let _ = salesforce.read_api_usage().await;
                    continue;
                }
            }
            Pace::Slow(wait) => tokio::time::sleep(wait).await,
            Pace::Normal => held = false,
        }
        let next = match outbox.next_pending() {
            Ok(next) => next,
            Err(error) => {
                tracing::error!("outbox: {error}");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let Some((seq, log)) = next else {
            // Nothing queued: wait for the next log (or look again now and then).
            let _ = tokio::time::timeout(Duration::from_secs(30), outbox.queued.notified()).await;
            continue;
        };
        match salesforce.log_call(&log).await {
            Ok(()) => {
                if let Err(error) = outbox.mark_delivered(seq) {
                    tracing::error!(
                        "outbox: delivered {} but could not record it: {error}",
                        log.key
                    );
                }
                tokio::time::sleep(spacing).await;
            }
            Err(error) => {
                if let Some(reason) = set_aside_reason(&error) {
                    tracing::error!(
                        "outbox: Salesforce refused call log {}: {reason}; set aside",
                        log.key
                    );
                    let _ = outbox.mark_dead(seq, &reason);
                    continue;
                }
                let failure = match error.kind() {
                    // A refusal that passes (below) is retried as a transient fault.
                    Failure::Rejected { reason } => Failure::Transient { reason },
                    other => other,
                };
                let attempts = outbox.record_failure(seq, &error.to_string()).unwrap_or(1);
                tokio::time::sleep(policy.delay(attempts, &failure, &mut jitter)).await;
            }
        }
    }
}

/// Why Salesforce's answer sets a call log aside for good, or `None` to try it again later.
/// Only an answer about the record itself is final: a validation or field error (400, 404 and
/// the like, with Salesforce's code and message), or 300 when the key matches several Tasks
/// (an integrity fault for a person to look at; nothing was written). Answers that pass are
/// retried with the outbox's backoff: 401 (sign-in), 403 (a limit, or a permission being
/// fixed), 408, 409 (a record locked by someone else), 429 and 5xx.
fn set_aside_reason(error: &SyncError) -> Option<String> {
    match error {
        SyncError::Refused { status: 300, .. } => Some(
            "integrity: more than one Task has this call's key (HTTP 300), so none was updated"
                .into(),
        ),
        SyncError::Refused {
            status: 403 | 408 | 409,
            ..
        } => None,
        SyncError::Refused { status, body } => {
            let first = serde_json::from_str::<Vec<crate::wire::salesforce::ApiError>>(body)
                .ok()
                .and_then(|errors| errors.into_iter().next());
            Some(match first {
                Some(error) => format!("HTTP {status} {}: {}", error.error_code, error.message),
                None => format!("HTTP {status}: {body}"),
            })
        }
        SyncError::Settings(reason) => Some(reason.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_answers_about_the_record_set_a_log_aside() {
        let refused = |status: u16, body: &str| SyncError::Refused {
            status,
            body: body.into(),
        };
        let invalid = r#"[{"message":"Call Type: bad value for restricted picklist field: Pigeon","errorCode":"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST","fields":["CallType"]}]"#;
        assert_eq!(
            set_aside_reason(&refused(400, invalid)).as_deref(),
            Some("HTTP 400 INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Call Type: bad value for restricted picklist field: Pigeon")
        );
        assert!(set_aside_reason(&refused(300, "[]")).is_some_and(|r| r.starts_with("integrity")));
        assert_eq!(
            set_aside_reason(&refused(404, "gone")).as_deref(),
            Some("HTTP 404: gone")
        );
        for status in [403, 408, 409] {
            assert_eq!(set_aside_reason(&refused(status, "")), None, "{status}");
        }
        for passing in [
            SyncError::Unauthorized("expired".into()),
            SyncError::RateLimited { retry_after: None },
            SyncError::Server("HTTP 503".into()),
            SyncError::Network("down".into()),
        ] {
            assert_eq!(set_aside_reason(&passing), None, "{passing}");
        }
    }

    #[test]
    fn the_backlog_slows_then_waits_as_the_api_allowance_runs_out() {
        assert_eq!(allowance_pace(None), Pace::Normal);
        assert_eq!(allowance_pace(Some((79_999, 100_000))), Pace::Normal);
        assert_eq!(
            allowance_pace(Some((80_000, 100_000))),
            Pace::Slow(SLOW_GAP)
        );
        assert_eq!(
            allowance_pace(Some((95_000, 100_000))),
            Pace::Hold(HOLD_GAP)
        );
        assert_eq!(
            allowance_pace(Some((5, 0))),
            Pace::Normal,
            "no limit reported"
        );
    }
}
