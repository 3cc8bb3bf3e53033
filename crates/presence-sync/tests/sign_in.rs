//! Sign-in in the browser with the loopback redirect, against the emulator (the test plays the
//! browser), including the bad callbacks of reliability row A9.

mod common;

use common::{approve_in_browser, clouds_at, no_redirects, start_with_browser_prompts};
use std::time::Duration;

use presence_emulator::Emulator;
use presence_sync::auth::{OAuthEndpoints, TokenSource};
use presence_sync::secrets::{MemoryStore, SecretStore};
use presence_sync::SyncError;

fn param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let found = parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string());
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_flow_accepts_one_valid_callback_and_rejects_the_rest() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1/unused",
    );
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
    let flow = tokio::spawn(TokenSource::sign_in_with_browser(
        endpoints,
        move |url| {
            let _ = url_tx.send(url);
        },
        Duration::from_secs(20),
    ));
    let authorize = url_rx.await.expect("the browser was opened");
    assert_eq!(
        param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let redirect = param(&authorize, "redirect_uri").expect("redirect");
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let state = param(&authorize, "state").expect("state");
    let browser = no_redirects();
    // Bad callbacks: answered 400, and the listener keeps waiting.
    for bad in [
        format!("{redirect}?code=stolen&state=not-the-state"),
        format!("{redirect}?state={state}"),
        format!("{redirect}?error=access_denied&state=wrong"),
        redirect.replace("/callback", "/elsewhere") + &format!("?code=x&state={state}"),
    ] {
        let response = browser.get(&bad).send().await.expect("listener answers");
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(
        emu.state()["counters"]["entra token"].as_u64().unwrap_or(0),
        0,
        "the token endpoint was never called"
    );
    // The real browser: authorize (auto-approved), then the redirect back.
    let approved = browser.get(&authorize).send().await.expect("authorize");
    let back = approved.headers()["location"]
        .to_str()
        .expect("location")
        .to_string();
    let response = browser.get(&back).send().await.expect("callback");
    assert_eq!(response.status(), 200);
    let tokens = flow.await.expect("joined").expect("signed in");
    assert!(!tokens.snapshot().await.access_token.is_empty());
    // The listener is closed: a replayed callback finds nothing.
    assert!(browser.get(&back).send().await.is_err(), "replay refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_ends_the_flow_without_calling_the_token_endpoint() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::salesforce(&emu.base_url, "app-1", "http://127.0.0.1/unused");
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
    let flow = tokio::spawn(TokenSource::sign_in_with_browser(
        endpoints,
        move |url| {
            let _ = url_tx.send(url);
        },
        Duration::from_secs(20),
    ));
    let authorize = url_rx.await.expect("opened");
    let redirect = param(&authorize, "redirect_uri").expect("redirect");
    let state = param(&authorize, "state").expect("state");
    let refused = no_redirects()
        .get(format!(
            "{redirect}?error=access_denied&error_description=user+said+no&state={state}"
        ))
        .send()
        .await
        .expect("callback");
    assert_eq!(refused.status(), 200);
    let outcome = flow.await.expect("joined");
    assert!(
        matches!(&outcome, Err(SyncError::Unauthorized(text)) if text.contains("access_denied")),
        "{outcome:?}"
    );
    assert_eq!(
        emu.state()["counters"]["salesforce oauth2/token"]
            .as_u64()
            .unwrap_or(0),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_concurrent_refreshes_make_one_request() {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let source = std::sync::Arc::new(
        TokenSource::sign_in_auto_approved(endpoints, "ada")
            .await
            .expect("sign in"),
    );
    let first = source.snapshot().await;
    let before = emu.state()["counters"]["entra token"].as_u64().unwrap_or(0);
    // Ten tasks see the same token refused at once.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (source, stale) = (source.clone(), first.access_token.clone());
        tasks.push(tokio::spawn(
            async move { source.refresh_after(&stale).await },
        ));
    }
    let mut fresh = Vec::new();
    for task in tasks {
        fresh.push(task.await.expect("joined").expect("refreshed"));
    }
    assert!(fresh
        .iter()
        .all(|token| *token == fresh[0] && *token != first.access_token));
    let after = emu.state()["counters"]["entra token"].as_u64().unwrap_or(0);
    assert_eq!(
        after - before,
        1,
        "single flight: one refresh for ten refusals"
    );
    let second = source.snapshot().await;
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "rotated and saved before use"
    );
    // The old refresh token is dead at the emulator; the saved one works.
    let again = source
        .refresh_after(&second.access_token)
        .await
        .expect("the rotated token works");
    assert_ne!(again, second.access_token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_code_sign_in_works_for_both_clouds_once_the_agent_approves() {
    let emu = Emulator::start().await.expect("emulator");
    emu.with_world(|w| {
        w.settings.device_interval_s = 1;
        w.settings.device_polls_before_approval = 100;
    });
    let base = emu.base_url.clone();
    // Entra: the agent approves as grace from another device while the app polls.
    let endpoints = OAuthEndpoints::entra(
        &base,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let device_url = format!("{base}/organizations/oauth2/v2.0/devicecode");
    let (code_tx, code_rx) = tokio::sync::oneshot::channel();
    let flow = tokio::spawn(async move {
        TokenSource::sign_in_with_device_code(endpoints, &device_url, move |prompt| {
            let _ = code_tx.send(prompt);
        })
        .await
    });
    let prompt = code_rx.await.expect("a code to show");
    assert!(!prompt.user_code.is_empty());
    assert!(prompt.verification_uri.contains("/_emulator/ui"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let approved = reqwest::Client::new()
        .post(format!("{base}/_emulator/device/approve"))
        .json(&serde_json::json!({"user_code": prompt.user_code, "agent": "grace"}))
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), 200);
    let tokens = flow.await.expect("joined").expect("signed in");
    let token = tokens.snapshot().await.access_token;
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1.0/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["userPrincipalName"], "grace@contoso.example");
    // Salesforce: its own device flow parameters.
    emu.with_world(|w| w.settings.device_polls_before_approval = 1);
    let endpoints = OAuthEndpoints::salesforce(&base, "app-1", "http://127.0.0.1:1/callback");
    let tokens = TokenSource::sign_in_salesforce_device(endpoints, |_| {})
        .await
        .expect("signed in");
    assert!(tokens
        .snapshot()
        .await
        .instance_url
        .is_some_and(|url| url == base));
}

/// Agent alan signed in to the emulated Entra, the refresh token kept in memory under
/// `teams:test`.
async fn alan_signed_in_and_kept() -> (
    Emulator,
    OAuthEndpoints,
    std::sync::Arc<dyn SecretStore>,
    TokenSource,
) {
    let emu = Emulator::start().await.expect("emulator");
    let endpoints = OAuthEndpoints::entra(
        &emu.base_url,
        "organizations",
        "app-1",
        "http://127.0.0.1:1/callback",
    );
    let store: std::sync::Arc<dyn SecretStore> = std::sync::Arc::new(MemoryStore::default());
    let source = TokenSource::sign_in_auto_approved(endpoints.clone(), "alan")
        .await
        .expect("sign in");
    source
        .keep_in(store.clone(), "teams:test")
        .await
        .expect("kept");
    (emu, endpoints, store, source)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_refresh_tokens_are_kept_and_resume_a_later_session() {
    let (emu, endpoints, store, source) = alan_signed_in_and_kept().await;
    let first = store.load("teams:test").expect("load").expect("a token");
    let access = source.snapshot().await.access_token;
    source.refresh_after(&access).await.expect("refresh");
    let rotated = store.load("teams:test").expect("load").expect("a token");
    assert_ne!(
        rotated, first,
        "the rotated token replaced the old one in the store"
    );
    // A later session starts from the kept token, with no sign-in.
    let resumed = TokenSource::resume(endpoints.clone(), store.clone(), "teams:test")
        .await
        .expect("resume")
        .expect("signed in");
    let token = resumed.snapshot().await.access_token;
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1.0/me", emu.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["userPrincipalName"], "alan@contoso.example");
    // Revoked at the server: resuming says a sign-in is needed and forgets the dead token.
    emu.with_world(|w| {
        presence_emulator::control::end_tokens(w, presence_emulator::Api::Entra, Some("alan"), true)
    })
    .expect("revoke");
    let gone = TokenSource::resume(endpoints, store.clone(), "teams:test")
        .await
        .expect("answered");
    assert!(gone.is_none());
    assert_eq!(store.load("teams:test").expect("load"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_identity_provider_error_keeps_the_refresh_token() {
    // Entra answers 503 temporarily_unavailable: that is no reason to sign the agent out.
    let (emu, endpoints, store, _source) = alan_signed_in_and_kept().await;
    let kept = store.load("teams:test").expect("load").expect("a token");
    let fault = serde_json::json!({"api": "entra", "kind": "status", "status": 503, "count": 1, "path_contains": "token"});
    let injected = reqwest::Client::new()
        .post(format!("{}/_emulator/faults", emu.base_url))
        .json(&fault)
        .send()
        .await
        .expect("fault");
    assert!(injected.status().is_success());

    let passing = TokenSource::resume(endpoints.clone(), store.clone(), "teams:test").await;
    match passing {
        Err(SyncError::Server(text)) => assert!(text.contains("temporarily_unavailable"), "{text}"),
        other => panic!("a passing error is retried, not a sign-in: {other:?}"),
    }
    assert_eq!(
        store.load("teams:test").expect("load"),
        Some(kept),
        "the refresh token is kept"
    );
    // The next try (the fault is spent) resumes with no sign-in.
    let resumed = TokenSource::resume(endpoints, store.clone(), "teams:test")
        .await
        .expect("resume");
    assert!(resumed.is_some(), "signed in again from the kept token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sign_in_that_fails_in_the_browser_is_offered_again_and_the_sync_starts_after_it() {
    use presence_core::{Link, Snapshot};
    use presence_emulator::world::{Fault, FaultKind};
    use presence_sync::{SignInTarget, Storage, SyncOptions};

    let emu = Emulator::start().await.expect("emulator");
    let mut options = SyncOptions::new(SignInTarget::Clouds(Box::new(clouds_at(&emu))));
    options.storage = Storage::Outbox(std::sync::Arc::new(
        presence_sync::outbox::Outbox::in_memory().expect("outbox"),
    ));
    options.keyring_service = format!("presence-bridge-test-{}", uuid::Uuid::new_v4());
    let (handle, sync, mut asked) = start_with_browser_prompts(options);
    let until = |what: &'static str, check: fn(&Snapshot) -> bool| {
        let mut snapshots = handle.snapshots();
        async move {
            tokio::time::timeout(Duration::from_secs(15), async {
                while !check(&snapshots.borrow_and_update()) {
                    snapshots.changed().await.expect("the sync runs");
                }
            })
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", snapshots.borrow()));
        }
    };

    // The first sign-in: the network drops the code's exchange after the agent approved.
    emu.with_world(|w| {
        w.faults.push(Fault {
            api: presence_emulator::Api::Entra,
            kind: FaultKind::Drop,
            count: Some(1),
            path_contains: Some("/token".into()),
        })
    });
    let (link, url) = asked.recv().await.expect("asked to sign in");
    assert_eq!(link, Link::Teams);
    assert_eq!(approve_in_browser(&url).await, 200);
    // Not final: the panel and the tray offer it again, and say why.
    until("the sign-in offered again", |s| {
        s.links[0].sign_in.is_some()
            && s.notes
                .iter()
                .any(|n| n.starts_with("The sign-in to Microsoft 365 failed"))
    })
    .await;
    assert!(!sync.is_finished(), "the sync did not give up");

    // The agent chooses "Sign in": asked again, approves, and then Salesforce the same way.
    handle.sign_in_again(Link::Teams).await.expect("taken");
    let (link, url) = asked.recv().await.expect("asked again");
    assert_eq!(link, Link::Teams);
    assert_eq!(approve_in_browser(&url).await, 200);
    let (link, url) = asked.recv().await.expect("then Salesforce");
    assert_eq!(link, Link::Salesforce);
    assert_eq!(approve_in_browser(&url).await, 200);
    assert!(handle.connectors().await.is_some(), "the sync runs");
    until("connected, with no sign-in line left", |s| {
        s.links
            .iter()
            .all(|l| l.state.is_connected() && l.sign_in.is_none())
            && !s
                .notes
                .iter()
                .any(|n| n.starts_with("The sign-in to") || n.starts_with("Sign in to"))
    })
    .await;
    sync.abort();
}
