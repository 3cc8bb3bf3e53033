//! Measures the call controller's own cost on loopback, with a baseline in the same run:
//! - incoming call → `Agent_Call__c` offered: from the emulator queueing Graph's incoming-call
//!   notification to the offer existing in Salesforce (the webhook's token check, the agent's
//!   presence read, the answer, the `establishing`/`established` notifications, the upsert);
//! - the app's Answered → the agent's Teams ringing: from the app's write landing in Salesforce
//!   to Graph holding the invitation (the stream event, the flow, `participants/invite`);
//! - baseline: one bare loopback HTTPS-less round trip to the same emulator (`GET
//!   /services/data/`), and one Salesforce upsert by the controller's own client.
//!
//! The app is played by writes into the emulated org (its heartbeat, Signalled, Answered), so
//! only the controller's path is timed. `make bench` runs it in release mode.

use std::time::{Duration, Instant};

use presence_controller::{Controller, Settings};
use presence_emulator::Emulator;
use serde_json::{json, Map, Value};

fn summary(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<40} n={:<4} median {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
}

/// Polls the emulated world (in process, under its lock) until `check` holds.
async fn until(emu: &Emulator, check: impl Fn(&presence_emulator::World) -> bool) -> Instant {
    let started = Instant::now();
    loop {
        if emu.with_world(|w| check(w)) {
            return Instant::now();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the controller did not act"
        );
        tokio::task::yield_now().await;
    }
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let emu = Emulator::start().await.expect("emulator");
    // The agent picks up in Teams only when told: the ring is what is timed.
    emu.with_world(|w| w.settings.teams_accept_invite_ms = None);
    let store =
        std::env::temp_dir().join(format!("controller-bench-{}.sqlite", std::process::id()));
    let mut settings =
        Settings::parse(&include_str!("../demo.toml").replace("127.0.0.1:9441", "127.0.0.1:0"))
            .expect("demo.toml")
            .at_emulator(&emu.base_url);
    settings.store.path = store.clone();
    let controller = Controller::start(settings).await.expect("controller");
    // Over HTTPS, as Teams reaches it (the demo settings' self-signed certificate).
    emu.register_calling_webhook(&controller.webhook_url, controller.certificate());
    let ada = emu.with_world(|w| w.agents[0].salesforce_id.clone());
    let presence = emu.with_world(|w| {
        w.insert_record(
            "Agent_Presence__c",
            fields(json!({ "User__c": ada, "State__c": "Available", "Source__c": "Desktop" })),
        )
    });
    let presence = presence.expect("a presence row");

    // Baseline: a bare loopback round trip to the same server.
    let http = reqwest::Client::new();
    let mut round_trip = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        http.get(format!("{}/services/data/", emu.base_url))
            .send()
            .await
            .expect("versions")
            .bytes()
            .await
            .expect("body");
        round_trip.push(started.elapsed());
    }

    let mut offered = Vec::new();
    let mut invited = Vec::new();
    for _ in 0..rounds {
        let now = emu.with_world(|w| presence_emulator::clock::salesforce_datetime(w.now_ms()));
        emu.with_world(|w| {
            w.update_record(
                "Agent_Presence__c",
                &presence,
                fields(json!({ "Heartbeat_At__c": now })),
            )
        });
        let started = Instant::now();
        let call = emu
            .place_call("ada", "Direct", "+1 415 555 0100")
            .expect("call")
            .call_id;
        let done = until(&emu, |w| {
            w.find_record("Agent_Call__c", "Call_Id__c", &call)
                .is_some()
        })
        .await;
        offered.push(done - started);
        let record = emu
            .with_world(|w| w.find_record("Agent_Call__c", "Call_Id__c", &call))
            .expect("the offer");
        emu.with_world(|w| {
            w.update_record(
                "Agent_Call__c",
                &record,
                fields(json!({ "Status__c": "Signalled" })),
            )
        });
        let answered = Instant::now();
        emu.with_world(|w| {
            w.update_record(
                "Agent_Call__c",
                &record,
                fields(json!({ "Status__c": "Answered" })),
            )
        });
        let rang = until(&emu, |w| w.calling.rings.iter().any(|r| r.call == call)).await;
        invited.push(rang - answered);
        emu.hang_up(&call).expect("hang up");
        until(&emu, |w| {
            w.calls
                .iter()
                .any(|c| c.call_id == call && c.outcome.is_some())
        })
        .await;
    }
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!("presence-controller, {rounds} calls, {build} build, loopback (emulator in process)");
    summary("baseline: loopback round trip", &mut round_trip);
    summary("incoming call -> Agent_Call__c offered", &mut offered);
    summary("app Answered -> agent's Teams rings", &mut invited);
    controller.stop().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", store.display()));
    }
    let _ = std::fs::remove_file(store.with_extension("outbox.sqlite"));
}
