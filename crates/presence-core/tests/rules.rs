//! Every numbered rule of RULES.md (S, C, L, K, W, G), as scenario tests on a virtual clock.
//! The acceptance stories are in `acceptance.rs`; the class and icon table in `src/class.rs`.

mod support;

use std::time::Duration;

use presence_core::{
    Activity, CallKind, CallProgress, CallType, Effect, Failure, IconId, Input, Link, LinkState,
    OfferAnswer, PresenceClass, Source, SyncDirection, UiEffect, UserIntent,
};
use support::*;

fn blocked_reason(w: &World, call_id: &str) -> Option<String> {
    match w.answer_of(call_id) {
        Some(OfferAnswer::NotSignalled { reason }) => Some(reason.clone()),
        _ => None,
    }
}

fn answer(w: &mut World, call_id: &str) {
    w.user(UserIntent::Answer {
        call_id: call_id.into(),
    });
}

// ---- S: synchronisation

#[test]
fn s1_salesforce_to_teams_only_ignores_teams_changes() {
    let mut w = World::with(
        |c| c.settings.sync_direction = SyncDirection::SalesforceToTeams,
        |_| {},
    )
    .started();
    w.teams_user_sets("DoNotDisturb", "DoNotDisturb");
    w.advance(secs(10));
    assert_eq!(w.salesforce_state(), "Available");
    w.salesforce_user_sets("Busy");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
}

#[test]
fn s1_teams_to_salesforce_only_never_writes_teams() {
    let mut w = World::with(
        |c| c.settings.sync_direction = SyncDirection::TeamsToSalesforce,
        |_| {},
    )
    .started();
    w.salesforce_user_sets("Busy");
    w.advance(secs(10));
    assert!(w.record.teams_writes.is_empty());
    w.teams_user_sets("Away", "Away");
    w.advance(secs(2));
    assert_eq!(w.salesforce_state(), "Away");
}

#[test]
fn s2_preferred_presence_is_kept_alive_by_a_session_refreshed_before_five_minutes() {
    let mut w = World::new().started();
    w.pick("Busy");
    assert_eq!(
        w.record.keepalives.len(),
        1,
        "a session is opened with the first write"
    );
    w.advance(secs(30 * 60));
    let keepalives = &w.record.keepalives;
    assert!(keepalives.len() >= 7, "{keepalives:?}");
    for gap in keepalives.windows(2) {
        assert!(gap[1] - gap[0] < secs(5 * 60), "gap {:?}", gap[1] - gap[0]);
    }
}

#[test]
fn s2_no_session_is_opened_while_nothing_of_ours_is_in_force() {
    let mut w = World::new().started();
    w.advance(secs(20 * 60));
    assert!(w.record.keepalives.is_empty());
    assert!(w.record.teams_writes.is_empty());
}

#[test]
fn s3_app_configured_teams_activities_select_display_only_states_that_cannot_be_picked() {
    let cases = [
        (("Busy", "InACall"), "In a Call"),
        (("Busy", "InAConferenceCall"), "In a Call"),
        (("Busy", "InAMeeting"), "In a Meeting"),
        (("DoNotDisturb", "Presenting"), "Presenting"),
    ];
    for ((availability, activity), label) in cases {
        let mut w = World::new().started();
        w.teams_app_sets(availability, activity);
        w.advance(secs(2));
        assert_eq!(w.salesforce_state(), label);
        assert!(
            w.record.teams_writes.is_empty(),
            "{label} is never written back"
        );
        assert!(!w.snapshot().choices.iter().any(|c| c.label == label));
        w.pick(label);
        assert!(w.notices().iter().any(|n| n.contains("cannot be picked")));
    }
}

#[test]
fn s4_rapid_in_a_call_in_a_meeting_flips_are_debounced_and_settle_on_the_last() {
    let mut w = World::new().started();
    for i in 0..20 {
        if i % 2 == 0 {
            w.teams_app_sets("Busy", "InACall");
        } else {
            w.teams_app_sets("Busy", "InAMeeting");
        }
        w.advance(ms(700));
    }
    w.teams_app_sets("Busy", "InAMeeting");
    w.advance(secs(10));
    assert_eq!(w.salesforce_state(), "In a Meeting");
    let writes = w.record.salesforce_writes.len();
    // 14 s of flipping, one write per 3 s settle window at most, plus the initial one.
    assert!(writes <= 7, "{writes} Salesforce writes for 20 flips");
}

#[test]
fn s4_our_own_salesforce_write_coming_back_through_the_stream_is_not_a_change() {
    let mut w = World::new().started();
    w.teams_user_sets("Away", "Away");
    w.advance(secs(2));
    // The world streams our write back with our origin; nothing else happens.
    assert_eq!(w.record.salesforce_writes.len(), 1);
    assert_eq!(w.record.teams_writes.len(), 0);
    assert_eq!(w.snapshot().source, Some(Source::Teams));
}

#[test]
fn s4_our_next_write_numbers_above_a_sequence_another_writer_set() {
    // The console's pick bumped Sequence__c on the server to 40; the agent then picks in the
    // tray: our write must not take the row's number back (readers order by it).
    let mut w = World::new().started();
    w.input(Input::SalesforceState(
        presence_core::SalesforceObservation {
            state: "Lunch".into(),
            origin_client: Some("salesforce-console".into()),
            sequence: Some(40),
        },
    ));
    w.advance(secs(2));
    w.pick("Busy");
    w.advance(secs(2));
    let last = w
        .record
        .salesforce_records
        .last()
        .expect("the pick was written");
    assert_eq!(last.state, "Busy");
    assert_eq!(last.sequence, 41);
    // Its echo, streamed back with our origin and that number, is still ours (S4).
    let writes = w.record.salesforce_writes.len();
    w.input(Input::SalesforceState(
        presence_core::SalesforceObservation {
            state: "Busy".into(),
            origin_client: Some(last.origin_client.clone()),
            sequence: Some(41),
        },
    ));
    w.advance(secs(2));
    assert_eq!(w.record.salesforce_writes.len(), writes);
}

#[test]
fn s5_a_teams_state_that_keeps_being_reported_wins_after_the_echo_window() {
    let mut w = World::with(|_| {}, |t| t.echo_window_ms = 60_000).started();
    w.teams_lag = secs(24 * 3600); // our write never shows: Teams insists on Available
    w.salesforce_user_sets("Busy");
    w.advance(secs(30));
    assert_eq!(w.salesforce_state(), "Busy");
    w.advance(secs(60));
    assert_eq!(
        w.salesforce_state(),
        "Available",
        "Teams kept Available past the echo window"
    );
    assert_eq!(w.snapshot().source, Some(Source::Teams));
}

#[test]
fn s6_the_later_change_wins_a_conflict() {
    // Teams changed, then (before the flip settled) Salesforce changed: Salesforce is later.
    let mut w = World::new().started();
    w.teams_user_sets("Away", "Away");
    w.advance(secs(2));
    w.teams_user_sets("BeRightBack", "BeRightBack"); // settling (S4)
    w.advance(ms(1500));
    w.salesforce_user_sets("Busy");
    w.advance(secs(10));
    assert_eq!(w.salesforce_state(), "Busy");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
}

#[test]
fn s6_a_tie_goes_to_salesforce() {
    // Both sides differ from what we knew when the repair reads them at the same instant.
    let mut w = World::new().started();
    w.teams_health = SideHealth::Failing(Failure::Offline {
        reason: "down".into(),
    });
    w.salesforce_health = SideHealth::Failing(Failure::Offline {
        reason: "down".into(),
    });
    w.advance(secs(5));
    w.teams_visible = presence("Away", "Away");
    w.salesforce = Some("Busy".into());
    w.teams_health = SideHealth::Up;
    w.salesforce_health = SideHealth::Up;
    w.input(Input::Resumed);
    w.advance(secs(400));
    assert_eq!(w.salesforce_state(), "Busy");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
}

#[test]
fn s7_drift_repair_on_a_timer_converges_a_change_the_stream_missed() {
    let mut w = World::new().started();
    w.salesforce = Some("Lunch".into()); // changed behind our back, no event
    w.advance(secs(299));
    assert_eq!(w.teams_pair(), pair("Available", "Available"));
    w.advance(secs(2));
    assert_eq!(w.teams_pair(), pair("Away", "Away"));
    assert_eq!(w.snapshot().state.as_deref(), Some("Lunch"));
}

#[test]
fn s7_resume_and_sign_in_start_a_repair() {
    let mut w = World::new().started();
    let reads = w.record.salesforce_reads.len();
    w.input(Input::Resumed);
    assert_eq!(w.record.salesforce_reads.len(), reads + 1);
    w.input(Input::LinkLost {
        link: Link::Salesforce,
        failure: Failure::Unauthorized,
    });
    w.input(Input::SignedIn {
        link: Link::Salesforce,
    });
    assert_eq!(w.record.salesforce_reads.len(), reads + 2);
}

#[test]
fn s7_after_sleep_the_teams_session_and_the_heartbeat_are_renewed_at_once() {
    let mut w = World::new().started();
    w.pick("Busy");
    w.advance(secs(2));
    let (keepalives, heartbeats) = (w.record.keepalives.len(), w.record.heartbeats.len());
    assert!(keepalives > 0, "we hold Teams, so a session is kept");
    w.input(Input::Resumed);
    w.advance(ms(1));
    assert_eq!(
        w.record.keepalives.len(),
        keepalives + 1,
        "session re-created"
    );
    assert_eq!(w.record.heartbeats.len(), heartbeats + 1, "heartbeat sent");
}

#[test]
fn s7_a_change_made_before_the_stream_subscribed_is_read_at_once() {
    let mut w = World::new().started();
    let reads = w.record.salesforce_reads.len();
    w.salesforce = Some("Lunch".into()); // changed before the subscription: pushed to nobody
    w.input(Input::Resubscribed {
        link: Link::Salesforce,
    });
    assert_eq!(w.record.salesforce_reads.len(), reads + 1);
    w.advance(secs(1));
    assert_eq!(w.snapshot().state.as_deref(), Some("Lunch"));
    assert_eq!(w.teams_pair(), pair("Away", "Away"));
}

#[test]
fn s8_every_state_names_its_source() {
    let mut w = World::new().started();
    assert_eq!(w.snapshot().source, Some(Source::Salesforce));
    w.teams_user_sets("Away", "Away");
    w.advance(secs(2));
    assert_eq!(w.snapshot().source_text, "set in Teams");
    w.pick("Busy");
    assert_eq!(w.snapshot().source_text, "set from the tray");
    w.user(UserIntent::Pick {
        label: "Available".into(),
        via: presence_core::Picker::Panel,
    });
    assert_eq!(w.snapshot().source_text, "set from the panel");
    w.salesforce_user_sets("Lunch");
    assert_eq!(w.snapshot().source_text, "set in Salesforce");
    w.advance(secs(2));
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    assert_eq!(w.snapshot().source_text, "call in progress");
    w.advance(secs(2));
    w.progress("c", CallProgress::Ended);
    assert_eq!(w.snapshot().source_text, "wrap-up timer");
    w.advance(secs(2));
    w.teams_user_sets("Away", "Away");
    w.outlook_out_of_office(true);
    w.advance(secs(40));
    assert_eq!(w.snapshot().source_text, "Outlook out of office");
    assert!(w.snapshot().tooltip.contains("Outlook out of office"));
}

#[test]
fn s9_a_salesforce_change_is_written_to_teams_at_once_and_a_teams_change_within_a_poll() {
    let mut w = World::new().started();
    let at = w.elapsed();
    w.salesforce_user_sets("Busy");
    assert_eq!(w.record.teams_writes.last().map(|(t, _)| *t), Some(at));
    w.advance(secs(30)); // idle
    let before = w.elapsed();
    w.teams_user_sets("Away", "Away");
    w.advance(secs(6));
    let written = w
        .record
        .salesforce_writes
        .iter()
        .find(|(t, state)| *t >= before && state == "Away")
        .map(|(t, _)| *t - before);
    assert!(
        written.is_some_and(|latency| latency <= ms(5_500)),
        "idle poll bound: {written:?}"
    );
    // While active, the poll is fast: about a second.
    let before = w.elapsed();
    w.teams_user_sets("Busy", "Busy");
    w.advance(secs(6));
    let written = w
        .record
        .salesforce_writes
        .iter()
        .find(|(t, state)| *t >= before && state == "Busy")
        .map(|(t, _)| *t - before);
    assert!(
        written.is_some_and(|latency| latency <= ms(3_100)),
        "{written:?}"
    );
}

// ---- C: call signalling

#[test]
fn c1_direct_calls_are_blocked_in_every_do_not_disturb_class_state_and_logout() {
    for state in ["Do Not Disturb", "Logout"] {
        let mut w = World::new().started();
        w.pick(state);
        w.offer("c", CallKind::Direct, "+1555");
        assert!(blocked_reason(&w, "c").is_some(), "{state}");
        assert!(!w.rang("c"));
    }
    let mut w = World::new().started();
    w.offer("c0", CallKind::Direct, "+1555");
    answer(&mut w, "c0");
    w.progress("c0", CallProgress::Ended);
    assert_eq!(w.snapshot().state.as_deref(), Some("Wrap-up"));
    w.offer("c1", CallKind::Direct, "+1555");
    assert_eq!(blocked_reason(&w, "c1").as_deref(), Some("Wrap-up"));
}

#[test]
fn c2_busy_on_a_call_away_brb_offline_and_out_of_office_still_signal_direct_calls() {
    for state in [
        "Busy",
        "On a Call",
        "Away",
        "Be Right Back",
        "Lunch",
        "Offline",
        "Offline / Outbound possible",
    ] {
        let mut w = World::new().started();
        w.pick(state);
        w.offer("c", CallKind::Direct, "+1555");
        assert!(w.signalled("c"), "{state}");
    }
}

#[test]
fn c3_outbound_is_refused_in_dnd_and_offline_allowed_in_offline_outbound_possible() {
    let cases = [
        ("Do Not Disturb", false),
        ("Offline", false),
        ("Logout", false),
        ("Offline / Outbound possible", true),
        ("Available", true),
        ("Busy", true),
    ];
    for (state, allowed) in cases {
        let mut w = World::new().started();
        w.pick(state);
        assert_eq!(w.snapshot().outbound_allowed, allowed, "{state}");
        w.user(UserIntent::Dial {
            call_id: "o".into(),
            number: "+1 415 555 0123".into(),
        });
        assert_eq!(!w.record.placed_calls.is_empty(), allowed, "{state}");
        if !allowed {
            assert!(!w.notices().is_empty(), "a clear message for {state}");
        }
    }
    // Before anything was read the agent may be in Do Not Disturb: outbound waits.
    let mut w = World::new();
    assert_eq!(w.snapshot().state, None);
    assert!(!w.snapshot().outbound_allowed);
    w.user(UserIntent::Dial {
        call_id: "early".into(),
        number: "+1 415 555 0123".into(),
    });
    assert!(w.record.placed_calls.is_empty());
    assert!(w
        .notices()
        .iter()
        .any(|n| n.contains("until your presence is known")));
}

#[test]
fn c4_internal_calls_are_never_blocked_or_logged_as_missed() {
    for state in ["Available", "Do Not Disturb", "Busy"] {
        let mut w = World::new().started();
        w.pick(state);
        w.offer("i", CallKind::Internal, "colleague");
        assert!(w.signalled("i"), "{state}");
        w.progress("i", CallProgress::Missed);
        assert!(w.logs_for("i").is_empty());
    }
}

#[test]
fn c5_queue_calls_follow_the_presence_routing_table() {
    let states = [
        ("Available", true, true),
        ("Be Right Back", false, true),
        ("Away", false, true),
        ("Busy", false, true),
        ("Offline", false, true),
        ("Do Not Disturb", false, false),
        ("Logout", false, false),
    ];
    for (state, with_routing, without_routing) in states {
        for (routing, expected) in [(true, with_routing), (false, without_routing)] {
            let mut w = World::with(|c| c.settings.presence_routing = routing, |_| {}).started();
            w.pick(state);
            w.offer("q", CallKind::Queue, "+1555");
            assert_eq!(w.signalled("q"), expected, "{state}, routing {routing}");
        }
    }
    // "Available, out of office" is offered with routing on; "Busy, out of office" only off.
    let mut w = World::new().started();
    w.outlook_out_of_office(true);
    w.advance(secs(2));
    w.offer("q", CallKind::Queue, "+1555");
    assert!(w.signalled("q"));
}

#[test]
fn c6_unsignalled_calls_are_answered_with_the_reason_and_listed_for_call_back() {
    let mut w = World::new().started();
    w.pick("Do Not Disturb");
    w.offer("c", CallKind::Direct, "+1 415 555 0100");
    assert_eq!(blocked_reason(&w, "c").as_deref(), Some("Do Not Disturb"));
    let blocked = w.snapshot().blocked_calls;
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].reason, "Do Not Disturb");
    assert_eq!(blocked[0].number, "+1 415 555 0100");
}

#[test]
fn c7_ringing_is_busy_answering_is_on_a_call_and_a_hang_up_stops_the_ringing_at_once() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    let shown = w.snapshot();
    assert_eq!(shown.class, PresenceClass::Busy);
    assert_eq!(shown.label, "Ringing");
    assert_eq!(
        shown.source_text,
        "incoming call; Available, set in Salesforce"
    );
    answer(&mut w, "c");
    assert_eq!(w.salesforce_state(), "On a Call");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
    // Teams reporting "In a call" meanwhile is the same truth, not a change.
    w.teams_app_sets("Busy", "InACall");
    w.advance(secs(5));
    assert_eq!(w.salesforce_state(), "On a Call");

    let mut w = World::new().started();
    w.offer("c2", CallKind::Direct, "+1555");
    let t = w.elapsed();
    w.progress("c2", CallProgress::CallerHungUp);
    assert_eq!(w.elapsed(), t);
    assert!(w
        .record
        .ui
        .iter()
        .any(|ui| matches!(ui, UiEffect::StopRinging { call_id } if call_id == "c2")));
    assert_eq!(w.snapshot().label, "Available");
    assert_eq!(w.logs_for("c2")[0].disposition, "Missed");
}

#[test]
fn c8_the_caller_is_identified_and_untrusted_text_is_made_inert() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1 415 555 0100");
    let shown = w.snapshot();
    assert_eq!(
        shown.calls[0].caller.as_ref().map(|c| c.name.as_str()),
        Some("Ada Lovelace")
    );
    let mut w = World::new().started();
    w.offer("h", CallKind::Direct, "+1555\u{202E}<b>x</b>\u{200B}");
    let body = w.record.ui.iter().find_map(|ui| match ui {
        UiEffect::Ring { body, .. } => Some(body.clone()),
        _ => None,
    });
    assert_eq!(body.as_deref(), Some("+1555<b>x</b>"));
}

// ---- L: logout

#[test]
fn l1_logout_is_selectable_and_may_arrive_from_salesforce() {
    let mut w = World::new().started();
    assert!(w.snapshot().choices.iter().any(|c| c.label == "Logout"));
    w.salesforce_user_sets("Logout");
    assert_eq!(w.snapshot().class, PresenceClass::LoggedOut);
    assert_eq!(w.snapshot().source, Some(Source::Salesforce));
}

#[test]
fn l2_no_call_of_any_kind_is_signalled_while_logged_out() {
    let mut w = World::new().started();
    w.pick("Logout");
    for (id, kind) in [
        ("d", CallKind::Direct),
        ("q", CallKind::Queue),
        ("i", CallKind::Internal),
    ] {
        w.offer(id, kind, "+1555");
        assert_eq!(blocked_reason(&w, id).as_deref(), Some("Logged out"));
    }
    assert!(w
        .record
        .ui
        .iter()
        .all(|ui| !matches!(ui, UiEffect::Ring { .. })));
}

#[test]
fn l3_logout_releases_teams_stops_the_keep_alive_and_pauses_teams_to_salesforce() {
    let mut w = World::new().started();
    w.pick("Busy");
    w.pick("Logout");
    assert_eq!(w.record.teams_releases.len(), 1);
    let keepalives = w.record.keepalives.len();
    w.teams_user_sets("DoNotDisturb", "DoNotDisturb");
    w.advance(secs(20 * 60));
    assert_eq!(w.record.keepalives.len(), keepalives);
    assert_eq!(w.salesforce_state(), "Logout");
}

#[test]
fn l4_and_g5_nothing_is_logged_while_logged_out() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    w.pick("Logout");
    w.progress("c", CallProgress::Missed);
    w.offer("d", CallKind::Direct, "+1555");
    assert!(w.record.logs.is_empty());
}

#[test]
fn l5_logged_out_shows_the_no_connection_to_teams_indicator_and_icon() {
    let mut w = World::new().started();
    w.pick("Logout");
    let shown = w.snapshot();
    assert!(shown.no_connection_to_teams);
    assert_eq!(shown.icon, IconId::LoggedOut);
    assert!(shown.tooltip.contains("No connection to Teams"));
}

#[test]
fn l6_picking_another_state_logs_back_in_and_reconverges_both_sides() {
    let mut w = World::new().started();
    w.pick("Logout");
    w.teams_user_sets("Away", "Away");
    let reads = (w.record.teams_reads.len(), w.record.salesforce_reads.len());
    w.pick("Available");
    assert!(w.record.teams_reads.len() > reads.0);
    assert!(w.record.salesforce_reads.len() > reads.1);
    w.advance(secs(5));
    assert_eq!(w.salesforce_state(), "Available");
    assert_eq!(w.teams_pair(), pair("Available", "Available"));
    assert!(!w.snapshot().no_connection_to_teams);
}

#[test]
fn l7_quitting_logs_out_first_then_shuts_down_and_heartbeats_run_meanwhile() {
    let mut w = World::new().started();
    w.advance(secs(95));
    assert!(w.record.heartbeats.len() >= 3);
    w.pick("Busy");
    w.input(Input::Quit);
    assert_eq!(w.salesforce_state(), "Logout");
    assert_eq!(w.record.teams_releases.len(), 1);
    assert!(w.record.shutdown);

    let mut w = World::with(|c| c.settings.logout_on_quit = false, |_| {}).started();
    w.input(Input::Quit);
    assert!(w.record.shutdown);
    assert_eq!(w.salesforce_state(), "Available");
}

#[test]
fn l7_quit_gives_up_waiting_for_an_unreachable_cloud_after_the_grace_period() {
    let mut w = World::new().started();
    w.salesforce_health = SideHealth::Failing(Failure::Offline {
        reason: "down".into(),
    });
    w.input(Input::Quit);
    w.advance(secs(2));
    w.advance(secs(2));
    assert!(w.record.shutdown);
}

// ---- K: connection indicator

#[test]
fn k1_links_are_connected_degraded_or_disconnected_with_a_reason_and_a_badge() {
    let mut w = World::new().started();
    assert!(!w.snapshot().badge);
    w.teams_health = SideHealth::Failing(Failure::RateLimited {
        retry_after: Some(secs(7)),
    });
    w.advance(secs(3));
    let shown = w.snapshot();
    assert!(matches!(shown.links[0].state, LinkState::Degraded { .. }));
    assert!(shown.badge);
    assert!(shown.tooltip.contains("Teams: degraded, throttled"));

    w.teams_health = SideHealth::Up;
    w.salesforce_health = SideHealth::Failing(Failure::Unauthorized);
    w.advance(secs(10));
    w.pick("Busy");
    let shown = w.snapshot();
    assert!(shown.links[0].state.is_connected());
    assert!(matches!(
        shown.links[1].state,
        LinkState::Disconnected {
            sign_in_needed: true,
            ..
        }
    ));
    // A needed sign-in is not silently retried: no Salesforce traffic until the agent signs in.
    let traffic = w.record.salesforce_writes.len() + w.record.heartbeats.len();
    w.advance(secs(600));
    assert_eq!(
        w.record.salesforce_writes.len() + w.record.heartbeats.len(),
        traffic
    );
    w.salesforce_health = SideHealth::Up;
    w.input(Input::SignedIn {
        link: Link::Salesforce,
    });
    assert_eq!(w.salesforce_state(), "Busy");
    assert!(!w.snapshot().badge);
}

#[test]
fn k1_retry_after_is_honoured_before_the_next_write() {
    let mut w = World::new().started();
    w.teams_health = SideHealth::Failing(Failure::RateLimited {
        retry_after: Some(secs(7)),
    });
    w.pick("Busy");
    let first = w.record.teams_writes[0].0;
    w.teams_health = SideHealth::Up;
    w.advance(secs(20));
    let second = w.record.teams_writes[1].0;
    assert!(second - first >= secs(7), "{:?}", second - first);
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
}

/// The gaps between consecutive Teams reads from the `from`-th on.
fn read_gaps(w: &World, from: usize) -> Vec<Duration> {
    w.record.teams_reads[from..]
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect()
}

#[test]
fn throttled_reads_pace_the_poll_down_to_a_share_of_the_tenant_budget_and_answers_bring_it_back() {
    let mut w = World::new().started();
    w.advance(secs(120)); // idle: a read every 5 s
    w.teams_health = SideHealth::Failing(Failure::RateLimited {
        retry_after: Some(secs(1)),
    });
    let from = w.record.teams_reads.len();
    w.advance(secs(150));
    // Retry-After alone would have read every second, 150 times; each 429 doubles the gap
    // from the idle 5 s instead: 10, 20, 40, then the longest, 60 s (each with its jitter).
    let throttled = read_gaps(&w, from.saturating_sub(1));
    assert!(throttled.len() <= 6, "{throttled:?}");
    assert!(
        throttled.windows(2).all(|pair| pair[1] >= pair[0]),
        "{throttled:?}"
    );
    let longest = throttled.iter().max().copied().unwrap_or_default();
    assert!(
        longest >= secs(40) && longest <= ms(66_000),
        "{throttled:?}"
    );

    // Graph answers again: the pace eases, read by read, back to the idle poll.
    w.teams_health = SideHealth::Up;
    let from = w.record.teams_reads.len();
    w.advance(secs(600));
    let easing = read_gaps(&w, from);
    let paced = easing.iter().take_while(|gap| **gap > ms(5_500)).count();
    assert!(
        (4..=30).contains(&paced),
        "{paced} paced reads before the idle poll: {easing:?}"
    );
    assert!(
        easing[paced..].iter().all(|gap| *gap <= ms(5_500)),
        "{easing:?}"
    );
    // And a change in Teams is seen within the idle poll again.
    let before = w.elapsed();
    w.teams_user_sets("Away", "Away");
    w.advance(secs(6));
    assert!(
        w.record
            .salesforce_writes
            .iter()
            .any(|(t, state)| *t >= before && state == "Away"),
        "{:?}",
        w.record.salesforce_writes
    );
}

#[test]
fn k1_transient_failures_degrade_then_disconnect_and_back_off() {
    let mut w = World::new().started();
    w.salesforce_health = SideHealth::Failing(Failure::Transient {
        reason: "503".into(),
    });
    w.pick("Busy");
    assert!(matches!(
        w.snapshot().links[1].state,
        LinkState::Degraded { .. }
    ));
    w.advance(secs(120));
    assert!(matches!(
        w.snapshot().links[1].state,
        LinkState::Disconnected { .. }
    ));
    let attempts: Vec<Duration> = w.record.salesforce_writes.iter().map(|(t, _)| *t).collect();
    assert!(
        attempts.len() < 12,
        "backoff, not a tight loop: {attempts:?}"
    );
}

#[test]
fn k1_a_call_write_that_keeps_failing_backs_off_and_stops_at_five_attempts() {
    let mut w = World::new().started();
    w.salesforce_health = SideHealth::Failing(Failure::Transient {
        reason: "503".into(),
    });
    w.offer("c", CallKind::Direct, "+14155550100");
    w.advance(secs(20));
    w.advance(secs(600));
    let attempts: Vec<Duration> = w
        .record
        .offer_answer_attempts
        .iter()
        .filter(|(_, call_id)| call_id == "c")
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(attempts.len(), 5, "bounded: {attempts:?}");
    // Each retry waits at least half the base delay, and the backoff grows: the last gap is
    // longer than the first.
    let gaps: Vec<Duration> = attempts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(gaps.iter().all(|gap| *gap >= ms(500)), "{gaps:?}");
    assert!(gaps[3] > gaps[0], "backoff grows: {gaps:?}");
    assert!(w
        .record
        .diagnostics
        .iter()
        .any(|line| line.contains("a call write for c failed 5 times")));
    // The call is still accounted for: once it ends, its log goes to the durable outbox.
    w.salesforce_health = SideHealth::Up;
    w.progress("c", CallProgress::CallerHungUp);
    assert_eq!(w.logs_for("c").len(), 1);
    assert_eq!(w.logs_for("c")[0].disposition, "Missed");
}

// ---- W: wrap-up

#[test]
fn w1_wrap_up_of_zero_returns_to_the_state_before_the_call_at_once() {
    let mut w = World::with(|c| c.settings.wrap_up_seconds = 0, |_| {}).started();
    w.pick("Be Right Back");
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    w.progress("c", CallProgress::Ended);
    assert_eq!(w.salesforce_state(), "Be Right Back");
    assert!(w.snapshot().wrap_up.is_none());
}

#[test]
fn w2_one_click_extends_the_wrap_up_by_the_configured_step() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    w.progress("c", CallProgress::Ended);
    w.advance(secs(20));
    assert_eq!(w.snapshot().wrap_up.map(|v| v.remaining_ms), Some(10_000));
    w.user(UserIntent::ExtendWrapUp);
    assert_eq!(w.snapshot().wrap_up.map(|v| v.remaining_ms), Some(40_000));
    w.advance(secs(39));
    assert_eq!(w.salesforce_state(), "Wrap-up");
    w.advance(secs(1));
    assert_eq!(w.salesforce_state(), "Available");
}

#[test]
fn w3_no_wrap_up_after_a_change_during_the_call_or_an_unanswered_outbound_call() {
    // The change may come from Salesforce as well as from the tray (A11 covers the tray).
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    w.salesforce_user_sets("Lunch");
    w.progress("c", CallProgress::Ended);
    assert_eq!(w.salesforce_state(), "Lunch");
    assert!(w.snapshot().wrap_up.is_none());
}

#[test]
fn w1_a_wrap_up_found_with_no_timer_after_a_restart_ends_after_the_wrap_up_time() {
    // The app was killed during a wrap-up; it comes back and reads Wrap-up in Salesforce.
    let mut w = World::new();
    w.salesforce = Some("Wrap-up".into());
    let mut w = w.started();
    assert_eq!(w.salesforce_state(), "Wrap-up");
    let remaining = w.snapshot().wrap_up.map(|view| view.remaining_ms);
    assert!(
        remaining.is_some_and(|ms| (29_000..=30_000).contains(&ms)),
        "the countdown is shown: {remaining:?}"
    );
    w.advance(secs(29));
    assert_eq!(w.salesforce_state(), "Wrap-up");
    w.advance(secs(1));
    // The state before the call died with the process: back to Available.
    assert_eq!(w.salesforce_state(), "Available");
    assert_eq!(w.snapshot().source, Some(Source::WrapUpTimer));
}

#[test]
fn w1_a_picked_state_during_wrap_up_ends_it() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    w.progress("c", CallProgress::Ended);
    w.pick("Busy");
    assert!(w.snapshot().wrap_up.is_none());
    w.advance(secs(60));
    assert_eq!(w.salesforce_state(), "Busy");
}

// ---- G: call logging

#[test]
fn g1_a_missed_call_is_an_inbound_task_missed_with_zero_duration_linked_to_the_caller() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1 415 555 0100");
    w.advance(secs(20));
    w.progress("c", CallProgress::Missed);
    let logs = w.logs_for("c");
    assert_eq!(logs.len(), 1);
    let log = logs[0];
    assert_eq!(log.call_type, CallType::Inbound);
    assert_eq!(log.disposition, "Missed");
    assert_eq!(log.duration, Duration::ZERO);
    assert_eq!(
        log.caller.as_ref().map(|c| c.id.as_str()),
        Some("003000000000001AAA")
    );
    assert_eq!(log.subject, "Missed call from Ada Lovelace");
}

#[test]
fn g1_missed_calls_are_not_logged_when_the_call_center_turns_it_off() {
    let mut w = World::with(|c| c.settings.log_missed_calls = false, |_| {}).started();
    w.offer("c", CallKind::Direct, "+1555");
    w.progress("c", CallProgress::Missed);
    assert!(w.logs_for("c").is_empty());
}

#[test]
fn g2_a_call_blocked_by_presence_is_logged_with_the_reason_as_disposition() {
    let mut w = World::new().started();
    w.teams_app_sets("DoNotDisturb", "Presenting");
    w.advance(secs(2));
    w.offer("c", CallKind::Direct, "+1555");
    let logs = w.logs_for("c");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].disposition, "Presenting");
}

#[test]
fn g3_answered_and_outbound_calls_are_logged_when_they_end_with_duration() {
    let mut w = World::new().started();
    w.user(UserIntent::Dial {
        call_id: "o".into(),
        number: "+14155550123".into(),
    });
    w.advance(secs(3));
    w.progress("o", CallProgress::Answered);
    assert_eq!(w.salesforce_state(), "On a Call");
    w.advance(secs(42));
    w.user(UserIntent::HangUp {
        call_id: "o".into(),
    });
    let logs = w.logs_for("o");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].call_type, CallType::Outbound);
    assert_eq!(logs[0].disposition, "Completed");
    assert_eq!(logs[0].duration, secs(42));
    assert_eq!(
        w.salesforce_state(),
        "Wrap-up",
        "an answered outbound call wraps up"
    );
}

#[test]
fn g4_a_call_the_controller_logs_is_not_logged_by_the_app_but_still_listed() {
    let mut w = World::new().started();
    w.offer_logged_by_controller("missed", CallKind::Direct, "+1555");
    w.progress("missed", CallProgress::Missed);
    w.offer_logged_by_controller("answered", CallKind::Direct, "+1 415 555 0100");
    answer(&mut w, "answered");
    w.advance(secs(30));
    w.progress("answered", CallProgress::Ended);
    w.teams_app_sets("DoNotDisturb", "Presenting");
    w.advance(secs(2));
    w.offer_logged_by_controller("blocked", CallKind::Direct, "+1556");
    for call in ["answered", "missed", "blocked"] {
        assert!(
            w.logs_for(call).is_empty(),
            "{call}: the controller writes its Task"
        );
    }
    let snapshot = w.engine.snapshot();
    assert_eq!(
        snapshot.recent_calls.len(),
        2,
        "{:?}",
        snapshot.recent_calls
    );
    assert!(snapshot
        .blocked_calls
        .iter()
        .any(|b| b.call_id == "blocked"));
}

#[test]
fn g4_an_outbound_call_the_controller_places_is_logged_by_it_not_by_the_app() {
    let mut w = World::new().started();
    w.user(UserIntent::Dial {
        call_id: "o".into(),
        number: "+14155550123".into(),
    });
    w.advance(secs(3));
    // The controller's first word on the call says it logs it.
    w.input(Input::CallProgress {
        call_id: "o".into(),
        progress: CallProgress::Answered,
        controller_logs: true,
    });
    w.advance(secs(20));
    w.progress("o", CallProgress::Ended);
    assert!(w.logs_for("o").is_empty(), "the controller writes its Task");
    let snapshot = w.engine.snapshot();
    assert_eq!(
        snapshot.recent_calls.len(),
        1,
        "{:?}",
        snapshot.recent_calls
    );
    assert_eq!(snapshot.recent_calls[0].duration_secs, 20);
}

#[test]
fn c3_an_outbound_call_the_controller_refuses_leaves_the_panel_with_its_reason_and_no_log() {
    let mut w = World::new().started();
    w.user(UserIntent::Dial {
        call_id: "o".into(),
        number: "+14155550123".into(),
    });
    assert_eq!(w.engine.snapshot().calls.len(), 1);
    w.input(Input::CallProgress {
        call_id: "o".into(),
        progress: CallProgress::NotPlaced("Outbound calls are blocked while Do Not Disturb".into()),
        controller_logs: true,
    });
    let snapshot = w.engine.snapshot();
    assert!(snapshot.calls.is_empty(), "{:?}", snapshot.calls);
    assert!(snapshot.recent_calls.is_empty(), "it never was a call");
    assert!(w.logs_for("o").is_empty());
    assert!(
        w.notices().iter().any(|n| n
            == "The call to +14155550123 was not placed: Outbound calls are blocked while Do Not Disturb"),
        "{:?}",
        w.notices()
    );
    // A replay of the refusal changes nothing.
    w.input(Input::CallProgress {
        call_id: "o".into(),
        progress: CallProgress::NotPlaced("again".into()),
        controller_logs: true,
    });
    assert_eq!(
        w.notices()
            .iter()
            .filter(|n| n.contains("not placed"))
            .count(),
        1
    );
}

#[test]
fn g4_every_log_is_keyed_by_its_call_id_and_emitted_once_whatever_is_replayed() {
    let mut w = World::new().started();
    w.offer("c", CallKind::Direct, "+1555");
    answer(&mut w, "c");
    w.progress("c", CallProgress::Answered);
    w.advance(secs(10));
    w.progress("c", CallProgress::Ended);
    w.progress("c", CallProgress::Ended);
    w.offer("c", CallKind::Direct, "+1555");
    let logs = w.logs_for("c");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].key, "c");
    let log_effects = w.record.logs.len();
    assert_eq!(log_effects, 1);
}

// ---- bad input

#[test]
fn unknown_teams_values_sync_nothing_and_are_logged_once() {
    let mut w = World::new().started();
    w.teams_visible = presence("Teleporting", "Beaming");
    w.advance(secs(30));
    assert_eq!(w.salesforce_state(), "Available");
    let logged = w
        .record
        .diagnostics
        .iter()
        .filter(|d| d.contains("Teleporting"))
        .count();
    assert_eq!(logged, 1);
    assert_eq!(
        w.snapshot().teams_presence.map(|p| p.class()),
        Some(PresenceClass::Unknown)
    );
}

#[test]
fn an_unknown_salesforce_state_is_ignored_with_a_diagnostic() {
    let mut w = World::new().started();
    w.salesforce_user_sets("<script>Dancing</script>");
    assert_eq!(w.snapshot().state.as_deref(), Some("Available"));
    assert!(w
        .record
        .diagnostics
        .iter()
        .any(|d| d.contains("does not configure")));
    assert!(w.record.teams_writes.is_empty());
}

#[test]
fn an_outcome_for_an_unknown_effect_is_ignored() {
    let mut w = World::new().started();
    w.input(Input::EffectDone {
        id: presence_core::EffectId(99_999),
        outcome: presence_core::Outcome::Done,
    });
    assert!(w
        .record
        .diagnostics
        .iter()
        .any(|d| d.contains("unknown effect")));
}

#[test]
fn before_anything_is_read_the_snapshot_is_unknown_and_calls_still_ring() {
    let mut w = World::new();
    let shown = w.snapshot();
    assert_eq!(shown.class, PresenceClass::Unknown);
    assert_eq!(shown.icon, IconId::Unknown);
    w.offer("c", CallKind::Direct, "+1555");
    assert!(w.signalled("c"));
}

#[test]
fn focusing_maps_to_do_not_disturb_without_fighting_teams() {
    let mut w = World::new().started();
    w.teams_app_sets("DoNotDisturb", "Focusing");
    w.advance(secs(10));
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
    assert!(
        w.record.teams_writes.is_empty(),
        "Teams is not rewritten to DoNotDisturb/DoNotDisturb"
    );
    assert_eq!(
        w.snapshot().teams_presence.map(|p| p.pair.activity),
        Some(Activity::Focusing)
    );
}

#[test]
fn effects_wake_the_engine_no_later_than_it_asked() {
    let mut w = World::new().started();
    let next = w.engine.poll_timeout();
    assert!(next.is_some());
    // Polling, heartbeat and drift repair all have deadlines.
    let mut engine_effects = 0;
    w.advance(secs(1));
    while let Some(effect) = w.engine.poll_effect() {
        if matches!(effect, Effect::ReadTeams { .. }) {
            engine_effects += 1;
        }
    }
    assert_eq!(engine_effects, 0, "the world drained them already");
}
