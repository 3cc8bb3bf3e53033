//! Desktop toasts: the engine's [`UiEffect`]s as freedesktop notifications over D-Bus. The only
//! file that imports `notify_rust`.
//!
//! A ringing call's toast carries Answer and Decline, and stays until the engine says
//! `StopRinging` (answered, declined, or the caller hung up); it is then closed. The server
//! sends the agent's choice only to the connection that showed the toast, so each ringing toast
//! keeps its handle, and a task waits on it for the choice while the desk may still close it.
//! When the caller is identified the toast is replaced (same id) with the name, and the wait
//! moves to the replacement. Caller data is untrusted (C8): servers that advertise
//! `body-markup` read the body as markup, so for them it is escaped; the summary is plain text
//! by specification. Without a notification service, each failure is said once on standard
//! error and the app goes on (the panel still rings).

use std::collections::HashMap;
use std::sync::Arc;

use notify_rust::{Notification, NotificationHandle, NotificationResponse, Timeout};
use presence_core::UiEffect;
use tauri::async_runtime::JoinHandle;
use tokio::sync::mpsc;

/// How long a notice stays on screen.
const NOTICE_MS: u32 = 6_000;
const ANSWER: &str = "answer";
const DECLINE: &str = "decline";

/// What the agent chose on a ringing call's toast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastChoice {
    Answer,
    Decline,
}

type OnChoice = Arc<dyn Fn(String, ToastChoice) + Send + Sync>;

/// Sends toasts to the desktop; cheap to clone.
#[derive(Debug, Clone)]
pub struct Toasts {
    effects: mpsc::UnboundedSender<UiEffect>,
}

impl Toasts {
    /// Starts the toast desk; `on_choice` hears which call the agent answered or declined from
    /// its toast.
    pub fn start(on_choice: impl Fn(String, ToastChoice) + Send + Sync + 'static) -> Self {
        let (effects, inbox) = mpsc::unbounded_channel();
        let desk = Desk {
            markup: None,
            ringing: HashMap::new(),
            last_failure: None,
            on_choice: Arc::new(on_choice),
        };
        tauri::async_runtime::spawn(desk.run(inbox));
        Toasts { effects }
    }

    pub fn show(&self, effect: UiEffect) {
        // The desk ends only with the process.
        let _ = self.effects.send(effect);
    }
}

/// Text for a notification body: escaped where the server reads markup (the escaper lives
/// in the pure core, beside the caller-name normaliser, so that it is fuzzed with it).
pub use presence_core::calls::notification_body as body_text;

/// What a ringing toast shows: the caller's name when known, then the number.
fn ring_body(name: Option<&str>, number: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name}\n{number}"),
        _ => number.to_string(),
    }
}

/// The choice behind an action key.
fn choice(key: &str) -> Option<ToastChoice> {
    match key {
        ANSWER => Some(ToastChoice::Answer),
        DECLINE => Some(ToastChoice::Decline),
        _ => None,
    }
}

struct Desk {
    /// Whether the server reads bodies as markup; asked once, on first use.
    markup: Option<bool>,
    ringing: HashMap<String, Ringing>,
    /// The last failure said, so that a missing service is reported once, not per call.
    last_failure: Option<String>,
    on_choice: OnChoice,
}

struct Ringing {
    title: String,
    number: String,
    handle: Arc<NotificationHandle>,
    /// Waits for the agent's choice on this toast.
    waiter: JoinHandle<()>,
}

impl Desk {
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<UiEffect>) {
        while let Some(effect) = inbox.recv().await {
            match effect {
                UiEffect::Ring {
                    call_id,
                    title,
                    body,
                    call_waiting: _,
                } => self.ring(call_id, title, body, None).await,
                UiEffect::CallerShown { call_id, name } => {
                    if let Some(old) = self.ringing.remove(&call_id) {
                        old.waiter.abort();
                        let id = old.handle.id();
                        self.ring(call_id, old.title, old.number, Some((name, id)))
                            .await;
                    }
                }
                UiEffect::StopRinging { call_id } => {
                    if let Some(ringing) = self.ringing.remove(&call_id) {
                        ringing.waiter.abort();
                        ringing.handle.close_async().await;
                    }
                }
                UiEffect::Notice { text } => self.notice(&text).await,
            }
        }
    }

    async fn markup(&mut self) -> bool {
        if let Some(known) = self.markup {
            return known;
        }
        let asked = tokio::task::spawn_blocking(notify_rust::get_capabilities).await;
        let known = match asked {
            Ok(Ok(capabilities)) => capabilities.iter().any(|cap| cap == "body-markup"),
            // Unknown: escape, since showing "&amp;" beats running markup.
            _ => true,
        };
        self.markup = Some(known);
        known
    }

    async fn notification(&mut self, summary: &str, body: &str) -> Notification {
        let body = body_text(body, self.markup().await);
        let mut notification = Notification::new();
        notification
            .appname("Presence Bridge")
            .summary(summary)
            .body(&body);
        notification
    }

    /// Shows a ringing toast, or replaces toast `replacing.1` with the caller's name
    /// `replacing.0`, and waits for the agent's choice on it.
    async fn ring(
        &mut self,
        call_id: String,
        title: String,
        number: String,
        replacing: Option<(String, u32)>,
    ) {
        let name = replacing.as_ref().map(|(name, _)| name.as_str());
        let mut notification = self.notification(&title, &ring_body(name, &number)).await;
        notification
            .icon("call-start")
            .action(ANSWER, "Answer")
            .action(DECLINE, "Decline")
            .timeout(Timeout::Never)
            .urgency(notify_rust::Urgency::Critical);
        if let Some((_, id)) = replacing {
            notification.id(id);
        }
        let handle = match notification.show_async().await {
            Ok(handle) => Arc::new(handle),
            Err(error) => return self.failed(error),
        };
        let waiter = {
            let (handle, on_choice, call_id) =
                (handle.clone(), self.on_choice.clone(), call_id.clone());
            tauri::async_runtime::spawn(async move {
                let mut chosen = None;
                handle
                    .wait_for_action_async(|response| {
                        if let NotificationResponse::Action(key) = response {
                            chosen = choice(key);
                        }
                    })
                    .await;
                if let Some(chosen) = chosen {
                    on_choice(call_id, chosen);
                }
            })
        };
        self.ringing.insert(
            call_id,
            Ringing {
                title,
                number,
                handle,
                waiter,
            },
        );
    }

    async fn notice(&mut self, text: &str) {
        let mut notification = self.notification("Presence Bridge", text).await;
        notification.timeout(Timeout::Milliseconds(NOTICE_MS));
        if let Err(error) = notification.show_async().await {
            self.failed(error);
        }
    }

    fn failed(&mut self, error: notify_rust::error::Error) {
        let text = error.to_string();
        if self.last_failure.as_deref() != Some(text.as_str()) {
            eprintln!("presence-bridge: a desktop toast could not be shown: {text}");
            self.last_failure = Some(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_caller_data_is_escaped_for_servers_that_read_markup() {
        assert_eq!(
            body_text("<b>Eve</b> & \"Co\"", true),
            "&lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Co&quot;"
        );
        assert_eq!(body_text("<b>Eve</b> & Co", false), "<b>Eve</b> & Co");
    }

    #[test]
    fn a_ringing_toast_names_the_caller_above_the_number() {
        assert_eq!(
            ring_body(Some("Margaret Hamilton"), "+14155550100"),
            "Margaret Hamilton\n+14155550100"
        );
        assert_eq!(ring_body(None, "+14155550100"), "+14155550100");
    }

    #[test]
    fn only_the_two_call_actions_are_choices() {
        assert_eq!(choice(ANSWER), Some(ToastChoice::Answer));
        assert_eq!(choice(DECLINE), Some(ToastChoice::Decline));
        assert_eq!(choice("default"), None);
    }
}
