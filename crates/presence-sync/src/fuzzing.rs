//! Entry points for fuzzing every parser of outside data, and for replaying their corpora as
//! ordinary tests (`tests/fuzz_corpus.rs`, so stable Rust and CI run every input the fuzzers
//! kept). Each takes raw bytes as they would arrive (a server's body, a header, a settings
//! file, a caller's name), parses them as the app does, and checks what must hold whatever
//! arrives: no panic, and for the texts shown to the agent, that they come out inert. A broken
//! promise panics, which is what a fuzzer reports.
//!
//! The targets (`fuzz/fuzz_targets/*.rs`, run by `make fuzz` with cargo-fuzz on a nightly
//! toolchain) are one line each over [`TARGETS`].

use presence_core::calls::{display_text, notification_body, MAX_DISPLAY_CHARS, MAX_REASON_CHARS};
use presence_core::UnsavedCall;
use serde_json::{Map, Value};

use crate::wire;

/// A target's entry point: the bytes as they arrived.
pub type Target = fn(&[u8]);

/// Every target: its name (the corpus folder under `fuzz/corpus/`) and its entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("graph_presence", graph_presence),
    ("oauth_answers", oauth_answers),
    ("salesforce_record", salesforce_record),
    ("salesforce_answers", salesforce_answers),
    ("cometd_messages", cometd_messages),
    ("retry_after", retry_after),
    ("settings_file", settings_file),
    ("caller_name", caller_name),
    ("toast_body", toast_body),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `GET /me/presence` (and a user's presence): typed, then the engine's value.
pub fn graph_presence(data: &[u8]) {
    if let Ok(presence) = wire::parse::<wire::GraphPresence>("presence", data) {
        let _ = presence.into_presence();
    }
    let _ = wire::parse::<wire::GraphUser>("a user", data);
}

/// The token endpoints' answers: a token, an OAuth error, the device flow's start.
pub fn oauth_answers(data: &[u8]) {
    let _ = wire::parse::<crate::auth::TokenAnswer>("a token", data);
    let _ = wire::parse::<wire::oauth::OAuthErrorAnswer>("an OAuth error", data);
    let _ = wire::parse::<wire::oauth::DeviceCodeStart>("a device code", data);
}

/// One record as a stream event or a polled row carries it: read as presence, as a call, and
/// as the controller's word on a call's Task. Whatever text reaches the agent is display text.
pub fn salesforce_record(data: &[u8]) {
    let Ok(record) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let _ = wire::presence_observation(&record);
    if let Some(wire::CallEvent::Offered(offer)) = wire::call_event(&record) {
        let _ = display_text(&offer.from_number);
    }
    if let Some(presence_core::Input::ControllerLog {
        call_id,
        number,
        at,
        reason,
    }) = wire::controller_log(&record)
    {
        assert_inert(&number, MAX_DISPLAY_CHARS);
        assert_inert(&at, MAX_DISPLAY_CHARS);
        if let Some(reason) = reason {
            // As the agent's list shows it.
            let line = UnsavedCall::from_controller(call_id, &number, None, &at, reason);
            assert_inert(&line.reason, MAX_REASON_CHARS);
        }
    }
}

/// Salesforce's other answers: error arrays, query pages, SOSL search answers, `userinfo`.
pub fn salesforce_answers(data: &[u8]) {
    let _ = wire::salesforce::error_code(data);
    let _ = wire::parse::<Vec<wire::salesforce::ApiError>>("errors", data);
    if let Ok(page) = wire::parse::<wire::QueryPage>("a query page", data) {
        for record in &page.records {
            let _ = wire::presence_observation(record);
            let _ = wire::call_event(record);
        }
    }
    if let Ok(answer) = wire::parse::<wire::SearchAnswer>("a search answer", data) {
        for record in answer.search_records {
            let _ = record.into_caller();
        }
    }
    let _ = wire::parse::<wire::UserInfo>("userinfo", data);
}

/// A CometD answer (an array of messages), and the `code:args:message` errors in it.
pub fn cometd_messages(data: &[u8]) {
    if let Ok(messages) = wire::parse::<Vec<wire::bayeux::Message>>("CometD messages", data) {
        for message in &messages {
            let _ = message.succeeded();
            let _ = message.failure();
            let _ = message.event();
        }
    }
    let error = wire::bayeux::BayeuxError::parse(&text(data));
    let _ = (error.is_unauthorized(), error.is_invalid_replay_id());
}

/// `Retry-After` in seconds or as an HTTP date, beside a server's `Date` header.
pub fn retry_after(data: &[u8]) {
    let value = text(data);
    let _ = presence_core::retry::parse_retry_after_seconds(&value);
    // The first line as Retry-After, the second as Date (a header value cannot hold a line feed).
    let mut lines = value.splitn(2, '\n');
    let mut headers = reqwest::header::HeaderMap::new();
    for name in [reqwest::header::RETRY_AFTER, reqwest::header::DATE] {
        if let Some(Ok(header)) = lines.next().map(reqwest::header::HeaderValue::from_str) {
            headers.insert(name, header);
        }
    }
    let _ = crate::error::retry_after_from(&headers);
}

/// A settings file, merged over the embedded defaults and validated.
pub fn settings_file(data: &[u8]) {
    let _ = crate::settings::Settings::from_layers(Some(&text(data)));
}

/// A caller's name or number, from a CRM record or from telephony.
pub fn caller_name(data: &[u8]) {
    let shown = display_text(&text(data));
    assert_inert(&shown, MAX_DISPLAY_CHARS);
    assert_eq!(display_text(&shown), shown, "display text is a fixed point");
}

/// A toast's body for a notification server that reads markup.
pub fn toast_body(data: &[u8]) {
    let raw = text(data);
    let escaped = notification_body(&raw, true);
    assert!(
        !escaped.contains(['<', '>', '"', '\'']),
        "markup left in {escaped:?}"
    );
    let unescaped = escaped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    // `&amp;` last: the escaped text reads back as the raw one, so nothing was lost.
    assert_eq!(unescaped, raw);
    assert_eq!(notification_body(&raw, false), raw);
}

/// Text shown to the agent: bounded, and free of control, bidirectional and zero-width
/// characters (`display_text`'s promise).
fn assert_inert(shown: &str, max_chars: usize) {
    assert!(shown.chars().count() <= max_chars, "too long: {shown:?}");
    assert!(
        !shown.chars().any(|ch| ch.is_control()
            || matches!(ch, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')),
        "not inert: {shown:?}"
    );
}
