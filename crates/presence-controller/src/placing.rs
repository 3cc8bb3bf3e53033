//! An agent's request for an outbound call (an `Agent_Call__c` their app created with
//! `Kind__c = Outbound`), taken up: the request checked against the record as it is now (a
//! replayed stream event is not a second call), the agent's line found, C3 checked against
//! their presence as Salesforce has it, and the call's flow (`flow_outbound.rs`) begun.

use presence_core::calls::{outbound_refusal, phone_digits};
use presence_sync::salesforce::soql_literal;
use serde_json::{Map, Value};

use crate::directory::Route;
use crate::driver::Driver;
use crate::flow::CallFlow;
use crate::store::LiveCall;

/// An outbound request not acted on any more once it is this old (an app's request that
/// waited out a controller outage: the agent has moved on).
const STALE_REQUEST_MS: i64 = 60_000;

impl Driver {
    pub(crate) async fn outbound(&mut self, event: &Map<String, Value>) {
        let text = |field: &str| event.get(field).and_then(Value::as_str).map(str::to_string);
        let (Some(call), Some(user)) = (text("Call_Id__c"), text("User__c")) else {
            tracing::warn!("an outbound request without Call_Id__c or User__c was ignored");
            return;
        };
        // The record now: still Offered and not claimed (a replayed event finds it taken).
        let now = match self
            .salesforce
            .query::<Map<String, Value>>(&format!(
                "SELECT Status__c, Logged_By_Controller__c, To_Number__c, Offered_At__c FROM Agent_Call__c WHERE Call_Id__c = '{}' LIMIT 1",
                soql_literal(&call)
            ))
            .await
        {
            Ok(page) => page.records.into_iter().next(),
            Err(error) => {
                tracing::error!("outbound call {call}: its record cannot be read ({error}); not placed");
                return;
            }
        };
        let Some(record) = now else {
            tracing::warn!("outbound call {call}: its record is gone; not placed");
            return;
        };
        let field = |name: &str| record.get(name).and_then(Value::as_str);
        let claimed = record
            .get("Logged_By_Controller__c")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if field("Status__c") != Some("Offered") || claimed {
            tracing::debug!("outbound call {call}: taken already");
            return;
        }
        let age_ms = field("Offered_At__c")
            .and_then(crate::directory::parse_datetime)
            .map(|at| chrono::Utc::now().timestamp_millis() - at);
        let digits = phone_digits(field("To_Number__c").unwrap_or(""));
        // The agent and their line (the resource account whose number the call shows).
        let agent = self
            .directory
            .agents
            .values()
            .find(|agent| agent.salesforce_id == user)
            .map(|agent| agent.upn.to_ascii_lowercase());
        let line = agent.as_ref().and_then(|upn| {
            self.directory
                .routes
                .iter()
                .find_map(|(account, route)| match route {
                    Route::Direct { agent, number } if agent == upn => {
                        Some((account.clone(), number.clone().unwrap_or_default()))
                    }
                    _ => None,
                })
        });
        let refusal = match (&agent, &line) {
            (None, _) | (_, None) => {
                Some("no line is set up for you in the call controller".to_string())
            }
            _ if digits.is_empty() => Some("the number has no digits".to_string()),
            _ if age_ms.is_some_and(|age| age > STALE_REQUEST_MS) => {
                Some("the request is more than a minute old; please call again".to_string())
            }
            // The state is streamed: held as it is (read from Salesforce when none is held).
            _ => match self.presence_rows(&[&user], |rows| rows.is_empty()).await {
                Ok(rows) => outbound_refusal(
                    rows.get(&user)
                        .and_then(|row| self.center.state(&row.state)),
                ),
                Err(error) => Some(format!("your presence cannot be read ({error})")),
            },
        };
        let (account, line_number) = line.unwrap_or_default();
        let agent = agent.unwrap_or_default();
        let number = format!("+{digits}");
        tracing::info!(
            "outbound call {call} to {number} for {agent}: {}",
            refusal.as_deref().unwrap_or("placing")
        );
        let (flow, effects) = CallFlow::outbound(
            &call,
            &agent,
            &number,
            refusal,
            chrono::Utc::now().timestamp_millis(),
        );
        let live = LiveCall {
            flow,
            resource_account: account,
            from: line_number,
        };
        self.begin(live, effects).await;
    }
}
