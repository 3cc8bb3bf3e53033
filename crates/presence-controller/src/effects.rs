//! What a call's flow asks for, performed: Graph actions (retried briefly when the failure
//! may pass), `Agent_Call__c` upserts (one record per offer, by `Call_Id__c`), and call logs
//! queued in the durable outbox. Each resolves the agent it concerns from the flow.

use std::time::Duration;

use presence_core::calls::display_text;
use presence_core::{CallKind, CallLog, CallType, Disposition};
use presence_sync::salesforce::salesforce_datetime;
use presence_sync::SyncError;
use serde_json::{json, Map, Value};

use crate::answering::Target;
use crate::directory::{Agent, Route};
use crate::driver::Driver;
use crate::flow::{Action, RecordWrite};
use crate::store::LiveCall;

fn unknown(what: &str) -> SyncError {
    SyncError::Settings(format!("{what} is not in the settings' directory"))
}

impl Driver {
    fn route(&self, live: &LiveCall) -> Option<&Route> {
        self.directory.routes.get(&live.resource_account)
    }

    /// The agent the call is with now.
    fn agent_of(&self, live: &LiveCall) -> Result<&Agent, SyncError> {
        live.flow
            .agent
            .as_ref()
            .and_then(|upn| self.directory.agents.get(upn))
            .ok_or_else(|| unknown("the call's agent"))
    }

    /// Where the call overflows to: a queue call's to the queue's overflow user, a direct
    /// call's to the Call Center's overflow target (a user or a number).
    fn overflow_of(&self, live: &LiveCall) -> Result<Target, SyncError> {
        match self.route(live) {
            Some(Route::Queue { queue, .. }) => self.directory.queues[*queue]
                .overflow
                .as_ref()
                .and_then(|upn| self.directory.agents.get(upn))
                .map(|agent| Target::User(agent.graph_id.clone()))
                .ok_or_else(|| unknown("the queue's overflow target")),
            _ => self
                .answering
                .overflow
                .clone()
                .ok_or_else(|| unknown("the Call Center's overflow target")),
        }
    }

    /// One Graph action, retried briefly when the failure may pass; a placed call's id.
    pub(crate) async fn act(
        &self,
        live: &LiveCall,
        action: Action,
    ) -> Result<Option<String>, SyncError> {
        let calls = &self.settings.calls;
        let callback = &self.callback;
        if action == Action::Place {
            let agent = self.agent_of(live)?;
            return self
                .graph
                .place(&live.resource_account, &agent.graph_id, callback)
                .await
                .map(Some);
        }
        let call = live
            .flow
            .graph_call()
            .ok_or_else(|| SyncError::Settings("the call was never placed".into()))?;
        let mut attempt = 0;
        loop {
            let result = match action {
                Action::Place => return Err(SyncError::Settings("placed above".into())),
                Action::Dial => {
                    let number = live
                        .flow
                        .outbound
                        .as_ref()
                        .map_or("", |o| o.number.as_str());
                    self.graph.dial(call, number, "dial").await
                }
                Action::Answer => {
                    self.graph
                        .answer(call, callback, &calls.ringback_prompt)
                        .await
                }
                Action::Redirect => {
                    let agent = self.agent_of(live)?;
                    self.graph
                        .redirect(call, &agent.graph_id, calls.redirect_timeout_s, callback)
                        .await
                }
                Action::PlayPrompt => {
                    self.graph
                        .play_prompt(call, &calls.ringback_prompt, "ringback")
                        .await
                }
                Action::Invite => {
                    let agent = self.agent_of(live)?;
                    self.graph.invite(call, &agent.graph_id, "invite").await
                }
                Action::HandOver => {
                    let agent = self.agent_of(live)?;
                    self.graph.transfer(call, &agent.graph_id).await
                }
                Action::HangUp => self.graph.hang_up(call).await,
                Action::Reject => self.graph.reject(call).await,
                Action::OverflowRedirect => match self.overflow_of(live)? {
                    Target::User(user) => {
                        self.graph
                            .redirect(call, &user, calls.redirect_timeout_s, callback)
                            .await
                    }
                    Target::Phone(_) => Err(unknown("a redirect to a number")),
                },
                Action::OverflowTransfer => match self.overflow_of(live)? {
                    Target::User(user) => self.graph.transfer(call, &user).await,
                    Target::Phone(number) => self.graph.transfer_to_phone(call, &number).await,
                },
                Action::PlayClosing => {
                    self.graph
                        .play_prompt(call, &self.answering.closing_prompt, "closing")
                        .await
                }
            };
            match result {
                Err(
                    SyncError::Server(_) | SyncError::Network(_) | SyncError::RateLimited { .. },
                ) if attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
                }
                other => return other.map(|()| None),
            }
        }
    }

    /// Queues the call's Task in the outbox (delivered by upsert on `Call_Log_Key__c` = the
    /// call id, so a repeat after a crash is the same Task), owned by the agent the call was
    /// with, linked to the caller's record.
    pub(crate) async fn log(&self, live: &LiveCall, disposition: Disposition, duration_s: u64) {
        let call = &live.flow.call;
        let owner = match self.agent_of(live) {
            Ok(agent) => agent.salesforce_id.clone(),
            Err(error) => {
                tracing::error!("call {call}: not logged: {error}");
                return;
            }
        };
        // The other party: the caller, or the number an outbound call dialled.
        let party = live
            .flow
            .outbound
            .as_ref()
            .map_or(live.from.as_str(), |o| o.number.as_str());
        let caller = match self.salesforce.lookup_caller(party).await {
            Ok(caller) => caller,
            Err(error) => {
                tracing::warn!(
                    "call {call}: the caller cannot be looked up ({error}); logged without the link"
                );
                None
            }
        };
        let line = self
            .route(live)
            .and_then(Route::number)
            .unwrap_or_default()
            .to_string();
        let (kind, call_type, from_number, to_number) = match &live.flow.outbound {
            Some(outbound) => (
                CallKind::Outbound,
                CallType::Outbound,
                line,
                display_text(&outbound.number),
            ),
            None if live.flow.queue.is_some() => (
                CallKind::Queue,
                CallType::Inbound,
                display_text(&live.from),
                line,
            ),
            None => (
                CallKind::Direct,
                CallType::Inbound,
                display_text(&live.from),
                line,
            ),
        };
        let mut log = CallLog {
            key: call.clone(),
            call_id: call.clone(),
            kind,
            call_type,
            disposition,
            duration: Duration::from_secs(duration_s),
            from_number,
            to_number,
            caller,
            subject: String::new(),
            owner: Some(owner),
            // The owner's offer: where a refusal of the Task is shown to them.
            offer_record: Some(live.flow.record_key(live.flow.attempt())),
        };
        log.subject = log.composed_subject();
        if let Err(error) = self.outbox.enqueue(&log) {
            tracing::error!("call {call}: its log cannot be queued: {error}");
        }
    }

    /// Upserts the `Agent_Call__c` of one offer of the call.
    pub(crate) async fn write_record(
        &self,
        live: &LiveCall,
        write: &RecordWrite,
    ) -> Result<(), SyncError> {
        let flow = &live.flow;
        let key = flow.record_key(write.attempt);
        let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(salesforce_datetime);
        let mut body = Map::new();
        if write.offer {
            let agent = write
                .agent
                .as_ref()
                .and_then(|upn| self.directory.agents.get(upn))
                .ok_or_else(|| unknown("the offer's agent"))?;
            body.insert(
                "Name".into(),
                json!(key.chars().take(80).collect::<String>()),
            );
            body.insert("User__c".into(), json!(agent.salesforce_id));
            // Owned by the agent: the record (and its stream events) are the agent's to see.
            body.insert("OwnerId".into(), json!(agent.salesforce_id));
            let kind = if flow.queue.is_some() {
                "Queue"
            } else {
                "Direct"
            };
            body.insert("Kind__c".into(), json!(kind));
            body.insert("From_Number__c".into(), json!(live.from));
            if let Some(number) = self.route(live).and_then(Route::number) {
                body.insert("To_Number__c".into(), json!(number));
            }
            // This controller writes the call's Task, so the app does not.
            body.insert("Logged_By_Controller__c".into(), json!(true));
            body.insert(
                "Offered_At__c".into(),
                json!(flow.offered_at_ms.and_then(at)),
            );
        }
        if write.controller_logs {
            body.insert("Logged_By_Controller__c".into(), json!(true));
        }
        if let Some(status) = &write.status {
            body.insert("Status__c".into(), json!(status));
        }
        if let Some(reason) = &write.reason {
            body.insert("Reason__c".into(), json!(reason));
        }
        if let Some(ms) = write.answered_at_ms {
            body.insert("Answered_At__c".into(), json!(at(ms)));
        }
        if let Some(ms) = write.ended_at_ms {
            body.insert("Ended_At__c".into(), json!(at(ms)));
        }
        self.salesforce
            .upsert("Agent_Call__c", "Call_Id__c", &key, &Value::Object(body))
            .await
    }
}
