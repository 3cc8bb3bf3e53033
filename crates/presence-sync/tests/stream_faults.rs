//! Rows N3, N4 and N5 for the Streaming API on its own: a stream the server stops answering is
//! given up on at the long poll's limit while the polls stand in and the agent's picks go on;
//! a stream whose host does not resolve, or whose certificate nobody trusts, says why, is
//! retried at the stream's backoff (no storm) and never reaches the server.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use presence_core::Failure;
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};
use presence_sync::outbox::Outbox;
use presence_sync::request::Transport;
use presence_sync::streaming::{StreamNews, Streaming};
use presence_sync::{connect_emulator_with, EMULATOR_CLIENT_ID};

/// N3, the stall: the server takes the stream's requests and answers none of them for a minute.
/// Each long poll is given up on at its limit (2 s here, 130 s by default), the polls carry
/// Salesforce's changes to Teams meanwhile, the agent's own picks are shown and written at once,
/// and the stream is taken up again when the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_a_stalled_stream_is_given_up_on_and_the_polls_stand_in_until_it_answers() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| w.settings.long_poll_ms = 500);
    let transport = Transport {
        long_poll_timeout: Duration::from_secs(2),
        ..Transport::default()
    };
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    let agent = start_agent_over(&emu, "ada", outbox, &transport).await;
    settle(&emu, &agent, "ada").await;
    let polls_before = counter(&emu.state(), "salesforce GET query");
    fault(
        &emu,
        Api::Cometd,
        FaultKind::Delay { ms: 60_000 },
        None,
        None,
    );
    // Counted after the fault is in place: every request from here on is held.
    let stream_requests_before = counter(&emu.state(), "cometd");
    // The long poll in flight was taken before the fault: wait until the next one is held.
    until(&emu, "a stream request held", |s| {
        counter(s, "cometd") > stream_requests_before
    })
    .await;
    let stalled = Instant::now();
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    let took = until(&emu, "Lunch carried to Teams by the polls", |s| {
        teams(s) == ("Away".into(), "Away".into())
    })
    .await;
    eprintln!("Lunch reached Teams {took:?} into the stall");
    assert!(
        took < Duration::from_secs(20),
        "the polls stood in within {took:?}"
    );
    assert!(
        counter(&emu.state(), "salesforce GET query") > polls_before,
        "by polling: {}",
        counter(&emu.state(), "salesforce GET query")
    );
    // The agent is not held up by the stalled stream.
    let picked = Instant::now();
    agent.pick("Do Not Disturb").await;
    until_snapshot(&agent, "the pick shown at once", |s| {
        s.state.as_deref() == Some("Do Not Disturb")
    })
    .await;
    assert!(picked.elapsed() < Duration::from_millis(500));
    until(&emu, "the pick written to both clouds", |s| {
        salesforce_state(s) == Some("Do Not Disturb")
            && teams(s) == ("DoNotDisturb".into(), "DoNotDisturb".into())
    })
    .await;
    assert!(
        agent.snapshot().links[1].state.is_connected(),
        "Salesforce itself works: {:?}",
        agent.snapshot().links
    );
    // Each stalled request is given up on and the stream asks again (a client that waited on
    // the first, for its 130 s, would send no other): three within the stall's first 20 s.
    let retried = until(&emu, "the stream asking again", |s| {
        counter(s, "cometd") >= stream_requests_before + 3
    })
    .await;
    eprintln!(
        "three stream requests {:?} into the stall",
        stalled.elapsed().max(retried)
    );
    assert!(stalled.elapsed() < Duration::from_secs(20));
    // The server answers again: the stream is handshaken anew (a new client), the polls stop,
    // and changes are pushed.
    let clients_before = ada_clients(&emu);
    emu.with_world(|w| w.faults.clear());
    let started = Instant::now();
    while ada_clients(&emu)
        .iter()
        .all(|id| clients_before.contains(id))
    {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the stream back after the stall"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "stream back {:?} after the stall ended ({:?} in all)",
        started.elapsed(),
        stalled.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let polls = counter(&emu.state(), "salesforce GET query");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        counter(&emu.state(), "salesforce GET query"),
        polls,
        "no polling once the stream is back"
    );
    emu.salesforce_pick("ada", "Busy").expect("pick");
    until(&emu, "Busy streamed to Teams", |s| {
        teams(s) == ("Busy".into(), "Busy".into())
    })
    .await;
}

/// The ids of ada's subscribed streaming clients, as the emulator holds them.
fn ada_clients(emu: &Emulator) -> Vec<String> {
    emu.state()["streaming"]["clients"]
        .as_array()
        .map(|clients| {
            clients
                .iter()
                .filter(|c| {
                    c["agent"] == "ada"
                        && c["subscriptions"].as_array().is_some_and(|s| !s.is_empty())
                })
                .filter_map(|c| c["clientId"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// What a stream reports and how often it tries, over `span`, run on its own.
async fn stream_alone(stream: Streaming, span: Duration) -> Vec<String> {
    let (news, mut heard) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(stream.run(news));
    let mut lost = Vec::new();
    let until = Instant::now() + span;
    while let Ok(Some(news)) = tokio::time::timeout_at(until.into(), heard.recv()).await {
        match news {
            StreamNews::Lost(why) => lost.push(why),
            other => panic!("a stream that cannot connect reported {other:?}"),
        }
    }
    task.abort();
    lost
}

/// N4 and N5, the stream on its own: signed in and working, its handshake reaches a host that
/// does not resolve, or a server whose certificate is not trusted. The handshake fails at once
/// with the reason and as offline (never "sign in"), the stream tries again at its backoff
/// (1 s, then doubling: at most 4 attempts in 7 s), and the server hears nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_n5_a_stream_without_dns_or_with_an_untrusted_certificate_says_why_and_backs_off() {
    // A host name for the emulator (`localhost`), so that name resolution happens at all.
    let named = Emulator::start().await.expect("emulator");
    let port = named.address.port();
    let by_name = format!("http://localhost:{port}");
    // (Once the server has written its own address there, which it does as it starts.)
    while named.state.base_url().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    *named.state.base_url.lock().expect("base url") = by_name.clone();
    let over_tls = Emulator::start_tls().await.expect("emulator over TLS");
    let trusted = Transport {
        trusted_certificates: vec![over_tls.tls_certificate().expect("certificate").to_string()],
        ..Transport::default()
    };
    let no_dns = Transport {
        resolver: Some(Arc::new(NoDns)),
        ..Transport::default()
    };
    for (what, emu, base, signed_in_over, stream_over) in [
        (
            "no DNS",
            &named,
            by_name.clone(),
            Transport::default(),
            no_dns,
        ),
        (
            "an untrusted certificate",
            &over_tls,
            over_tls.base_url.clone(),
            trusted,
            Transport::default(),
        ),
    ] {
        let store = Arc::new(Outbox::in_memory().expect("store"));
        let connectors =
            connect_emulator_with(&base, "ada", EMULATOR_CLIENT_ID, store, &signed_in_over)
                .await
                .expect("signed in");
        let channel = format!(
            "/topic/AgentPresence?User__c={}",
            connectors.salesforce.user_id
        );
        // The same session works over the network it signed in by.
        let mut working = Streaming::new(
            (*connectors.salesforce).clone(),
            std::slice::from_ref(&channel),
            None,
        )
        .expect("stream");
        working.handshake().await.expect("a working handshake");
        let heard = counter(&emu.state(), "cometd");
        let session = connectors.salesforce.over(&stream_over).expect("client");
        let mut stream =
            Streaming::new(session.clone(), std::slice::from_ref(&channel), None).expect("stream");
        let asked = Instant::now();
        let error = stream.handshake().await.expect_err(what);
        assert!(asked.elapsed() < Duration::from_secs(2), "{what}: at once");
        eprintln!("{what}: {error}");
        assert!(
            matches!(error.kind(), Failure::Offline { .. }),
            "{what}: offline, not a sign-in: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("resolve") || (text.contains("TLS") && text.contains("certificate")),
            "{what}: says why: {text}"
        );
        let stream = Streaming::new(session, std::slice::from_ref(&channel), None).expect("stream");
        let lost = stream_alone(stream, Duration::from_secs(7)).await;
        eprintln!("{what}: {} attempts in 7 s: {lost:?}", lost.len());
        assert!(
            (2..=4).contains(&lost.len()),
            "{what}: retried at the backoff, no storm: {lost:?}"
        );
        assert!(lost.iter().all(|why| why == &text), "{what}: {lost:?}");
        assert_eq!(
            counter(&emu.state(), "cometd"),
            heard,
            "{what}: nothing reached the server"
        );
    }
}

/// The org's concurrent Streaming API clients are all taken (the emulator's
/// `streaming_client_limit`; 1,000 in Enterprise Edition): the agent's handshake is refused
/// with Salesforce's `403::Organization concurrent user limit exceeded`. That is no sign-in to
/// ask for: the polls carry Salesforce's changes, the stream asks again at its backoff (no storm
/// against a limit shared by the whole org), and takes its place when one frees up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_out_of_streaming_clients_is_polled_and_asked_again_at_the_backoff() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.streaming_client_limit = 0;
        w.settings.long_poll_ms = 500;
    });
    let outbox = Arc::new(Outbox::in_memory().expect("outbox"));
    let agent = start_agent_with(&emu, "ada", outbox).await;
    until_snapshot(&agent, "connected through the polls", |s| {
        s.links.iter().all(|l| l.state.is_connected()) && s.state.is_some()
    })
    .await;
    until(&emu, "the agent's first write", |s| {
        ada(s)["heartbeatAgeMs"].is_number()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused_from = Instant::now();
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    let took = until(&emu, "Lunch carried to Teams by the polls", |s| {
        teams(s) == ("Away".into(), "Away".into())
    })
    .await;
    assert!(took < Duration::from_secs(5), "polled within {took:?}");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let refusals = counter(&emu.state(), "cometd handshake refused");
    eprintln!(
        "{refusals} handshakes refused in {:?}",
        refused_from.elapsed()
    );
    assert!(
        (2..=8).contains(&refusals),
        "asked again at the backoff, no storm: {refusals}"
    );
    assert!(
        !agent.snapshot().links.iter().any(|l| matches!(
            l.state,
            presence_core::LinkState::Disconnected {
                sign_in_needed: true,
                ..
            }
        )),
        "no sign-in asked for: {:?}",
        agent.snapshot().links
    );
    // A place frees up: the stream takes it and pushes changes.
    emu.with_world(|w| w.settings.streaming_client_limit = 1000);
    let started = Instant::now();
    while ada_clients(&emu).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the stream connected once a place freed up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "the stream connected {:?} after a place freed up",
        started.elapsed()
    );
    emu.salesforce_pick("ada", "Busy").expect("pick");
    until(&emu, "Busy in Teams", |s| {
        teams(s) == ("Busy".into(), "Busy".into())
    })
    .await;
}
