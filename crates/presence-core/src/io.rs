//! What goes into the engine ([`Input`]) and what comes out ([`Effect`]). Connectors turn
//! effects into calls to the clouds and report back with [`Input::EffectDone`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::calls::{CallKind, CallOffer, CallProgress, CallerMatch, Disposition, OfferAnswer};
use crate::retry::Failure;
use crate::teams::{TeamsPair, TeamsPresence};

/// The two clouds the app talks to (K1: one connection indicator each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Link {
    Teams,
    Salesforce,
}

impl Link {
    /// Both links, in the order the indicators show them.
    pub const ALL: [Link; 2] = [Link::Teams, Link::Salesforce];

    /// The link's name as the agent reads it ("Teams").
    pub fn name(self) -> &'static str {
        match self {
            Link::Teams => "Teams",
            Link::Salesforce => "Salesforce",
        }
    }

    /// The service the agent signs in to for this link ("Microsoft 365").
    pub fn cloud_name(self) -> &'static str {
        match self {
            Link::Teams => "Microsoft 365",
            Link::Salesforce => "Salesforce",
        }
    }

    /// A stable identifier for menus and IPC ("teams"), never the `Debug` text.
    pub fn id(self) -> &'static str {
        match self {
            Link::Teams => "teams",
            Link::Salesforce => "salesforce",
        }
    }

    /// The link an [`Link::id`] names.
    pub fn from_id(id: &str) -> Option<Link> {
        Link::ALL.into_iter().find(|link| link.id() == id)
    }
}

/// Where the agent picked a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Picker {
    Tray,
    Panel,
}

/// Who set the state that is shown (S8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    Teams,
    OutlookOutOfOffice,
    Salesforce,
    Tray,
    Panel,
    WrapUpTimer,
    CallInProgress,
}

impl Source {
    /// The text the panel shows and the tray tooltip names.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Teams => "set in Teams",
            Source::OutlookOutOfOffice => "Outlook out of office",
            Source::Salesforce => "set in Salesforce",
            Source::Tray => "set from the tray",
            Source::Panel => "set from the panel",
            Source::WrapUpTimer => "wrap-up timer",
            Source::CallInProgress => "call in progress",
        }
    }

    /// `Agent_Presence__c.Source__c`.
    pub fn record_value(self) -> &'static str {
        match self {
            Source::Teams | Source::OutlookOutOfOffice => "Teams",
            Source::Salesforce => "Salesforce",
            Source::Tray | Source::Panel | Source::CallInProgress => "Desktop",
            Source::WrapUpTimer => "Timer",
        }
    }
}

impl From<Picker> for Source {
    fn from(picker: Picker) -> Self {
        match picker {
            Picker::Tray => Source::Tray,
            Picker::Panel => Source::Panel,
        }
    }
}

/// An `Agent_Presence__c` value seen in Salesforce (a streaming event or a query row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceObservation {
    /// `State__c`: a state label.
    pub state: String,
    /// `Origin_Client__c`: the client that wrote it, if any.
    pub origin_client: Option<String>,
    /// `Sequence__c` as written by that client.
    pub sequence: Option<u64>,
}

/// Something the agent asked for, from the tray or the panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserIntent {
    Pick {
        label: String,
        via: Picker,
    },
    Answer {
        call_id: String,
    },
    Decline {
        call_id: String,
    },
    HangUp {
        call_id: String,
    },
    /// Place an outbound call; the caller supplies a unique id (the shell makes a UUID).
    Dial {
        call_id: String,
        number: String,
    },
    ExtendWrapUp,
    /// Send a call log that Salesforce refused again (from the "not saved" list), once what it
    /// refused has been put right.
    RetryCallLog {
        key: String,
    },
}

/// The result of an effect, reported back by the connector that performed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Done,
    Failed(Failure),
}

/// Identifies an effect so that its outcome can find its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EffectId(pub u64);

impl fmt::Display for EffectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Things that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The app started (S7: read both sides and converge).
    Started,
    /// A Teams presence was read.
    TeamsPresence(TeamsPresence),
    /// An `Agent_Presence__c` value was seen.
    SalesforceState(SalesforceObservation),
    User(UserIntent),
    /// The call controller offered a call.
    CallOffered(CallOffer),
    /// The call controller reported progress on a call.
    CallProgress {
        call_id: String,
        progress: CallProgress,
        /// `Logged_By_Controller__c` on the record: the controller writes this call's Task
        /// (an outbound call learns it here, as it was never offered).
        #[serde(default)]
        controller_logs: bool,
    },
    /// The caller lookup finished (`None`: no record matched).
    CallerIdentified {
        call_id: String,
        caller: Option<CallerMatch>,
    },
    EffectDone {
        id: EffectId,
        outcome: Outcome,
    },
    /// A link failed outside any effect (the Salesforce stream dropped, say).
    LinkLost {
        link: Link,
        failure: Failure,
    },
    /// A link that was lost works again.
    LinkRestored {
        link: Link,
    },
    /// The agent signed in again on a link.
    SignedIn {
        link: Link,
    },
    /// The machine resumed from sleep (the driver saw the wall clock jump past the monotonic one).
    Resumed,
    /// A push channel (the Salesforce stream) has just been (re)subscribed. Changes made
    /// between the last read and the subscription were pushed to nobody, so both sides are read
    /// again and re-converged, as after a resume.
    Resubscribed {
        link: Link,
    },
    /// The agent quit the app (L7).
    Quit,
    /// How the set-up around the engine goes: signing in, the Call Center read, what cannot
    /// run. The engine runs from the first second, so the snapshot says all of it.
    Setup(SetupNews),
    /// The calls whose logs are set aside in the outbox now (the whole list, each time it
    /// changes): the "not saved to Salesforce" list.
    UnsavedCalls(Vec<crate::snapshot::UnsavedCall>),
    /// What the call controller says of the Task of one of the agent's calls
    /// (`Agent_Call__c.Log_Error__c`): refused for good with `reason`, or (`None`) saved or
    /// being sent again. Every event of the agent's calls says it, so `None` is the usual news.
    ControllerLog {
        /// The offer's `Call_Id__c`.
        call_id: String,
        /// The other party's number, for the list's line.
        number: String,
        /// When the call was offered, in the agent's time ("Dec 2, 14:02").
        at: String,
        reason: Option<String>,
    },
}

/// News from the start-up of the sync and from signing in again, for the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetupNews {
    /// The Call Center read from Salesforce, in place of the one the engine was built with.
    /// Taken before [`Input::Started`] only: the states cannot change under a running sync.
    CallCenter(Box<crate::config::CallCenter>),
    /// The agent is asked to sign in to `link`: `text` says how (the browser's address, or a
    /// device code and where to enter it). Shown until the link is signed in.
    SignInAsked { link: Link, text: String },
    /// Signing in to `link` failed; shown in place of the request until the next sign-in.
    SignInFailed { link: Link, reason: String },
    /// Something the agent should know while the app runs (no keyring, so the sign-in lasts
    /// only this run; the shipped Call Center in use; a damaged outbox set aside).
    Caveat { text: String },
    /// The sync cannot run, and why: no settings, another sync for this agent, a refused
    /// sign-in. Nothing is sent after it.
    CannotRun { reason: String },
}

/// The record written to `Agent_Presence__c`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceWrite {
    pub state: String,
    pub source: Source,
    /// `Sequence__c`: increases with every write of this client.
    pub sequence: u64,
    /// `Origin_Client__c`: this app's client id, for echo detection.
    pub origin_client: String,
    pub out_of_office: bool,
    /// The Teams presence last seen, for `Teams_Availability__c` / `Teams_Activity__c`.
    pub teams: Option<TeamsPair>,
}

/// `Task.CallType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallType {
    Inbound,
    Outbound,
    Internal,
}

/// A call log to write as a Salesforce `Task`, by upsert on `Call_Log_Key__c` (G4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLog {
    /// `Call_Log_Key__c`: the call id, so that a retry never duplicates.
    pub key: String,
    pub call_id: String,
    pub kind: CallKind,
    pub call_type: CallType,
    /// `CallDisposition`: "Missed", "Completed", "No answer", "Declined" or the blocking reason.
    pub disposition: Disposition,
    pub duration: Duration,
    pub from_number: String,
    pub to_number: String,
    pub caller: Option<CallerMatch>,
    pub subject: String,
    /// The Task's owner (`OwnerId`), when it is not whoever writes it: the call controller
    /// writes its logs as the integration user, owned by the agent.
    #[serde(default)]
    pub owner: Option<String>,
    /// The `Agent_Call__c` (its `Call_Id__c`) that stands for this call with its owner, where
    /// the call controller says so if Salesforce refuses the Task for good (the app lists it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_record: Option<String>,
}

impl CallLog {
    /// The text of the log's subject (`Task.Subject`), from the rest of it.
    pub fn composed_subject(&self) -> String {
        let who = self
            .caller
            .as_ref()
            .map_or(self.from_number.as_str(), |caller| caller.name.as_str());
        match (self.call_type, &self.disposition) {
            (CallType::Outbound, _) => format!("Call to {}", self.to_number),
            (_, Disposition::Missed) => format!("Missed call from {who}"),
            (_, Disposition::Completed) => format!("Call from {who}"),
            (_, reason) => format!("Call from {who} not signalled: {reason}"),
        }
    }
}

/// What the agent's panel did to a call, written to `Agent_Call__c.Status__c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CallAction {
    Answered,
    Declined,
    Ended,
}

/// Something the desktop shows at once (toasts, ringing, notices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiEffect {
    /// Start ringing: a toast and the ringing panel.
    Ring {
        call_id: String,
        title: String,
        body: String,
        call_waiting: bool,
    },
    /// The caller was identified: update the toast and panel.
    CallerShown { call_id: String, name: String },
    /// Stop the toast and the ringing for this call.
    StopRinging { call_id: String },
    /// A short message for the agent ("Outbound calls are blocked while Do Not Disturb").
    Notice { text: String },
}

/// Things the edges must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// `GET /me/presence`; the result comes back as [`Input::TeamsPresence`], then `EffectDone`.
    ReadTeams {
        id: EffectId,
    },
    /// Read `Agent_Presence__c`; the result comes back as [`Input::SalesforceState`] (nothing
    /// when the record does not exist yet), then `EffectDone`.
    ReadSalesforce {
        id: EffectId,
    },
    /// `setUserPreferredPresence` (S2).
    WriteTeams {
        id: EffectId,
        target: TeamsPair,
    },
    /// `setPresence` with the app's session id, before the 5-minute timeout (S2).
    KeepTeamsSession {
        id: EffectId,
        pair: TeamsPair,
    },
    /// `clearUserPreferredPresence` then `clearPresence` (L3).
    ReleaseTeams {
        id: EffectId,
    },
    /// Upsert `Agent_Presence__c`.
    WriteSalesforce {
        id: EffectId,
        write: PresenceWrite,
    },
    /// Upsert `Agent_Presence__c.Heartbeat_At__c` (L7).
    Heartbeat {
        id: EffectId,
    },
    /// Answer the controller's offer (C6).
    AnswerOffer {
        id: EffectId,
        call_id: String,
        answer: OfferAnswer,
    },
    /// Write the agent's action on a call.
    UpdateCall {
        id: EffectId,
        call_id: String,
        action: CallAction,
    },
    /// Place an outbound call.
    PlaceCall {
        id: EffectId,
        call_id: String,
        number: String,
    },
    /// Look the caller up by phone digits (C8); answer with [`Input::CallerIdentified`].
    LookupCaller {
        id: EffectId,
        call_id: String,
        digits: String,
    },
    /// Hand a call log to the durable outbox (G4); the outbox owns its delivery from here.
    LogCall {
        log: CallLog,
    },
    /// Queue a call log set aside in the outbox again (the agent's Retry); the outbox's next
    /// list comes back as [`Input::UnsavedCalls`].
    RetryCallLog {
        key: String,
    },
    /// Ask the call controller to send a Task it set aside again (`Log_Retry_At__c` on the
    /// offer `call_id`): the agent's Retry of a log the controller writes.
    RequestLogRetry {
        id: EffectId,
        call_id: String,
    },
    Ui(UiEffect),
    /// Something worth a log line (an unknown Teams value, a refused write).
    Diagnostic {
        message: String,
    },
    /// Quitting may finish now (L7).
    Shutdown,
}

impl Effect {
    /// The id its outcome must carry back, for an effect that has an outcome.
    pub fn id(&self) -> Option<EffectId> {
        match self {
            Effect::ReadTeams { id }
            | Effect::ReadSalesforce { id }
            | Effect::WriteTeams { id, .. }
            | Effect::KeepTeamsSession { id, .. }
            | Effect::ReleaseTeams { id }
            | Effect::WriteSalesforce { id, .. }
            | Effect::Heartbeat { id }
            | Effect::AnswerOffer { id, .. }
            | Effect::UpdateCall { id, .. }
            | Effect::PlaceCall { id, .. }
            | Effect::LookupCaller { id, .. }
            | Effect::RequestLogRetry { id, .. } => Some(*id),
            Effect::LogCall { .. }
            | Effect::RetryCallLog { .. }
            | Effect::Ui(_)
            | Effect::Diagnostic { .. }
            | Effect::Shutdown => None,
        }
    }
}
