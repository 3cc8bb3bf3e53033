//! The agents' own Teams clients as the emulator plays them (a ring for a redirect, a transfer,
//! an invitation or an internal call; picked up, declined, or left to Teams' rules: voicemail),
//! the deadlines of Graph's calling side (answer, rings, prompts), and what the control API
//! reports of a call that went through the bot (mirrored from the controller's
//! `Agent_Call__c`, or what Teams did with it).

use serde_json::{json, Value};

use crate::calling::{result_info, LegState, Notification, RingReason, TeamsRing};
use crate::world::{Call, World};

impl World {
    pub(crate) fn ring_teams(
        &mut self,
        agent: usize,
        call: &str,
        reason: RingReason,
        deadline_ms: i64,
    ) {
        let name = self.agents[agent].display_name.clone();
        self.note(format!("call {call}: {name}'s Teams rings ({reason:?})"));
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.teams = Some(format!("ringing {name}"));
        }
        let rang_ms = self.now_ms();
        self.calling.rings.push(TeamsRing {
            agent,
            call: call.to_string(),
            reason,
            rang_ms,
            deadline_ms,
        });
    }

    /// The agent answers their ringing Teams client (control API), or declines it (Teams'
    /// rules then take a redirected or transferred call: voicemail).
    pub fn teams_pick_up(&mut self, agent: usize, accept: bool) -> Result<String, String> {
        let index = self
            .calling
            .rings
            .iter()
            .position(|ring| ring.agent == agent)
            .ok_or_else(|| format!("{}'s Teams is not ringing", self.agents[agent].name))?;
        let ring = self.calling.rings.remove(index);
        let outcome = if accept { "answered" } else { "declined" };
        self.resolve_ring(ring, accept);
        Ok(outcome.into())
    }

    fn resolve_ring(&mut self, ring: TeamsRing, answered: bool) {
        let name = self.agents[ring.agent].display_name.clone();
        let call = ring.call.clone();
        let teams = match (&ring.reason, answered) {
            (_, true) => format!("answered by {name} in Teams"),
            (RingReason::Invite { .. } | RingReason::Placed, false) => {
                format!("{name} did not join")
            }
            (_, false) => format!("taken by {name}'s voicemail"),
        };
        if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
            entry.teams = Some(teams.clone());
        }
        self.note(format!("call {call}: {teams}"));
        match ring.reason {
            RingReason::Internal => {
                let now = self.now_ms();
                if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
                    if answered {
                        entry.answered_ms = Some(now);
                        entry.status = "Answered".into();
                    } else {
                        entry.outcome = Some(format!("Internal: {teams}"));
                        entry.ended_ms = Some(now);
                    }
                }
            }
            RingReason::Placed => self.placed_call_picked_up(&call, ring.agent, answered),
            RingReason::Redirect => {
                self.terminate_leg(&call, 200, 0, "Redirected.");
                self.bot_call_ended(&call, Some(&teams));
            }
            RingReason::Transfer => {
                if let Some(leg) = self.calling.legs.get_mut(&call) {
                    leg.state = LegState::Established;
                }
                let data = json!({ "@odata.type": "#microsoft.graph.call", "id": call, "state": "transferAccepted" });
                self.notify(
                    &call,
                    "updated",
                    format!("/communications/calls/{call}"),
                    data,
                    false,
                );
                self.terminate_leg(&call, 0, 7015, "GracefulTransferCompleted");
                self.bot_call_ended(&call, Some(&teams));
            }
            RingReason::Invite {
                operation,
                client_context,
            } => {
                if answered {
                    if let Some(leg) = self.calling.legs.get_mut(&call) {
                        leg.joined.push(ring.agent);
                    }
                    let roster = self.roster(&call);
                    self.notify(
                        &call,
                        "updated",
                        format!("/communications/calls/{call}/participants"),
                        roster,
                        false,
                    );
                }
                let (status, info) = if answered {
                    ("completed", result_info(200, 0, "Participant joined."))
                } else {
                    (
                        "failed",
                        result_info(487, 10064, "The invitation was not accepted."),
                    )
                };
                let data = json!({ "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
                    "id": operation, "status": status, "clientContext": client_context, "resultInfo": info });
                self.notify(
                    &call,
                    "deleted",
                    format!("/communications/calls/{call}/operations/{operation}"),
                    data,
                    false,
                );
            }
        }
    }

    pub(crate) fn roster(&self, call: &str) -> Value {
        let Some(leg) = self.calling.legs.get(call) else {
            return json!([]);
        };
        // The PSTN party: the caller, or the far end of a placed call once it answered.
        let mut people: Vec<Value> = (!leg.source_number.is_empty())
            .then(|| json!({ "@odata.type": "#microsoft.graph.participant", "id": format!("{call}-caller"),
                "info": { "identity": { "phone": { "id": leg.source_number } } }, "isMuted": false, "isInLobby": false }))
            .into_iter()
            .collect();
        for agent in &leg.joined {
            let agent = &self.agents[*agent];
            people.push(json!({ "@odata.type": "#microsoft.graph.participant", "id": format!("{call}-{}", agent.graph_id),
                "info": { "identity": { "user": { "id": agent.graph_id, "displayName": agent.display_name, "tenantId": self.tenant_id } } },
                "isMuted": false, "isInLobby": false }));
        }
        Value::Array(people)
    }

    /// The caller hangs up a call the bot owns.
    pub fn caller_hangs_up_leg(&mut self, call: &str) {
        self.terminate_leg(call, 200, 540000, "The PSTN user hung up.");
        self.bot_call_ended(call, None);
    }

    /// A notification for the bot could not be delivered (`status` 0: no answer in time): an
    /// unacknowledged incoming call cannot be reached.
    pub fn webhook_failed(&mut self, notification: &Notification, status: u16) {
        if notification.incoming {
            self.terminate_leg(
                &notification.call,
                408,
                8544,
                "Callee could not be reached.",
            );
            if let Some(entry) = self
                .calls
                .iter_mut()
                .find(|c| c.call_id == notification.call)
            {
                entry.outcome = Some(format!("NotReached: the bot's webhook answered {status}"));
            }
        }
    }

    /// Deadlines: unanswered incoming calls, Teams rings nobody picks up, prompts that finish.
    pub fn tick_calling(&mut self) {
        let now = self.now_ms();
        let late: Vec<String> = self
            .calling
            .legs
            .values()
            .filter(|leg| {
                leg.state == LegState::Incoming
                    && leg.answer_deadline_ms.is_some_and(|at| at <= now)
            })
            .map(|leg| leg.id.clone())
            .collect();
        for call in late {
            self.terminate_leg(&call, 408, 8544, "Callee could not be reached.");
            if let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) {
                entry.outcome = Some("NotReached: the bot did not answer within 15 s".into());
            }
        }
        // The agent who answered in the app (or placed a call from it) picks up the Teams
        // call it brings, if told to.
        let accept_after = self.settings.teams_accept_invite_ms.map(|ms| ms as i64);
        let picks_up = |ring: &TeamsRing| {
            matches!(ring.reason, RingReason::Invite { .. } | RingReason::Placed)
                && accept_after.is_some_and(|after| ring.rang_ms + after <= now)
        };
        let (answered, kept): (Vec<TeamsRing>, Vec<TeamsRing>) =
            std::mem::take(&mut self.calling.rings)
                .into_iter()
                .partition(picks_up);
        let (due, kept): (Vec<TeamsRing>, Vec<TeamsRing>) =
            kept.into_iter().partition(|ring| ring.deadline_ms <= now);
        self.calling.rings = kept;
        for ring in answered {
            self.resolve_ring(ring, true);
        }
        for ring in due {
            self.resolve_ring(ring, false);
        }
        self.tick_far_ends();
        let mut finished = Vec::new();
        for leg in self.calling.legs.values_mut() {
            let (done, pending): (Vec<_>, Vec<_>) = std::mem::take(&mut leg.operations)
                .into_iter()
                .partition(|op| op.due_ms <= now);
            leg.operations = pending;
            finished.extend(done.into_iter().map(|op| (leg.id.clone(), op)));
        }
        for (call, op) in finished {
            let data = json!({ "@odata.type": "#microsoft.graph.playPromptOperation", "id": op.id,
                "status": "completed", "clientContext": op.client_context, "resultInfo": result_info(200, 0, "Action completed.") });
            self.notify(
                &call,
                "deleted",
                format!("/communications/calls/{call}/operations/{}", op.id),
                data,
                false,
            );
        }
        // Ended legs stay an hour for the state dump (Graph answers 8522 for them at once).
        self.calling
            .legs
            .retain(|_, leg| leg.state != LegState::Terminated || now - leg.created_ms < 3_600_000);
    }

    /// The bot's leg of a control-API call is over: the call's outcome is what the controller
    /// recorded on its `Agent_Call__c` (a queue call's: the last offer's), or, without one,
    /// what became of it in Teams.
    pub(crate) fn bot_call_ended(&mut self, call: &str, teams: Option<&str>) {
        let queue_offer = format!("{call}~");
        let offers: Vec<bool> = self
            .records
            .get("Agent_Call__c")
            .map(|records| {
                records
                    .values()
                    .filter(|r| {
                        r.get("Call_Id__c")
                            .and_then(Value::as_str)
                            .is_some_and(|id| id == call || id.starts_with(&queue_offer))
                    })
                    .map(|r| r.get("Kind__c").and_then(Value::as_str) == Some("Queue"))
                    .collect()
            })
            .unwrap_or_default();
        let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call) else {
            return;
        };
        if entry.outcome.is_some() {
            return;
        }
        // A call the bot placed for the agent: talked, or nobody answered (who, if known).
        if entry.kind == "Outbound" {
            entry.outcome = Some(match (entry.answered_ms, &entry.teams) {
                (Some(_), _) => "Ended".into(),
                (None, Some(teams)) => format!("NoAnswer: {teams}"),
                (None, None) => "NoAnswer".into(),
            });
            return;
        }
        let settled = |prefix: &str| match teams {
            Some(teams) => format!("{prefix}: {teams}"),
            None if entry.answered_ms.is_none() => "CallerHungUp".into(),
            None => "Ended".into(),
        };
        if offers.is_empty() {
            entry.outcome = Some(settled("NotOffered"));
        } else if let (true, Some(teams)) = (offers.iter().all(|&queue| queue), teams) {
            // Every agent offered passed it on: the queue's overflow target's Teams took it.
            entry.outcome = Some(format!("Overflow: {teams}"));
        }
    }

    /// Mirrors what the controller wrote on a bot call's `Agent_Call__c` onto the control-API
    /// call (status, reason, times, the agent a queue call is offered to, and the outcome once
    /// final: for a queue call only its end, since a pass goes to the next agent).
    pub fn mirror_bot_call(
        &mut self,
        call_id: &str,
        record: &serde_json::Map<String, Value>,
        record_id: &str,
    ) {
        let now = self.now_ms();
        let text = |field: &str| {
            record
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let queue = text("Kind__c").as_deref() == Some("Queue");
        let agent = text("User__c").and_then(|user| {
            self.agents
                .iter()
                .find(|a| a.salesforce_id == user)
                .map(|a| a.name.clone())
        });
        let Some(entry) = self.calls.iter_mut().find(|c| c.call_id == call_id) else {
            return;
        };
        let status = text("Status__c").unwrap_or_default();
        entry.record_id = Some(record_id.to_string());
        entry.reason = text("Reason__c");
        if let (true, Some(agent)) = (queue, agent) {
            entry.agent = agent;
        }
        match status.as_str() {
            "Signalled" => {
                entry.signalled_ms.get_or_insert(now);
            }
            "Answered" => {
                entry.answered_ms.get_or_insert(now);
            }
            _ => {}
        }
        if entry.outcome.is_none() {
            entry.outcome = match status.as_str() {
                "NotSignalled" if !queue => Some(format!(
                    "NotSignalled: {}",
                    entry
                        .reason
                        .clone()
                        .unwrap_or_else(|| "not signalled".into())
                )),
                "Declined" | "Missed" if !queue => Some(status.clone()),
                "CallerHungUp" | "Ended" => Some(status.clone()),
                _ => None,
            };
            if entry.outcome.is_some() {
                entry.ended_ms.get_or_insert(now);
            }
        }
        entry.status = status;
    }
}

impl Call {
    /// A call placed into emulated Teams for the calling bot, ringing, with no outcome yet.
    pub fn for_bot(call_id: &str, agent: &str, kind: &str, from: &str, to: &str, now: i64) -> Self {
        Self {
            call_id: call_id.to_string(),
            agent: agent.to_string(),
            kind: kind.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            record_id: None,
            status: "Ringing".into(),
            reason: None,
            outcome: None,
            offered_ms: now,
            signalled_ms: None,
            answered_ms: None,
            ended_ms: None,
            handled_by: "bot".into(),
            teams: None,
        }
    }
}
