//! Calls as the engine sees them: kinds, offers, outcomes, the gating decision (C1 to C6), and
//! the caller text normaliser (C8: caller data is untrusted text).

use serde::{Deserialize, Serialize};

use crate::class::PresenceClass;
use crate::config::PresenceStateDef;

/// `Agent_Call__c.Kind__c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallKind {
    /// To the agent's extension.
    Direct,
    /// Offered through a queue.
    Queue,
    /// Teams user to Teams user.
    Internal,
    /// Placed by the agent.
    Outbound,
}

/// A Salesforce record that matched the caller's number (C8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerMatch {
    /// `Contact`, `Lead` or `Account`.
    pub object: String,
    /// The record id (`WhoId` for Contact and Lead, `WhatId` for Account).
    pub id: String,
    /// The record's name, already normalised with [`display_text`].
    pub name: String,
}

/// A call offered to the agent by the call controller (an `Agent_Call__c` row with status
/// Offered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOffer {
    pub call_id: String,
    pub kind: CallKind,
    pub from_number: String,
    pub to_number: String,
    /// `Logged_By_Controller__c`: the call controller writes this call's Task (it sees the
    /// whole call, whether or not this app still runs), so the engine logs nothing for it.
    #[serde(default)]
    pub controller_logs: bool,
}

/// What the controller later reports about a call (`Agent_Call__c.Status__c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallProgress {
    /// Answered (from the panel, or elsewhere).
    Answered,
    /// The far end hung up before the call was answered.
    CallerHungUp,
    /// Ring timeout or answering rule took the call: not answered here.
    Missed,
    /// The agent declined it.
    Declined,
    /// An answered call ended (either side hung up).
    Ended,
    /// An outbound call the controller would not place (C3 checked again where the call is
    /// made, or no line to call from), with its reason: not a call, so nothing is logged.
    NotPlaced(String),
}

/// How a call ended: `Task.CallDisposition` in its log, and the outcome in recent calls.
/// Serialised as the text Salesforce stores ("Completed", "No answer", a blocking reason…), so
/// the outbox file and the panel read the same words as before it was an enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Disposition {
    /// Answered, then ended.
    Completed,
    /// Rang and was not answered here (caller hung up, ring timeout, answering rule).
    Missed,
    /// The agent declined it.
    Declined,
    /// An outbound call nobody answered.
    NoAnswer,
    /// Not signalled because of presence; the reason is the state's label (G2).
    NotSignalled(String),
}

impl Disposition {
    /// The text written to `Task.CallDisposition`.
    pub fn as_str(&self) -> &str {
        match self {
            Disposition::Completed => "Completed",
            Disposition::Missed => "Missed",
            Disposition::Declined => "Declined",
            Disposition::NoAnswer => "No answer",
            Disposition::NotSignalled(reason) => reason,
        }
    }

    /// Whether the call rang here unanswered (G1: logged only when missed calls are logged).
    pub fn is_missed_or_declined(&self) -> bool {
        matches!(self, Disposition::Missed | Disposition::Declined)
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Disposition {
    /// Reads a stored disposition; any text that is not one of the fixed words is a reason.
    fn from(text: &str) -> Self {
        match text {
            "Completed" => Disposition::Completed,
            "Missed" => Disposition::Missed,
            "Declined" => Disposition::Declined,
            "No answer" => Disposition::NoAnswer,
            reason => Disposition::NotSignalled(reason.to_string()),
        }
    }
}

impl From<String> for Disposition {
    fn from(text: String) -> Self {
        Disposition::from(text.as_str())
    }
}

impl From<Disposition> for String {
    fn from(disposition: Disposition) -> Self {
        disposition.as_str().to_string()
    }
}

impl PartialEq<&str> for Disposition {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Disposition {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The answer the app gives the call controller for an offer (C6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OfferAnswer {
    Signalled,
    NotSignalled { reason: String },
}

/// C3: why an outbound call would be refused in this state, if it would (`None`: the state
/// is not known yet, so refused too). The app checks it before asking for a call, and the
/// call controller again before placing it.
pub fn outbound_refusal(state: Option<&PresenceStateDef>) -> Option<String> {
    // Before the first reading the agent may well be in Do Not Disturb: wait for it.
    let Some(state) = state else {
        return Some("Outbound calls wait until your presence is known".to_string());
    };
    match state.class {
        PresenceClass::LoggedOut => Some("No softphone while logged out".to_string()),
        PresenceClass::DoNotDisturb => {
            Some(format!("Outbound calls are blocked while {}", state.label))
        }
        _ if !state.allows_outbound => Some(format!(
            "Outbound calls are not allowed while {}",
            state.label
        )),
        _ => None,
    }
}

/// Decides whether an inbound call is signalled in the given state (C1, C2, C4, C5, L2).
/// Internal calls ignore presence but are not rung on a logged-out desktop (L2 wins there: the
/// app has no softphone while logged out).
pub fn gate_inbound(
    kind: CallKind,
    state: &PresenceStateDef,
    class: PresenceClass,
    presence_routing: bool,
) -> OfferAnswer {
    let blocked = |reason: &str| OfferAnswer::NotSignalled {
        reason: reason.to_string(),
    };
    if class == PresenceClass::LoggedOut {
        return blocked("Logged out");
    }
    match kind {
        CallKind::Internal => OfferAnswer::Signalled,
        CallKind::Outbound => blocked("Outbound calls are not offered"),
        CallKind::Direct => {
            if class == PresenceClass::DoNotDisturb || !state.signals_inbound {
                blocked(&state.label)
            } else {
                OfferAnswer::Signalled
            }
        }
        CallKind::Queue => {
            let offered = if presence_routing {
                class == PresenceClass::Available
            } else {
                matches!(
                    class,
                    PresenceClass::Available
                        | PresenceClass::Away
                        | PresenceClass::Busy
                        | PresenceClass::Offline
                )
            };
            if offered {
                OfferAnswer::Signalled
            } else {
                blocked(&state.label)
            }
        }
    }
}

/// Text for a desktop notification's body: escaped for servers that read the notification
/// specification's markup (`<b>`, `<a href>`, entities), as is where they do not. Escaped, the
/// result holds no `<`, `>` or quote, and every `&` starts one of the five entities written here.
pub fn notification_body(text: &str, server_reads_markup: bool) -> String {
    if !server_reads_markup {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Longest reason from outside shown whole (Salesforce's refusal of a record), in characters:
/// a validation rule's message is at most 255.
pub const MAX_REASON_CHARS: usize = 255;

/// Longest caller text shown, in characters.
pub const MAX_DISPLAY_CHARS: usize = 64;

/// Turns untrusted caller text (a name from a CRM record, a number from telephony) into inert
/// display text: control, bidirectional-override and zero-width characters removed, white space
/// folded, at most [`MAX_DISPLAY_CHARS`] characters (with an ellipsis when cut). Markup is not
/// escaped here: the panel renders text, never HTML, and the toast escapes for its own format.
pub fn display_text(raw: &str) -> String {
    display_text_within(raw, MAX_DISPLAY_CHARS)
}

/// [`display_text`] with room for `max_chars` characters: for longer text from outside that is
/// shown whole, such as Salesforce's reason for refusing a record (a validation rule's message).
pub fn display_text_within(raw: &str, max_chars: usize) -> String {
    let max_chars = max_chars.max(2);
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for ch in raw.chars() {
        if is_invisible_or_control(ch) {
            continue;
        }
        if ch.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            if count + 1 >= max_chars {
                break;
            }
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        if count + 1 > max_chars {
            break;
        }
        out.push(ch);
        count += 1;
    }
    if raw
        .chars()
        .filter(|ch| !is_invisible_or_control(*ch) && !ch.is_whitespace())
        .count()
        > out.chars().filter(|ch| !ch.is_whitespace()).count()
    {
        // Cut: make room for the ellipsis.
        while out.chars().count() >= max_chars {
            out.pop();
        }
        out = out.trim_end().to_string();
        out.push('…');
    }
    out
}

fn is_invisible_or_control(ch: char) -> bool {
    ch.is_control()
        || matches!(ch,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}' // bidi isolates
            | '\u{FEFF}' // byte-order mark
            | '\u{061C}' // Arabic letter mark
        )
}

/// The digits of a phone number, for the SOSL lookup (reserved SOSL characters cannot appear).
pub fn phone_digits(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c8_hostile_caller_names_become_inert_bounded_text() {
        assert_eq!(display_text("  Ada \n Lovelace "), "Ada Lovelace");
        assert_eq!(display_text("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(display_text("zero\u{200B}width"), "zerowidth");
        assert_eq!(display_text("bell\u{7}"), "bell");
        let long = "x".repeat(100_000);
        let shown = display_text(&long);
        assert_eq!(shown.chars().count(), MAX_DISPLAY_CHARS);
        assert!(shown.ends_with('…'));
        // Markup stays as text: it is the renderer's job never to interpret it.
        assert_eq!(
            display_text("<img src=x onerror=alert(1)>"),
            "<img src=x onerror=alert(1)>"
        );
    }

    #[test]
    fn dispositions_read_back_as_the_words_salesforce_stores() {
        for text in ["Completed", "Missed", "Declined", "No answer", "Presenting"] {
            let disposition = Disposition::from(text);
            assert_eq!(disposition.as_str(), text);
            let json = serde_json::to_string(&disposition).expect("serialise");
            assert_eq!(json, format!("{text:?}"));
            let back: Disposition = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, disposition);
        }
        assert_eq!(
            Disposition::from("Presenting"),
            Disposition::NotSignalled("Presenting".into())
        );
    }

    #[test]
    fn c8_phone_lookup_sends_digits_only() {
        assert_eq!(phone_digits("+1 (415) 555-1212"), "14155551212");
        assert_eq!(phone_digits("{*}\"'"), "");
    }
}
