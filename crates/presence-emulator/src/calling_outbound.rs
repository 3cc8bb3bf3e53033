//! Calls the bot places (Graph's `POST /communications/calls`), as the controller makes an
//! agent's outbound call: a peer-to-peer call from one of the bot's resource accounts to a
//! Teams user (the agent, whose Teams rings), then a PSTN number invited into it (the far end,
//! which answers after `outbound_answer_s`, or fails the invitation when `far_end_answers` is
//! off). A call transferred to a phone number (an overflow number) rings that far end the same
//! way: it takes the call (`7015`), or the transfer fails (`established`, `500/7000`). Pure
//! changes of the [`World`], beside `calling.rs`.

use serde::Serialize;
use serde_json::json;

use crate::calling::{result_info, CallError, GraphCall, LegState, RingReason};
use crate::ids;
use crate::world::{Call, World};

/// A PSTN number invited into an outgoing call, until it answers or the invitation fails.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FarEnd {
    pub number: String,
    pub operation: String,
    pub client_context: Option<String>,
    #[serde(skip)]
    pub decides_at_ms: i64,
    /// Rung by a transfer (the bot leaves once it answers), not by an invitation.
    pub transfer: bool,
}

/// What a create-call body asks for, as read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// `source.identity.applicationInstance.id`: the resource account the call is from.
    pub account: String,
    /// `targets[0].identity.user.id`: the Teams user called.
    pub user: String,
    pub callback_uri: Option<String>,
}

fn check_e164(number: &str) -> Result<(), CallError> {
    let digits = number.strip_prefix('+').unwrap_or("");
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CallError::bad_request(format!(
            "identity.phone.id {number:?} is not an E.164 number (+ and up to 15 digits)"
        )));
    }
    Ok(())
}

impl World {
    /// `POST /communications/calls`: the bot calls a Teams user from one of its resource
    /// accounts; the leg is `establishing` and the user's Teams rings. Returns the leg's id.
    pub fn create_leg(&mut self, placement: Placement) -> Result<String, CallError> {
        let account = self
            .calling
            .accounts
            .iter()
            .position(|a| a.id.eq_ignore_ascii_case(&placement.account))
            .ok_or_else(|| {
                CallError::bad_request(format!(
                    "source.identity.applicationInstance.id {:?} is not a resource account of the bot",
                    placement.account
                ))
            })?;
        let agent = self.agent_index(&placement.user).ok_or_else(|| {
            CallError::bad_request(format!(
                "target {:?} is not a user of the tenant",
                placement.user
            ))
        })?;
        let now = self.now_ms();
        let id = ids::guid();
        self.calling.legs.insert(
            id.clone(),
            GraphCall {
                id: id.clone(),
                state: LegState::Establishing,
                source_number: String::new(),
                account,
                callback_uri: placement.callback_uri,
                created_ms: now,
                answer_deadline_ms: None,
                joined: Vec::new(),
                operations: Vec::new(),
                actions: vec!["create".into()],
                result: None,
                placed_to: Some(agent),
                prompts: Vec::new(),
                far_end: None,
            },
        );
        let from = self.calling.accounts[account].number.clone();
        let name = self.agents[agent].name.clone();
        self.calls
            .push(Call::for_bot(&id, &name, "Outbound", &from, "", now));
        self.notify_state(&id);
        let ring_for = self.settings.teams_ring_s as i64 * 1000;
        self.ring_teams(agent, &id, RingReason::Placed, now + ring_for);
        Ok(id)
    }

    /// The agent's Teams took the bot's call (`answered`), or it rang out: established with
    /// the agent in it, or over (`408`, the callee did not answer).
    pub(crate) fn placed_call_picked_up(&mut self, call: &str, agent: usize, answered: bool) {
        if !answered {
            self.terminate_leg(call, 408, 0, "The callee did not answer.");
            self.bot_call_ended(call, None);
            return;
        }
        let Some(leg) = self.calling.legs.get_mut(call) else {
            return;
        };
        leg.state = LegState::Established;
        leg.joined.push(agent);
        self.notify_state(call);
    }

    /// `participants/invite` of a phone number: the far end rings, and answers (or does not)
    /// after `outbound_answer_s`. Returns the operation id.
    pub fn invite_phone(
        &mut self,
        call: &str,
        number: &str,
        client_context: Option<String>,
    ) -> Result<String, CallError> {
        check_e164(number)?;
        let decides_at_ms = self.now_ms() + self.settings.outbound_answer_s as i64 * 1000;
        let leg = self.leg_in(call, "invite", &[LegState::Established])?;
        if leg.far_end.is_some() || !leg.source_number.is_empty() {
            return Err(CallError::bad_request(
                "a peer-to-peer call takes one invited participant",
            ));
        }
        let operation = ids::guid();
        leg.far_end = Some(FarEnd {
            number: number.to_string(),
            operation: operation.clone(),
            client_context,
            decides_at_ms,
            transfer: false,
        });
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.to = number.to_string();
            entry.status = "Dialling".into();
        }
        self.note(format!("call {call}: dialling {number}"));
        Ok(operation)
    }

    /// `POST …/transfer` to a phone number: the leg goes `transferring` and the number rings;
    /// once it answers the transfer completes (`7015`), else it fails and the call is the
    /// bot's again (`established`, `500/7000`).
    pub fn transfer_to_phone(&mut self, call: &str, number: &str) -> Result<(), CallError> {
        check_e164(number)?;
        let decides_at_ms = self.now_ms() + self.settings.outbound_answer_s as i64 * 1000;
        let leg = self.leg_in(call, "transfer", &[LegState::Established])?;
        leg.state = LegState::Transferring;
        leg.far_end = Some(FarEnd {
            number: number.to_string(),
            operation: String::new(),
            client_context: None,
            decides_at_ms,
            transfer: true,
        });
        self.notify_state(call);
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.teams = Some(format!("ringing {number}"));
        }
        self.note(format!("call {call}: transferred to {number}"));
        Ok(())
    }

    fn transfer_decided(&mut self, call: &str, far_end: &FarEnd, answers: bool) {
        if answers {
            let data = json!({ "@odata.type": "#microsoft.graph.call", "id": call, "state": "transferAccepted" });
            self.notify(
                call,
                "updated",
                format!("/communications/calls/{call}"),
                data,
                false,
            );
            let teams = format!("taken by {}", far_end.number);
            if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
                entry.teams = Some(teams.clone());
            }
            self.terminate_leg(call, 0, 7015, "GracefulTransferCompleted");
            self.bot_call_ended(call, Some(&teams));
            return;
        }
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.teams = Some(format!("{} did not answer", far_end.number));
        }
        let Some(leg) = self.calling.legs.get_mut(call) else {
            return;
        };
        leg.state = LegState::Established;
        let mut data = self.leg_json(&self.calling.legs[call]);
        data["resultInfo"] = result_info(500, 7000, "The transfer failed.");
        self.notify(
            call,
            "updated",
            format!("/communications/calls/{call}"),
            data,
            false,
        );
    }

    /// Far ends whose time has come answer (joined: the roster and a completed operation) or
    /// fail the invitation; a transfer's far end takes the call or fails the transfer.
    pub(crate) fn tick_far_ends(&mut self) {
        let now = self.now_ms();
        let answers = self.settings.far_end_answers;
        let due: Vec<(String, FarEnd)> = self
            .calling
            .legs
            .values_mut()
            .filter(|leg| leg.far_end.as_ref().is_some_and(|f| f.decides_at_ms <= now))
            .filter_map(|leg| Some((leg.id.clone(), leg.far_end.take()?)))
            .collect();
        for (call, far_end) in due {
            if far_end.transfer {
                self.transfer_decided(&call, &far_end, answers);
                continue;
            }
            let (status, info) = if answers {
                if let Some(leg) = self.calling.legs.get_mut(&call) {
                    leg.source_number = far_end.number.clone();
                }
                if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
                    entry.answered_ms = Some(now);
                    entry.status = "Answered".into();
                }
                let roster = self.roster(&call);
                self.notify(
                    &call,
                    "updated",
                    format!("/communications/calls/{call}/participants"),
                    roster,
                    false,
                );
                ("completed", result_info(200, 0, "Participant joined."))
            } else {
                if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
                    entry.teams = Some(format!("{} did not answer", far_end.number));
                }
                (
                    "failed",
                    result_info(487, 10064, "The invitation was not accepted."),
                )
            };
            self.note(format!("call {call}: {} {status}", far_end.number));
            let data = json!({ "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
                "id": far_end.operation, "status": status, "clientContext": far_end.client_context, "resultInfo": info });
            self.notify(
                &call,
                "deleted",
                format!(
                    "/communications/calls/{call}/operations/{}",
                    far_end.operation
                ),
                data,
                false,
            );
        }
    }
}
