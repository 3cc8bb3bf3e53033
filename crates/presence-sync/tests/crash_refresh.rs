//! Row A4 with a real crash: the sync, set up for the clouds (the emulator playing them, which
//! rotates Salesforce refresh tokens), runs in a child process that is killed with SIGKILL after
//! Salesforce's refresh answer and before the rotated token is saved to the OS keyring (a
//! debug-only door in `auth.rs`). The next start finds the dead token: one `invalid_grant`,
//! then the browser sign-in, no loop; Teams resumes silently; the outbox is kept and delivered.
//! Needs gnome-keyring under `dbus-run-session` (`scripts/keyring-tests.sh`, from `make test`).

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use presence_core::Link;
use presence_emulator::Emulator;
use presence_sync::outbox::Outbox;
use presence_sync::secrets::{KeyringStore, SecretStore};
use presence_sync::{SignInTarget, Storage, SyncHandle, SyncOptions};

/// The child's part: where it finds the emulator, its outbox and its keyring service.
const CHILD: &str = "PB_A4_CHILD_EMULATOR";
const CHILD_OUTBOX: &str = "PB_A4_CHILD_OUTBOX";
const CHILD_SERVICE: &str = "PB_A4_CHILD_SERVICE";

/// The sync for the clouds at `base`, with its outbox in `outbox` and its refresh tokens under
/// the keyring service `service`; every browser sign-in it asks for goes to the receiver.
fn start_sync(
    base: &str,
    outbox: &std::path::Path,
    service: &str,
) -> (SyncHandle, SyncTask, BrowserPrompts) {
    let mut options = SyncOptions::new(SignInTarget::Clouds(Box::new(clouds_at_url(base))));
    options.storage = Storage::Outbox(Arc::new(Outbox::open(outbox).expect("outbox")));
    options.keyring_service = service.to_string();
    start_with_browser_prompts(options)
}

/// Run by the parent test as its child process (this same test binary); on its own it has
/// nothing to do. Signs in in the browser (played here) and syncs until the crash door kills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the A4 crash test"]
async fn with_keyring_a4_child_syncs_until_killed() {
    let (Ok(base), Ok(outbox), Ok(service)) = (
        std::env::var(CHILD),
        std::env::var(CHILD_OUTBOX),
        std::env::var(CHILD_SERVICE),
    ) else {
        return;
    };
    let (_handle, _task, mut asked) = start_sync(&base, outbox.as_ref(), &service);
    while let Ok(Some((_, url))) = tokio::time::timeout(Duration::from_secs(60), asked.recv()).await
    {
        assert_eq!(approve_in_browser(&url).await, 200);
    }
    panic!("the child was not killed within a minute of its last sign-in");
}

/// The token requests Salesforce answered (status each), in order, from index `from` of the
/// emulator's request list.
fn salesforce_token_answers(emu: &Emulator, from: usize) -> Vec<u64> {
    requests(emu)
        .into_iter()
        .skip(from)
        .filter(|(_, path, _)| path == "/services/oauth2/token")
        .map(|(_, _, status)| status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs gnome-keyring under dbus-run-session; make test runs it"]
async fn with_keyring_a4_a_process_killed_between_a_refresh_and_its_save_signs_in_once_again() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.salesforce_rotate_refresh = true;
        // Long enough to sign in and connect; then the session ends and is refreshed.
        w.settings.salesforce_session_s = 8;
    });
    let dir = std::env::temp_dir().join(format!("presence-a4-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let outbox = dir.join("outbox.sqlite");
    let service = format!("presence-bridge-test-a4-{}", std::process::id());
    let settings = clouds_at(&emu);
    let salesforce_account = format!(
        "salesforce:{}:{}",
        settings.salesforce.login_host, settings.salesforce.client_id
    );
    let teams_account = format!(
        "teams:{}:{}",
        settings.teams.tenant, settings.teams.client_id
    );
    let keyring = KeyringStore::new(&service);

    // The first run, in a process of its own, killed by the door in the refresh.
    let started = Instant::now();
    let mut child = std::process::Command::new(std::env::current_exe().expect("this test"))
        .args([
            "--exact",
            "with_keyring_a4_child_syncs_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, &emu.base_url)
        .env(CHILD_OUTBOX, &outbox)
        .env(CHILD_SERVICE, &service)
        .env("PRESENCE_BRIDGE_TEST_CRASH_BEFORE_SAVING_REFRESH", "1")
        .spawn()
        .expect("the child");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("the child was not killed by the crash door");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    eprintln!(
        "the first run was killed {:?} after its start",
        started.elapsed()
    );
    // Salesforce rotated the token (the refresh was answered), and the keyring still holds
    // the one the server has just retired.
    let kept = keyring
        .load(&salesforce_account)
        .expect("keyring")
        .expect("the first sign-in's token kept");
    let alive = emu.with_world(|w| w.refresh_tokens.get(&kept).map(|t| t.alive));
    assert_eq!(alive, Some(false), "the kept token was rotated away");
    assert_eq!(
        salesforce_token_answers(&emu, 0),
        vec![200, 200],
        "the sign-in, then the refresh answered before the crash"
    );
    // A call log the crash left behind, in the outbox on disk.
    Outbox::open(&outbox)
        .expect("the outbox after the crash")
        .enqueue(&call_log("a4-left-behind"))
        .expect("queued");

    // The next start: one refused refresh for Salesforce, then the browser; Teams silently.
    let from = requests(&emu).len();
    let (handle, task, mut asked) = start_sync(&emu.base_url, &outbox, &service);
    let (link, url) = tokio::time::timeout(Duration::from_secs(30), asked.recv())
        .await
        .expect("asked to sign in")
        .expect("a prompt");
    assert_eq!(link, Link::Salesforce, "only Salesforce needs a sign-in");
    assert_eq!(
        salesforce_token_answers(&emu, from),
        vec![400],
        "one invalid_grant before the prompt"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        salesforce_token_answers(&emu, from),
        vec![400],
        "no loop while the agent is asked"
    );
    assert!(asked.try_recv().is_err(), "asked once");
    assert_eq!(approve_in_browser(&url).await, 200);
    until_all_connected(&handle, Duration::from_secs(30)).await;
    until(&emu, "the log left behind delivered", |s| {
        tasks(s)
            .iter()
            .any(|t| t["Subject"].as_str() == Some("Missed call a4-left-behind"))
    })
    .await;
    let now_kept = keyring.load(&salesforce_account).expect("keyring");
    assert!(
        now_kept.is_some_and(|token| token != kept),
        "the new sign-in is kept"
    );
    task.abort();
    for account in [&salesforce_account, &teams_account] {
        let _ = keyring.delete(account);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
