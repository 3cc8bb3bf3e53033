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
