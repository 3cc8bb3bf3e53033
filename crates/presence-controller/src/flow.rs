//! One call's life in the controller, as a pure state machine (no IO, no clock: times are
//! passed in as milliseconds since the epoch). The driver feeds it what Graph and the agent's
//! app said and performs the effects it returns.
//!
//! A direct call: an agent who is logged out, or whose app's heartbeat is stale or missing,
//! is not offered the call: it is redirected to their own Teams at once (Teams' rules apply,
//! L2; nothing is written, L4). Otherwise the bot answers, plays a ringback prompt and offers
//! the call on `Agent_Call__c`. The app says Signalled (it rings for the ring timeout) or
//! NotSignalled with a reason; Answered invites the agent into the call so that their Teams
//! rings and connects (the bot stays in and sees the end); NotSignalled, Declined, no answer
//! from the app, or no answer by the agent go where the Call Center's answering rule says
//! (`Unanswered_Calls__c`): the agent's own Teams (Teams' rules and voicemail), the overflow
//! target (a user or a number; the agent's Teams should that transfer fail), or a closing
//! prompt and the end of the call; the reason is on the record. The caller hanging up at any
//! point is `CallerHungUp`; the end of a connected call is `Ended`.

use presence_core::Disposition;
use serde::{Deserialize, Serialize};

/// Where a call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Redirected to the agent's Teams without an offer: the bot only waits for its end.
    Redirected,
    /// Answered by the bot; waiting for the leg to be established.
    Answering,
    /// Offered on `Agent_Call__c`; waiting for the app's Signalled or NotSignalled.
    Offered,
    /// Ringing in the app; waiting for Answered or Declined.
    Ringing,
    /// The agent answered in the app; their Teams rings with the invitation.
    Inviting,
    /// The agent is in the call.
    Connected,
    /// Handed to the agent's Teams (a transfer); waiting for it to complete.
    HandingOver,
    /// The bot hung up; waiting for the end.
    Ending,
    /// Playing the closing prompt of the answering rule; the bot hangs up once it is done.
    Farewell,
    /// An outbound call: the bot calls the agent's Teams from their line.
    Placing,
    /// An outbound call: the agent is in; the number is being dialled.
    Dialling,
    /// An outbound call over for the record and the log; the bot hangs up and waits for the end.
    Closing,
    /// Over: nothing more will happen.
    Done,
}

/// What the agent's presence record said when the call came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentView {
    /// The state is of class LoggedOut.
    pub logged_out: bool,
    /// Milliseconds since the app's last heartbeat, if it ever sent one.
    pub heartbeat_age_ms: Option<i64>,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Graph: the call leg changed state (`established`, …).
    Leg(String),
    /// The app wrote `Status__c` (and maybe `Reason__c`) on the call's record.
    App {
        status: String,
        reason: Option<String>,
    },
    /// Graph: the invitation of the agent ended; `joined` when they picked up in Teams.
    Invited { joined: bool },
    /// Graph: the leg ended, with its result (`subcode` 7015: a transfer completed).
    Ended { subcode: u32 },
    /// An action the controller took was refused for good.
    Refused(Action),
    /// Graph: the closing prompt finished (played or not).
    PromptDone,
    /// Graph: a transfer failed; the call is the bot's again.
    TransferFailed,
    /// Time passed.
    Tick,
}

/// The actions on Graph a flow may ask for (also what a refusal names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Answer,
    /// Send the unanswered call to the current agent's Teams.
    Redirect,
    PlayPrompt,
    /// Invite the current agent into the call.
    Invite,
    /// Transfer the answered call to the current agent's Teams.
    HandOver,
    HangUp,
    /// Turn the unanswered call away (a queue nobody can take, without an overflow target).
    Reject,
    /// Send the unanswered call to the queue's overflow target.
    OverflowRedirect,
    /// Transfer the answered call to the queue's overflow target.
    OverflowTransfer,
    /// Place an outbound call: the bot calls the agent's Teams from the agent's line.
    Place,
    /// Dial the outbound call's number into it.
    Dial,
    /// Play the answering rule's closing prompt.
    PlayClosing,
}

/// The Call Center's rule for a direct call that is not signalled, declined or not answered
/// (`Unanswered_Calls__c`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Unanswered {
    /// The agent's own Teams: its forwarding and voicemail apply.
    #[default]
    AgentTeams,
    /// The overflow target (a user's Teams or a number).
    Overflow,
    /// A closing prompt, then the call ends.
    EndWithPrompt,
}

/// How long a closing prompt may take before the bot hangs up anyway.
pub const CLOSING_PROMPT_MAX_MS: i64 = 30_000;

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Graph(Action),
    /// Upsert the call's `Agent_Call__c` (by `Call_Id__c`) with these values.
    Record(RecordWrite),
    /// Log the call: its Task, queued in the durable outbox (G1 to G4).
    Log {
        disposition: Disposition,
        duration_s: u64,
    },
}

/// Fields of `Agent_Call__c` to write; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordWrite {
    /// A new offer (all the offer's fields are written).
    pub offer: bool,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub answered_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    /// Which offer of a queue call it is for (1, 2, …); 0 for a direct call's one record.
    #[serde(default)]
    pub attempt: u32,
    /// The agent an offer is for (their UPN).
    #[serde(default)]
    pub agent: Option<String>,
    /// Mark the record `Logged_By_Controller__c` (an outbound call the controller takes on).
    #[serde(default)]
    pub controller_logs: bool,
}

/// The controller's timers and the Call Center's logging rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub offer_timeout_ms: i64,
    pub ring_timeout_ms: i64,
    pub heartbeat_timeout_ms: i64,
    /// `Log_Missed_Calls__c` (G1): missed and declined calls are logged.
    pub log_missed_calls: bool,
    /// The Call Center's LoggedOut states: a call the app did not signal for one of them is
    /// not logged (G5).
    pub logged_out_states: Vec<String>,
    /// Where unanswered direct calls go.
    pub unanswered: Unanswered,
}

impl Rules {
    /// The log of a call that was not answered, if such calls are logged (G1).
    fn missed(&self, disposition: Disposition) -> Option<Effect> {
        self.log_missed_calls.then_some(Effect::Log {
            disposition,
            duration_s: 0,
        })
    }
}

/// One call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFlow {
    pub call: String,
    pub stage: Stage,
    /// Why the call went to the agent's Teams without being offered, if it did.
    pub not_offered: Option<String>,
    pub offered_at_ms: Option<i64>,
    pub answered_at_ms: Option<i64>,
    /// When the current wait (for the app, for the agent) ends.
    pub deadline_ms: Option<i64>,
    /// The agent the call is with now (their UPN).
    #[serde(default)]
    pub agent: Option<String>,
    /// A queue call's offers: `None` for a direct call.
    #[serde(default)]
    pub queue: Option<QueueOffers>,
    /// An outbound call the agent asked for (`flow_outbound.rs`).
    #[serde(default)]
    pub outbound: Option<crate::flow_outbound::Outbound>,
    /// A direct call was transferred to the overflow target: should that fail, the agent's
    /// Teams takes it.
    #[serde(default)]
    pub overflowed: bool,
}

/// A queue call is offered to one agent at a time (C5), longest idle first; the next one on a
/// decline, a block or a timeout; the overflow target (or nobody) once none is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOffers {
    /// The offer under way: 1 for the first agent.
    pub attempt: u32,
    /// The agents still to try, in order.
    pub waiting: Vec<String>,
    /// Whether the queue has an overflow target.
    pub overflow: bool,
}

fn record(write: RecordWrite) -> Effect {
    Effect::Record(write)
}

fn status(status: &str, reason: Option<&str>) -> RecordWrite {
    RecordWrite {
        status: Some(status.into()),
        reason: reason.map(str::to_string),
        ..RecordWrite::default()
    }
}

impl CallFlow {
    /// A call just arrived; returns the flow and what to do first.
    /// A queue call just arrived for these eligible agents (longest idle first).
    pub fn queued(call: &str, eligible: Vec<String>, overflow: bool) -> (Self, Vec<Effect>) {
        let mut waiting = eligible;
        let first = (!waiting.is_empty()).then(|| waiting.remove(0));
        let mut flow = Self {
            call: call.to_string(),
            stage: Stage::Answering,
            not_offered: None,
            offered_at_ms: None,
            answered_at_ms: None,
            deadline_ms: None,
            agent: first.clone(),
            queue: Some(QueueOffers {
                attempt: 1,
                waiting,
                overflow,
            }),
            outbound: None,
            overflowed: false,
        };
        if first.is_none() {
            flow.stage = Stage::Redirected;
            flow.not_offered = Some("no agent of the queue can take it".into());
            let action = if overflow {
                Action::OverflowRedirect
            } else {
                Action::Reject
            };
            return (flow, vec![Effect::Graph(action)]);
        }
        (flow, vec![Effect::Graph(Action::Answer)])
    }

    /// The key of the `Agent_Call__c` of an offer: the call id for a direct call, and
    /// `{call}~{attempt}` for each offer of a queue call (one row per agent offered).
    pub fn record_key(&self, attempt: u32) -> String {
        if attempt == 0 {
            self.call.clone()
        } else {
            format!("{}~{attempt}", self.call)
        }
    }

    /// The offer under way (0 for a direct call).
    pub fn attempt(&self) -> u32 {
        self.queue.as_ref().map_or(0, |queue| queue.attempt)
    }

    pub fn incoming(call: &str, agent: AgentView, rules: &Rules) -> (Self, Vec<Effect>) {
        let why_not = if agent.logged_out {
            Some("agent logged out")
        } else {
            match agent.heartbeat_age_ms {
                None => Some("no heartbeat from the agent's app"),
                Some(age) if age > rules.heartbeat_timeout_ms => Some("agent's heartbeat is stale"),
                Some(_) => None,
            }
        };
        let mut flow = Self {
            call: call.to_string(),
            stage: Stage::Answering,
            not_offered: why_not.map(str::to_string),
            offered_at_ms: None,
            answered_at_ms: None,
            deadline_ms: None,
            agent: None,
            queue: None,
            outbound: None,
            overflowed: false,
        };
        if why_not.is_some() {
            flow.stage = Stage::Redirected;
            return (flow, vec![Effect::Graph(Action::Redirect)]);
        }
        (flow, vec![Effect::Graph(Action::Answer)])
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Hands a direct call on as the answering rule says (the agent's Teams, the overflow
    /// target, or a closing prompt): the record's change (if any), the call's log (it is over
    /// for Presence Bridge), then the action. A queue call goes to the next agent instead (the
    /// log waits for the call's end), or to the queue's overflow once none is left.
    fn hand_over(
        &mut self,
        now_ms: i64,
        rules: &Rules,
        write: Option<RecordWrite>,
        log: Option<Effect>,
    ) -> Vec<Effect> {
        let attempt = self.attempt();
        let mut effects: Vec<Effect> = write
            .into_iter()
            .map(|write| record(RecordWrite { attempt, ..write }))
            .collect();
        self.deadline_ms = None;
        if let Some(queue) = &mut self.queue {
            if queue.waiting.is_empty() {
                self.stage = Stage::HandingOver;
                let overflow = queue.overflow;
                effects.push(Effect::Graph(if overflow {
                    Action::OverflowTransfer
                } else {
                    Action::HangUp
                }));
                return effects;
            }
            let next = queue.waiting.remove(0);
            queue.attempt += 1;
            self.agent = Some(next);
            self.stage = Stage::Offered;
            self.offered_at_ms = Some(now_ms);
            self.deadline_ms = Some(now_ms + rules.offer_timeout_ms);
            effects.push(record(RecordWrite {
                offer: true,
                status: Some("Offered".into()),
                ..RecordWrite::default()
            }));
            return effects;
        }
        effects.extend(log);
        // The Call Center's answering rule says where it goes.
        self.stage = Stage::HandingOver;
        let action = match rules.unanswered {
            Unanswered::AgentTeams => Action::HandOver,
            Unanswered::Overflow => {
                self.overflowed = true;
                Action::OverflowTransfer
            }
            Unanswered::EndWithPrompt => {
                self.stage = Stage::Farewell;
                self.deadline_ms = Some(now_ms + CLOSING_PROMPT_MAX_MS);
                Action::PlayClosing
            }
        };
        effects.push(Effect::Graph(action));
        effects
    }

    /// Moves the call on; `now_ms` is the wall clock's time.
    pub fn on(&mut self, input: Input, now_ms: i64, rules: &Rules) -> Vec<Effect> {
        let mut effects = self.advance(input, now_ms, rules);
        // Writes name the offer they are for (a queue call's current one, unless set), and
        // offers the agent they go to.
        let attempt = self.attempt();
        for effect in &mut effects {
            if let Effect::Record(write) = effect {
                if write.attempt == 0 {
                    write.attempt = attempt;
                }
                if write.offer && write.agent.is_none() {
                    write.agent = self.agent.clone();
                }
            }
        }
        effects
    }

    fn advance(&mut self, input: Input, now_ms: i64, rules: &Rules) -> Vec<Effect> {
        use Stage::*;
        if self.outbound.is_some() {
            return self.advance_outbound(input, now_ms);
        }
        let missed = |why: &str| Some(status("Missed", Some(why)));
        match (self.stage, input) {
            (Done, _) => Vec::new(),
            (Answering, Input::Leg(state)) if state == "established" => {
                self.stage = Offered;
                self.offered_at_ms = Some(now_ms);
                self.deadline_ms = Some(now_ms + rules.offer_timeout_ms);
                vec![
                    Effect::Graph(Action::PlayPrompt),
                    record(RecordWrite {
                        offer: true,
                        status: Some("Offered".into()),
                        ..RecordWrite::default()
                    }),
                ]
            }
            (Offered, Input::App { status, .. }) if status == "Signalled" => {
                self.stage = Ringing;
                self.deadline_ms = Some(now_ms + rules.ring_timeout_ms);
                Vec::new()
            }
            // The app's own status (NotSignalled with its reason, Declined) stays on the record.
            // G2: a call not signalled is logged with the reason as its disposition, unless
            // the reason is a LoggedOut state (G5).
            (Offered | Ringing, Input::App { status, reason }) if status == "NotSignalled" => {
                let reason = reason.unwrap_or_else(|| "Not signalled".into());
                let logged_out = rules
                    .logged_out_states
                    .iter()
                    .any(|state| state.eq_ignore_ascii_case(&reason));
                let log = (!logged_out).then_some(Effect::Log {
                    disposition: Disposition::NotSignalled(reason),
                    duration_s: 0,
                });
                self.hand_over(now_ms, rules, None, log)
            }
            (Offered | Ringing, Input::App { status, .. }) if status == "Declined" => {
                let log = rules.missed(Disposition::Declined);
                self.hand_over(now_ms, rules, None, log)
            }
            (Offered | Ringing, Input::App { status, .. }) if status == "Answered" => {
                self.stage = Inviting;
                self.deadline_ms = None;
                vec![Effect::Graph(Action::Invite)]
            }
            (Inviting, Input::Invited { joined: true }) => {
                self.stage = Connected;
                self.answered_at_ms = Some(now_ms);
                vec![record(RecordWrite {
                    answered_at_ms: Some(now_ms),
                    ..RecordWrite::default()
                })]
            }
            (Inviting, Input::Invited { joined: false }) => self.hand_over(
                now_ms,
                rules,
                missed("not picked up in Teams after the answer in the app"),
                rules.missed(Disposition::Missed),
            ),
            // The agent hung up in the app.
            (Inviting | Connected, Input::App { status, .. }) if status == "Ended" => {
                self.stage = Ending;
                vec![Effect::Graph(Action::HangUp)]
            }
            (Offered, Input::Tick) if self.deadline_ms.is_some_and(|at| at <= now_ms) => self
                .hand_over(
                    now_ms,
                    rules,
                    missed("no answer from the agent's app"),
                    rules.missed(Disposition::Missed),
                ),
            (Ringing, Input::Tick) if self.deadline_ms.is_some_and(|at| at <= now_ms) => self
                .hand_over(
                    now_ms,
                    rules,
                    missed("not answered in time"),
                    rules.missed(Disposition::Missed),
                ),
            (stage, Input::Ended { .. }) => {
                self.stage = Done;
                self.deadline_ms = None;
                let ended = |status: &str| {
                    record(RecordWrite {
                        status: Some(status.into()),
                        ended_at_ms: Some(now_ms),
                        ..RecordWrite::default()
                    })
                };
                match stage {
                    // Nothing was offered: nothing to write or log (L4).
                    Redirected | Answering => Vec::new(),
                    // G3: an answered call is logged when it ends, with its duration.
                    Connected | Ending => {
                        let talked_ms = self.answered_at_ms.map_or(0, |at| (now_ms - at).max(0));
                        vec![
                            ended("Ended"),
                            Effect::Log {
                                disposition: Disposition::Completed,
                                duration_s: (talked_ms / 1000) as u64,
                            },
                        ]
                    }
                    // G1: it rang and the caller left before an answer (a queue call is no one
                    // agent's to log as missed).
                    Offered | Ringing | Inviting => std::iter::once(ended("CallerHungUp"))
                        .chain(
                            rules
                                .missed(Disposition::Missed)
                                .filter(|_| self.queue.is_none()),
                        )
                        .collect(),
                    // Handed over (a completed transfer, 7015, or the caller left meanwhile):
                    // the record and the log were written when it was handed over.
                    HandingOver | Farewell | Done => Vec::new(),
                    // An outbound call's stages are `flow_outbound.rs`'s.
                    Placing | Dialling | Closing => Vec::new(),
                }
            }
            (Answering, Input::Refused(Action::Answer)) if self.queue.is_some() => {
                self.stage = Redirected;
                self.not_offered = Some("the bot could not answer".into());
                vec![Effect::Graph(Action::Reject)]
            }
            (Answering, Input::Refused(Action::Answer)) => {
                self.stage = Redirected;
                self.not_offered = Some("the bot could not answer".into());
                vec![Effect::Graph(Action::Redirect)]
            }
            (Inviting, Input::Refused(Action::Invite)) => self.hand_over(
                now_ms,
                rules,
                missed("the agent's Teams could not be invited"),
                rules.missed(Disposition::Missed),
            ),
            // The overflow target could not take a direct call: the agent's Teams does.
            (HandingOver, Input::TransferFailed | Input::Refused(Action::OverflowTransfer))
                if self.overflowed =>
            {
                self.overflowed = false;
                vec![Effect::Graph(Action::HandOver)]
            }
            // Nowhere to hand it: the bot hangs up (the record and the log were written when it
            // was handed over, so its end adds nothing).
            (
                HandingOver,
                Input::TransferFailed | Input::Refused(Action::HandOver | Action::OverflowTransfer),
            ) => vec![Effect::Graph(Action::HangUp)],
            (Farewell, Input::PromptDone | Input::Refused(Action::PlayClosing)) => {
                self.stage = HandingOver;
                self.deadline_ms = None;
                vec![Effect::Graph(Action::HangUp)]
            }
            (Farewell, Input::Tick) if self.deadline_ms.is_some_and(|at| at <= now_ms) => {
                self.stage = HandingOver;
                self.deadline_ms = None;
                vec![Effect::Graph(Action::HangUp)]
            }
            _ => Vec::new(),
        }
    }
}

// The flow's unit tests, beside it (this file is the flow itself).
#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
