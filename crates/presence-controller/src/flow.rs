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
//! from the app, or no answer by the agent hand the call to the agent's own Teams (Teams'
//! rules and voicemail), with the reason on the record. The caller hanging up at any point is
//! `CallerHungUp`; the end of a connected call is `Ended`.

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
    /// Time passed.
    Tick,
}

/// The actions on Graph a flow may ask for (also what a refusal names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Answer,
    Redirect,
    PlayPrompt,
    Invite,
    HandOver,
    HangUp,
}

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

    /// Hands the call to the agent's Teams: the record's change (if any), the call's log (it
    /// is over for Presence Bridge), then the transfer.
    fn hand_over(&mut self, write: Option<RecordWrite>, log: Option<Effect>) -> Vec<Effect> {
        self.stage = Stage::HandingOver;
        self.deadline_ms = None;
        let mut effects: Vec<Effect> = write.into_iter().map(record).collect();
        effects.extend(log);
        effects.push(Effect::Graph(Action::HandOver));
        effects
    }

    /// Moves the call on; `now_ms` is the wall clock's time.
    pub fn on(&mut self, input: Input, now_ms: i64, rules: &Rules) -> Vec<Effect> {
        use Stage::*;
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
                self.hand_over(None, log)
            }
            (Offered | Ringing, Input::App { status, .. }) if status == "Declined" => {
                let log = rules.missed(Disposition::Declined);
                self.hand_over(None, log)
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
                    missed("no answer from the agent's app"),
                    rules.missed(Disposition::Missed),
                ),
            (Ringing, Input::Tick) if self.deadline_ms.is_some_and(|at| at <= now_ms) => self
                .hand_over(
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
                    // G1: it rang and the caller left before an answer.
                    Offered | Ringing | Inviting => std::iter::once(ended("CallerHungUp"))
                        .chain(rules.missed(Disposition::Missed))
                        .collect(),
                    // Handed over (a completed transfer, 7015, or the caller left meanwhile):
                    // the record and the log were written when it was handed over.
                    HandingOver | Done => Vec::new(),
                }
            }
            (Answering, Input::Refused(Action::Answer)) => {
                self.stage = Redirected;
                self.not_offered = Some("the bot could not answer".into());
                vec![Effect::Graph(Action::Redirect)]
            }
            (Inviting, Input::Refused(Action::Invite)) => self.hand_over(
                missed("the agent's Teams could not be invited"),
                rules.missed(Disposition::Missed),
            ),
            (HandingOver, Input::Refused(Action::HandOver)) => {
                self.stage = Ending;
                vec![Effect::Graph(Action::HangUp)]
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            offer_timeout_ms: 5_000,
            ring_timeout_ms: 20_000,
            heartbeat_timeout_ms: 120_000,
            log_missed_calls: true,
            logged_out_states: vec!["Logout".into()],
        }
    }

    fn logs(effects: &[Effect]) -> Vec<(String, u64)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Log {
                    disposition,
                    duration_s,
                } => Some((disposition.as_str().to_string(), *duration_s)),
                _ => None,
            })
            .collect()
    }

    fn present() -> AgentView {
        AgentView {
            logged_out: false,
            heartbeat_age_ms: Some(1_000),
        }
    }

    fn app(status: &str) -> Input {
        Input::App {
            status: status.into(),
            reason: None,
        }
    }

    fn statuses(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Record(w) => w.status.clone(),
                Effect::Graph(_) | Effect::Log { .. } => None,
            })
            .collect()
    }

    #[test]
    fn an_absent_agent_is_not_offered_the_call_and_nothing_is_written() {
        for (view, why) in [
            (
                AgentView {
                    logged_out: true,
                    heartbeat_age_ms: Some(1),
                },
                "agent logged out",
            ),
            (
                AgentView {
                    logged_out: false,
                    heartbeat_age_ms: None,
                },
                "no heartbeat from the agent's app",
            ),
            (
                AgentView {
                    logged_out: false,
                    heartbeat_age_ms: Some(121_000),
                },
                "agent's heartbeat is stale",
            ),
        ] {
            let (mut flow, effects) = CallFlow::incoming("c", view, &rules());
            assert_eq!(effects, [Effect::Graph(Action::Redirect)]);
            assert_eq!(flow.not_offered.as_deref(), Some(why));
            assert_eq!(flow.on(Input::Ended { subcode: 0 }, 9, &rules()), []);
            assert!(flow.is_done());
        }
    }

    #[test]
    fn an_answered_call_invites_the_agent_and_its_end_is_recorded() {
        let (mut flow, effects) = CallFlow::incoming("c", present(), &rules());
        assert_eq!(effects, [Effect::Graph(Action::Answer)]);
        let offered = flow.on(Input::Leg("establishing".into()), 10, &rules());
        assert!(
            offered.is_empty(),
            "only established counts: the two may come swapped"
        );
        let offered = flow.on(Input::Leg("established".into()), 20, &rules());
        assert_eq!(statuses(&offered), ["Offered"]);
        assert!(offered.contains(&Effect::Graph(Action::PlayPrompt)));
        assert!(flow.on(app("Signalled"), 30, &rules()).is_empty());
        assert_eq!(
            flow.on(app("Answered"), 40, &rules()),
            [Effect::Graph(Action::Invite)]
        );
        let joined = flow.on(Input::Invited { joined: true }, 50, &rules());
        assert!(matches!(&joined[..], [Effect::Record(w)] if w.answered_at_ms == Some(50)));
        let ended = flow.on(Input::Ended { subcode: 540000 }, 90_050, &rules());
        assert_eq!(statuses(&ended), ["Ended"]);
        assert_eq!(logs(&ended), [("Completed".to_string(), 90)]);
        assert_eq!(flow.answered_at_ms, Some(50));
    }

    #[test]
    fn no_answer_from_the_app_and_no_answer_by_the_agent_hand_the_call_to_teams() {
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        assert!(flow.on(Input::Tick, 4_999, &rules()).is_empty());
        let late = flow.on(Input::Tick, 5_000, &rules());
        assert_eq!(statuses(&late), ["Missed"]);
        assert!(late.contains(&Effect::Graph(Action::HandOver)));
        assert!(flow
            .on(Input::Ended { subcode: 7015 }, 6_000, &rules())
            .is_empty());

        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        flow.on(app("Signalled"), 100, &rules());
        assert!(flow.on(Input::Tick, 20_000, &rules()).is_empty());
        assert_eq!(
            statuses(&flow.on(Input::Tick, 20_100, &rules())),
            ["Missed"]
        );
    }

    #[test]
    fn not_signalled_and_declined_keep_the_apps_status_and_hand_over() {
        for answer in ["NotSignalled", "Declined"] {
            let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
            flow.on(Input::Leg("established".into()), 0, &rules());
            if answer == "Declined" {
                flow.on(app("Signalled"), 1, &rules());
            }
            let effects = flow.on(app(answer), 2, &rules());
            assert_eq!(
                statuses(&effects),
                Vec::<String>::new(),
                "the app's status stays"
            );
            assert_eq!(effects.last(), Some(&Effect::Graph(Action::HandOver)));
            assert_eq!(flow.stage, Stage::HandingOver);
        }
    }

    #[test]
    fn each_call_is_logged_once_as_the_rules_say() {
        // G3: answered, with the time talked.
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        flow.on(app("Answered"), 1_000, &rules());
        flow.on(Input::Invited { joined: true }, 2_000, &rules());
        assert_eq!(
            logs(&flow.on(Input::Ended { subcode: 0 }, 44_500, &rules())),
            [("Completed".to_string(), 42)]
        );
        // G2 with the app's reason; G5: not for a LoggedOut state.
        for (reason, expected) in [
            ("Do Not Disturb", vec![("Do Not Disturb".to_string(), 0)]),
            ("Logout", vec![]),
        ] {
            let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
            flow.on(Input::Leg("established".into()), 0, &rules());
            let blocked = flow.on(
                Input::App {
                    status: "NotSignalled".into(),
                    reason: Some(reason.into()),
                },
                1,
                &rules(),
            );
            assert_eq!(logs(&blocked), expected, "{reason}");
            assert!(
                logs(&flow.on(Input::Ended { subcode: 7015 }, 2, &rules())).is_empty(),
                "logged once"
            );
        }
        // G1: missed and declined, unless the Call Center turns it off.
        let quiet = Rules {
            log_missed_calls: false,
            ..rules()
        };
        for rules in [rules(), quiet] {
            let (mut flow, _) = CallFlow::incoming("c", present(), &rules);
            flow.on(Input::Leg("established".into()), 0, &rules);
            flow.on(app("Signalled"), 1, &rules);
            let declined = logs(&flow.on(app("Declined"), 2, &rules));
            let expected = if rules.log_missed_calls {
                vec![("Declined".to_string(), 0)]
            } else {
                vec![]
            };
            assert_eq!(declined, expected);
        }
    }

    #[test]
    fn the_caller_hanging_up_before_the_answer_is_caller_hung_up() {
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        flow.on(app("Signalled"), 1, &rules());
        assert_eq!(
            statuses(&flow.on(Input::Ended { subcode: 540000 }, 2, &rules())),
            ["CallerHungUp"]
        );
        assert!(
            flow.on(app("Answered"), 3, &rules()).is_empty(),
            "over is over"
        );
    }
}
