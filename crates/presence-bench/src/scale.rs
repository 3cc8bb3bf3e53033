//! Tenant and org scale: N agents (100 to 2,000), each the product's own sync, against one
//! emulator that enforces Graph's 1,500 presence requests per 30 s per app per tenant and the
//! org's concurrent Streaming API client limit (1,000, Enterprise Edition). Each point runs in a
//! process of its own (this binary again), so that memory per agent is not what an earlier,
//! smaller fleet left in the allocator.
//!
//! A point: the agents log in over `LOGIN_SPREAD` (a morning, compressed), settle past their
//! minute of fast polling, then for a minute the clouds' counters are read while 30 agents
//! spread over the fleet change their Teams presence two seconds apart (timed until Salesforce
//! shows it).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::fleet::{resident_mib, Tenant};
use crate::latency::{teams_away, timed_changes};
use crate::stats::Summary;

pub const AGENT_COUNTS: [usize; 4] = [100, 500, 1000, 2000];
const LOGIN_SPREAD: Duration = Duration::from_secs(20);
const SAMPLED_CHANGES: usize = 30;
const MEASURED: Duration = Duration::from_secs(60);

/// One point's figures (what the child process prints as one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalePoint {
    pub agents: usize,
    pub synced: usize,
    pub streaming: usize,
    pub graph_requests_per_s: f64,
    pub graph_presence_reads_per_s: f64,
    pub graph_429s: u64,
    pub graph_429s_per_s: f64,
    pub salesforce_requests_per_s: f64,
    pub handshakes_refused: u64,
    pub teams_to_salesforce_ms: Vec<f64>,
    pub changes_lost: usize,
    pub rss_per_agent_mib: f64,
    pub rss_mib: f64,
}

impl ScalePoint {
    pub fn latency(&self) -> Option<Summary> {
        let samples: Vec<Duration> = self
            .teams_to_salesforce_ms
            .iter()
            .map(|&ms| Duration::from_secs_f64(ms / 1000.0))
            .collect();
        Summary::of(&samples)
    }
}

/// Raises this process's open-file limit as far as it may go: thousands of agents each hold
/// sockets, a lock and an SQLite outbox, and so does the emulator's side of every socket.
fn more_files() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = Rlimit {
        current: Some(1 << 20),
        maximum: Some(1 << 20),
    };
    if setrlimit(Resource::Nofile, wanted).is_err() {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            },
        );
    }
}

/// One point, in this process.
pub async fn point(agents: usize, streaming_limit: u32) -> Result<ScalePoint, String> {
    more_files();
    let mut tenant = Tenant::unsigned(agents, "s").await?;
    tenant
        .emu
        .with_world(|w| w.settings.streaming_client_limit = streaming_limit);
    let before_rss = resident_mib(None)?;
    let gap = LOGIN_SPREAD / agents.max(1) as u32;
    tenant.sign_in_all(gap).await?;
    tenant.until_ready(false, Duration::from_secs(180)).await;
    // Past the minute of fast polling after the last sign-in.
    tokio::time::sleep(Duration::from_secs(65)).await;
    let before = tenant.counters();
    let started = Instant::now();
    let chosen: Vec<usize> = (0..SAMPLED_CHANGES.min(agents))
        .map(|k| k * agents / SAMPLED_CHANGES.min(agents))
        .collect();
    let spacing = MEASURED.saturating_sub(Duration::from_secs(10)) / chosen.len().max(1) as u32;
    let (latencies, _, lost) = timed_changes(
        &tenant,
        &chosen,
        |k| started + spacing * k as u32,
        teams_away,
        &crate::fleet::Expect::Salesforce("Away".into()),
    )
    .await?;
    if let Some(rest) = MEASURED.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let after = tenant.counters();
    let (synced, streaming) = tenant.synced_and_streaming();
    let rss = resident_mib(None)?;
    let (delta, span) = after.since(&before);
    let per_s = |name: &str| delta.get(name).copied().unwrap_or(0) as f64 / span.as_secs_f64();
    let refused = tenant.emu.with_world(|w| {
        w.counters
            .get("cometd handshake refused")
            .copied()
            .unwrap_or(0)
    });
    let graph_429s = after.throttled - before.throttled;
    Ok(ScalePoint {
        agents,
        synced,
        streaming,
        graph_requests_per_s: per_s("graph"),
        graph_presence_reads_per_s: per_s("graph GET presence"),
        graph_429s,
        graph_429s_per_s: graph_429s as f64 / span.as_secs_f64(),
        salesforce_requests_per_s: per_s("salesforce"),
        handshakes_refused: refused,
        teams_to_salesforce_ms: latencies.iter().map(|d| d.as_secs_f64() * 1e3).collect(),
        changes_lost: lost,
        rss_per_agent_mib: (rss - before_rss) / agents.max(1) as f64,
        rss_mib: rss,
    })
}

/// Every point, each in a child process running `scale-point`.
pub async fn run(counts: &[usize], streaming_limit: u32) -> Result<Vec<ScalePoint>, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let mut points = Vec::new();
    for &agents in counts {
        eprintln!("bench: scale, {agents} agents …");
        let output = tokio::process::Command::new(&me)
            .args([
                "scale-point",
                "--agents",
                &agents.to_string(),
                "--streaming-limit",
                &streaming_limit.to_string(),
            ])
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", me.display()))?;
        if !output.status.success() {
            return Err(format!(
                "the {agents}-agent point failed: {}",
                output.status
            ));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().last().unwrap_or_default();
        let point: ScalePoint = serde_json::from_str(line)
            .map_err(|e| format!("the {agents}-agent point printed no result ({e}): {line:?}"))?;
        eprintln!(
            "bench: {agents} agents: {:.1} Graph req/s, {} 429s, {} refused, Teams -> Salesforce {}, {:.2} MiB each",
            point.graph_requests_per_s,
            point.graph_429s,
            point.handshakes_refused,
            Summary::brief(point.latency()),
            point.rss_per_agent_mib
        );
        points.push(point);
    }
    Ok(points)
}
