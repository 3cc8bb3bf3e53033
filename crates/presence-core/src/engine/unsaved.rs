//! The "not saved to Salesforce" list: call logs the app's outbox set aside (Salesforce refused
//! them for good), as the driver last read them, and those the call controller set aside, as
//! it said on the agent's offers; and the agent's Retry of one, which goes to whichever holds it.

use crate::io::Effect;
use crate::snapshot::UnsavedCall;

use super::effects::Pending;
use super::Engine;

/// Both halves of the list.
#[derive(Debug, Default)]
pub(super) struct Unsaved {
    /// The app's own outbox's rows set aside, in full as last read.
    own: Vec<UnsavedCall>,
    /// The call controller's, one per offer whose `Log_Error__c` is set, oldest first.
    controller: Vec<UnsavedCall>,
}

impl Unsaved {
    /// The whole list: the app's own first, then the controller's.
    pub(super) fn all(&self) -> Vec<UnsavedCall> {
        self.own.iter().chain(&self.controller).cloned().collect()
    }

    fn find(&self, key: &str) -> Option<&UnsavedCall> {
        self.own
            .iter()
            .chain(&self.controller)
            .find(|call| call.key == key)
    }

    fn len(&self) -> usize {
        self.own.len() + self.controller.len()
    }
}

impl Engine {
    /// The outbox's list of set-aside call logs, in full (it replaces the last one).
    pub(super) fn on_unsaved_calls(&mut self, unsaved: Vec<UnsavedCall>) {
        self.unsaved.own = unsaved;
    }

    /// What the controller says of one call's Task: refused (listed, or its reason updated),
    /// or not (taken off the list if it was on it).
    pub(super) fn on_controller_log(
        &mut self,
        call_id: String,
        number: &str,
        at: &str,
        reason: Option<String>,
    ) {
        let Some(reason) = reason else {
            self.unsaved.controller.retain(|call| call.key != call_id);
            return;
        };
        // The call's line as the recent-calls list knows it, else its number alone.
        let recent = self
            .calls
            .recent
            .iter()
            .find(|call| call.call_id == call_id);
        let who = recent.map_or(number.to_string(), |call| {
            crate::snapshot::who(&call.number, call.caller.as_ref())
        });
        let line = UnsavedCall::from_controller(
            call_id,
            &who,
            recent.map(|call| &call.outcome),
            at,
            reason,
        );
        let listed = &mut self.unsaved.controller;
        match listed.iter_mut().find(|call| call.key == line.key) {
            Some(existing) => *existing = line,
            None => listed.push(line),
        }
    }

    /// The agent's Retry: the log is queued again (by the app's outbox, or asked of the call
    /// controller) if it is still on the list and can be sent.
    pub(super) fn retry_call_log(&mut self, key: &str) {
        match self.unsaved.find(key) {
            Some(call) if call.retry && call.by_controller => {
                let call_id = call.key.clone();
                self.effects.emit(Pending::LogRetryRequest, |id| {
                    Effect::RequestLogRetry { id, call_id }
                });
            }
            Some(call) if call.retry => {
                self.effects.push(Effect::RetryCallLog {
                    key: key.to_string(),
                });
            }
            Some(_) => self.notice(
                "This call's stored log cannot be read, so it cannot be sent again.".into(),
            ),
            None => self.diagnostic(format!(
                "a retry of call log {key}, which is not set aside (already sent again?), was ignored"
            )),
        }
    }

    /// The tray's line while the list is not empty ("2 calls not saved to Salesforce").
    pub(super) fn unsaved_line(&self) -> Option<String> {
        match self.unsaved.len() {
            0 => None,
            1 => Some("1 call not saved to Salesforce".into()),
            n => Some(format!("{n} calls not saved to Salesforce")),
        }
    }
}
