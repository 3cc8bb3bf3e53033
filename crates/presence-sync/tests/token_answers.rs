//! Row B1 for the sign-in servers: a token endpoint's answer is read no further than the
//! clients' 1 MiB cap, whether it says its length or streams without one, even when it is a
//! well-formed token answer padded out; the failure is a malformed answer, retried with
//! backoff, and the agent's refresh token is kept (no "sign-in needed").

mod common;

use common::*;
use presence_core::Failure;
use presence_sync::auth::{OAuthEndpoints, TokenSource, Tokens};
use presence_sync::request::Transport;
use presence_sync::SyncError;

/// The agent's tokens at an Entra under `base`, reached over `transport`, with a refresh token.
fn tokens_at(base: &str, transport: &Transport) -> TokenSource {
    let endpoints =
        OAuthEndpoints::entra(base, "organizations", "test", "http://127.0.0.1/cb").over(transport);
    TokenSource::new(
        endpoints,
        Tokens {
            access_token: "old".into(),
            refresh_token: Some("the agent's refresh token".into()),
            refresh_at: None,
            instance_url: None,
            identity_url: None,
        },
    )
    .expect("tokens")
}

/// A token answer that would be taken if it were read whole: 2 MiB of padding in a field the
/// token response does not know.
fn padded_token_answer() -> Vec<u8> {
    format!(
        r#"{{"access_token":"new","token_type":"Bearer","expires_in":3600,"refresh_token":"next","padding":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b1_a_token_answer_over_the_cap_is_refused_and_the_refresh_token_kept() {
    let body = padded_token_answer();
    let chunked = {
        let mut response =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
                .to_vec();
        for chunk in body.chunks(64 * 1024) {
            response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            response.extend_from_slice(chunk);
            response.extend_from_slice(b"\r\n");
        }
        response.extend_from_slice(b"0\r\n\r\n");
        response
    };
    let small = http_response(
        "application/json",
        br#"{"access_token":"new","token_type":"Bearer","expires_in":3600,"refresh_token":"next"}"#,
    );
    // The same answer without its padding is taken: the refusal is the size, nothing else.
    let fine = tokens_at(&canned_server(small), &Transport::default());
    assert_eq!(
        fine.refresh_after("old").await.expect("a small answer"),
        "new"
    );
    for (what, response) in [
        ("with its length", http_response("application/json", &body)),
        ("streamed without a length", chunked),
    ] {
        let tokens = tokens_at(&canned_server(response), &Transport::default());
        let error = tokens.refresh_after("old").await.expect_err(what);
        assert!(
            matches!(error, SyncError::Malformed { .. }),
            "{what}: {error:?}"
        );
        assert!(
            matches!(error.kind(), Failure::Transient { .. }),
            "{what} is retried with backoff: {error:?}"
        );
        assert_eq!(
            tokens.snapshot().await.refresh_token.as_deref(),
            Some("the agent's refresh token"),
            "{what}: the refresh token is kept"
        );
    }
}

/// Rows N4 and N5 for the sign-in servers: a token endpoint whose name does not resolve is
/// offline (retried when the network is back), one behind a certificate nobody trusts fails
/// closed at once and says so; neither costs the agent the refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n4_n5_a_token_endpoint_without_dns_or_with_an_untrusted_certificate_keeps_the_token() {
    let no_dns = Transport {
        resolver: Some(std::sync::Arc::new(NoDns)),
        ..Default::default()
    };
    let tls = UntrustedTls::start();
    for (what, base, transport) in [
        ("no DNS", "http://login.example.invalid".to_string(), no_dns),
        (
            "an untrusted certificate",
            tls.base_url(),
            Transport::default(),
        ),
    ] {
        let tokens = tokens_at(&base, &transport);
        let asked = std::time::Instant::now();
        let error = tokens.refresh_after("old").await.expect_err(what);
        eprintln!("{what}: {error}");
        assert!(
            matches!(error.kind(), Failure::Offline { .. }),
            "{what}: offline, not a retry storm nor a sign-in: {error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("resolve") || (text.contains("TLS") && text.contains("certificate")),
            "{what}: the error says why: {text}"
        );
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(5),
            "{what}: failed at once"
        );
        assert_eq!(
            tokens.snapshot().await.refresh_token.as_deref(),
            Some("the agent's refresh token"),
            "{what}: the refresh token is kept"
        );
    }
}
