//! The engine, the real clients and the driver against the emulator on 127.0.0.1, over real
//! HTTP and the real Streaming API.

mod common;

use std::time::{Duration, Instant};

use common::*;
use presence_core::{Input, Picker, UserIntent};
use presence_emulator::Emulator;
use presence_sync::{connect_emulator, EMULATOR_CLIENT_ID};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_crosses_both_ways_and_is_not_echoed_back() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = start_agent(&emu, "ada").await;
    until(&emu, "the first heartbeat or record", |s| {
        !ada(s)["salesforce"].is_null()
    })
    .await;
    // Teams → Salesforce (A1 through the wire).
    emu.teams_set_status("ada", "DoNotDisturb", "DoNotDisturb")
        .expect("teams");
    let teams_to_salesforce = until(&emu, "Do Not Disturb in Salesforce", |s| {
        salesforce_state(s) == Some("Do Not Disturb")
    })
    .await;
    // Salesforce → Teams (A2 through the wire: On a Call writes Busy/Busy).
    tokio::time::sleep(Duration::from_secs(4)).await;
    emu.salesforce_pick("ada", "On a Call").expect("pick");
    let salesforce_to_teams = until(&emu, "Busy/Busy in Teams", |s| {
        teams(s) == ("Busy".into(), "Busy".into())
    })
    .await;
    eprintln!("propagation: Teams→Salesforce {teams_to_salesforce:?}, Salesforce→Teams {salesforce_to_teams:?}");
    // Quiet for a while: nothing flips back (no echo loop).
    let writes_before = emu.state()["counters"]["graph POST setUserPreferredPresence"]
        .as_u64()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = emu.state();
    assert_eq!(salesforce_state(&state), Some("On a Call"));
    assert_eq!(teams(&state), ("Busy".into(), "Busy".into()));
    assert_eq!(
        state["counters"]["graph POST setUserPreferredPresence"]
            .as_u64()
            .unwrap_or(0),
        writes_before
    );
    // The tray picks Logout: Teams is handed back, Salesforce says Logout.
    agent
        .handle
        .send(Input::User(UserIntent::Pick {
            label: "Logout".into(),
            via: Picker::Tray,
        }))
        .await;
    until(&emu, "Logout", |s| salesforce_state(s) == Some("Logout")).await;
    until(&emu, "Teams released", |s| {
        ada(s)["teams"]["preferred"].is_null()
    })
    .await;
    until_snapshot(&agent, "no connection to Teams", |s| {
        s.no_connection_to_teams
    })
    .await;
    agent.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_rings_stops_and_is_logged_once_with_the_caller() {
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    let agent = start_agent(&emu, "ada").await;
    until(&emu, "a heartbeat", |s| {
        ada(s)["heartbeatAgeMs"].is_number()
    })
    .await;
    let mut ui = agent.handle.ui_effects();
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    assert_eq!(call.handled_by, "bot", "the controller owns it");
    let call_id = call.call_id.clone();
    until(&emu, "signalled", |_| {
        emu.call(&call_id).is_some_and(|c| c.status == "Signalled")
    })
    .await;
    until_snapshot(&agent, "ringing with the caller", |s| {
        s.label == "Ringing"
            && s.calls
                .first()
                .and_then(|c| c.caller.as_ref())
                .is_some_and(|c| c.name == "Margaret Hamilton")
    })
    .await;
    emu.hang_up(&call_id).expect("hang up");
    let hung_up = Instant::now();
    let mut stopped = None;
    while stopped.is_none() && hung_up.elapsed() < Duration::from_secs(5) {
        if let Ok(Ok(presence_core::UiEffect::StopRinging { call_id: id })) =
            tokio::time::timeout(Duration::from_secs(5), ui.recv()).await
        {
            if id == call_id {
                stopped = Some(hung_up.elapsed());
            }
        }
    }
    let stopped = stopped.expect("ringing stopped");
    assert!(
        stopped < Duration::from_secs(1),
        "C7: within one second, took {stopped:?}"
    );
    until(&emu, "the Task", |s| {
        s["tasks"].as_array().is_some_and(|t| !t.is_empty())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = emu.state();
    let tasks = state["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["CallDisposition"], "Missed");
    assert_eq!(tasks[0]["CallType"], "Inbound");
    assert_eq!(tasks[0]["Call_Log_Key__c"], call_id.as_str());
    assert!(
        tasks[0]["WhoId"]
            .as_str()
            .is_some_and(|id| id.starts_with("003")),
        "linked to the contact"
    );
    agent.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_survives_unknown_client_and_expired_tokens_without_losing_events() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.long_poll_ms = 2000);
    // Settled: the agent's first Salesforce write has landed (a pick racing that very first
    // write is overwritten by it: see the closing note of the sync runtime issue).
    let agent = ready_agent(&emu, "ada").await;
    until_snapshot(&agent, "Available", |s| {
        s.state.as_deref() == Some("Available")
    })
    .await;
    let before = emu.state()["counters"].clone();
    // The stream is dropped, the session and the tokens expire, and meanwhile Salesforce changes.
    emu.with_world(|w| {
        for client in w.comet_clients.values_mut() {
            client.next_fault = Some("unknown-client".into());
        }
    });
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(
            w,
            presence_emulator::Api::Salesforce,
            Some("ada"),
            false,
        )
    })
    .expect("expire");
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(w, presence_emulator::Api::Entra, Some("ada"), false)
    })
    .expect("expire");
    emu.salesforce_pick("ada", "Be Right Back").expect("pick");
    until_snapshot(&agent, "Be Right Back", |s| {
        s.state.as_deref() == Some("Be Right Back")
    })
    .await;
    until(&emu, "BRB in Teams", |s| {
        teams(s) == ("BeRightBack".into(), "BeRightBack".into())
    })
    .await;
    // Row A1, exactly: one refresh per cloud however many requests met the expired token, and
    // the change made while the stream was down replayed once (one accepted presence write).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let after = emu.state();
    let more = |counter: &str| {
        after["counters"][counter].as_u64().unwrap_or(0) - before[counter].as_u64().unwrap_or(0)
    };
    assert_eq!(
        more("entra token"),
        1,
        "Entra token requests: {}",
        after["counters"]
    );
    assert_eq!(
        more("salesforce oauth2/token"),
        1,
        "Salesforce token requests: {}",
        after["counters"]
    );
    let accepted = |path: &str| {
        after["requests"]
            .as_array()
            .map(|requests| {
                requests
                    .iter()
                    .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with(path)))
                    .filter(|r| r["status"].as_u64().is_some_and(|s| s < 300))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        accepted("/setUserPreferredPresence"),
        1,
        "the replayed pick written to Teams once: {}",
        after["requests"]
    );
    agent.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_teams_link_degrades_and_recovers() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = start_agent(&emu, "ada").await;
    until_snapshot(&agent, "connected", |s| {
        s.links.iter().all(|l| l.state.is_connected())
    })
    .await;
    emu.with_world(|w| {
        w.faults.push(presence_emulator::world::Fault {
            api: presence_emulator::Api::Graph,
            kind: presence_emulator::world::FaultKind::Status {
                status: 429,
                retry_after: Some(2),
            },
            count: Some(3),
            path_contains: None,
        })
    });
    until_snapshot(&agent, "Teams degraded", |s| {
        matches!(s.links[0].state, presence_core::LinkState::Degraded { .. })
    })
    .await;
    until_snapshot(&agent, "Teams connected again", |s| {
        s.links[0].state.is_connected()
    })
    .await;
    agent.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_center_configuration_is_read_from_salesforce_and_checked() {
    let emu = Emulator::start().await.expect("emulator");
    let outbox = std::sync::Arc::new(presence_sync::outbox::Outbox::in_memory().expect("outbox"));
    let connectors = connect_emulator(&emu.base_url, "ada", EMULATOR_CLIENT_ID, outbox)
        .await
        .expect("sign in");
    let center_id = emu
        .with_world(|w| w.records["Call_Center__c"].keys().next().cloned())
        .expect("center");
    emu.with_world(|w| {
        let mut fields = serde_json::Map::new();
        fields.insert("Wrap_Up_Seconds__c".into(), serde_json::json!(45));
        fields.insert("Presence_Routing__c".into(), serde_json::json!(false));
        w.update_record("Call_Center__c", &center_id, fields)
    });
    let call_center = connectors
        .salesforce
        .load_call_center()
        .await
        .expect("valid");
    assert_eq!(call_center.settings().wrap_up_seconds, 45);
    assert!(!call_center.settings().presence_routing);
    assert_eq!(call_center.states().len(), 15);
    assert_eq!(
        call_center.state("Presenting").map(|s| s.class),
        Some(presence_core::PresenceClass::DoNotDisturb)
    );
    // A state with a class the app does not know is refused with its name, and the agent
    // falls back to the shipped configuration with that reason.
    let lunch = emu
        .with_world(|w| w.find_by("Call_Center_Presence_State__c", "Name", "Lunch"))
        .remove(0);
    emu.with_world(|w| {
        let mut fields = serde_json::Map::new();
        fields.insert("Class__c".into(), serde_json::json!("Napping"));
        w.update_record("Call_Center_Presence_State__c", &lunch, fields)
    });
    let error = connectors
        .salesforce
        .load_call_center()
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("Lunch") && error.contains("Napping"),
        "{error}"
    );
    // An agent started now says so, and runs on the shipped states.
    let outbox = std::sync::Arc::new(presence_sync::outbox::Outbox::in_memory().expect("outbox"));
    let agent =
        common::start_agent_from(common::options(&emu, "ada", outbox, &Default::default())).await;
    until_snapshot(&agent, "the shipped Call Center in use, and why", |s| {
        s.problems.iter().any(|p| {
            p.starts_with("Using the shipped Call Center configuration") && p.contains("Napping")
        })
    })
    .await;
    assert_eq!(
        agent.snapshot().choices.len(),
        presence_core::CallCenterConfig::shipped_default()
            .selectable()
            .count()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_streaming_changes_and_calls_arrive_by_polling_until_the_stream_returns() {
    use presence_emulator::world::{Fault, FaultKind};
    let emu = Emulator::start().await.expect("emulator");
    let _controller = controller(&emu).await;
    emu.with_world(|w| {
        w.faults.push(Fault {
            api: presence_emulator::Api::Cometd,
            kind: FaultKind::Status {
                status: 503,
                retry_after: None,
            },
            count: None,
            path_contains: None,
        })
    });
    let agent = start_agent(&emu, "ada").await;
    until_snapshot(&agent, "Salesforce connected through the polls", |s| {
        s.links.iter().all(|l| l.state.is_connected()) && s.state.is_some()
    })
    .await;
    until(&emu, "the agent's first write", |s| {
        ada(s)["heartbeatAgeMs"].is_number()
    })
    .await;
    // Started (the Call Center's queries are behind us): the polls are what counts up now.
    let queries = counter(&emu.state(), "salesforce GET query");
    until(&emu, "two more polls", |s| {
        counter(s, "salesforce GET query") >= queries + 4
    })
    .await;
    // A change in Salesforce reaches Teams through the polls.
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    let took = until(&emu, "Teams Away", |s| {
        teams(s) == ("Away".into(), "Away".into())
    })
    .await;
    assert!(took < Duration::from_secs(5), "polled within {took:?}");
    // A call is offered, signalled in time, and its end is seen.
    let mut ui = agent.handle.ui_effects();
    emu.salesforce_pick("ada", "Available").expect("pick");
    until_snapshot(&agent, "Available", |s| {
        s.state.as_deref() == Some("Available")
    })
    .await;
    let call = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call");
    until_call(&emu, &call.call_id, "Signalled").await;
    emu.hang_up(&call.call_id).expect("hang up");
    let id = call.call_id.clone();
    until_ui(
        &mut ui,
        "ringing stopped",
        |e| matches!(e, presence_core::UiEffect::StopRinging { call_id } if *call_id == id),
    )
    .await;
    until(&emu, "the missed call's Task", |s| tasks(s).len() == 1).await;
    assert!(
        agent.snapshot().links[1].state.is_connected(),
        "Salesforce works, only its stream does not: {:?}",
        agent.snapshot().links
    );
    // The stream returns: the polls stop and changes are pushed again.
    emu.with_world(|w| w.faults.clear());
    let started = Instant::now();
    // (The controller's stream too: it polls the same objects while its own is down.)
    let integration = emu.with_world(|w| w.integration.as_ref().map(|u| u.salesforce_id.clone()));
    let integration = integration.expect("the integration user");
    while !(subscribed(&emu.state(), "ada") && subscribed(&emu.state(), &integration)) {
        assert!(started.elapsed() < Duration::from_secs(40), "stream back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The calls' polls: the controller's presence refresh (every 15 s) reads presence rows.
    let polls = |emu: &Emulator| counter(&emu.state(), "salesforce soql Agent_Call__c");
    let queries = polls(&emu);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(polls(&emu), queries, "no polling once the stream is back");
    emu.salesforce_pick("ada", "Busy").expect("pick");
    until(&emu, "Teams Busy", |s| {
        teams(s) == ("Busy".into(), "Busy".into())
    })
    .await;
    assert_eq!(tasks(&emu.state()).len(), 1, "the call logged once");
}

/// The requests the emulator answered since `from` (an index into `requests`).
fn requests_since(emu: &Emulator, from: usize) -> Vec<(String, String, u64)> {
    requests(emu).into_iter().skip(from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_after_sleep_tokens_are_refreshed_before_the_first_call_and_sessions_renewed() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    agent.pick("Busy").await;
    until(&emu, "Teams Busy", |s| {
        teams(s) == ("Busy".into(), "Busy".into())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Asleep for hours: every access token has expired on the servers' clocks.
    for api in [
        presence_emulator::Api::Entra,
        presence_emulator::Api::Salesforce,
    ] {
        emu.with_world(|w| presence_emulator::control::end_tokens(w, api, Some("ada"), false))
            .expect("expire");
    }
    let mark = emu.state()["requests"].as_array().map_or(0, Vec::len);
    assert!(agent.handle.send(Input::Resumed).await);
    until(&emu, "the Teams session renewed and a heartbeat", |_| {
        let seen = requests_since(&emu, mark);
        seen.iter()
            .any(|(_, path, status)| path.ends_with("/presence/setPresence") && *status == 200)
            && seen.iter().any(|(method, path, status)| {
                method == "PATCH" && path.contains("Agent_Presence__c") && *status < 300
            })
    })
    .await;
    let seen = requests_since(&emu, mark);
    let first = |wanted: &dyn Fn(&str) -> bool| seen.iter().position(|(_, p, _)| wanted(p));
    let graph_token = first(&|p| p.ends_with("/oauth2/v2.0/token")).expect("Entra refresh");
    let graph_call = first(&|p| p.starts_with("/v1.0/")).expect("a Graph call");
    let salesforce_token = first(&|p| p == "/services/oauth2/token").expect("Salesforce refresh");
    let salesforce_call = first(&|p| p.starts_with("/services/data/")).expect("a REST call");
    assert!(graph_token < graph_call, "{seen:?}");
    assert!(salesforce_token < salesforce_call, "{seen:?}");
    assert!(
        seen.iter().all(|(_, _, status)| *status != 401),
        "no call was made with an expired token: {seen:?}"
    );
}

/// K1: a revoked sign-in turns the link to "sign-in needed" and nothing is retried behind the
/// agent's back; signing in again (as the tray and panel offer) brings the link and the sync back.
#[tokio::test]
async fn a_revoked_sign_in_is_offered_again_and_the_sync_resumes_after_it() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(w, presence_emulator::Api::Entra, Some("ada"), true)
    })
    .expect("revoke");
    until_snapshot(&agent, "Teams: sign-in needed", |s| {
        s.links.iter().any(|l| {
            l.link == presence_core::Link::Teams
                && matches!(
                    l.state,
                    presence_core::LinkState::Disconnected {
                        sign_in_needed: true,
                        ..
                    }
                )
        })
    })
    .await;
    agent
        .handle
        .sign_in_again(presence_core::Link::Teams)
        .await
        .expect("signed in again");
    until_snapshot(&agent, "both links connected again", |s| {
        s.links.iter().all(|l| l.state.is_connected())
    })
    .await;
    // The sync runs on the new tokens: a change in Teams reaches Salesforce.
    emu.teams_set_status("ada", "Away", "Away").expect("away");
    until(&emu, "Away in Salesforce", |s| {
        salesforce_state(s) == Some("Away")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_salesforce_sign_in_stops_every_call_to_the_token_endpoint_until_signed_in_again()
{
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    let token_requests = |emu: &Emulator| {
        requests(emu)
            .iter()
            .filter(|(_, path, _)| path.contains("/services/oauth2/token"))
            .count()
    };
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(
            w,
            presence_emulator::Api::Salesforce,
            Some("ada"),
            true,
        )
    })
    .expect("revoke");
    // Work that needs Salesforce: the stream's next poll, a pick, a Teams change.
    agent.pick("Busy").await;
    until_snapshot(&agent, "Salesforce: sign-in needed", |s| {
        s.links.iter().any(|l| {
            l.link == presence_core::Link::Salesforce
                && matches!(
                    l.state,
                    presence_core::LinkState::Disconnected {
                        sign_in_needed: true,
                        ..
                    }
                )
        })
    })
    .await;
    // Requests already on their way when the refusal came are answered (and listed) first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_sign_in_needed = token_requests(&emu);
    let salesforce_requests = |emu: &Emulator| {
        requests(emu)
            .iter()
            // (The stream's long poll held from before is listed when answered: not counted.)
            .filter(|(_, path, _)| path.starts_with("/services/data"))
            .count()
    };
    let salesforce_before = salesforce_requests(&emu);
    let seen_before = requests(&emu).len();
    emu.teams_set_status("ada", "Away", "Away").expect("away");
    agent.pick("Lunch").await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after = token_requests(&emu);
    assert_eq!(
        after, at_sign_in_needed,
        "no token request once sign-in is needed ({at_sign_in_needed} until then)"
    );
    let since: Vec<_> = requests(&emu).into_iter().skip(seen_before).collect();
    assert_eq!(
        salesforce_requests(&emu),
        salesforce_before,
        "no REST request is sent with a refused sign-in: {since:?}"
    );
    // Teams goes on meanwhile: the Teams change is in the app.
    assert_eq!(agent.snapshot().source, Some(presence_core::Source::Tray));
    agent
        .handle
        .sign_in_again(presence_core::Link::Salesforce)
        .await
        .expect("signed in again");
    until_snapshot(&agent, "both links connected again", |s| {
        s.links.iter().all(|l| l.state.is_connected())
    })
    .await;
    agent.pick("Available").await;
    until(&emu, "Available in Salesforce", |s| {
        salesforce_state(s) == Some("Available")
    })
    .await;
}
