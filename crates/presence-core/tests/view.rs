//! The snapshot is the whole view model: every text the tray and the panel show is composed
//! here, so the shell only maps it to pixels.

mod support;

use presence_core::{CallKind, CallPhase, CallProgress, Failure, Input, Link, UserIntent};
use support::*;

#[test]
fn the_status_line_and_link_texts_are_composed_for_the_tray_and_panel() {
    let mut w = World::new().started();
    let shown = w.snapshot();
    assert_eq!(shown.status_line, "Available · set in Salesforce");
    assert!(shown.problems.is_empty(), "{:?}", shown.problems);
    assert_eq!(shown.links[0].text, "Teams: Connected");
    assert_eq!(shown.links[0].sign_in, None);
    assert!(shown.softphone);

    w.input(Input::LinkLost {
        link: Link::Teams,
        failure: Failure::Unauthorized,
    });
    let shown = w.snapshot();
    assert_eq!(shown.links[0].text, "Teams: Disconnected (sign-in needed)");
    assert_eq!(
        shown.links[0].sign_in.as_deref(),
        Some("Sign in to Microsoft 365…")
    );
    assert_eq!(shown.problems, ["Teams: disconnected, sign-in needed"]);
    assert!(shown
        .tooltip
        .ends_with("\nTeams: disconnected, sign-in needed"));
}

#[test]
fn logged_out_has_no_softphone_and_says_so_first() {
    let mut w = World::new().started();
    w.pick("Logout");
    let shown = w.snapshot();
    assert!(!shown.softphone);
    assert_eq!(shown.problems[0], "No connection to Teams (logged out)");
    assert!(
        shown.status_line.starts_with("Logout · "),
        "{}",
        shown.status_line
    );
}

#[test]
fn calls_carry_their_title_who_and_history_line() {
    let mut w = World::new().started();
    w.offer("q", CallKind::Queue, "+14155550100");
    let call = &w.snapshot().calls[0];
    assert_eq!(call.phase, CallPhase::Ringing);
    assert_eq!(call.title, "Queue call · Incoming call");
    // The harness's directory knows this number as Ada Lovelace.
    assert_eq!(call.who, "Ada Lovelace");
    assert_eq!(call.detail.as_deref(), Some("+14155550100 · Contact"));
    w.user(UserIntent::Answer {
        call_id: "q".into(),
    });
    assert_eq!(w.snapshot().calls[0].title, "Queue call · On a call with");
    w.offer("d", CallKind::Direct, "+1555");
    let waiting = &w.snapshot().calls[1];
    assert_eq!(waiting.title, "Call waiting");
    assert_eq!(waiting.who, "+1555");
    assert_eq!(waiting.detail, None);
    w.advance(secs(42));
    w.progress("q", CallProgress::Ended);
    w.progress("d", CallProgress::CallerHungUp);
    let recent = w.snapshot().recent_calls;
    assert_eq!(recent[0].summary, "+1555 · Missed");
    assert_eq!(recent[1].summary, "Ada Lovelace · Completed, 42 s");
}

#[test]
fn blocked_calls_carry_their_history_line() {
    let mut w = World::new().started();
    w.pick("Do Not Disturb");
    w.offer("b", CallKind::Direct, "+14155550100");
    let blocked = w.snapshot().blocked_calls;
    assert_eq!(blocked[0].summary, "+14155550100 · Do Not Disturb");
}

#[test]
fn link_ids_are_stable_and_read_back() {
    for link in Link::ALL {
        assert_eq!(Link::from_id(link.id()), Some(link));
    }
    assert_eq!(Link::Teams.id(), "teams");
    assert_eq!(Link::from_id("Teams"), None);
}
