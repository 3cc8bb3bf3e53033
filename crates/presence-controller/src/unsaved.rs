//! Call logs Salesforce refused for good, shown to their agent: each Task the outbox sets
//! aside is said on the agent's offer (`Agent_Call__c.Log_Error__c`, which streams to the
//! agent's app and its "Not saved to Salesforce" list), and the agent's Retry
//! (`Log_Retry_At__c`, which streams here) clears it and queues the Task again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use presence_sync::outbox::Outbox;
use presence_sync::salesforce::SalesforceClient;

/// How often refusals that could not be written (Salesforce away) are tried again.
const REPORT_AGAIN: Duration = Duration::from_secs(60);

/// The refusals written on offers: Task key → the reason written.
#[derive(Debug, Default)]
pub(crate) struct Refusals(Mutex<HashMap<String, String>>);

impl Refusals {
    fn reported(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes every set-aside call log's reason on its offer: at start (an earlier run's too),
/// whenever the outbox sets one aside, and every minute for those not yet written.
pub(crate) async fn report_forever(
    outbox: Arc<Outbox>,
    salesforce: SalesforceClient,
    refusals: Arc<Refusals>,
) {
    let mut changes = outbox.set_aside_changes.subscribe();
    loop {
        report(&outbox, &salesforce, &refusals).await;
        if let Ok(Err(_)) = tokio::time::timeout(REPORT_AGAIN, changes.changed()).await {
            return; // the outbox is gone
        }
    }
}

async fn report(outbox: &Outbox, salesforce: &SalesforceClient, refusals: &Refusals) {
    let rows = match outbox.dead() {
        Ok(rows) => rows,
        Err(error) => {
            tracing::error!("the call logs set aside cannot be read: {error}");
            return;
        }
    };
    for row in rows.into_iter().filter(|row| row.is_call_log) {
        if refusals.reported().get(&row.key) == Some(&row.reason) {
            continue;
        }
        let Some(offer) = row.log.as_ref().and_then(|log| log.offer_record.clone()) else {
            tracing::warn!(
                "call log {} is set aside ({}) and names no offer to show it on; it stays in the outbox",
                row.key,
                row.reason
            );
            refusals.reported().insert(row.key, row.reason);
            continue;
        };
        match salesforce.report_log_error(&offer, Some(&row.reason)).await {
            Ok(()) => {
                tracing::info!(
                    "call log {} refused ({}); its agent is told",
                    row.key,
                    row.reason
                );
                refusals.reported().insert(row.key, row.reason);
            }
            Err(error) => tracing::warn!(
                "the refusal of call log {} could not be shown to its agent yet: {error}",
                row.key
            ),
        }
    }
}

/// The agent's Retry on the offer `offer` (its `Call_Id__c`): the refusal is cleared first (so
/// that a second refusal is written after it, never under it), then the Task queued again.
pub(crate) async fn retry(
    outbox: &Outbox,
    salesforce: &SalesforceClient,
    refusals: &Refusals,
    offer: &str,
) {
    // A queue call's offers are `{call}~{attempt}`; its Task's key is the call's id.
    let key = offer.split_once('~').map_or(offer, |(call, _)| call);
    refusals.reported().remove(key);
    if let Err(error) = salesforce.report_log_error(offer, None).await {
        tracing::warn!("the agent's retry of call log {key} cannot be taken up yet: {error}");
        return;
    }
    match outbox.requeue(key) {
        Ok(true) => tracing::info!("call log {key} queued again at its agent's request"),
        Ok(false) => tracing::info!("call log {key} was not set aside; nothing to retry"),
        Err(error) => tracing::error!("call log {key} could not be queued again: {error}"),
    }
}
