//! The real OS keyring (Secret Service). These tests need a session bus: `make test` runs them
//! under `dbus-run-session` with an unlocked gnome-keyring (`with_keyring_*`), and once with no
//! session bus at all (`without_keyring_*`); plain `cargo test` skips them (`#[ignore]`).

use std::sync::Arc;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn with_keyring_a_session_resumes_from_the_keyring() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("presence-bridge-test"));
    let account = format!("resume-{}", std::process::id());
    let source = TokenSource::sign_in_auto_approved(endpoints.clone(), "grace")
        .await
        .expect("sign in");
    source
        .keep_in(store.clone(), &account)
        .await
        .expect("kept in the keyring");
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

/// Row A6 with a real locked gnome-keyring (no prompt can be shown: no display): the app's
/// start neither reads the kept session nor loses it; it says secure storage is unavailable,
/// signs in for this run only, and once the keyring is unlocked the session resumes from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn locked_keyring_a_kept_session_is_neither_read_nor_lost() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let keyring: Arc<dyn SecretStore> = Arc::new(KeyringStore::new("presence-bridge-test"));
    let account = format!("locked-{}", std::process::id());
    let source = TokenSource::sign_in_auto_approved(endpoints.clone(), "grace")
        .await
        .expect("sign in");
    source
        .keep_in(keyring.clone(), &account)
        .await
        .expect("kept in the keyring");
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
