//! `flow`'s unit tests: one call's life, step by step.

use super::*;

fn rules() -> Rules {
    Rules {
        offer_timeout_ms: 5_000,
        ring_timeout_ms: 20_000,
        heartbeat_timeout_ms: 120_000,
        log_missed_calls: true,
        logged_out_states: vec!["Logout".into()],
        unanswered: Unanswered::AgentTeams,
    }
}

fn logs(effects: &[Effect]) -> Vec<(String, u64)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log {
                disposition,
                duration_s,
            } => Some((disposition.as_str().to_string(), *duration_s)),
            _ => None,
        })
        .collect()
}

fn present() -> AgentView {
    AgentView {
        logged_out: false,
        heartbeat_age_ms: Some(1_000),
    }
}

fn app(status: &str) -> Input {
    Input::App {
        status: status.into(),
        reason: None,
    }
}

fn statuses(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(w) => w.status.clone(),
            Effect::Graph(_) | Effect::Log { .. } => None,
        })
        .collect()
}

#[test]
fn an_absent_agent_is_not_offered_the_call_and_nothing_is_written() {
    for (view, why) in [
        (
            AgentView {
                logged_out: true,
                heartbeat_age_ms: Some(1),
            },
            "agent logged out",
        ),
        (
            AgentView {
                logged_out: false,
                heartbeat_age_ms: None,
            },
            "no heartbeat from the agent's app",
        ),
        (
            AgentView {
                logged_out: false,
                heartbeat_age_ms: Some(121_000),
            },
            "agent's heartbeat is stale",
        ),
    ] {
        let (mut flow, effects) = CallFlow::incoming("c", view, &rules());
        assert_eq!(effects, [Effect::Graph(Action::Redirect)]);
        assert_eq!(flow.not_offered.as_deref(), Some(why));
        assert_eq!(flow.on(Input::Ended { subcode: 0 }, 9, &rules()), []);
        assert!(flow.is_done());
    }
}

#[test]
fn an_answered_call_invites_the_agent_and_its_end_is_recorded() {
    let (mut flow, effects) = CallFlow::incoming("c", present(), &rules());
    assert_eq!(effects, [Effect::Graph(Action::Answer)]);
    let offered = flow.on(Input::Leg("establishing".into()), 10, &rules());
    assert!(
        offered.is_empty(),
        "only established counts: the two may come swapped"
    );
    let offered = flow.on(Input::Leg("established".into()), 20, &rules());
    assert_eq!(statuses(&offered), ["Offered"]);
    assert!(offered.contains(&Effect::Graph(Action::PlayPrompt)));
    assert!(flow.on(app("Signalled"), 30, &rules()).is_empty());
    assert_eq!(
        flow.on(app("Answered"), 40, &rules()),
        [Effect::Graph(Action::Invite)]
    );
    let joined = flow.on(Input::Invited { joined: true }, 50, &rules());
    assert!(matches!(&joined[..], [Effect::Record(w)] if w.answered_at_ms == Some(50)));
    let ended = flow.on(Input::Ended { subcode: 540000 }, 90_050, &rules());
    assert_eq!(statuses(&ended), ["Ended"]);
    assert_eq!(logs(&ended), [("Completed".to_string(), 90)]);
    assert_eq!(flow.answered_at_ms, Some(50));
}

#[test]
fn no_answer_from_the_app_and_no_answer_by_the_agent_hand_the_call_to_teams() {
    let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
    flow.on(Input::Leg("established".into()), 0, &rules());
    assert!(flow.on(Input::Tick, 4_999, &rules()).is_empty());
    let late = flow.on(Input::Tick, 5_000, &rules());
    assert_eq!(statuses(&late), ["Missed"]);
    assert!(late.contains(&Effect::Graph(Action::HandOver)));
    assert!(flow
        .on(Input::Ended { subcode: 7015 }, 6_000, &rules())
        .is_empty());

    let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
    flow.on(Input::Leg("established".into()), 0, &rules());
    flow.on(app("Signalled"), 100, &rules());
    assert!(flow.on(Input::Tick, 20_000, &rules()).is_empty());
    assert_eq!(
        statuses(&flow.on(Input::Tick, 20_100, &rules())),
        ["Missed"]
    );
}

#[test]
fn not_signalled_and_declined_keep_the_apps_status_and_hand_over() {
    for answer in ["NotSignalled", "Declined"] {
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        if answer == "Declined" {
            flow.on(app("Signalled"), 1, &rules());
        }
        let effects = flow.on(app(answer), 2, &rules());
        assert_eq!(
            statuses(&effects),
            Vec::<String>::new(),
            "the app's status stays"
        );
        assert_eq!(effects.last(), Some(&Effect::Graph(Action::HandOver)));
        assert_eq!(flow.stage, Stage::HandingOver);
    }
}

#[test]
fn each_call_is_logged_once_as_the_rules_say() {
    // G3: answered, with the time talked.
    let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
    flow.on(Input::Leg("established".into()), 0, &rules());
    flow.on(app("Answered"), 1_000, &rules());
    flow.on(Input::Invited { joined: true }, 2_000, &rules());
    assert_eq!(
        logs(&flow.on(Input::Ended { subcode: 0 }, 44_500, &rules())),
        [("Completed".to_string(), 42)]
    );
    // G2 with the app's reason; G5: not for a LoggedOut state.
    for (reason, expected) in [
        ("Do Not Disturb", vec![("Do Not Disturb".to_string(), 0)]),
        ("Logout", vec![]),
    ] {
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
        flow.on(Input::Leg("established".into()), 0, &rules());
        let blocked = flow.on(
            Input::App {
                status: "NotSignalled".into(),
                reason: Some(reason.into()),
            },
            1,
            &rules(),
        );
        assert_eq!(logs(&blocked), expected, "{reason}");
        assert!(
            logs(&flow.on(Input::Ended { subcode: 7015 }, 2, &rules())).is_empty(),
            "logged once"
        );
    }
    // G1: missed and declined, unless the Call Center turns it off.
    let quiet = Rules {
        log_missed_calls: false,
        ..rules()
    };
    for rules in [rules(), quiet] {
        let (mut flow, _) = CallFlow::incoming("c", present(), &rules);
        flow.on(Input::Leg("established".into()), 0, &rules);
        flow.on(app("Signalled"), 1, &rules);
        let declined = logs(&flow.on(app("Declined"), 2, &rules));
        let expected = if rules.log_missed_calls {
            vec![("Declined".to_string(), 0)]
        } else {
            vec![]
        };
        assert_eq!(declined, expected);
    }
}

#[test]
fn the_caller_hanging_up_before_the_answer_is_caller_hung_up() {
    let (mut flow, _) = CallFlow::incoming("c", present(), &rules());
    flow.on(Input::Leg("established".into()), 0, &rules());
    flow.on(app("Signalled"), 1, &rules());
    assert_eq!(
        statuses(&flow.on(Input::Ended { subcode: 540000 }, 2, &rules())),
        ["CallerHungUp"]
    );
    assert!(
        flow.on(app("Answered"), 3, &rules()).is_empty(),
        "over is over"
    );
}

#[test]
fn c5_a_queue_call_is_offered_one_agent_at_a_time_then_overflows() {
    let (flow, effects) = CallFlow::queued("q", Vec::new(), true);
    assert_eq!(
        effects,
        [Effect::Graph(Action::OverflowRedirect)],
        "nobody can take it"
    );
    assert_eq!(flow.stage, Stage::Redirected);
    let (_, effects) = CallFlow::queued("q", Vec::new(), false);
    assert_eq!(effects, [Effect::Graph(Action::Reject)]);

    let (mut flow, effects) = CallFlow::queued("q", vec!["grace".into(), "ada".into()], true);
    assert_eq!(effects, [Effect::Graph(Action::Answer)]);
    let offer = flow.on(Input::Leg("established".into()), 0, &rules());
    assert!(offer.iter().any(|e| matches!(e, Effect::Record(w) if w.offer && w.attempt == 1 && w.agent.as_deref() == Some("grace"))), "{offer:?}");
    assert_eq!(flow.record_key(1), "q~1");
    // Grace declines: Ada is offered it next, on a record of her own.
    let next = flow.on(app("Declined"), 10, &rules());
    assert!(logs(&next).is_empty(), "a pass is no one's missed call");
    assert!(next.iter().any(|e| matches!(e, Effect::Record(w) if w.offer && w.attempt == 2 && w.agent.as_deref() == Some("ada"))), "{next:?}");
    assert_eq!(
        (flow.stage, flow.agent.as_deref()),
        (Stage::Offered, Some("ada"))
    );
    // Ada does not answer in time: nobody is left, so the overflow target takes it.
    let last = flow.on(Input::Tick, 10 + 5_000, &rules());
    assert!(last.iter().any(|e| matches!(e, Effect::Record(w) if w.attempt == 2 && w.status.as_deref() == Some("Missed"))), "{last:?}");
    assert_eq!(last.last(), Some(&Effect::Graph(Action::OverflowTransfer)));
}

/// A direct call the app blocked (Do Not Disturb), under the answering rule `unanswered`.
fn blocked_under(unanswered: Unanswered) -> (CallFlow, Rules, Vec<Effect>) {
    let rules = Rules {
        unanswered,
        ..rules()
    };
    let (mut flow, _) = CallFlow::incoming("c", present(), &rules);
    flow.on(Input::Leg("established".into()), 0, &rules);
    let effects = flow.on(
        Input::App {
            status: "NotSignalled".into(),
            reason: Some("Do Not Disturb".into()),
        },
        100,
        &rules,
    );
    (flow, rules, effects)
}

#[test]
fn c6_the_answering_rule_sends_an_unanswered_call_to_the_overflow_and_the_agents_teams_if_that_fails(
) {
    let (mut flow, rules, effects) = blocked_under(Unanswered::Overflow);
    assert_eq!(
        logs(&effects),
        [("Do Not Disturb".to_string(), 0)],
        "logged once, when handed on"
    );
    assert_eq!(
        effects.last(),
        Some(&Effect::Graph(Action::OverflowTransfer))
    );
    // The number did not take it: the agent's Teams does.
    assert_eq!(
        flow.on(Input::TransferFailed, 9_000, &rules),
        [Effect::Graph(Action::HandOver)]
    );
    // And should that fail too, the bot hangs up; the end adds no second log.
    assert_eq!(
        flow.on(Input::TransferFailed, 40_000, &rules),
        [Effect::Graph(Action::HangUp)]
    );
    assert!(flow
        .on(Input::Ended { subcode: 5001 }, 40_100, &rules)
        .is_empty());
    assert!(flow.is_done());
    // A transfer refused outright falls back the same way.
    let (mut flow, rules, _) = blocked_under(Unanswered::Overflow);
    assert_eq!(
        flow.on(Input::Refused(Action::OverflowTransfer), 200, &rules),
        [Effect::Graph(Action::HandOver)]
    );
}

#[test]
fn c6_end_with_prompt_plays_the_closing_prompt_then_hangs_up_once() {
    let (mut flow, rules, effects) = blocked_under(Unanswered::EndWithPrompt);
    assert_eq!(effects.last(), Some(&Effect::Graph(Action::PlayClosing)));
    assert_eq!(flow.stage, Stage::Farewell);
    assert!(flow.on(Input::Tick, 1_000, &rules).is_empty());
    assert_eq!(
        flow.on(Input::PromptDone, 4_000, &rules),
        [Effect::Graph(Action::HangUp)]
    );
    assert!(flow
        .on(Input::Ended { subcode: 5001 }, 4_100, &rules)
        .is_empty());
    // A prompt that never finishes: hung up after the longest a prompt may take.
    let (mut flow, rules, _) = blocked_under(Unanswered::EndWithPrompt);
    assert!(flow
        .on(Input::Tick, 100 + CLOSING_PROMPT_MAX_MS - 1, &rules)
        .is_empty());
    assert_eq!(
        flow.on(Input::Tick, 100 + CLOSING_PROMPT_MAX_MS, &rules),
        [Effect::Graph(Action::HangUp)]
    );
    // The caller leaving during the prompt: over, nothing more written.
    let (mut flow, rules, _) = blocked_under(Unanswered::EndWithPrompt);
    assert!(flow
        .on(Input::Ended { subcode: 540000 }, 1_000, &rules)
        .is_empty());
    assert!(flow.is_done());
}

#[test]
fn a_hand_over_refused_for_good_hangs_up_without_a_second_log() {
    let (mut flow, rules, _) = blocked_under(Unanswered::AgentTeams);
    assert_eq!(
        flow.on(Input::Refused(Action::HandOver), 200, &rules),
        [Effect::Graph(Action::HangUp)]
    );
    assert!(logs(&flow.on(Input::Ended { subcode: 5001 }, 300, &rules)).is_empty());
}
