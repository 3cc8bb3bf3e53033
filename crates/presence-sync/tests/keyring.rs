//! The real OS keyring (Secret Service). These tests need a session bus: `make test` runs them
//! under `dbus-run-session` with an unlocked gnome-keyring (`with_keyring_*`), and once with no
//! session bus at all (`without_keyring_*`); plain `cargo test` skips them (`#[ignore]`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{approve_in_browser, clouds_at};
use presence_emulator::Emulator;
use presence_sync::auth::{OAuthEndpoints, TokenSource};
use presence_sync::secrets::{KeyringStore, SecretError, SecretStore};

#[test]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
fn with_keyring_secrets_round_trip_and_are_deleted() {
    let store = KeyringStore::new("presence-bridge-test");
    store.probe().expect("the keyring works");
    let account = format!("round-trip-{}", std::process::id());
    assert_eq!(store.load(&account), Ok(None));
    let long = "1.AXoA".to_string() + &"x".repeat(4000);
    store.save(&account, &long).expect("save");
    assert_eq!(
        store.load(&account),
        Ok(Some(long)),
        "a long refresh token survives intact"
    );
    store.save(&account, "rotated").expect("overwrite");
    assert_eq!(store.load(&account), Ok(Some("rotated".into())));
    store.delete(&account).expect("delete");
    assert_eq!(store.load(&account), Ok(None));
    assert!(store.durable());
}

/// Signs grace in to the emulator's Entra and keeps the session in `store` under `account`;
/// the endpoints, to resume it with.
async fn grace_kept_in(
    emu: &Emulator,
    store: &Arc<dyn SecretStore>,
    account: &str,
) -> OAuthEndpoints {
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    TokenSource::sign_in_auto_approved(endpoints.clone(), "grace")
        .await
        .expect("sign in")
        .keep_in(store.clone(), account)
        .await
        .expect("kept in the keyring");
    endpoints
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn with_keyring_a_session_resumes_from_the_keyring() {
    let emu = Emulator::start().await.expect("emulator");
    let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("presence-bridge-test"));
    let account = format!("resume-{}", std::process::id());
    let endpoints = grace_kept_in(&emu, &store, &account).await;
    let resumed = TokenSource::resume(endpoints, store.clone(), &account)
        .await
        .expect("resume")
        .expect("signed in");
    assert!(!resumed.snapshot().await.access_token.is_empty());
    store.delete(&account).expect("clean up");
}

#[test]
#[ignore = "run with no session bus; make test runs it"]
fn without_keyring_the_store_says_secure_storage_is_unavailable() {
    let (store, reason) = presence_sync::secrets::keyring_or_memory("presence-bridge-test");
    assert!(
        matches!(
            reason,
            Some(SecretError::Unavailable(_)) | Some(SecretError::Backend(_))
        ),
        "{reason:?}"
    );
    assert!(!store.durable(), "falls back to memory, never to a file");
}

/// Stores `secret` (any bytes) the way another program would, with `secret-tool`.
fn store_with_secret_tool(account: &str, secret: &[u8]) {
    use std::io::Write as _;
    let mut child = std::process::Command::new("secret-tool")
        .args(["store", "--label=planted by a test"])
        .args(["service", "presence-bridge-test", "username", account])
        .args(["target", "default"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("secret-tool (installed by make deps)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(secret)
        .expect("secret");
    assert!(child.wait().expect("secret-tool").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn with_keyring_a_garbage_entry_means_signed_out_and_is_removed() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("presence-bridge-test"));
    // Text that is no refresh token, and bytes that are not text at all.
    let cases: [(&str, &[u8]); 2] = [
        ("text", "not a token \u{202e}<script>".as_bytes()),
        ("bytes", &[0xff, 0xfe, 0x00, 0x80, 0x41]),
    ];
    for (what, garbage) in cases {
        let account = format!("garbage-{what}-{}", std::process::id());
        store_with_secret_tool(&account, garbage);
        let resumed = TokenSource::resume(endpoints.clone(), store.clone(), &account)
            .await
            .unwrap_or_else(|error| panic!("{what}: an error instead of signed out: {error}"));
        assert!(resumed.is_none(), "{what}: signed out");
        assert_eq!(store.load(&account), Ok(None), "{what}: removed");
    }
}

/// The keyring's default collection, locked as a screen lock or a timeout would, through the
/// Secret Service's own `Lock`.
fn lock_the_keyring() {
    let output = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.secrets",
        ])
        .args([
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
        ])
        .arg("array:objpath:/org/freedesktop/secrets/aliases/default")
        .output()
        .expect("dbus-send (the dbus package, installed by make deps)");
    assert!(
        output.status.success(),
        "lock: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Unlocks it again as the agent's login does: gnome-keyring started anew with the password
/// (`scripts/keyring-tests.sh` creates the keyring with this one).
fn unlock_the_keyring() {
    use std::io::Write as _;
    let mut daemon = std::process::Command::new("gnome-keyring-daemon")
        .args(["--replace", "--unlock", "--components=secrets"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon");
    daemon
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"test-password")
        .expect("password");
    assert!(daemon.wait().expect("gnome-keyring-daemon").success());
}

/// Row A6 with a real locked gnome-keyring (gnome-keyring refuses the locked collection at
/// once here, whether or not a prompt could be shown): the app's start neither reads the kept
/// session nor loses it; it says secure storage is unavailable,
/// signs in for this run only, and once the keyring is unlocked the session resumes from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn locked_keyring_a_kept_session_is_neither_read_nor_lost() {
    let emu = Emulator::start().await.expect("emulator");
    let keyring: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("presence-bridge-test"));
    let account = format!("locked-{}", std::process::id());
    let endpoints = grace_kept_in(&emu, &keyring, &account).await;
    let kept = keyring.load(&account).expect("readable").expect("kept");

    lock_the_keyring();
    let started = std::time::Instant::now();
    let (store, reason) = presence_sync::secrets::keyring_or_memory("presence-bridge-test");
    eprintln!("locked: {reason:?} after {:?}", started.elapsed());
    let direct = keyring.load(&account);
    eprintln!("a read of the locked keyring: {direct:?}");
    assert!(
        !matches!(direct, Ok(Some(_))),
        "a locked keyring gave its secret: {direct:?}"
    );
    let resumed = TokenSource::resume(endpoints.clone(), store.clone(), &account).await;
    assert!(
        !matches!(resumed, Ok(Some(_))),
        "resumed from a locked keyring"
    );
    if store.durable() {
        // The keyring answered the probe: then reads of it fail with the reason.
        assert!(direct.is_err(), "{direct:?}");
    } else {
        assert!(
            matches!(
                reason,
                Some(SecretError::Unavailable(_)) | Some(SecretError::Backend(_))
            ),
            "{reason:?}"
        );
    }
    assert!(
        started.elapsed() < presence_sync::secrets::KEYRING_WAIT * 2,
        "bounded: {:?}",
        started.elapsed()
    );

    unlock_the_keyring();
    assert_eq!(
        keyring.load(&account),
        Ok(Some(kept)),
        "the kept session survived the locked start"
    );
    let resumed = TokenSource::resume(endpoints, keyring.clone(), &account)
        .await
        .expect("resume")
        .expect("signed in again from the keyring");
    assert!(!resumed.snapshot().await.access_token.is_empty());
    keyring.delete(&account).expect("clean up");
}

/// Starts the sync for the clouds (the emulator playing them) with its refresh tokens under
/// the keyring service `service`, plays the agent's browser for both sign-ins, and returns the
/// notes of the first snapshot in which both clouds are connected.
async fn sign_in_the_sync(emu: &Emulator, service: &str) -> Vec<String> {
    use presence_core::Link;
    use presence_sync::{SignInTarget, Storage, SyncOptions};
    let mut options = SyncOptions::new(SignInTarget::Clouds(Box::new(clouds_at(emu))));
    options.storage = Storage::Outbox(Arc::new(
        presence_sync::outbox::Outbox::in_memory().expect("outbox"),
    ));
    options.keyring_service = service.to_string();
    let started = std::time::Instant::now();
    let (handle, sync, mut asked) = common::start_with_browser_prompts(options);
    let patience = presence_sync::secrets::KEYRING_WAIT + Duration::from_secs(15);
    for cloud in [Link::Teams, Link::Salesforce] {
        let (link, url) = tokio::time::timeout(patience, asked.recv())
            .await
            .unwrap_or_else(|_| panic!("no {cloud:?} sign-in after {:?}", started.elapsed()))
            .expect("asked to sign in");
        assert_eq!(link, cloud);
        assert_eq!(approve_in_browser(&url).await, 200);
    }
    common::until_all_connected(&handle, patience).await;
    eprintln!("connected {:?} after the start", started.elapsed());
    let notes = handle.snapshots().borrow().notes.clone();
    sync.abort();
    notes
}

/// Harm 8 through the real driver: the agent's keyring is locked (and on this display any
/// unlock prompt would stay open), and the sync, set up for the clouds, still starts: it says
/// the sign-in lasts only while the app runs, asks for both sign-ins, connects, and writes
/// nothing into the locked keyring. Unlocked, the same start keeps both sessions there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn locked_keyring_the_sync_still_starts_signed_in_for_this_run() {
    let emu = Emulator::start().await.expect("emulator");
    let service = format!("presence-bridge-test-locked-{}", std::process::id());
    // The accounts the sync keeps the clouds' tokens under (`connect.rs`).
    let settings = clouds_at(&emu);
    let accounts = [
        format!(
            "teams:{}:{}",
            settings.teams.tenant, settings.teams.client_id
        ),
        format!(
            "salesforce:{}:{}",
            settings.salesforce.login_host, settings.salesforce.client_id
        ),
    ];
    let keyring = KeyringStore::new(&service);

    lock_the_keyring();
    let notes = sign_in_the_sync(&emu, &service).await;
    assert!(
        notes
            .iter()
            .any(|note| note.contains("this sign-in lasts only while the app runs")),
        "the agent is told: {notes:?}"
    );
    unlock_the_keyring();
    for account in &accounts {
        assert_eq!(
            keyring.load(account),
            Ok(None),
            "nothing kept under {account}"
        );
    }

    let notes = sign_in_the_sync(&emu, &service).await;
    assert!(
        !notes.iter().any(|note| note.contains("lasts only while")),
        "unlocked, no warning: {notes:?}"
    );
    for account in &accounts {
        assert!(
            matches!(keyring.load(account), Ok(Some(_))),
            "kept under {account} once the keyring is unlocked"
        );
        keyring.delete(account).expect("clean up");
    }
}
