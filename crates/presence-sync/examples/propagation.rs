//! Measures how long a presence change takes to cross from one cloud to the other through the
//! real driver, clients and emulator on loopback, with the durable outbox on disk as in the
//! product, and a baseline in the same run: one bare Graph presence read, one bare Salesforce
//! upsert, one durable staging of a presence write. `make bench` runs it in release mode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use presence_emulator::Emulator;

fn summary(name: &str, samples: &mut [Duration]) -> Duration {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 - 1.0) * p).round() as usize];
    let median = at(0.5);
    println!(
        "{name:<28} n={:<3} median {:>8.1} ms  p90 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms",
        samples.len(),
        median.as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
    );
    median
}

async fn wait(emu: &Emulator, check: impl Fn(&serde_json::Value) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        let agent =
            emu.with_world(|w| presence_emulator::control::state_json(w)["agents"][0].clone());
        if check(&agent) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no propagation: {agent}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let emu = Emulator::start().await.expect("emulator");
    let dir = std::env::temp_dir().join(format!("presence-bench-{}", std::process::id()));
    let outbox =
        Arc::new(presence_sync::outbox::Outbox::open(&dir.join("outbox.sqlite")).expect("outbox"));
    // Baseline: one durable commit of a presence write (WAL, synchronous FULL) on this disk.
    let mut staging = Vec::new();
    for sequence in 0..rounds as u64 {
        let write = presence_core::PresenceWrite {
            state: "Available".into(),
            source: presence_core::Source::Panel,
            sequence,
            origin_client: "bench".into(),
            out_of_office: false,
            teams: None,
        };
        let started = Instant::now();
        outbox.stage_presence(&write).expect("staged");
        staging.push(started.elapsed());
    }
    outbox
        .presence_delivered(rounds as u64 - 1)
        .expect("cleared");
    // Baseline: what one request costs on this machine, in this run (bare clients, no sync).
    let connectors = presence_sync::connect_emulator(
        &emu.base_url,
        "ada",
        presence_sync::EMULATOR_CLIENT_ID,
        outbox,
    )
    .await
    .expect("sign in");
    let mut graph_read = Vec::new();
    let mut salesforce_write = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        connectors.graph.my_presence().await.expect("read");
        graph_read.push(started.elapsed());
        let started = Instant::now();
        connectors.salesforce.heartbeat().await.expect("write");
        salesforce_write.push(started.elapsed());
    }
    // The product's own start: the same entry as the desktop app and presence-agent, on a
    // data directory of its own (lock and durable outbox on this disk).
    let target = presence_sync::SignInTarget::Emulator {
        url: emu.base_url.clone(),
        user: "ada".into(),
    };
    let mut options = presence_sync::SyncOptions::new(target);
    options.storage = presence_sync::Storage::DataDir(Some(dir.join("agent")));
    let (handle, sync) = presence_sync::start(options, |_| {}, std::future::pending());
    let task = tokio::spawn(sync);
    wait(&emu, |a| a["salesforce"]["State__c"].is_string()).await;
    let mut teams_to_salesforce = Vec::new();
    let mut salesforce_to_teams = Vec::new();
    let teams_states = [
        ("Away", "Away", "Away"),
        ("BeRightBack", "BeRightBack", "Be Right Back"),
    ];
    let salesforce_states = [
        ("Busy", "Busy", "Busy"),
        ("DoNotDisturb", "DoNotDisturb", "Do Not Disturb"),
    ];
    for round in 0..rounds {
        let (availability, activity, label) = teams_states[round % 2];
        // Past the engine's flip debounce, so this measures a single genuine change.
        tokio::time::sleep(Duration::from_millis(3100)).await;
        emu.teams_set_status("ada", availability, activity)
            .expect("teams");
        teams_to_salesforce.push(wait(&emu, |a| a["salesforce"]["State__c"] == label).await);
        let (availability, activity, label) = salesforce_states[round % 2];
        emu.salesforce_pick("ada", label).expect("salesforce");
        salesforce_to_teams.push(
            wait(&emu, |a| {
                a["teams"]["availability"] == availability && a["teams"]["activity"] == activity
            })
            .await,
        );
    }
    println!(
        "presence propagation through driver + clients + emulator on loopback ({rounds} rounds)"
    );
    let base_read = summary("baseline: one Graph GET", &mut graph_read);
    let base_write = summary("baseline: one SF upsert", &mut salesforce_write);
    summary("baseline: stage in outbox", &mut staging);
    let t2s = summary("Teams -> Salesforce", &mut teams_to_salesforce);
    let s2t = summary("Salesforce -> Teams", &mut salesforce_to_teams);
    println!("ratios of medians: Teams->Salesforce / Graph GET = {:.0}x, Salesforce->Teams / SF upsert = {:.1}x",
        t2s.as_secs_f64() / base_read.as_secs_f64(), s2t.as_secs_f64() / base_write.as_secs_f64());
    println!("anchor product: 3,000 to 7,000 ms; Teams->Salesforce is bounded by the adaptive poll (1 s active, 5 s idle)");
    drop(handle);
    task.abort();
    let _ = std::fs::remove_dir_all(&dir);
}
