//! The Call Center configuration as data: the shipped set, and every way a configuration is
//! refused with a message that names what is wrong.

use presence_core::config::ConfigError;
use presence_core::{
    Activity, Availability, CallCenterConfig, PresenceClass, SyncDirection, TeamsPair,
    TeamsPresence, Timing,
};

fn shipped() -> CallCenterConfig {
    CallCenterConfig::shipped_default_unvalidated()
}

#[test]
fn the_shipped_set_has_every_default_state_in_order() {
    let cc = CallCenterConfig::shipped_default();
    let labels: Vec<&str> = cc.states().iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Available",
            "Away",
            "Be Right Back",
            "Lunch",
            "Busy",
            "On a Call",
            "Do Not Disturb",
            "Wrap-up",
            "Offline",
            "Offline / Outbound possible",
            "Logout",
            "In a Call",
            "In a Meeting",
            "Presenting",
            "Out of Office",
        ]
    );
    let display_only: Vec<&str> = cc
        .states()
        .iter()
        .filter(|s| !s.selectable)
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(
        display_only,
        [
            "Wrap-up",
            "In a Call",
            "In a Meeting",
            "Presenting",
            "Out of Office"
        ]
    );
    assert_eq!(cc.settings().wrap_up_seconds, 30);
    assert!(cc.settings().presence_routing);
    assert_eq!(cc.settings().sync_direction, SyncDirection::Both);
    assert!(cc.settings().log_missed_calls);
    assert_eq!(cc.on_call().label, "On a Call");
    assert_eq!(cc.wrap_up().label, "Wrap-up");
    assert_eq!(cc.logout().label, "Logout");
}

#[test]
fn s2_on_a_call_targets_busy_busy_and_display_only_states_have_no_target() {
    let cc = CallCenterConfig::shipped_default();
    let target = |label: &str| cc.state(label).and_then(|s| s.teams_target().cloned());
    assert_eq!(
        target("On a Call"),
        Some(TeamsPair::new(Availability::Busy, Activity::Busy))
    );
    for label in [
        "In a Call",
        "In a Meeting",
        "Presenting",
        "Out of Office",
        "Logout",
    ] {
        assert_eq!(target(label), None, "{label}");
    }
}

#[test]
fn s3_every_teams_value_maps_to_the_expected_state() {
    let cc = CallCenterConfig::shipped_default();
    let cases = [
        ("Available", "Available", false, Some("Available")),
        ("AvailableIdle", "Inactive", false, Some("Available")),
        ("Available", "AvailableInactive", false, Some("Available")),
        ("Available", "OutOfOffice", false, Some("Available")),
        ("Away", "Away", false, Some("Away")),
        ("Away", "Away", true, Some("Out of Office")),
        ("Offline", "OffWork", true, Some("Out of Office")),
        ("Away", "OutOfOffice", false, Some("Out of Office")),
        ("BeRightBack", "BeRightBack", false, Some("Be Right Back")),
        ("Busy", "Busy", false, Some("Busy")),
        ("BusyIdle", "Inactive", false, Some("Busy")),
        ("Busy", "InACall", false, Some("In a Call")),
        ("Busy", "InAConferenceCall", false, Some("In a Call")),
        ("Busy", "InAMeeting", false, Some("In a Meeting")),
        ("Busy", "Busy", true, Some("Busy")),
        (
            "DoNotDisturb",
            "DoNotDisturb",
            false,
            Some("Do Not Disturb"),
        ),
        ("DoNotDisturb", "DoNotDisturb", true, Some("Do Not Disturb")),
        ("DoNotDisturb", "Presenting", false, Some("Presenting")),
        ("DoNotDisturb", "Focusing", false, Some("Do Not Disturb")),
        (
            "DoNotDisturb",
            "UrgentInterruptionsOnly",
            false,
            Some("Do Not Disturb"),
        ),
        ("Offline", "OffWork", false, Some("Offline")),
        ("Offline", "Offline", false, Some("Offline")),
        ("PresenceUnknown", "PresenceUnknown", false, None),
        ("Sleeping", "Dreaming", false, None),
    ];
    for (availability, activity, ooo, expected) in cases {
        let presence = TeamsPresence::from_graph(availability, activity, ooo);
        let mapped = cc.state_for_teams(&presence).map(|s| s.label.as_str());
        assert_eq!(mapped, expected, "{availability}/{activity} ooo={ooo}");
    }
}

fn refused(edit: impl FnOnce(&mut CallCenterConfig)) -> ConfigError {
    let mut config = shipped();
    edit(&mut config);
    match config.validate() {
        Ok(_) => panic!("the configuration was accepted"),
        Err(error) => error,
    }
}

#[test]
fn bad_configurations_are_refused_with_a_message_naming_the_fault() {
    let cases: Vec<(&str, ConfigError, &str)> = vec![
        (
            "duplicate label",
            refused(|c| c.states[1].label = "available".into()),
            "\"available\" is used twice",
        ),
        (
            "empty label",
            refused(|c| c.states[2].label = "  ".into()),
            "state #3 has an empty label",
        ),
        (
            "long label",
            refused(|c| c.states[2].label = "x".repeat(81)),
            "longer than 80",
        ),
        (
            "unsettable target on a selectable state",
            refused(|c| {
                c.states[4].teams = Some(TeamsPair::parse("Busy", "InACall"));
            }),
            "\"Busy\" is selectable but its Teams target Busy/InACall cannot be set",
        ),
        (
            "missing logout",
            refused(|c| c.states.retain(|s| s.class != PresenceClass::LoggedOut)),
            "no Logout state",
        ),
        (
            "two logouts",
            refused(|c| {
                let mut second = c.states[10].clone();
                second.label = "Gone".into();
                c.states.push(second);
            }),
            "more than one LoggedOut",
        ),
        (
            "logout not selectable",
            refused(|c| c.states[10].selectable = false),
            "must be selectable",
        ),
        (
            "logout with a Teams value",
            refused(|c| c.states[10].teams = Some(TeamsPair::parse("Offline", "OffWork"))),
            "must have no Teams value",
        ),
        (
            "DND that signals calls",
            refused(|c| c.states[6].signals_inbound = true),
            "cannot signal inbound calls (rule C1)",
        ),
        (
            "DND that allows outbound",
            refused(|c| c.states[6].allows_outbound = true),
            "cannot allow outbound calls (rule C3)",
        ),
        (
            "wrap-up out of range",
            refused(|c| c.settings.wrap_up_seconds = 1000),
            "wrap_up_seconds is 1000",
        ),
        (
            "unknown on-call state",
            refused(|c| c.settings.on_call_state = "Talking".into()),
            "on_call_state names state \"Talking\"",
        ),
        (
            "on-call state without a target",
            refused(|c| c.settings.on_call_state = "In a Call".into()),
            "needs a Teams target that can be set",
        ),
        (
            "wrap-up state not DND",
            refused(|c| c.settings.wrap_up_state = "Busy".into()),
            "must be of class DoNotDisturb",
        ),
        (
            "class Unknown",
            refused(|c| c.states[0].class = PresenceClass::Unknown),
            "class Unknown",
        ),
        (
            "no states",
            refused(|c| c.states.clear()),
            "no presence states",
        ),
        (
            "only logout selectable",
            refused(|c| {
                for state in &mut c.states {
                    if state.class != PresenceClass::LoggedOut {
                        state.selectable = false;
                    }
                }
            }),
            "no state other than Logout",
        ),
    ];
    for (what, error, expected) in cases {
        let message = error.to_string();
        assert!(
            message.contains(expected),
            "{what}: {message:?} lacks {expected:?}"
        );
    }
}

#[test]
fn unknown_keys_and_malformed_json_are_refused_clearly() {
    let unknown = SHIPPED.replace("\"wrap_up_seconds\"", "\"wrapup_seconds\"");
    let error = CallCenterConfig::from_json(&unknown)
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown field `wrapup_seconds`"), "{error}");
    let error = CallCenterConfig::from_json("{\"states\": [")
        .unwrap_err()
        .to_string();
    assert!(error.contains("could not be read"), "{error}");
    let bad_class = SHIPPED.replacen("\"class\": \"Away\"", "\"class\": \"Sleepy\"", 1);
    let error = CallCenterConfig::from_json(&bad_class)
        .unwrap_err()
        .to_string();
    assert!(error.contains("Sleepy"), "{error}");
}

const SHIPPED: &str = presence_core::config::SHIPPED_DEFAULT_JSON;

#[test]
fn a_wrap_up_of_zero_is_valid_and_means_off() {
    let mut config = shipped();
    config.settings.wrap_up_seconds = 0;
    assert!(config.validate().is_ok());
}

#[test]
fn labels_are_matched_ignoring_case_and_spaces() {
    let cc = CallCenterConfig::shipped_default();
    assert_eq!(
        cc.state("  do not DISTURB ").map(|s| s.class),
        Some(PresenceClass::DoNotDisturb)
    );
}

#[test]
fn timing_outside_what_graph_allows_is_refused() {
    let timing = Timing {
        teams_session_keepalive_ms: 5 * 60_000,
        ..Timing::default()
    };
    let error = timing.validate().unwrap_err().to_string();
    assert!(error.contains("5 minutes"), "{error}");
    let timing = Timing {
        heartbeat_ms: 0,
        ..Timing::default()
    };
    assert!(timing
        .validate()
        .unwrap_err()
        .to_string()
        .contains("heartbeat_ms"));
    assert!(Timing::default().validate().is_ok());
}
