//! The acceptance stories A1 to A17 of RULES.md, each driven through the engine and a model of
//! both clouds on a virtual clock.

mod support;

use presence_core::{
    CallKind, CallProgress, Failure, IconId, OfferAnswer, PresenceClass, Source, UserIntent,
};
use support::*;

fn not_signalled(world: &World, call_id: &str) -> Option<String> {
    match world.answer_of(call_id) {
        Some(OfferAnswer::NotSignalled { reason }) => Some(reason.clone()),
        _ => None,
    }
}

#[test]
fn a1_dnd_set_in_teams_reaches_salesforce_blocks_direct_calls_and_refuses_outbound() {
    let mut w = World::new().started();
    assert_eq!(w.salesforce_state(), "Available");
    w.teams_user_sets("DoNotDisturb", "DoNotDisturb");
    w.advance(secs(2));
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
    assert_eq!(w.snapshot().source, Some(Source::Teams));
    w.offer("call-1", CallKind::Direct, "+14155550100");
    assert_eq!(
        not_signalled(&w, "call-1").as_deref(),
        Some("Do Not Disturb")
    );
    assert!(!w.rang("call-1"));
    w.user(UserIntent::Dial {
        call_id: "out-1".into(),
        number: "+14155550123".into(),
    });
    assert!(w.record.placed_calls.is_empty());
    assert!(w.notices().iter().any(|text| text.contains("blocked")));
}

#[test]
fn a2_on_a_call_picked_in_salesforce_writes_busy_busy_to_teams_not_in_a_call() {
    let mut w = World::new().started();
    w.salesforce_user_sets("On a Call");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
    assert_eq!(
        w.record.teams_writes.last().map(|(_, p)| p.clone()),
        Some(pair("Busy", "Busy"))
    );
    assert!(!w
        .record
        .teams_writes
        .iter()
        .any(|(_, p)| p.activity.as_str() == "InACall"));
}

#[test]
fn a3_presenting_or_focusing_blocks_direct_calls_with_the_reason_and_refuses_outbound() {
    let mut w = World::new().started();
    w.teams_app_sets("DoNotDisturb", "Presenting");
    w.advance(secs(2));
    assert_eq!(w.salesforce_state(), "Presenting");
    w.offer("call-1", CallKind::Direct, "+14155550100");
    assert_eq!(not_signalled(&w, "call-1").as_deref(), Some("Presenting"));
    assert!(!w.snapshot().outbound_allowed);

    let mut w = World::new().started();
    w.teams_app_sets("DoNotDisturb", "Focusing");
    w.advance(secs(2));
    assert_eq!(w.snapshot().class, PresenceClass::DoNotDisturb);
    w.offer("call-2", CallKind::Direct, "+14155550100");
    assert!(not_signalled(&w, "call-2").is_some());
    assert!(!w.snapshot().outbound_allowed);
}

#[test]
fn a4_busy_in_a_call_or_away_in_teams_still_signals_direct_calls() {
    for (availability, activity) in [("Busy", "Busy"), ("Busy", "InACall"), ("Away", "Away")] {
        let mut w = World::new().started();
        w.teams_user_sets(availability, activity);
        w.advance(secs(2));
        w.offer("call-1", CallKind::Direct, "+14155550100");
        assert!(w.signalled("call-1"), "{availability}/{activity}");
        assert!(w.rang("call-1"), "{availability}/{activity}");
    }
}

#[test]
fn a5_outlook_out_of_office_still_signals_and_shows_the_overlay() {
    let cases = [
        (
            ("Available", "Available"),
            IconId::AvailableOutOfOffice,
            "Available, out of office",
        ),
        (
            ("Busy", "Busy"),
            IconId::BusyOutOfOffice,
            "Busy, out of office",
        ),
        (("Away", "Away"), IconId::OutOfOffice, "Out of Office"),
    ];
    for ((availability, activity), icon, label) in cases {
        let mut w = World::new().started();
        w.teams_user_sets(availability, activity);
        w.outlook_out_of_office(true);
        w.advance(secs(2));
        let shown = w.snapshot();
        assert_eq!(shown.icon, icon, "{availability}");
        assert_eq!(shown.label, label, "{availability}");
        w.offer("call-1", CallKind::Direct, "+14155550100");
        assert!(w.signalled("call-1"), "{availability}");
    }
}

#[test]
fn a6_dnd_while_out_of_office_shows_do_not_disturb_and_blocks_calls() {
    let mut w = World::new().started();
    w.outlook_out_of_office(true);
    w.advance(secs(2));
    w.teams_user_sets("DoNotDisturb", "DoNotDisturb");
    w.advance(secs(2));
    let shown = w.snapshot();
    assert_eq!(shown.label, "Do Not Disturb");
    assert_eq!(shown.icon, IconId::DoNotDisturb);
    assert!(!shown.out_of_office);
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
    w.offer("call-1", CallKind::Direct, "+14155550100");
    assert!(not_signalled(&w, "call-1").is_some());

    // The same from the tray.
    let mut w = World::new().started();
    w.outlook_out_of_office(true);
    w.advance(secs(2));
    w.pick("Do Not Disturb");
    assert_eq!(w.snapshot().label, "Do Not Disturb");
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
}

#[test]
fn a7_logout_blocks_calls_logs_nothing_shows_no_connection_and_leaves_teams_to_teams() {
    let mut w = World::new().started();
    w.pick("Busy");
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
    w.pick("Logout");
    assert_eq!(w.salesforce_state(), "Logout");
    assert_eq!(w.record.teams_releases.len(), 1);
    assert_eq!(
        w.teams_pair(),
        pair("Available", "Available"),
        "Teams shows its own state again"
    );
    let writes_before = w.record.teams_writes.len();
    w.offer("call-1", CallKind::Direct, "+14155550100");
    assert_eq!(not_signalled(&w, "call-1").as_deref(), Some("Logged out"));
    assert!(!w.rang("call-1"));
    assert!(w.logs_for("call-1").is_empty());
    let shown = w.snapshot();
    assert!(shown.no_connection_to_teams);
    assert_eq!(shown.icon, IconId::LoggedOut);
    w.teams_user_sets("Away", "Away");
    w.advance(secs(30));
    assert_eq!(w.salesforce_state(), "Logout", "Teams → Salesforce pauses");
    assert_eq!(
        w.record.teams_writes.len(),
        writes_before,
        "nothing written to Teams"
    );
}

#[test]
fn a8_with_presence_routing_on_a_queue_call_while_busy_is_not_offered() {
    let mut w = World::new().started();
    w.pick("Busy");
    w.offer("q-1", CallKind::Queue, "+14155550100");
    assert_eq!(not_signalled(&w, "q-1").as_deref(), Some("Busy"));
    assert!(!w.rang("q-1"));
}

#[test]
fn a9_with_presence_routing_off_a_queue_call_while_away_is_offered() {
    let mut w = World::with(|c| c.settings.presence_routing = false, |_| {}).started();
    w.pick("Away");
    w.offer("q-1", CallKind::Queue, "+14155550100");
    assert!(w.signalled("q-1"));
    assert!(w.rang("q-1"));
}

#[test]
fn a10_answered_call_ends_in_thirty_seconds_of_wrap_up_then_the_state_before() {
    let mut w = World::new().started();
    w.pick("Lunch");
    w.offer("call-1", CallKind::Direct, "+14155550100");
    w.user(UserIntent::Answer {
        call_id: "call-1".into(),
    });
    assert_eq!(w.salesforce_state(), "On a Call");
    w.advance(secs(95));
    w.progress("call-1", CallProgress::Ended);
    assert_eq!(w.salesforce_state(), "Wrap-up");
    assert_eq!(w.snapshot().class, PresenceClass::DoNotDisturb);
    assert_eq!(
        w.snapshot().wrap_up.map(|view| view.remaining_ms),
        Some(30_000)
    );
    w.advance(secs(29));
    assert_eq!(w.salesforce_state(), "Wrap-up");
    w.advance(secs(1));
    assert_eq!(w.salesforce_state(), "Lunch");
    assert_eq!(w.snapshot().source, Some(Source::WrapUpTimer));
    let logs = w.logs_for("call-1");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].disposition, "Completed");
    assert_eq!(logs[0].duration, secs(95));
}

#[test]
fn a11_dnd_chosen_during_the_call_means_no_wrap_up_and_dnd_stays() {
    let mut w = World::new().started();
    w.offer("call-1", CallKind::Direct, "+14155550100");
    w.user(UserIntent::Answer {
        call_id: "call-1".into(),
    });
    w.advance(secs(10));
    w.pick("Do Not Disturb");
    w.advance(secs(10));
    w.progress("call-1", CallProgress::Ended);
    assert!(w.snapshot().wrap_up.is_none());
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
    w.advance(secs(60));
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
}

#[test]
fn a12_unanswered_outbound_call_has_no_wrap_up() {
    let mut w = World::new().started();
    w.user(UserIntent::Dial {
        call_id: "out-1".into(),
        number: "+14155550123".into(),
    });
    assert_eq!(w.record.placed_calls, vec!["out-1".to_string()]);
    w.advance(secs(20));
    w.progress("out-1", CallProgress::Ended);
    assert!(w.snapshot().wrap_up.is_none());
    assert_eq!(w.salesforce_state(), "Available");
    let logs = w.logs_for("out-1");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].disposition, "No answer");
}

#[test]
fn a13_sides_that_disagree_after_a_network_cut_converge_when_the_link_returns() {
    let mut w = World::new().started();
    w.salesforce_health = SideHealth::Failing(Failure::Offline {
        reason: "network down".into(),
    });
    w.teams_user_sets("DoNotDisturb", "DoNotDisturb");
    w.advance(secs(30));
    assert_eq!(
        w.salesforce_state(),
        "Available",
        "Salesforce unreachable meanwhile"
    );
    assert!(!w.snapshot().links[1].state.is_connected());
    w.salesforce_health = SideHealth::Up;
    w.advance(secs(400));
    assert_eq!(w.salesforce_state(), "Do Not Disturb");
    assert_eq!(w.teams_pair(), pair("DoNotDisturb", "DoNotDisturb"));
    assert!(w
        .snapshot()
        .links
        .iter()
        .all(|view| view.state.is_connected()));

    // And the other way round: Teams unreachable while Salesforce changes.
    let mut w = World::new().started();
    w.teams_health = SideHealth::Failing(Failure::Transient {
        reason: "503".into(),
    });
    w.salesforce_user_sets("Busy");
    w.advance(secs(30));
    assert_eq!(w.teams_pair(), pair("Available", "Available"));
    w.teams_health = SideHealth::Up;
    w.advance(secs(400));
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
    assert_eq!(w.salesforce_state(), "Busy");
}

#[test]
fn a14_second_direct_call_while_on_a_call_is_signalled_as_call_waiting() {
    let mut w = World::new().started();
    w.offer("call-1", CallKind::Direct, "+14155550100");
    w.user(UserIntent::Answer {
        call_id: "call-1".into(),
    });
    w.offer("call-2", CallKind::Direct, "+14155550111");
    assert!(w.signalled("call-2"));
    assert!(w.record.ui.iter().any(|ui| matches!(ui,
        presence_core::UiEffect::Ring { call_id, call_waiting: true, .. } if call_id == "call-2")));
}

#[test]
fn a15_internal_call_in_dnd_ignores_presence_blocks_nothing_and_logs_nothing() {
    let mut w = World::new().started();
    w.pick("Do Not Disturb");
    w.offer("int-1", CallKind::Internal, "colleague@contoso.com");
    assert!(w.signalled("int-1"));
    assert!(w.snapshot().blocked_calls.is_empty());
    w.progress("int-1", CallProgress::CallerHungUp);
    assert!(w.logs_for("int-1").is_empty());
}

#[test]
fn a16_teams_echoing_our_busy_minutes_later_writes_nothing_back_to_salesforce() {
    let mut w = World::new().started();
    w.teams_lag = secs(180);
    w.salesforce_user_sets("Busy");
    let salesforce_writes = w.record.salesforce_writes.len();
    assert_eq!(w.record.teams_writes.len(), 1);
    // For three minutes Teams keeps reporting the old Available, then our Busy.
    w.advance(secs(179));
    assert_eq!(w.teams_pair(), pair("Available", "Available"));
    w.advance(secs(10));
    assert_eq!(w.teams_pair(), pair("Busy", "Busy"));
    w.advance(secs(600));
    assert_eq!(w.salesforce_state(), "Busy");
    assert_eq!(
        w.record.salesforce_writes.len(),
        salesforce_writes,
        "nothing written back"
    );
    assert_eq!(
        w.record.teams_writes.len(),
        1,
        "and nothing re-written to Teams"
    );
}

#[test]
fn a17_missed_call_while_salesforce_is_unreachable_is_handed_to_the_outbox_once() {
    // The engine's part of A17: exactly one log, keyed by the call id, whatever the link state;
    // durable delivery across restarts is the outbox's (presence-sync) and is tested there.
    let mut w = World::new().started();
    w.salesforce_health = SideHealth::Failing(Failure::Offline {
        reason: "unreachable".into(),
    });
    w.offer("call-1", CallKind::Direct, "+14155550100");
    assert!(w.rang("call-1"));
    w.progress("call-1", CallProgress::CallerHungUp);
    // Replayed events after reconnect do not log it again.
    w.salesforce_health = SideHealth::Up;
    w.advance(secs(60));
    w.progress("call-1", CallProgress::CallerHungUp);
    w.offer("call-1", CallKind::Direct, "+14155550100");
    let logs = w.logs_for("call-1");
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].key, "call-1");
    assert_eq!(logs[0].disposition, "Missed");
    assert_eq!(logs[0].duration, secs(0));
}
