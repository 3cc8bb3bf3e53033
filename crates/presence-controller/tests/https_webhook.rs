//! The webhook over HTTPS, served by the controller itself (`[webhook.tls]`): Teams' calling
//! service reaches it only over https. The emulator's notifier trusts the controller's
//! certificate as Microsoft's trusts a public one; without that trust the TLS handshake fails
//! and the call cannot be reached.

mod common;

use common::{call_of, until, Agent};
use presence_controller::config::TlsSettings;
use presence_controller::Controller;
use presence_emulator::Emulator;
use serde_json::json;

async fn https_controller(emu: &Emulator) -> (Controller, String, String) {
    let mut settings = common::settings(emu);
    settings.webhook.tls = Some(TlsSettings {
        cert: None,
        key: None,
        self_signed: true,
    });
    let pem_path = settings.store.path.with_extension("webhook.pem");
    let controller = Controller::start(settings)
        .await
        .expect("the controller starts");
    let pem = std::fs::read_to_string(&pem_path).expect("the certificate was written");
    let url = format!("https://{}/api/calling", controller.webhook_address);
    (controller, url, pem)
}

async fn register(emu: &Emulator, body: serde_json::Value) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/_emulator/calling", emu.base_url))
        .json(&body)
        .send()
        .await
        .expect("control")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn calls_reach_the_controller_over_https_with_a_trusted_certificate_and_not_without() {
    let emu = Emulator::start().await.expect("emulator");
    let (_controller, url, pem) = https_controller(&emu).await;
    // Plain HTTP to the HTTPS webhook is no webhook at all.
    let plain = reqwest::Client::new()
        .post(url.replace("https://", "http://"))
        .json(&json!({ "value": [] }))
        .send()
        .await;
    assert!(
        plain.map_or(true, |r| !r.status().is_success()),
        "plain HTTP is not served"
    );

    // Registered without trusting the certificate: the handshake fails, Teams cannot reach it.
    let registered = register(&emu, json!({ "webhook": url })).await;
    assert_eq!(registered["bot"]["trustsExtraCertificate"], false);
    let unreached = emu
        .place_call("grace", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    until(&emu, "not reached", |s| {
        call_of(s, &unreached)["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("NotReached"))
    })
    .await;

    // Trusted: the call is the controller's and rings in the app.
    assert_eq!(
        register(
            &emu,
            json!({ "webhook": url, "trust_pem": "not a certificate" })
        )
        .await["error"]
            .as_str()
            .map(|e| e.contains("PEM")),
        Some(true)
    );
    let registered = register(&emu, json!({ "webhook": url, "trust_pem": pem })).await;
    assert_eq!(registered["bot"]["trustsExtraCertificate"], true);
    let agent = Agent::start(&emu, "ada").await;
    let id = emu
        .place_call("ada", "Direct", "+1 415 555 0100")
        .expect("call")
        .call_id;
    agent
        .until("ringing", |s| s.calls.iter().any(|c| c.call_id == id))
        .await;
    let legs = emu.with_world(|w| w.calling.legs[&id].callback_uri.clone());
    assert!(
        legs.as_deref().is_some_and(|uri| uri == format!("{url}/1")),
        "the call's callbackUri is the HTTPS webhook and its instance: {legs:?}"
    );
}
