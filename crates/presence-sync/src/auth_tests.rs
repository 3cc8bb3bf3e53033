//! `auth`'s unit tests.

use super::*;
use crate::secrets::{MemoryStore, SecretStore};

#[tokio::test]
async fn debug_output_never_shows_a_secret() {
    let tokens = Tokens {
        access_token: "ACCESS-SECRET".into(),
        refresh_token: Some("REFRESH-SECRET".into()),
        refresh_at: None,
        instance_url: Some("https://org.example".into()),
        identity_url: None,
    };
    let endpoints = OAuthEndpoints::entra(
        "http://127.0.0.1:9",
        "organizations",
        "app",
        "http://127.0.0.1:1/callback",
    );
    let source = TokenSource::new(endpoints, tokens.clone()).expect("a source");
    let store: std::sync::Arc<dyn SecretStore> = std::sync::Arc::new(MemoryStore::default());
    store.save("teams:ada", "STORED-SECRET").expect("save");
    source
        .keep_in(store.clone(), "teams:ada")
        .await
        .expect("kept");
    let extras = CloudExtras {
        id_token: Some("ID-TOKEN-SECRET".into()),
        ..CloudExtras::default()
    };
    let callback = crate::loopback::Callback::Code("CODE-SECRET".into());
    let shown = format!("{tokens:?} {source:?} {store:?} {extras:?} {callback:?}");
    for secret in [
        "ACCESS-SECRET",
        "REFRESH-SECRET",
        "STORED-SECRET",
        "ID-TOKEN-SECRET",
        "CODE-SECRET",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(
        shown.contains("[redacted]")
            && shown.contains("https://org.example")
            && shown.contains("teams:ada"),
        "{shown}"
    );
}
