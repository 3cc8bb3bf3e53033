//! Section 7 of `shared/reference/reliability.md` (the rows about the network, tokens, time
//! and the outbox) through the real clients, driver and emulator on 127.0.0.1. Each test is
//! named after its row. Rows covered elsewhere: T1 (`end_to_end.rs`, 429 with Retry-After),
//! T2 (`throttling.rs`), T3 (engine retry tests), A1–A3/A9 (`sign_in.rs`), A5–A7 (`keyring.rs`), C3
//! (`end_to_end.rs`), D1/D2 (`outbox.rs`, SIGKILL), D4/D5 (`outbox.rs`).

mod common;

use std::net::TcpListener as StdListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use presence_core::{Failure, UiEffect};
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};
use presence_sync::auth::{OAuthEndpoints, TokenSource, Tokens};
use presence_sync::graph::GraphClient;
use presence_sync::outbox::{deliver_forever, Outbox};
use presence_sync::request::Transport;
use presence_sync::SyncError;

const MARGARET: &str = "+1 415 555 0100";

fn is_task(path: &str) -> bool {
    path.contains("sobjects/Task/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n2_a_reply_lost_after_the_write_is_retried_and_the_call_logged_once() {
    let emu = Emulator::start().await.expect("emulator");
    // The controller writes the Task, through the same outbox code as the app.
    let _controller = controller(&emu).await;
    let agent = ready_agent(&emu, "ada").await;
    // Salesforce carries out the first Task upsert, but the answer never reaches the app.
    fault(
        &emu,
        Api::Salesforce,
        FaultKind::LostReply,
        Some(1),
        Some("sobjects/Task"),
    );
    let call = emu.place_call("ada", "Direct", MARGARET).expect("call");
    until_call(&emu, &call.call_id, "Signalled").await;
    emu.hang_up(&call.call_id).expect("hang up");
    until(&emu, "a second Task upsert", |_| {
        requests(&emu).iter().filter(|(_, p, _)| is_task(p)).count() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let state = emu.state();
    let tasks = tasks(&state);
    assert_eq!(tasks.len(), 1, "one record per call: {tasks:?}");
    assert_eq!(tasks[0]["Call_Log_Key__c"], call.call_id.as_str());
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_a_stalled_server_times_out_without_blocking_the_agent() {
    let emu = Emulator::start().await.expect("emulator");
    let transport = Transport {
        request_timeout: Duration::from_secs(1),
        ..Transport::default()
    };
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    let agent = start_agent_over(&emu, "ada", outbox, &transport).await;
    settle(&emu, &agent, "ada").await;
    // Graph accepts and then sits on the next requests for 3 s.
    fault(
        &emu,
        Api::Graph,
        FaultKind::Delay { ms: 3000 },
        Some(3),
        None,
    );
    let picked = Instant::now();
    agent.pick("Do Not Disturb").await;
    until_snapshot(&agent, "the pick shown at once", |s| {
        s.state.as_deref() == Some("Do Not Disturb")
    })
    .await;
    let shown = picked.elapsed();
    assert!(
        shown < Duration::from_millis(500),
        "the UI waited {shown:?}"
    );
    until_snapshot(&agent, "Teams degraded by the time-outs", |s| {
        matches!(s.links[0].state, presence_core::LinkState::Degraded { .. })
    })
    .await;
    until(&emu, "DND in Teams after the stall", |s| {
        teams(s) == ("DoNotDisturb".into(), "DoNotDisturb".into())
    })
    .await;
    until_snapshot(&agent, "Teams connected again", |s| {
        s.links[0].state.is_connected()
    })
    .await;
    assert_eq!(salesforce_state(&emu.state()), Some("Do Not Disturb"));
}

/// N3, the drip: a server that sends its headers and then one byte of the body every 200 ms
/// (a slowloris answer, which no per-read timeout would end) is given up on when the whole
/// request's time is spent, as a timeout that is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_a_drip_fed_answer_is_given_up_on_when_the_request_time_is_spent() {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut head = [0u8; 4096];
                let _ = std::io::Read::read(&mut stream, &mut head);
                let body = br#"{"availability":"Available","activity":"Available"}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                let _ = std::io::Write::write_all(&mut stream, head.as_bytes());
                for byte in body {
                    if std::io::Write::write_all(&mut stream, &[*byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
        }
    });
    let transport = Transport {
        request_timeout: Duration::from_secs(1),
        ..Transport::default()
    };
    let client = graph_client(&base, &transport);
    let asked = Instant::now();
    let error = client
        .my_presence()
        .await
        .expect_err("a drip is not an answer");
    let took = asked.elapsed();
    // The whole body would take over 10 s; the request's 1 s ends it.
    assert!(
        took < Duration::from_secs(3),
        "given up on after {took:?}: {error:?}"
    );
    assert!(
        matches!(error.kind(), Failure::Transient { .. }),
        "a drip is retried with backoff: {error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_server_errors_on_both_clouds_are_retried_and_nothing_is_lost() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    let unavailable = || FaultKind::Status {
        status: 503,
        retry_after: None,
    };
    fault(&emu, Api::Graph, unavailable(), Some(3), None);
    fault(
        &emu,
        Api::Salesforce,
        unavailable(),
        Some(3),
        Some("Agent_Presence__c"),
    );
    agent.pick("Lunch").await;
    until(&emu, "Lunch in Salesforce", |s| {
        salesforce_state(s) == Some("Lunch")
    })
    .await;
    until(&emu, "Away in Teams", |s| {
        teams(s) == ("Away".into(), "Away".into())
    })
    .await;
    let seen = requests(&emu);
    let failed = seen.iter().filter(|(_, _, status)| *status == 503).count();
    assert_eq!(
        failed, 6,
        "every injected 503 was met and retried: {seen:?}"
    );
    until_snapshot(&agent, "both links connected", |s| {
        s.links.iter().all(|l| l.state.is_connected())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_a_call_write_refused_for_twenty_seconds_is_sent_five_times_and_the_call_still_logged_once(
) {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    let unavailable = || FaultKind::Status {
        status: 503,
        retry_after: None,
    };
    // Salesforce answers 503 to every Agent_Call__c write until the fault is cleared, and to the
    // first two Task writes (a few, so the outbox's own backoff stays within the test's patience).
    fault(
        &emu,
        Api::Salesforce,
        unavailable(),
        None,
        Some("sobjects/Agent_Call__c"),
    );
    fault(
        &emu,
        Api::Salesforce,
        unavailable(),
        Some(2),
        Some("sobjects/Task"),
    );
    // An offer whose log is the app's to write (a controller that leaves it to the app).
    let call = offer_logged_by_the_app(&emu, "ada", MARGARET);
    // The app's answer never lands, so the controller gives the call to Teams' rules (Missed).
    until(&emu, "the app's first answer", |_| {
        requests(&emu)
            .iter()
            .any(|(_, path, _)| path.contains("sobjects/Agent_Call__c"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    end_offer(&emu, &call, "Missed");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let call_writes = |emu: &Emulator| {
        requests(emu)
            .into_iter()
            .filter(|(_, path, _)| path.contains("sobjects/Agent_Call__c"))
            .count()
    };
    let refused = call_writes(&emu);
    assert_eq!(
        refused, 5,
        "one answer, retried with backoff up to the cap of five attempts"
    );
    emu.with_world(|w| w.faults.clear());
    // Salesforce is back: the call's log, held by the outbox, lands once; no more call writes.
    until(&emu, "the missed call's Task", |s| !tasks(s).is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let state = emu.state();
    let tasks = tasks(&state);
    assert_eq!(tasks.len(), 1, "one record per call: {tasks:?}");
    assert_eq!(tasks[0]["Call_Log_Key__c"], call.as_str());
    assert_eq!(tasks[0]["CallDisposition"], "Missed");
    assert_eq!(call_writes(&emu), refused, "nothing resent after the cap");
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_malformed_presence_answers_degrade_the_link_and_change_nothing() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    fault(
        &emu,
        Api::Graph,
        FaultKind::Malformed,
        Some(3),
        Some("me/presence"),
    );
    until_snapshot(&agent, "Teams degraded", |s| {
        matches!(s.links[0].state, presence_core::LinkState::Degraded { .. })
    })
    .await;
    until_snapshot(&agent, "Teams connected again", |s| {
        s.links[0].state.is_connected()
    })
    .await;
    let state = emu.state();
    assert_eq!(salesforce_state(&state), Some("Available"));
    assert_eq!(agent.snapshot().state.as_deref(), Some("Available"));
}

fn graph_client(base: &str, transport: &Transport) -> GraphClient {
    let endpoints = OAuthEndpoints::entra(base, "organizations", "test", "http://127.0.0.1/cb");
    let tokens = TokenSource::new(
        endpoints,
        Tokens {
            access_token: "token".into(),
            refresh_token: None,
            refresh_at: None,
            instance_url: None,
            identity_url: None,
        },
    )
    .expect("tokens");
    GraphClient::with_transport(base, Arc::new(tokens), "test", transport).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_html_huge_deep_and_mistyped_bodies_are_typed_errors() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = format!(
        "{{\"availability\":\"Available\",\"activity\":\"Available\",\"padding\":\"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "an HTML error page with status 200",
            http_response(
                "text/html",
                b"<html><body>Service unavailable</body></html>",
            ),
        ),
        (
            "2 MiB of JSON",
            http_response("application/json", huge.as_bytes()),
        ),
        (
            "10,000 levels of nesting",
            http_response("application/json", deep.as_bytes()),
        ),
        (
            "wrong types",
            http_response(
                "application/json",
                br#"{"availability": 5, "activity": []}"#,
            ),
        ),
        (
            "a truncated body",
            http_response("application/json", br#"{"availability": "Ava"#),
        ),
    ];
    for (what, response) in cases {
        let base = canned_server(response);
        let client = graph_client(&base, &Transport::default());
        let error = client.my_presence().await.expect_err(what);
        assert!(
            matches!(error, SyncError::Malformed { .. } | SyncError::Server(_)),
            "{what}: {error:?}"
        );
        assert!(
            matches!(error.kind(), Failure::Transient { .. }),
            "{what} is retried with backoff: {error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_a_dns_failure_is_offline_and_says_so() {
    let transport = Transport {
        resolver: Some(Arc::new(NoDns)),
        ..Transport::default()
    };
    let client = graph_client("http://graph.example.invalid", &transport);
    let error = client.my_presence().await.expect_err("no name");
    assert!(matches!(error.kind(), Failure::Offline { .. }), "{error:?}");
    assert!(error.to_string().contains("resolve"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n5_an_untrusted_certificate_fails_closed_with_a_clear_error() {
    let server = UntrustedTls::start();
    let client = graph_client(&server.base_url(), &Transport::default());
    let asked = Instant::now();
    let error = client.my_presence().await.expect_err("untrusted");
    drop(server);
    assert!(asked.elapsed() < Duration::from_secs(5), "failed at once");
    let text = error.to_string();
    eprintln!("N5: {text}");
    assert!(
        text.contains("TLS") && text.contains("certificate"),
        "{text}"
    );
    assert!(
        matches!(error.kind(), Failure::Offline { .. }),
        "not a transient retry storm: {error:?}"
    );
}

/// Signs ada in (clients only, no driver): for tests that run the outbox worker alone.
async fn signed_in(emu: &Emulator, outbox: &Arc<Outbox>) -> presence_sync::Connectors {
    presence_sync::connect_emulator(
        &emu.base_url,
        "ada",
        presence_sync::EMULATOR_CLIENT_ID,
        outbox.clone(),
    )
    .await
    .expect("sign in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d6_a_backlog_of_ten_thousand_logs_drains_in_order_at_the_set_pace() {
    let emu = Emulator::start().await.expect("emulator");
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    for n in 0..10_000 {
        assert!(outbox
            .enqueue(&call_log(&format!("backlog-{n:05}")))
            .expect("queued"));
    }
    let connectors = signed_in(&emu, &outbox).await;
    let per_second = 100;
    let worker = tokio::spawn(deliver_forever(
        outbox.clone(),
        connectors.salesforce.clone(),
        per_second,
    ));
    let span = Duration::from_secs(3);
    tokio::time::sleep(span).await;
    worker.abort();
    // Abort lands at the worker's next await: wait for it, so the counts below stand still.
    let _ = worker.await;
    let delivered: Vec<String> = tasks(&emu.state())
        .iter()
        .map(|t| t["Call_Log_Key__c"].as_str().unwrap_or("").to_string())
        .collect();
    eprintln!(
        "D6: {} of 10,000 delivered in {span:?} at {per_second}/s",
        delivered.len()
    );
    let ceiling = per_second as usize * span.as_secs() as usize + per_second as usize / 10;
    assert!(
        delivered.len() > 100 && delivered.len() <= ceiling,
        "{} delivered in {span:?} at {per_second}/s",
        delivered.len()
    );
    let expected: Vec<String> = (0..delivered.len())
        .map(|n| format!("backlog-{n:05}"))
        .collect();
    assert_eq!(delivered, expected, "in order, none skipped or repeated");
    // The abort may cut one upsert after Salesforce stored it and before its answer was read:
    // that log stays pending and goes again under the same key, so the upsert lands it once.
    let pending = outbox.pending().expect("pending") as usize;
    let settled = 10_000 - delivered.len();
    assert!(
        pending == settled || pending == settled + 1,
        "nothing dropped: {pending} pending, {settled} expected (one more if cut in flight)"
    );
    // One request at a time: the log never shows two Task upserts answered at once out of order.
    let upserts = requests(&emu)
        .into_iter()
        .filter(|(_, path, _)| is_task(path))
        .count();
    assert!(upserts >= delivered.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d3_a_full_disk_still_rings_and_tells_the_agent_the_log_was_not_saved() {
    let emu = Emulator::start().await.expect("emulator");
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    outbox.limit_size(64 * 1024).expect("cap");
    let mut filler = 0;
    // Salesforce is down for Tasks, so nothing drains while the outbox fills up.
    fault(
        &emu,
        Api::Salesforce,
        FaultKind::Status {
            status: 503,
            retry_after: None,
        },
        None,
        Some("sobjects/Task"),
    );
    while outbox
        .enqueue(&call_log(&format!("filler-{filler}")))
        .is_ok()
    {
        filler += 1;
        assert!(filler < 10_000, "the cap holds");
    }
    let agent = start_agent_with(&emu, "ada", outbox.clone()).await;
    settle(&emu, &agent, "ada").await;
    let mut ui = agent.handle.ui_effects();
    // The app's own log of a call (a controller that leaves it to the app).
    let id = offer_logged_by_the_app(&emu, "ada", MARGARET);
    until_ui(
        &mut ui,
        "ringing",
        |e| matches!(e, UiEffect::Ring { call_id, .. } if *call_id == id),
    )
    .await;
    end_offer(&emu, &id, "CallerHungUp");
    let notice = until_ui(
        &mut ui,
        "the agent told",
        |e| matches!(e, UiEffect::Notice { text } if text.contains("could not be saved")),
    )
    .await;
    assert!(format!("{notice:?}").contains("full"), "{notice:?}");
    // The agent goes on working.
    agent.pick("Busy").await;
    until(&emu, "Busy in Salesforce", |s| {
        salesforce_state(s) == Some("Busy")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a4_a_crash_before_the_rotated_token_was_saved_ends_in_one_refusal_and_a_sign_in() {
    use presence_sync::secrets::{MemoryStore, SecretStore};
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.salesforce_rotate_refresh = true);
    let endpoints = OAuthEndpoints::salesforce(
        &emu.base_url,
        presence_sync::EMULATOR_CLIENT_ID,
        "http://127.0.0.1:53682/callback",
    );
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());
    let tokens = TokenSource::sign_in_auto_approved(endpoints.clone(), "ada")
        .await
        .expect("sign in");
    tokens.keep_in(store.clone(), "sf").await.expect("kept");
    let before_crash = store.load("sf").expect("load").expect("saved");
    // The refresh answer arrives (rotating the token at the server)…
    let current = tokens.access_token().await.expect("token");
    tokens.refresh_after(&current).await.expect("refreshed");
    // …but the process dies before the new token is on disk: the store still holds the old one.
    store.save("sf", &before_crash).expect("old token back");
    let token_requests = counter(&emu.state(), "salesforce");
    let resumed = TokenSource::resume(endpoints, store.clone(), "sf")
        .await
        .expect("no error, just signed out");
    assert!(resumed.is_none(), "a sign-in is needed");
    assert_eq!(
        counter(&emu.state(), "salesforce") - token_requests,
        1,
        "one refused refresh, no loop"
    );
    assert_eq!(
        store.load("sf").expect("load"),
        None,
        "the dead token is forgotten"
    );
}

/// Salesforce answers the next write of each key with its status, once.
fn refuse_once(emu: &Emulator, refusals: &[(u16, &str)]) {
    for &(status, key) in refusals {
        fault(
            emu,
            Api::Salesforce,
            FaultKind::Status {
                status,
                retry_after: None,
            },
            Some(1),
            Some(key),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_t7_a_refused_or_ambiguous_log_is_set_aside_while_the_rest_drains() {
    let emu = Emulator::start().await.expect("emulator");
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    for key in ["poison-400", "poison-300", "fine-1", "fine-2"] {
        outbox.enqueue(&call_log(key)).expect("queued");
    }
    refuse_once(&emu, &[(400, "poison-400"), (300, "poison-300")]);
    let connectors = signed_in(&emu, &outbox).await;
    let worker = tokio::spawn(deliver_forever(
        outbox.clone(),
        connectors.salesforce.clone(),
        50,
    ));
    until(&emu, "the good logs", |s| tasks(s).len() == 2).await;
    until(&emu, "the outbox drained", |_| {
        outbox.pending().is_ok_and(|pending| pending == 0)
    })
    .await;
    worker.abort();
    let dead = outbox.dead().expect("dead");
    let keys: Vec<&str> = dead.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["poison-400", "poison-300"], "{dead:?}");
    assert!(dead[0].reason.starts_with("HTTP 400 "), "{dead:?}");
    assert!(dead[1].reason.starts_with("integrity"), "{dead:?}");
    let attempts = requests(&emu)
        .iter()
        .filter(|(_, path, _)| path.contains("poison"))
        .count();
    assert_eq!(attempts, 2, "no blind retry of a refused row");
    assert_eq!(outbox.pending().expect("pending"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t6_refusals_that_pass_are_retried_and_the_logs_saved() {
    // 408 and 409 (a record locked by someone else) are not about the record: the log is
    // tried again and saved, never set aside. (A plain 403 is retried too, by the unit test of
    // the classification; the emulator's 403 is the spent daily allowance, which holds the
    // backlog instead, test d6.)
    let emu = Emulator::start().await.expect("emulator");
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    let keys = ["busy-408", "busy-409", "busy-fine"];
    for key in keys {
        outbox.enqueue(&call_log(key)).expect("queued");
    }
    refuse_once(&emu, &[(408, "busy-408"), (409, "busy-409")]);
    let connectors = signed_in(&emu, &outbox).await;
    let worker = tokio::spawn(deliver_forever(
        outbox.clone(),
        connectors.salesforce.clone(),
        50,
    ));
    until(&emu, "all three logs", |s| tasks(s).len() == 3).await;
    // The last Task lands before the outbox marks its row delivered: wait for that too, or
    // the abort below may come in between (seen on a slow machine).
    until(&emu, "the outbox drained", |_| {
        outbox.pending().is_ok_and(|pending| pending == 0)
    })
    .await;
    worker.abort();
    assert_eq!(outbox.dead().expect("dead"), Vec::new());
    assert_eq!(outbox.pending().expect("pending"), 0);
    let attempts = requests(&emu)
        .iter()
        .filter(|(_, path, _)| path.contains("busy-"))
        .count();
    assert_eq!(attempts, 5, "the two refused once, then saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d6_the_backlog_slows_down_as_the_org_api_allowance_runs_out() {
    let emu = Emulator::start().await.expect("emulator");
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    for n in 0..100 {
        outbox
            .enqueue(&call_log(&format!("late-{n:03}")))
            .expect("queued");
    }
    let connectors = signed_in(&emu, &outbox).await;
    // 60 of the org's 100 daily requests are used already.
    emu.with_world(|w| {
        w.api_usage = 60;
        w.settings.api_daily_limit = 100;
    });
    let worker = tokio::spawn(deliver_forever(
        outbox.clone(),
        connectors.salesforce.clone(),
        100,
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    worker.abort();
    let delivered = tasks(&emu.state()).len();
    let used = emu.state()["salesforceApiUsage"].as_u64().unwrap_or(0);
    eprintln!("D6: {delivered} delivered, the org at {used}/100");
    assert!(
        (15..=22).contains(&delivered),
        "fast to 80 %, then one per 10 s: {delivered}"
    );
    assert!(
        used < 95,
        "the rest of the allowance is left to presence and calls"
    );
    assert_eq!(outbox.pending().expect("pending") as usize, 100 - delivered);
    assert_eq!(
        connectors.salesforce.api_usage().map(|(_, limit)| limit),
        Some(100),
        "read from Sforce-Limit-Info"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_no_teams_request_before_retry_after_has_passed() {
    let emu = Emulator::start().await.expect("emulator");
    let agent = ready_agent(&emu, "ada").await;
    fault(
        &emu,
        Api::Graph,
        FaultKind::Status {
            status: 429,
            retry_after: Some(3),
        },
        Some(1),
        Some("me/presence"),
    );
    until(&emu, "the 429 and a request after it", |_| {
        let seen = timed_requests(&emu);
        seen.iter()
            .position(|(_, _, status)| *status == 429)
            .is_some_and(|at| {
                seen[at + 1..]
                    .iter()
                    .any(|(_, p, _)| p.starts_with("/v1.0/"))
            })
    })
    .await;
    let seen = timed_requests(&emu);
    let throttled = seen
        .iter()
        .position(|(_, _, status)| *status == 429)
        .expect("429");
    let next = seen[throttled + 1..]
        .iter()
        .find(|(_, path, _)| path.starts_with("/v1.0/"))
        .expect("a later Teams request");
    let gap = next.0 - seen[throttled].0;
    // The 429 is logged when answered, a moment after it was asked: a few ms of slack.
    assert!(
        gap >= 2_950,
        "the next Teams request came {gap} ms after the 429"
    );
    until_snapshot(&agent, "Teams connected again", |s| {
        s.links[0].state.is_connected()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t5_a_spent_salesforce_allowance_cools_down_keeps_the_change_and_delivers_it_later() {
    let emu = Emulator::start().await.expect("emulator");
    // The product leaves Salesforce alone for 5 minutes; 4 s here, to see the end of it.
    let cool_down = Duration::from_secs(4);
    let transport = Transport {
        salesforce_limit_cool_down: cool_down,
        ..Transport::default()
    };
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    let agent = start_agent_over(&emu, "ada", outbox, &transport).await;
    settle(&emu, &agent, "ada").await;
    let limit_now = emu.with_world(|w| {
        w.settings.api_daily_limit = w.api_usage;
        w.api_usage
    });
    agent.pick("Lunch").await;
    until_snapshot(&agent, "Salesforce throttled", |s| {
        matches!(s.links[1].state, presence_core::LinkState::Degraded { .. })
    })
    .await;
    let refused = |emu: &Emulator| -> (usize, usize) {
        let seen = requests(emu);
        let all = seen.iter().filter(|(_, _, status)| *status == 403);
        let writes = all
            .clone()
            .filter(|(method, _, _)| method == "PATCH")
            .count();
        (all.count(), writes)
    };
    // Requests already on their way when the first refusal came back are answered first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = refused(&emu);
    tokio::time::sleep(cool_down - Duration::from_millis(1500)).await;
    let after = refused(&emu);
    // The engine writes nothing (presence, heartbeats) within the cool-down; the stream's
    // one catch-up poll after subscribing may still be under way when the allowance runs out.
    assert_eq!(
        after.1 - before.1,
        0,
        "no write to Salesforce within the cool-down"
    );
    assert!(
        after.0 - before.0 <= 4,
        "no tight loop: {} refused requests",
        after.0 - before.0
    );
    assert_eq!(salesforce_state(&emu.state()), Some("Available"));
    assert_eq!(agent.snapshot().state.as_deref(), Some("Lunch"), "kept");
    // The allowance grows again: the kept change lands once the cool-down is over.
    emu.with_world(|w| w.settings.api_daily_limit = limit_now + 1000);
    until(&emu, "Lunch in Salesforce", |s| {
        salesforce_state(s) == Some("Lunch")
    })
    .await;
}
