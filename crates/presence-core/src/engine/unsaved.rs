//! The "not saved to Salesforce" list: call logs the outbox set aside (Salesforce refused them
//! for good), as the driver last read them, and the agent's Retry of one.

use crate::io::Effect;
use crate::snapshot::UnsavedCall;

use super::Engine;

impl Engine {
    /// The outbox's list of set-aside call logs, in full (it replaces the last one).
    pub(super) fn on_unsaved_calls(&mut self, unsaved: Vec<UnsavedCall>) {
        self.unsaved = unsaved;
    }

    /// The agent's Retry: the log is queued again if it is still on the list and can be sent.
    pub(super) fn retry_call_log(&mut self, key: &str) {
        match self.unsaved.iter().find(|call| call.key == key) {
            Some(call) if call.retry => {
                self.effects.push(Effect::RetryCallLog {
                    key: key.to_string(),
                });
            }
            Some(_) => self.notice("This call's stored log cannot be read, so it cannot be sent again.".into()),
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
