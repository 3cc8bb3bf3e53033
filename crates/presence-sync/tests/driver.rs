//! The driver's own promises: it runs on tokio's clock (a paused-time test drives the
//! offline start-up), it takes its shutdown from the caller, and an effect that hangs is given
//! up at the deadline and reported to the engine, whose lane then retries.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use presence_emulator::world::FaultKind;
use presence_emulator::{Api, Emulator};
use presence_sync::outbox::Outbox;
use presence_sync::request::Transport;
use presence_sync::{SignInTarget, Storage, SyncOptions};

/// A resolver that knows no names and notes when it was asked (on tokio's clock).
struct NoDns(Arc<Mutex<Vec<tokio::time::Instant>>>);

impl reqwest::dns::Resolve for NoDns {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        if let Ok(mut asked) = self.0.lock() {
            asked.push(tokio::time::Instant::now());
        }
        Box::pin(async {
            Err::<reqwest::dns::Addrs, _>(Box::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "dns lookup failed: no such host",
            ))
                as Box<dyn std::error::Error + Send + Sync>)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn n1_offline_at_start_the_sign_in_is_retried_with_growing_capped_gaps_in_paused_time() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let mut options = SyncOptions::new(SignInTarget::Emulator {
        url: "http://clouds.example.invalid".into(),
        user: "ada".into(),
    });
    options.storage = Storage::Outbox(Arc::new(Outbox::in_memory().expect("outbox")));
    options.transport = Transport {
        resolver: Some(Arc::new(NoDns(asked.clone()))),
        ..Transport::default()
    };
    let (handle, sync) = presence_sync::start(options, |_| {}, std::future::pending());
    let task = tokio::spawn(sync);
    // Ten virtual minutes pass in an instant: no real time, no real network.
    let started = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let attempts = asked.lock().expect("asked").clone();
    // One sign-in attempt asks for the Entra host once; the gaps between attempts:
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!(
        "{} sign-in attempts in 600 virtual seconds, gaps {gaps:?}",
        attempts.len()
    );
    assert!(
        (8..=20).contains(&attempts.len()),
        "a handful of attempts in ten minutes, not a busy loop: {} ({gaps:?})",
        attempts.len()
    );
    assert!(
        attempts[0] - started < Duration::from_millis(10),
        "the first at once"
    );
    assert!(gaps[0] >= Duration::from_millis(500) && gaps[0] <= Duration::from_secs(1));
    assert!(
        gaps.windows(2).all(|w| w[1] >= w[0]),
        "never shorter: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|gap| *gap <= Duration::from_secs(60)),
        "capped: {gaps:?}"
    );
    assert!(
        gaps.last()
            .is_some_and(|gap| *gap >= Duration::from_secs(30)),
        "grown to the cap: {gaps:?}"
    );
    // The engine ran all along: the snapshot says both clouds are unreachable.
    let shown = handle.snapshots().borrow().clone();
    assert!(shown.badge);
    assert!(
        shown
            .links
            .iter()
            .all(|link| link.text.contains("unreachable")),
        "{:?}",
        shown.links
    );
    // The agent quits while offline: the sync ends at once (nothing signed in to log out of).
    assert!(handle.send(presence_core::Input::Quit).await);
    let ended = tokio::time::timeout(Duration::from_secs(1), task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_injected_shutdown_logs_the_agent_out_then_ends_the_sync() {
    let emu = Emulator::start().await.expect("emulator");
    let mut agent = ready_agent(&emu, "ada").await;
    agent.shut_down();
    until(&emu, "Logout in Salesforce", |s| {
        salesforce_state(s) == Some("Logout")
    })
    .await;
    until(&emu, "Teams handed back", |s| ada(s)["loggedOut"] == true).await;
    let task = std::mem::replace(&mut agent.task, tokio::spawn(async { Ok(()) }));
    let ended = tokio::time::timeout(PATIENCE, task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    assert!(
        !agent.handle.send(presence_core::Input::Resumed).await,
        "no sync left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_effect_that_hangs_is_given_up_at_the_deadline_and_its_write_retried() {
    let emu = Emulator::start().await.expect("emulator");
    // The first preferred-presence write is held for two minutes, longer than any patience
    // here; its request timeout is longer still, so only the driver's deadline can free it.
    let mut options = options(
        &emu,
        "ada",
        Arc::new(Outbox::in_memory().expect("outbox")),
        &Transport {
            request_timeout: Duration::from_secs(300),
            ..Transport::default()
        },
    );
    options.effect_deadline = Duration::from_secs(1);
    let agent = start_agent_from(options).await;
    settle(&emu, &agent, "ada").await;
    fault(
        &emu,
        Api::Graph,
        FaultKind::Delay { ms: 120_000 },
        Some(1),
        Some("setUserPreferredPresence"),
    );
    agent.pick("Do Not Disturb").await;
    until(&emu, "Do Not Disturb in Teams, by the retried write", |s| {
        teams(s) == ("DoNotDisturb".into(), "DoNotDisturb".into())
    })
    .await;
    assert_eq!(salesforce_state(&emu.state()), Some("Do Not Disturb"));
}
