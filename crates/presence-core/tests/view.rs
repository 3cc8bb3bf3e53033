//! The snapshot is the whole view model: every text the tray and the panel show is composed
//! here, so the shell only maps it to pixels.

mod support;

use presence_core::{
    CallKind, CallPhase, CallProgress, Disposition, Failure, Input, Link, UiEffect, UnsavedCall,
    UserIntent,
};
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
fn refused_call_logs_are_listed_with_their_reason_and_only_those_listed_can_be_retried() {
    let mut w = World::new().started();
    let refused = UnsavedCall::new(
        "call-1".into(),
        "Ada Lovelace",
        &Disposition::Missed,
        "14:02",
        "HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is required".into(),
    );
    let unreadable = UnsavedCall::unreadable("call-2".into(), "unreadable payload".into());
    w.input(Input::UnsavedCalls(vec![refused.clone(), unreadable]));
    let shown = w.snapshot();
    assert_eq!(shown.unsaved_calls.len(), 2);
    assert_eq!(
        shown.unsaved_calls[0].summary,
        "Ada Lovelace · Missed · 14:02"
    );
    assert!(shown.unsaved_calls[0].retry && !shown.unsaved_calls[1].retry);
    assert_eq!(shown.problems, ["2 calls not saved to Salesforce"]);

    // Retry asks the outbox for the listed one; an unreadable or unknown key asks for nothing.
    for key in ["call-1", "call-2", "call-9"] {
        w.user(UserIntent::RetryCallLog { key: key.into() });
    }
    assert_eq!(w.record.retried_logs, ["call-1"]);
    assert!(w.record.ui.iter().any(|ui| matches!(ui,
        UiEffect::Notice { text } if text.contains("cannot be sent again"))));

    // The outbox's next list replaces the old one: the retried log is no longer set aside.
    w.input(Input::UnsavedCalls(vec![]));
    let shown = w.snapshot();
    assert!(shown.unsaved_calls.is_empty() && shown.problems.is_empty());
}

#[test]
fn a_log_the_controller_could_not_save_is_listed_until_it_says_otherwise_and_retried_through_it() {
    let mut w = World::new().started();
    let news = |reason: Option<&str>| Input::ControllerLog {
        call_id: "call-5".into(),
        number: "+14155550100".into(),
        at: "Dec 2, 14:02".into(),
        reason: reason.map(str::to_string),
    };
    // Every event of a call says it; with nothing refused, nothing is listed.
    w.input(news(None));
    assert!(w.snapshot().unsaved_calls.is_empty());
    w.input(news(Some("HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: no")));
    let shown = w.snapshot();
    assert_eq!(shown.unsaved_calls.len(), 1);
    let line = &shown.unsaved_calls[0];
    assert!(line.by_controller && line.retry);
    assert_eq!(line.summary, "+14155550100 · Dec 2, 14:02");
    // The same news again (the offer's next event) is one line, not two.
    w.input(news(Some("HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: no")));
    assert_eq!(w.snapshot().unsaved_calls.len(), 1);
    w.user(UserIntent::RetryCallLog {
        key: "call-5".into(),
    });
    assert_eq!(w.record.retried_logs, ["controller:call-5"]);
    // The controller clears the refusal as it sends the Task again.
    w.input(news(None));
    assert!(w.snapshot().unsaved_calls.is_empty());
}

#[test]
fn link_ids_are_stable_and_read_back() {
    for link in Link::ALL {
        assert_eq!(Link::from_id(link.id()), Some(link));
    }
    assert_eq!(Link::Teams.id(), "teams");
    assert_eq!(Link::from_id("Teams"), None);
}

#[test]
fn set_up_news_is_part_of_the_snapshot_until_it_stops_being_true() {
    use presence_core::SetupNews;
    let mut w = World::new();
    w.input(Input::Setup(SetupNews::SignInAsked {
        link: Link::Salesforce,
        text: "Sign in to Salesforce in your browser: https://login.example/x".into(),
    }));
    w.input(Input::Setup(SetupNews::Caveat {
        text: "no keyring answers; this sign-in lasts only while the app runs".into(),
    }));
    // The same caveat twice is shown once.
    w.input(Input::Setup(SetupNews::Caveat {
        text: "no keyring answers; this sign-in lasts only while the app runs".into(),
    }));
    let shown = w.snapshot();
    // Set-up lines first, then the links (still connecting: nothing was sent yet).
    assert_eq!(
        shown.problems,
        [
            "Sign in to Salesforce in your browser: https://login.example/x",
            "no keyring answers; this sign-in lasts only while the app runs",
            "Teams: degraded, connecting",
            "Salesforce: degraded, connecting",
        ]
    );
    assert!(shown
        .tooltip
        .contains("\nSign in to Salesforce in your browser"));
    assert_eq!(
        shown.notes,
        shown.problems[..2],
        "the panel's lines: set-up only"
    );

    // Signed in: the request goes, the caveat stays.
    w.input(Input::SignedIn {
        link: Link::Salesforce,
    });
    // (Signing in re-reads both sides, which in this world answer: both links are up.)
    assert_eq!(
        w.snapshot().problems,
        ["no keyring answers; this sign-in lasts only while the app runs"]
    );

    w.input(Input::Setup(SetupNews::SignInFailed {
        link: Link::Teams,
        reason: "the browser sign-in timed out".into(),
    }));
    assert_eq!(
        w.snapshot().problems[0],
        "The sign-in to Microsoft 365 failed: the browser sign-in timed out"
    );

    w.input(Input::Setup(SetupNews::CannotRun {
        reason: "another sync already runs for ada".into(),
    }));
    let shown = w.snapshot();
    assert_eq!(shown.status_line, "Not running");
    assert_eq!(shown.source_text, "not running");
    assert_eq!(shown.problems[0], "another sync already runs for ada");
    assert_eq!(shown.links[0].text, "Teams: Disconnected (not running)");
    assert!(shown.badge);
    assert!(
        shown.choices.is_empty(),
        "nothing to choose that could be carried out"
    );
    assert!(!shown.softphone);
}

#[test]
fn the_call_center_read_at_start_replaces_the_shipped_one_but_never_under_a_running_sync() {
    use presence_core::{CallCenterConfig, SetupNews};
    let mut config = CallCenterConfig::shipped_default_unvalidated();
    config.states.retain(|state| state.label != "Lunch");
    let org = config.validate().expect("valid");
    let labels = |w: &World| -> Vec<String> {
        w.snapshot()
            .choices
            .iter()
            .map(|choice| choice.label.clone())
            .collect()
    };
    let mut w = World::new();
    assert!(labels(&w).iter().any(|label| label == "Lunch"));
    w.input(Input::Setup(SetupNews::CallCenter(Box::new(org.clone()))));
    assert!(!labels(&w).iter().any(|label| label == "Lunch"));

    let mut running = World::new().started();
    running.input(Input::Setup(SetupNews::CallCenter(Box::new(org))));
    assert!(labels(&running).iter().any(|label| label == "Lunch"));
}

#[test]
fn a_call_center_is_written_as_its_configuration_and_read_back_only_if_valid() {
    use presence_core::{CallCenter, CallCenterConfig};
    let shipped = CallCenterConfig::shipped_default();
    let json = serde_json::to_string(&shipped).expect("written");
    let back: CallCenter = serde_json::from_str(&json).expect("read back");
    assert_eq!(back, shipped);
    let broken = json.replace("\"LoggedOut\"", "\"Offline\"");
    let refused = serde_json::from_str::<CallCenter>(&broken).expect_err("no logout state");
    assert!(refused.to_string().contains("Logout"), "{refused}");
}
