//! The call controller: offers calls to agents through `Agent_Call__c`, reads their answers,
//! applies the ring timeout and answering rules, marks abandoned calls, and never offers a call
//! to an agent who is logged out or whose heartbeat is stale.

use serde_json::{json, Map, Value};

use crate::clock::salesforce_datetime;
use crate::world::{Call, World};

impl Call {
    /// A call just offered (or placed) now, with no outcome yet.
    pub fn new(call_id: &str, agent: &str, kind: &str, from: &str, to: &str, now: i64) -> Self {
        Self {
            call_id: call_id.to_string(),
            agent: agent.to_string(),
            kind: kind.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            record_id: None,
            status: "Offered".into(),
            reason: None,
            outcome: None,
            offered_ms: now,
            signalled_ms: None,
            answered_ms: None,
            ended_ms: None,
            ring_deadline_ms: None,
            answer_deadline_ms: None,
            outbound_answer_ms: None,
            handled_by: "emulator".into(),
            teams: None,
        }
    }
}

/// Places a call to an agent. Returns the call as recorded.
pub fn place_call(world: &mut World, agent: usize, kind: &str, from: &str) -> Call {
    let now = world.now_ms();
    let call_id = format!("call-{:06}", world.next_call);
    world.next_call += 1;
    let agent_rec = world.agents[agent].clone();
    let mut call = Call::new(
        &call_id,
        &agent_rec.name,
        kind,
        from,
        &agent_rec.extension,
        now,
    );
    let stale_after = world.settings.heartbeat_timeout_s as i64 * 1000;
    let why_not = if world.agent_logged_out(agent) {
        Some("agent logged out")
    } else {
        match world.heartbeat_age_ms(agent) {
            None => Some("no heartbeat from the agent's app"),
            Some(age) if age > stale_after => Some("agent's heartbeat is stale"),
            Some(_) => None,
        }
    };
    if let Some(why) = why_not {
        // Teams' own answering rules take the call.
        call.status = "NotOffered".into();
        call.outcome = Some(format!("NotOffered: {why}"));
        call.ended_ms = Some(now);
        world.note(format!(
            "call {call_id} to {} not offered: {why}",
            agent_rec.name
        ));
        world.calls.push(call.clone());
        return call;
    }
    let mut fields = Map::new();
    fields.insert("Name".into(), json!(call_id));
    fields.insert("Call_Id__c".into(), json!(call_id));
    fields.insert("User__c".into(), json!(agent_rec.salesforce_id));
    // Owned by the agent, so that the record (and its stream events) are the agent's to see.
    fields.insert("OwnerId".into(), json!(agent_rec.salesforce_id));
    fields.insert("Kind__c".into(), json!(kind));
    fields.insert("From_Number__c".into(), json!(from));
    fields.insert("To_Number__c".into(), json!(agent_rec.extension));
    fields.insert("Status__c".into(), json!("Offered"));
    fields.insert("Offered_At__c".into(), json!(salesforce_datetime(now)));
    call.answer_deadline_ms = Some(now + world.settings.offer_timeout_s as i64 * 1000);
    world.calls.push(call);
    let record_id = world.insert_record("Agent_Call__c", fields);
    if let Some(entry) = world.calls.iter_mut().find(|c| c.call_id == call_id) {
        entry.record_id = record_id;
    }
    world
        .calls
        .iter()
        .find(|c| c.call_id == call_id)
        .cloned()
        .unwrap_or_else(|| unreachable_call(&call_id))
}

fn unreachable_call(call_id: &str) -> Call {
    let mut call = Call::new(call_id, "", "", "", "", 0);
    call.status = "Unknown".into();
    call
}

/// The far end hangs up (control API).
pub fn hang_up(world: &mut World, call_id: &str) -> Option<Call> {
    let now = world.now_ms();
    let call = world.calls.iter().find(|c| c.call_id == call_id)?.clone();
    if call.outcome.is_some() {
        return Some(call);
    }
    let (status, outcome) = if call.answered_ms.is_some() {
        ("Ended", "Ended")
    } else {
        ("CallerHungUp", "CallerHungUp")
    };
    finish(world, call_id, status, outcome, now);
    world.calls.iter().find(|c| c.call_id == call_id).cloned()
}

fn finish(world: &mut World, call_id: &str, status: &str, outcome: &str, now: i64) {
    let record_id = {
        let Some(call) = world.calls.iter_mut().find(|c| c.call_id == call_id) else {
            return;
        };
        call.status = status.to_string();
        call.outcome = Some(outcome.to_string());
        call.ended_ms = Some(now);
        call.ring_deadline_ms = None;
        call.answer_deadline_ms = None;
        call.record_id.clone()
    };
    world.note(format!("call {call_id}: {outcome}"));
    if let Some(id) = record_id {
        let mut fields = Map::new();
        fields.insert("Status__c".into(), json!(status));
        fields.insert("Ended_At__c".into(), json!(salesforce_datetime(now)));
        world.update_record("Agent_Call__c", &id, fields);
    }
}

fn set_status(world: &mut World, call_id: &str, status: &str, extra: &[(&str, Value)]) {
    let record_id = world
        .calls
        .iter()
        .find(|c| c.call_id == call_id)
        .and_then(|c| c.record_id.clone());
    if let Some(id) = record_id {
        let mut fields = Map::new();
        fields.insert("Status__c".into(), json!(status));
        for (key, value) in extra {
            fields.insert((*key).to_string(), value.clone());
        }
        world.update_record("Agent_Call__c", &id, fields);
    }
}

/// Reads what the agent's app wrote on `Agent_Call__c` (Signalled, NotSignalled, Answered,
/// Declined, Ended) and moves the call on.
pub fn on_agent_call_changed(world: &mut World, record_id: &str) {
    let now = world.now_ms();
    let Some(record) = world.record("Agent_Call__c", record_id).cloned() else {
        return;
    };
    let status = record
        .get("Status__c")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let reason = record
        .get("Reason__c")
        .and_then(Value::as_str)
        .map(str::to_string);
    let call_id = record
        .get("Call_Id__c")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let ring_timeout = world.settings.ring_timeout_s as i64 * 1000;
    let outbound_answer = world.settings.outbound_answer_s as i64 * 1000;
    let known = world.calls.iter().any(|c| c.call_id == call_id);
    if !known {
        // A call the agent placed (an outbound Agent_Call__c created through REST).
        let kind = record.get("Kind__c").and_then(Value::as_str).unwrap_or("");
        // With a calling webhook registered, the controller places the agent's calls.
        let bot_places = world.calling.bot.webhook.is_some();
        if kind == "Outbound" && status == "Offered" && !bot_places {
            let agent = record
                .get("User__c")
                .and_then(Value::as_str)
                .and_then(|user| world.agent_index(user))
                .map(|index| world.agents[index].name.clone())
                .unwrap_or_default();
            let from = record
                .get("From_Number__c")
                .and_then(Value::as_str)
                .unwrap_or("");
            let to = record
                .get("To_Number__c")
                .and_then(Value::as_str)
                .unwrap_or("");
            let mut call = Call::new(&call_id, &agent, "Outbound", from, to, now);
            call.record_id = Some(record_id.to_string());
            call.ring_deadline_ms = Some(now + ring_timeout);
            call.outbound_answer_ms = Some(now + outbound_answer);
            world.calls.push(call);
        }
        return;
    }
    let Some(call) = world.calls.iter_mut().find(|c| c.call_id == call_id) else {
        return;
    };
    if call.outcome.is_some() || call.status == status {
        return;
    }
    match status.as_str() {
        "Signalled" => {
            call.status = status;
            call.signalled_ms = Some(now);
            call.answer_deadline_ms = None;
            call.ring_deadline_ms = Some(now + ring_timeout);
        }
        "NotSignalled" => {
            let reason = reason.unwrap_or_else(|| "not signalled".into());
            call.status = status;
            call.reason = Some(reason.clone());
            call.outcome = Some(format!("NotSignalled: {reason}"));
            call.ended_ms = Some(now);
            call.answer_deadline_ms = None;
            world.note(format!(
                "call {call_id} not signalled ({reason}); answering rules apply"
            ));
        }
        "Answered" => {
            call.status = status;
            call.answered_ms = Some(now);
            call.ring_deadline_ms = None;
            call.answer_deadline_ms = None;
            call.outbound_answer_ms = None;
            world.note(format!("call {call_id} answered"));
        }
        "Declined" => {
            call.status = status;
            call.outcome = Some("Declined".into());
            call.ended_ms = Some(now);
            call.ring_deadline_ms = None;
            world.note(format!("call {call_id} declined; answering rules apply"));
        }
        "Ended" => {
            let answered = call.answered_ms.is_some();
            call.status = status;
            call.outcome = Some(if answered { "Ended" } else { "Cancelled" }.into());
            call.ended_ms = Some(now);
            call.ring_deadline_ms = None;
            call.outbound_answer_ms = None;
        }
        _ => {}
    }
}

/// Applies deadlines: offers nobody answered, rings nobody picked up, outbound calls the far
/// end answers.
pub fn tick(world: &mut World) {
    let now = world.now_ms();
    let due: Vec<(String, &'static str)> = world
        .calls
        .iter()
        .filter(|c| c.outcome.is_none())
        .filter_map(|c| {
            if c.outbound_answer_ms.is_some_and(|at| at <= now) {
                Some((c.call_id.clone(), "outbound-answer"))
            } else if c.answer_deadline_ms.is_some_and(|at| at <= now) {
                Some((c.call_id.clone(), "no-answer-from-app"))
            } else if c.ring_deadline_ms.is_some_and(|at| at <= now) {
                Some((c.call_id.clone(), "ring-timeout"))
            } else {
                None
            }
        })
        .collect();
    for (call_id, what) in due {
        match what {
            "outbound-answer" => {
                if let Some(call) = world.calls.iter_mut().find(|c| c.call_id == call_id) {
                    call.outbound_answer_ms = None;
                    call.ring_deadline_ms = None;
                    call.answered_ms = Some(now);
                    call.status = "Answered".into();
                }
                set_status(
                    world,
                    &call_id,
                    "Answered",
                    &[("Answered_At__c", json!(salesforce_datetime(now)))],
                );
            }
            // The app never answered the offer: the desktop is gone; Teams' rules apply.
            "no-answer-from-app" => finish(world, &call_id, "Missed", "Missed", now),
            _ => finish(world, &call_id, "Missed", "Missed", now),
        }
    }
}
