//! Everything the tray and the panel render, in one serialisable value.

use serde::{Deserialize, Serialize};

use crate::calls::{display_text_within, CallKind, CallerMatch, Disposition, MAX_REASON_CHARS};
use crate::class::{IconId, PresenceClass};
use crate::io::{Link, Source};
use crate::teams::TeamsPresence;

/// The state of one link (K1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state")]
pub enum LinkState {
    Connected,
    /// Throttled or retrying.
    Degraded {
        reason: String,
    },
    /// Network down, or a sign-in is needed.
    Disconnected {
        reason: String,
        sign_in_needed: bool,
    },
}

impl LinkState {
    pub fn is_connected(&self) -> bool {
        matches!(self, LinkState::Connected)
    }
}

/// One link as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub link: Link,
    pub state: LinkState,
    /// The indicator's text: "Teams: Connected", "Salesforce: Degraded (throttled)".
    pub text: String,
    /// The line the tray menu and tooltip show while the link is not connected
    /// ("Teams: disconnected, sign-in needed").
    pub problem: Option<String>,
    /// The sign-in offer while one is needed (K1): "Sign in to Microsoft 365…".
    pub sign_in: Option<String>,
}

impl LinkView {
    /// The view of `link` in `state`, its texts composed.
    pub fn new(link: Link, state: LinkState) -> Self {
        let name = link.name();
        let (text, problem) = match &state {
            LinkState::Connected => (format!("{name}: Connected"), None),
            LinkState::Degraded { reason } => (
                format!("{name}: Degraded ({reason})"),
                Some(format!("{name}: degraded, {reason}")),
            ),
            LinkState::Disconnected { reason, .. } => (
                format!("{name}: Disconnected ({reason})"),
                Some(format!("{name}: disconnected, {reason}")),
            ),
        };
        let sign_in = matches!(
            state,
            LinkState::Disconnected {
                sign_in_needed: true,
                ..
            }
        )
        .then(|| format!("Sign in to {}…", link.cloud_name()));
        Self {
            link,
            state,
            text,
            problem,
            sign_in,
        }
    }
}

/// A state in the tray menu and the panel's picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChoice {
    pub label: String,
    pub class: PresenceClass,
    pub icon: IconId,
    pub selected: bool,
}

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallPhase {
    Ringing,
    Dialling,
    Connected,
}

/// A call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallView {
    pub call_id: String,
    pub kind: CallKind,
    pub phase: CallPhase,
    /// The other party's number (display text).
    pub number: String,
    pub caller: Option<CallerMatch>,
    pub call_waiting: bool,
    /// "Incoming call", "Queue call · Call waiting", "On a call with", "Calling".
    pub title: String,
    /// Who is on the other end: the caller's name when identified, else the number.
    pub who: String,
    /// The number and the matched record's type, once the caller is identified.
    pub detail: Option<String>,
}

impl CallView {
    /// Composes the call's texts from its facts.
    pub fn new(
        call_id: String,
        kind: CallKind,
        phase: CallPhase,
        number: String,
        caller: Option<CallerMatch>,
        call_waiting: bool,
    ) -> Self {
        let kind_text = match kind {
            CallKind::Queue => "Queue call · ",
            CallKind::Internal => "Teams call · ",
            CallKind::Direct | CallKind::Outbound => "",
        };
        let phase_text = match phase {
            CallPhase::Ringing if call_waiting => "Call waiting",
            CallPhase::Ringing => "Incoming call",
            CallPhase::Dialling => "Calling",
            CallPhase::Connected => "On a call with",
        };
        let who = caller
            .as_ref()
            .map_or_else(|| number.clone(), |caller| caller.name.clone());
        let detail = caller
            .as_ref()
            .map(|caller| format!("{number} · {}", caller.object));
        Self {
            call_id,
            kind,
            phase,
            number,
            caller,
            call_waiting,
            title: format!("{kind_text}{phase_text}"),
            who,
            detail,
        }
    }
}

/// The caller's name when identified, else the number.
pub(crate) fn who(number: &str, caller: Option<&CallerMatch>) -> String {
    caller.map_or_else(|| number.to_string(), |caller| caller.name.clone())
}

/// How a finished call ended, for the recent-calls list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub call_id: String,
    pub kind: CallKind,
    pub number: String,
    pub caller: Option<CallerMatch>,
    /// How it ended (serialised as "Completed", "Missed", "Declined" or "No answer").
    pub outcome: Disposition,
    pub duration_secs: u64,
    /// The history line: "Ada Lovelace · Completed, 42 s".
    pub summary: String,
}

impl CallRecord {
    /// A finished call for the recent-calls list, its line composed.
    pub fn new(
        call_id: String,
        kind: CallKind,
        number: String,
        caller: Option<CallerMatch>,
        outcome: Disposition,
        duration_secs: u64,
    ) -> Self {
        let who = who(&number, caller.as_ref());
        let summary = if duration_secs > 0 {
            format!("{who} · {outcome}, {duration_secs} s")
        } else {
            format!("{who} · {outcome}")
        };
        Self {
            call_id,
            kind,
            number,
            caller,
            outcome,
            duration_secs,
            summary,
        }
    }
}

/// A call that was not signalled because of presence (C6), with one-click call back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedCall {
    pub call_id: String,
    pub kind: CallKind,
    pub number: String,
    pub caller: Option<CallerMatch>,
    pub reason: String,
    /// The history line: "+14155550100 · Do Not Disturb".
    pub summary: String,
}

impl BlockedCall {
    /// A call not signalled because of `reason`, its line composed.
    pub fn new(
        call_id: String,
        kind: CallKind,
        number: String,
        caller: Option<CallerMatch>,
        reason: String,
    ) -> Self {
        let summary = format!("{} · {reason}", who(&number, caller.as_ref()));
        Self {
            call_id,
            kind,
            number,
            caller,
            reason,
            summary,
        }
    }
}

/// A call whose log Salesforce refused for good (or that could not be sent), with why and a
/// Retry: the "not saved to Salesforce" list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsavedCall {
    /// The log's key (`Call_Log_Key__c`), which the Retry names.
    pub key: String,
    /// Salesforce's reason ("HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: …").
    pub reason: String,
    /// The list's line: "Ada Lovelace · Missed · 14:02".
    pub summary: String,
    /// Whether the log can be sent again (a log whose stored copy cannot be read cannot).
    pub retry: bool,
    /// The call controller holds this log (else the app's own outbox): a Retry asks it.
    pub by_controller: bool,
}

impl UnsavedCall {
    /// A call log set aside: `who` is the other party (name or number), `at` the local time.
    pub fn new(
        key: String,
        who: &str,
        disposition: &Disposition,
        at: &str,
        reason: String,
    ) -> Self {
        Self::line(key, format!("{who} · {disposition} · {at}"), reason)
    }

    /// A call log the call controller set aside: `how` is the call's outcome when the app
    /// knows it.
    pub fn from_controller(
        call_id: String,
        who: &str,
        how: Option<&Disposition>,
        at: &str,
        reason: String,
    ) -> Self {
        let summary = match how {
            Some(how) => format!("{who} · {how} · {at}"),
            None => format!("{who} · {at}"),
        };
        Self {
            by_controller: true,
            ..Self::line(call_id, summary, reason)
        }
    }

    fn line(key: String, summary: String, reason: String) -> Self {
        Self {
            key,
            // Salesforce's words (a validation rule's message, written by anyone): inert text.
            reason: display_text_within(&reason, MAX_REASON_CHARS),
            summary,
            retry: true,
            by_controller: false,
        }
    }

    /// A row set aside whose call log cannot be read back: shown with its key, never retried.
    pub fn unreadable(key: String, reason: String) -> Self {
        Self {
            summary: format!("Call {key} (its stored log cannot be read)"),
            key,
            reason: display_text_within(&reason, MAX_REASON_CHARS),
            retry: false,
            by_controller: false,
        }
    }
}

/// A running wrap-up (W2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapUpView {
    /// Time left when the snapshot was taken.
    pub remaining_ms: u64,
    /// What one click on "extend" adds.
    pub extend_seconds: u32,
}

/// What tray and panel render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub class: PresenceClass,
    /// The text shown: the state's label, or the overlay's ("Available, out of office"),
    /// or "Ringing".
    pub label: String,
    /// The Salesforce state in force, if known.
    pub state: Option<String>,
    pub icon: IconId,
    /// Whether the out-of-office overlay is shown (never with Do Not Disturb).
    pub out_of_office: bool,
    pub source: Option<Source>,
    /// "set in Teams", "wrap-up timer", …
    pub source_text: String,
    /// The status line of tray menu and panel: "Available · set in Teams", or "Not running".
    pub status_line: String,
    /// Lines that say what is wrong, for the tray menu and the panel: why the sync cannot run,
    /// a sign-in asked for, lasting caveats, "No connection to Teams (logged out)", then each
    /// link that is not connected.
    pub problems: Vec<String>,
    /// The set-up lines among `problems`, for the panel (which shows links and the logged-out
    /// indicator on their own): why the sync cannot run, a sign-in asked for, caveats.
    pub notes: Vec<String>,
    /// The tray tooltip: label, source and any link that is not connected.
    pub tooltip: String,
    /// Set when the tray icon carries a badge (a link is not connected).
    pub badge: bool,
    pub links: Vec<LinkView>,
    /// L5: the "no connection to Teams" indicator.
    pub no_connection_to_teams: bool,
    pub choices: Vec<StateChoice>,
    /// Whether the softphone (dial pad) exists: not while logged out (C3).
    pub softphone: bool,
    pub calls: Vec<CallView>,
    pub outbound_allowed: bool,
    /// Why outbound calls are refused, when they are.
    pub outbound_refusal: Option<String>,
    pub wrap_up: Option<WrapUpView>,
    pub recent_calls: Vec<CallRecord>,
    pub blocked_calls: Vec<BlockedCall>,
    /// Calls whose logs are not in Salesforce and will not be without the agent (refused for
    /// good), oldest first.
    pub unsaved_calls: Vec<UnsavedCall>,
    /// The Teams presence last read.
    pub teams_presence: Option<TeamsPresence>,
}
