//! An outbound call's life in the controller (pure, like `flow.rs`). The app asks for a call
//! with an `Agent_Call__c` of `Kind__c = Outbound`; the controller checks C3 again where the
//! call is made (a refusal is `NotSignalled` with the reason, and nothing is logged), claims
//! the record (`Signalled`, `Logged_By_Controller__c`), and places the call agent first: the
//! bot calls the agent's Teams from the agent's own line, so the agent hears it ring and the
//! customer never waits in silence; once the agent is in, the number is invited (dialled).
//! The far end joining is `Answered`; the end is `Ended` and a Completed Task with the talk
//! time; an agent who does not pick up, a number that does not answer, or a hang-up before
//! the answer is `Missed` with the reason and a "No answer" Task (G3: outbound calls are
//! logged like answered ones, and an unanswered one always, as the app does).

use presence_core::Disposition;
use serde::{Deserialize, Serialize};

use crate::flow::{Action, CallFlow, Effect, Input, RecordWrite, Stage};

/// What an outbound call is, beside its flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    /// The number to dial, E.164.
    pub number: String,
    /// The Graph call once placed (the flow's `call` is the app's `Call_Id__c`).
    pub leg: Option<String>,
}

fn write(status: &str, reason: Option<String>) -> Effect {
    Effect::Record(RecordWrite {
        status: Some(status.into()),
        reason,
        ..RecordWrite::default()
    })
}

fn no_answer() -> Effect {
    Effect::Log {
        disposition: Disposition::NoAnswer,
        duration_s: 0,
    }
}

impl CallFlow {
    /// The app asked for a call to `number` for `agent` (their UPN); `refusal` is why it may
    /// not be placed (C3, or no line to call from), if it may not.
    pub fn outbound(
        call: &str,
        agent: &str,
        number: &str,
        refusal: Option<String>,
        now_ms: i64,
    ) -> (Self, Vec<Effect>) {
        let mut flow = Self {
            call: call.to_string(),
            stage: Stage::Placing,
            not_offered: refusal.clone(),
            offered_at_ms: Some(now_ms),
            answered_at_ms: None,
            deadline_ms: None,
            agent: Some(agent.to_string()),
            queue: None,
            outbound: Some(Outbound {
                number: number.to_string(),
                leg: None,
            }),
            overflowed: false,
        };
        if let Some(reason) = refusal {
            flow.stage = Stage::Done;
            return (flow, vec![write("NotSignalled", Some(reason))]);
        }
        let claim = Effect::Record(RecordWrite {
            status: Some("Signalled".into()),
            controller_logs: true,
            ..RecordWrite::default()
        });
        (flow, vec![claim, Effect::Graph(Action::Place)])
    }

    /// The Graph call the flow follows: the placed leg of an outbound call, else the call.
    pub fn graph_call(&self) -> Option<&str> {
        match &self.outbound {
            Some(outbound) => outbound.leg.as_deref(),
            None => Some(&self.call),
        }
    }

    pub(crate) fn advance_outbound(&mut self, input: Input, now_ms: i64) -> Vec<Effect> {
        use Stage::*;
        let number = self
            .outbound
            .as_ref()
            .map(|o| o.number.clone())
            .unwrap_or_default();
        let app_ended =
            |input: &Input| matches!(input, Input::App { status, .. } if status == "Ended");
        match (self.stage, input) {
            (Done, _) => Vec::new(),
            (Placing, Input::Leg(state)) if state == "established" => {
                self.stage = Dialling;
                vec![Effect::Graph(Action::Dial)]
            }
            (Placing, Input::Refused(Action::Place)) => {
                self.stage = Done;
                vec![write(
                    "NotSignalled",
                    Some("the call could not be placed; please call again".into()),
                )]
            }
            (Dialling, Input::Invited { joined: true }) => {
                self.stage = Connected;
                self.answered_at_ms = Some(now_ms);
                vec![Effect::Record(RecordWrite {
                    status: Some("Answered".into()),
                    answered_at_ms: Some(now_ms),
                    ..RecordWrite::default()
                })]
            }
            (Dialling, Input::Invited { joined: false } | Input::Refused(Action::Dial)) => {
                self.stage = Closing;
                vec![
                    write("Missed", Some(format!("no answer from {number}"))),
                    no_answer(),
                    Effect::Graph(Action::HangUp),
                ]
            }
            // The agent hung up in the app: before the answer, the call is over unanswered.
            // The app's `Ended` is written again: it may have landed between the controller's
            // read of the request and its claim, which then overwrote it with `Signalled`.
            (Placing | Dialling, ref input) if app_ended(input) => {
                self.stage = Closing;
                vec![
                    write("Ended", None),
                    no_answer(),
                    Effect::Graph(Action::HangUp),
                ]
            }
            (Connected, ref input) if app_ended(input) => {
                self.stage = Ending;
                vec![Effect::Graph(Action::HangUp)]
            }
            (stage, Input::Ended { .. }) => {
                self.stage = Done;
                match stage {
                    Placing => vec![
                        write("Missed", Some("not picked up in Teams".into())),
                        no_answer(),
                    ],
                    Dialling => vec![
                        write("Missed", Some(format!("hung up before {number} answered"))),
                        no_answer(),
                    ],
                    Connected | Ending => {
                        let talked_ms = self.answered_at_ms.map_or(0, |at| (now_ms - at).max(0));
                        vec![
                            Effect::Record(RecordWrite {
                                status: Some("Ended".into()),
                                ended_at_ms: Some(now_ms),
                                ..RecordWrite::default()
                            }),
                            Effect::Log {
                                disposition: Disposition::Completed,
                                duration_s: (talked_ms / 1000) as u64,
                            },
                        ]
                    }
                    _ => Vec::new(),
                }
            }
            // The hang-up was refused for good: the call is gone already (its end was missed),
            // so it ends here.
            (Ending, Input::Refused(Action::HangUp)) => {
                self.advance_outbound(Input::Ended { subcode: 0 }, now_ms)
            }
            (Closing, Input::Refused(Action::HangUp)) => {
                self.stage = Done;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_ended() -> Input {
        Input::App {
            status: "Ended".into(),
            reason: None,
        }
    }

    fn summary(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .map(|effect| match effect {
                Effect::Graph(action) => format!("{action:?}"),
                Effect::Record(write) => format!(
                    "{}{}",
                    write.status.as_deref().unwrap_or("-"),
                    write
                        .reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                Effect::Log {
                    disposition,
                    duration_s,
                } => format!("log {disposition} {duration_s}s"),
            })
            .collect()
    }

    fn placed() -> CallFlow {
        let (mut flow, effects) = CallFlow::outbound("o", "ada", "+14155550100", None, 0);
        assert_eq!(summary(&effects), ["Signalled", "Place"]);
        assert!(matches!(&effects[0], Effect::Record(w) if w.controller_logs));
        if let Some(outbound) = flow.outbound.as_mut() {
            outbound.leg = Some("leg".into());
        }
        flow
    }

    #[test]
    fn a_placed_call_dials_once_the_agent_is_in_and_is_logged_with_its_talk_time() {
        let mut flow = placed();
        assert_eq!(flow.graph_call(), Some("leg"));
        assert!(flow
            .advance_outbound(Input::Leg("establishing".into()), 1)
            .is_empty());
        assert_eq!(
            summary(&flow.advance_outbound(Input::Leg("established".into()), 1_000)),
            ["Dial"]
        );
        assert_eq!(
            summary(&flow.advance_outbound(Input::Invited { joined: true }, 3_000)),
            ["Answered"]
        );
        // Our own writes echoed by the stream change nothing.
        let echo = Input::App {
            status: "Answered".into(),
            reason: None,
        };
        assert!(flow.advance_outbound(echo, 3_100).is_empty());
        assert_eq!(
            summary(&flow.advance_outbound(app_ended(), 45_000)),
            ["HangUp"]
        );
        assert_eq!(
            summary(&flow.advance_outbound(Input::Ended { subcode: 5001 }, 45_200)),
            ["Ended", "log Completed 42s"]
        );
        assert!(flow.is_done());
    }

    #[test]
    fn a_refused_request_is_not_placed_and_not_logged() {
        let (flow, effects) = CallFlow::outbound(
            "o",
            "ada",
            "+14155550100",
            Some("Outbound calls are blocked while Do Not Disturb".into()),
            0,
        );
        assert!(flow.is_done());
        assert_eq!(
            summary(&effects),
            ["NotSignalled (Outbound calls are blocked while Do Not Disturb)"]
        );
        let mut flow = placed();
        assert_eq!(
            summary(&flow.advance_outbound(Input::Refused(Action::Place), 10)),
            ["NotSignalled (the call could not be placed; please call again)"]
        );
        assert!(flow.is_done());
    }

    #[test]
    fn every_way_a_placed_call_goes_unanswered_is_missed_with_its_reason_and_one_no_answer_log() {
        // The agent's Teams never picked up.
        let mut flow = placed();
        assert_eq!(
            summary(&flow.advance_outbound(Input::Ended { subcode: 0 }, 30_000)),
            ["Missed (not picked up in Teams)", "log No answer 0s"]
        );
        // The number did not answer: the bot hangs up; its end adds nothing.
        let mut flow = placed();
        flow.advance_outbound(Input::Leg("established".into()), 1_000);
        assert_eq!(
            summary(&flow.advance_outbound(Input::Invited { joined: false }, 9_000)),
            [
                "Missed (no answer from +14155550100)",
                "log No answer 0s",
                "HangUp"
            ]
        );
        assert!(flow
            .advance_outbound(Input::Ended { subcode: 5001 }, 9_100)
            .is_empty());
        assert!(flow.is_done());
        // The agent hung up in Teams before the answer.
        let mut flow = placed();
        flow.advance_outbound(Input::Leg("established".into()), 1_000);
        assert_eq!(
            summary(&flow.advance_outbound(Input::Ended { subcode: 0 }, 2_000)),
            [
                "Missed (hung up before +14155550100 answered)",
                "log No answer 0s"
            ]
        );
        // The agent hung up in the app while their Teams rang.
        let mut flow = placed();
        assert_eq!(
            summary(&flow.advance_outbound(app_ended(), 500)),
            ["Ended", "log No answer 0s", "HangUp"]
        );
        assert!(flow
            .advance_outbound(Input::Ended { subcode: 5001 }, 600)
            .is_empty());
        // A hang-up refused for good after the answer: the call is over, logged as talked.
        let mut flow = placed();
        flow.advance_outbound(Input::Leg("established".into()), 1_000);
        flow.advance_outbound(Input::Invited { joined: true }, 2_000);
        flow.advance_outbound(app_ended(), 12_000);
        assert_eq!(
            summary(&flow.advance_outbound(Input::Refused(Action::HangUp), 12_100)),
            ["Ended", "log Completed 10s"]
        );
    }
}
