//! The controller's restart: every call the store kept is taken up again, what was left undone
//! is done (a call being placed is not placed twice), and each call is brought up to date with
//! Graph (does it still exist? did the bot's answer take?) and with Salesforce (what the app
//! wrote meanwhile).

use presence_sync::salesforce::soql_literal;
use serde_json::{Map, Value};

use crate::driver::{ControllerError, Driver};
use crate::flow::Input;

impl Driver {
    /// At start: every call the store kept is taken up again. What was left undone is done,
    /// then each call is brought up to date: Graph says whether it still exists (and whether
    /// the bot's answer took), Salesforce what the app wrote meanwhile.
    pub(crate) async fn restore(&mut self) -> Result<(), ControllerError> {
        let kept = self.store.load()?;
        if kept.is_empty() {
            return Ok(());
        }
        tracing::info!("taking up {} calls kept from before", kept.len());
        for (live, pending) in kept {
            let call = live.flow.call.clone();
            self.calls.insert(call.clone(), live);
            self.apply(&call, pending, true).await;
        }
        let live: Vec<String> = self.calls.keys().cloned().collect();
        for call in &live {
            let Some(graph_call) = self
                .calls
                .get(call)
                .and_then(|live| live.flow.graph_call().map(str::to_string))
            else {
                continue;
            };
            match self.graph.state(&graph_call).await {
                Ok(None) => self.step(call, Input::Ended { subcode: 0 }).await,
                Ok(Some(state)) => self.step(call, Input::Leg(state)).await,
                Err(error) => tracing::warn!(
                    "call {call}: its state cannot be read after the restart: {error}"
                ),
            }
        }
        for call in live {
            // The record of the offer under way (a queue call's current one).
            let Some(key) = self
                .calls
                .get(&call)
                .map(|live| live.flow.record_key(live.flow.attempt()))
            else {
                continue;
            };
            let page = self
                .salesforce
                .query::<Map<String, Value>>(&format!(
                    "SELECT Status__c, Reason__c FROM Agent_Call__c WHERE Call_Id__c = '{}' LIMIT 1",
                    soql_literal(&key)
                ))
                .await;
            match page {
                Ok(page) => {
                    if let Some(record) = page.records.first() {
                        let text = |field: &str| {
                            record
                                .get(field)
                                .and_then(Value::as_str)
                                .map(str::to_string)
                        };
                        if let Some(status) = text("Status__c") {
                            self.step(
                                &call,
                                Input::App {
                                    status,
                                    reason: text("Reason__c"),
                                },
                            )
                            .await;
                        }
                    }
                }
                Err(error) => tracing::warn!(
                    "call {call}: its record cannot be read after the restart: {error}"
                ),
            }
        }
        Ok(())
    }
}
