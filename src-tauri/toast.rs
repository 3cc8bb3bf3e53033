//! Desktop toasts: the engine's [`UiEffect`]s as notifications (freedesktop notifications over
//! D-Bus on Linux). The only file that imports `notify_rust`.
//!
//! Showing a notification is a blocking D-Bus call, so toasts live on a thread of their own that
//! owns every open notification: a ringing call's toast stays until the engine says
//! `StopRinging` (answered, declined, or the caller hung up), and is then closed. Caller data is
//! untrusted (C8): notification servers that advertise `body-markup` read the body as markup, so
//! for them it is escaped; the summary is plain text by specification.

use std::collections::HashMap;
use std::sync::mpsc;

use presence_core::UiEffect;

/// How long a notice stays on screen.
const NOTICE_MS: u32 = 6_000;

/// Sends toasts to the desktop; cheap to clone.
#[derive(Debug, Clone)]
pub struct Toasts {
    effects: mpsc::Sender<UiEffect>,
}

impl Toasts {
    /// Starts the toast thread. Without a notification service, each toast that cannot be shown
    /// is said once on standard error and the app goes on (the panel still rings).
    pub fn start() -> Self {
        let (effects, inbox) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("toasts".into())
            .spawn(move || ToastThread::default().run(inbox));
        if let Err(error) = spawned {
            eprintln!("presence-bridge: desktop toasts are off: {error}");
        }
        Toasts { effects }
    }

    pub fn show(&self, effect: UiEffect) {
        // The thread ends only with the process; a send error means it never started.
        let _ = self.effects.send(effect);
    }
}

/// Text for a notification body: escaped where the server reads markup.
pub fn body_text(text: &str, server_reads_markup: bool) -> String {
    if !server_reads_markup {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// What a ringing toast shows: the caller's name when known, then the number.
fn ring_body(name: Option<&str>, number: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name}\n{number}"),
        _ => number.to_string(),
    }
}

#[derive(Default)]
struct ToastThread {
    /// Whether the server reads bodies as markup; asked once, on first use.
    markup: Option<bool>,
    ringing: HashMap<String, Ringing>,
    /// The last failure said, so that a missing service is reported once, not per call.
    last_failure: Option<String>,
}

struct Ringing {
    number: String,
    #[cfg(all(unix, not(target_os = "macos")))]
    handle: notify_rust::NotificationHandle,
}

impl ToastThread {
    fn run(mut self, inbox: mpsc::Receiver<UiEffect>) {
        while let Ok(effect) = inbox.recv() {
            self.handle(effect);
        }
    }

    fn markup(&mut self) -> bool {
        *self.markup.get_or_insert_with(|| {
            #[cfg(all(unix, not(target_os = "macos")))]
            {
                notify_rust::get_capabilities()
                    .map(|caps| caps.iter().any(|cap| cap == "body-markup"))
                    // Unknown: escape, since showing "&amp;" beats running markup.
                    .unwrap_or(true)
            }
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            {
                false
            }
        })
    }

    fn handle(&mut self, effect: UiEffect) {
        match effect {
            UiEffect::Ring {
                call_id,
                title,
                body,
                call_waiting: _,
            } => self.ring(call_id, &title, body),
            UiEffect::CallerShown { call_id, name } => self.caller_shown(&call_id, &name),
            UiEffect::StopRinging { call_id } => self.stop(&call_id),
            UiEffect::Notice { text } => self.notice(&text),
        }
    }

    fn notification(&mut self, summary: &str, body: &str) -> notify_rust::Notification {
        let body = body_text(body, self.markup());
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Presence Bridge")
            .summary(summary)
            .body(&body);
        notification
    }

    fn ring(&mut self, call_id: String, title: &str, number: String) {
        let mut notification = self.notification(title, &ring_body(None, &number));
        notification
            .icon("call-start")
            .timeout(notify_rust::Timeout::Never);
        #[cfg(all(unix, not(target_os = "macos")))]
        notification.urgency(notify_rust::Urgency::Critical);
        match notification.show() {
            #[cfg(all(unix, not(target_os = "macos")))]
            Ok(handle) => {
                self.ringing.insert(call_id, Ringing { number, handle });
            }
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            Ok(_) => {
                self.ringing.insert(call_id, Ringing { number });
            }
            Err(error) => self.failed(error),
        }
    }

    fn caller_shown(&mut self, call_id: &str, name: &str) {
        let markup = self.markup();
        let Some(ringing) = self.ringing.get_mut(call_id) else {
            return;
        };
        let body = body_text(&ring_body(Some(name), &ringing.number), markup);
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            ringing.handle.body(&body);
            if let Err(error) = ringing.handle.update() {
                self.failed(error);
            }
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        let _ = body;
    }

    fn stop(&mut self, call_id: &str) {
        if let Some(ringing) = self.ringing.remove(call_id) {
            #[cfg(all(unix, not(target_os = "macos")))]
            ringing.handle.close();
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            let _ = ringing.number;
        }
    }

    fn notice(&mut self, text: &str) {
        let mut notification = self.notification("Presence Bridge", text);
        notification.timeout(notify_rust::Timeout::Milliseconds(NOTICE_MS));
        if let Err(error) = notification.show() {
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
}
