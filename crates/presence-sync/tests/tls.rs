//! Our own clients over HTTPS, against the emulator serving TLS with a certificate of its own
//! (`presence-emulator --tls`): trusted, everything works as over http; not trusted, the sync
//! fails closed and says why.

mod common;

use std::sync::Arc;

use common::*;
use presence_emulator::Emulator;
use presence_sync::outbox::Outbox;
use presence_sync::request::Transport;
use presence_sync::{SignInTarget, Storage, SyncOptions};

fn options(emu: &Emulator, transport: Transport) -> SyncOptions {
    let mut options = SyncOptions::new(SignInTarget::Emulator {
        url: emu.base_url.clone(),
        user: "ada".into(),
    });
    options.origin = "test".into();
    options.storage = Storage::Outbox(Arc::new(Outbox::in_memory().expect("outbox")));
    options.transport = transport;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_with_the_emulators_certificate_trusted_the_sync_works_end_to_end() {
    let emu = Emulator::start_tls().await.expect("emulator over TLS");
    assert!(
        emu.base_url.starts_with("https://127.0.0.1:"),
        "{}",
        emu.base_url
    );
    let transport = Transport {
        trusted_certificates: vec![emu.tls_certificate().expect("certificate").to_string()],
        ..Transport::default()
    };
    let agent = start_agent_from(options(&emu, transport)).await;
    // Sign-in, REST, Graph and the Streaming API, all over TLS.
    settle(&emu, &agent, "ada").await;
    agent.pick("Do Not Disturb").await;
    until(&emu, "Do Not Disturb in both clouds", |s| {
        salesforce_state(s) == Some("Do Not Disturb")
            && teams(s) == ("DoNotDisturb".into(), "DoNotDisturb".into())
    })
    .await;
    emu.salesforce_pick("ada", "Lunch").expect("pick");
    until_snapshot(&agent, "Lunch streamed back", |s| {
        s.state.as_deref() == Some("Lunch")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_with_an_untrusted_certificate_the_sync_fails_closed_and_says_why() {
    let emu = Emulator::start_tls().await.expect("emulator over TLS");
    let (handle, sync) = presence_sync::start(
        options(&emu, Transport::default()),
        |_| {},
        std::future::pending(),
    );
    let task = tokio::spawn(sync);
    let mut snapshots = handle.snapshots();
    let said = tokio::time::timeout(
        PATIENCE,
        snapshots.wait_for(|s| {
            s.links
                .iter()
                .all(|link| link.text.contains("TLS") && link.text.contains("unreachable"))
        }),
    )
    .await;
    assert!(said.is_ok(), "{:?}", handle.snapshots().borrow().links);
    // Nothing was signed in: the emulator issued no token.
    assert!(
        requests(&emu)
            .iter()
            .all(|(_, path, _)| !path.contains("/token")),
        "{:?}",
        requests(&emu)
    );
    task.abort();
}
