//! The outbox's set-aside call logs as the agent reads them: the "not saved to Salesforce"
//! list, one line per call (who, how it ended, when) with Salesforce's reason.

use chrono::{DateTime, Local, TimeZone};
use presence_core::{CallLog, CallType, UnsavedCall};

use super::{DeadLog, Outbox, OutboxError};

impl Outbox {
    /// The call logs set aside now, oldest first, as the agent's list (presence writes set
    /// aside are not calls: they stay in the outbox and the log).
    pub fn unsaved_calls(&self) -> Result<Vec<UnsavedCall>, OutboxError> {
        Ok(self
            .dead()?
            .into_iter()
            .filter(|row| row.is_call_log)
            .map(|row| unsaved_call(row, &Local))
            .collect())
    }
}

/// One set-aside row as a line of the list, its time in `zone` (the agent's).
pub(crate) fn unsaved_call<Z: TimeZone>(row: DeadLog, zone: &Z) -> UnsavedCall
where
    Z::Offset: std::fmt::Display,
{
    let Some(log) = row.log else {
        return UnsavedCall::unreadable(row.key, row.reason);
    };
    let at = DateTime::from_timestamp_millis(row.created_ms)
        .map(|at| at.with_timezone(zone).format("%b %-d, %H:%M").to_string())
        .unwrap_or_else(|| "at an unknown time".into());
    UnsavedCall::new(
        row.key,
        &other_party(&log),
        &log.disposition,
        &at,
        row.reason,
    )
}

/// Who the call was with: the caller's record when matched, else the other end's number.
fn other_party(log: &CallLog) -> String {
    if let Some(caller) = &log.caller {
        return caller.name.clone();
    }
    match log.call_type {
        CallType::Outbound => log.to_number.clone(),
        CallType::Inbound | CallType::Internal => log.from_number.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use presence_core::{CallKind, CallerMatch, Disposition};

    use super::*;

    fn log(call_type: CallType, caller: Option<&str>) -> CallLog {
        CallLog {
            key: "call-7".into(),
            call_id: "call-7".into(),
            kind: CallKind::Direct,
            call_type,
            disposition: Disposition::Missed,
            duration: Duration::ZERO,
            from_number: "+14155550100".into(),
            to_number: "+14155550199".into(),
            caller: caller.map(|name| CallerMatch {
                id: "003000000000001".into(),
                name: name.into(),
                object: "Contact".into(),
            }),
            subject: String::new(),
            owner: None,
            offer_record: None,
        }
    }

    fn row(log: Option<CallLog>) -> DeadLog {
        DeadLog {
            key: "call-7".into(),
            reason: "HTTP 400 REQUIRED_FIELD_MISSING: Subject".into(),
            is_call_log: true,
            log,
            // 2026-12-02 14:02:00 UTC
            created_ms: 1_796_220_120_000,
        }
    }

    #[test]
    fn each_line_names_the_other_party_how_the_call_ended_and_when() {
        let line = unsaved_call(
            row(Some(log(CallType::Inbound, Some("Ada Lovelace")))),
            &Utc,
        );
        assert_eq!(line.summary, "Ada Lovelace · Missed · Dec 2, 14:02");
        assert_eq!(line.reason, "HTTP 400 REQUIRED_FIELD_MISSING: Subject");
        assert!(line.retry);
        let inbound = unsaved_call(row(Some(log(CallType::Inbound, None))), &Utc);
        assert!(
            inbound.summary.starts_with("+14155550100 · "),
            "{}",
            inbound.summary
        );
        let outbound = unsaved_call(row(Some(log(CallType::Outbound, None))), &Utc);
        assert!(
            outbound.summary.starts_with("+14155550199 · "),
            "{}",
            outbound.summary
        );
        let unreadable = unsaved_call(row(None), &Utc);
        assert!(!unreadable.retry && unreadable.summary.contains("call-7"));
    }
}
