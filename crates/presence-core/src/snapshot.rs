//! Everything the tray and the panel render, in one serialisable value.

use serde::{Deserialize, Serialize};

use crate::calls::{CallKind, CallerMatch, Disposition};
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
}

/// A call that was not signalled because of presence (C6), with one-click call back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedCall {
    pub call_id: String,
    pub kind: CallKind,
    pub number: String,
    pub caller: Option<CallerMatch>,
    pub reason: String,
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
    /// The tray tooltip: label, source and any link that is not connected.
    pub tooltip: String,
    /// Set when the tray icon carries a badge (a link is not connected).
    pub badge: bool,
    pub links: Vec<LinkView>,
    /// L5: the "no connection to Teams" indicator.
    pub no_connection_to_teams: bool,
    pub choices: Vec<StateChoice>,
    pub calls: Vec<CallView>,
    pub outbound_allowed: bool,
    /// Why outbound calls are refused, when they are.
    pub outbound_refusal: Option<String>,
    pub wrap_up: Option<WrapUpView>,
    pub recent_calls: Vec<CallRecord>,
    pub blocked_calls: Vec<BlockedCall>,
    /// The Teams presence last read.
    pub teams_presence: Option<TeamsPresence>,
}
