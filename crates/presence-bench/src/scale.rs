//! Tenant and org scale: N agents (100 to 2,000), each the product's own sync, against one
//! emulator that enforces Graph's 1,500 presence requests per 30 s per app per tenant and the
//! org's concurrent Streaming API client limit (1,000, Enterprise Edition). Each point runs in a
//! process of its own (this binary again), so that memory per agent is not what an earlier,
//! smaller fleet left in the allocator.
//!
//! A point: the agents log in over `LOGIN_SPREAD` (a morning, compressed) and settle past their
//! minute of fast polling and the storm of throttling it brings; then for a minute the clouds' counters are read while the fleet
//! works. Thirty agents spread over the fleet are active: each picks a state in Salesforce
//! (timed until Teams shows it) and five seconds later, within its active minute, its Teams
//! presence changes (timed until Salesforce shows it: the "active agent" target of 2 s). Thirty
//! others change in Teams while idle (their bound is the idle poll, or the budget's pace).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::economy::org_daily_allowance;
use crate::fleet::{resident_mib, Expect, Tenant};
use crate::latency::{salesforce_busy, teams_away, timed_changes};
use crate::stats::{millis, Summary};

pub const AGENT_COUNTS: [usize; 5] = [100, 250, 500, 1000, 2000];
/// The agent count measured again with the pace off, as the baseline of how the pace shares
/// the budget: well past what the budget carries, and measured before the pace existed.
pub const BASELINE_AGENTS: usize = 500;
const LOGIN_SPREAD: Duration = Duration::from_secs(20);
/// From the last sign-in to the measured minute: past the minute of fast polling that follows
/// a sign-in and the few minutes the paced polls take to share the budget again after that
/// storm (from one read a minute, the floor it may have pushed them to, to one every 10 s:
/// about 4 minutes), so that the minute measures the tenant's steady state.
const SETTLE: Duration = Duration::from_secs(240);
const SAMPLED_CHANGES: usize = 30;
const MEASURED: Duration = Duration::from_secs(60);
/// How long after its pick an active agent's Teams presence changes: past the engine's settle
/// time for Teams changes after a synced one (3 s), well within the active minute.
const ACTIVE_AFTER_PICK: Duration = Duration::from_secs(5);

/// One point's figures (what the child process prints as one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalePoint {
    pub agents: usize,
    /// Whether the agents' polls share the tenant's budget (the product); `false` for the
    /// baseline whose agents only wait out each 429's `Retry-After`.
    #[serde(default = "yes")]
    pub paced: bool,
    pub synced: usize,
    pub streaming: usize,
    pub graph_requests_per_s: f64,
    pub graph_presence_reads_per_s: f64,
    pub graph_429s: u64,
    pub graph_429s_per_s: f64,
    pub salesforce_requests_per_s: f64,
    /// Requests counted against the org's daily API allowance, per second.
    #[serde(default)]
    pub salesforce_api_per_s: f64,
    /// Requests counted against the allowance from the first sign-in to the end of the point.
    #[serde(default)]
    pub salesforce_api_used: u64,
    pub handshakes_refused: u64,
    /// Teams changes of active agents (within a minute of their own pick), until Salesforce.
    pub teams_to_salesforce_ms: Vec<f64>,
    /// Teams changes of agents idle for more than a minute, until Salesforce.
    #[serde(default)]
    pub idle_teams_to_salesforce_ms: Vec<f64>,
    /// The active agents' picks in Salesforce, until Teams.
    #[serde(default)]
    pub salesforce_to_teams_ms: Vec<f64>,
    pub changes_lost: usize,
    pub rss_per_agent_mib: f64,
    pub rss_mib: f64,
}

fn yes() -> bool {
    true
}

impl ScalePoint {
    /// Teams → Salesforce for active agents (the target's figure).
    pub fn latency(&self) -> Option<Summary> {
        Summary::of_ms(&self.teams_to_salesforce_ms)
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

/// One point, in this process; `paced: false` turns the pace off (its slowest is then the
/// active poll's interval), for the baseline.
pub async fn point(agents: usize, streaming_limit: u32, paced: bool) -> Result<ScalePoint, String> {
    more_files();
    let mut tenant = Tenant::unsigned(agents, "s").await?;
    if !paced {
        tenant.timing.teams_poll_throttled_max_ms = tenant.timing.teams_poll_active_ms;
    }
    tenant.emu.with_world(|w| {
        w.settings.streaming_client_limit = streaming_limit;
        // The org's real allowance for this many licences (the emulator's default is the
        // base alone, which 2,000 agents would spend in minutes).
        w.settings.api_daily_limit = org_daily_allowance(agents) as u64;
    });
    let before_rss = resident_mib(None)?;
    let gap = LOGIN_SPREAD / agents.max(1) as u32;
    tenant.sign_in_all(gap).await?;
    tenant.until_ready(false, Duration::from_secs(180)).await;
    tokio::time::sleep(SETTLE).await;
    let before = tenant.counters();
    let api_before = tenant.emu.with_world(|w| w.api_usage);
    let started = Instant::now();
    let sampled = SAMPLED_CHANGES.min(agents / 2).max(1);
    let active: Vec<usize> = (0..sampled).map(|k| k * agents / sampled).collect();
    let idle: Vec<usize> = active
        .iter()
        .map(|&i| (i + agents / (2 * sampled)).min(agents - 1))
        .filter(|i| !active.contains(i))
        .collect();
    let spacing = MEASURED.saturating_sub(Duration::from_secs(10)) / sampled as u32;
    let away = Expect::Salesforce("Away".into());
    let active_agents = async {
        let (s2t, picked, lost_s2t) = timed_changes(
            &tenant,
            &active,
            |k| started + spacing * k as u32,
            salesforce_busy,
            &Expect::Teams("Busy".into(), "Busy".into()),
        )
        .await?;
        let (t2s, _, lost_t2s) = timed_changes(
            &tenant,
            &active,
            |k| picked[k] + ACTIVE_AFTER_PICK,
            teams_away,
            &away,
        )
        .await?;
        Ok::<_, String>((s2t, t2s, lost_s2t + lost_t2s))
    };
    let idle_agents = timed_changes(
        &tenant,
        &idle,
        |k| started + spacing * k as u32 + spacing / 2,
        teams_away,
        &away,
    );
    let (active_result, idle_result) = tokio::join!(active_agents, idle_agents);
    let (s2t, t2s, lost_active) = active_result?;
    let (idle_t2s, _, lost_idle) = idle_result?;
    if let Some(rest) = MEASURED.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let after = tenant.counters();
    let api_used = tenant.emu.with_world(|w| w.api_usage);
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
        paced,
        synced,
        streaming,
        graph_requests_per_s: per_s("graph"),
        graph_presence_reads_per_s: per_s("graph GET presence"),
        graph_429s,
        graph_429s_per_s: graph_429s as f64 / span.as_secs_f64(),
        salesforce_requests_per_s: per_s("salesforce"),
        salesforce_api_per_s: api_used.saturating_sub(api_before) as f64 / span.as_secs_f64(),
        salesforce_api_used: api_used,
        handshakes_refused: refused,
        teams_to_salesforce_ms: millis(&t2s),
        idle_teams_to_salesforce_ms: millis(&idle_t2s),
        salesforce_to_teams_ms: millis(&s2t),
        changes_lost: lost_active + lost_idle,
        rss_per_agent_mib: (rss - before_rss) / agents.max(1) as f64,
        rss_mib: rss,
    })
}

/// Every point, each in a child process running `scale-point`, then the baseline: the
/// `baseline` agent count again with the pace off. Each point is handed to `record` as soon as
/// it is measured, so that a later point failing loses none before it.
pub async fn run(
    counts: &[usize],
    baseline: Option<usize>,
    streaming_limit: u32,
    mut record: impl FnMut(&ScalePoint) -> Result<(), String>,
) -> Result<(), String> {
    let runs = counts
        .iter()
        .map(|&agents| (agents, true))
        .chain(baseline.map(|agents| (agents, false)));
    for (agents, paced) in runs {
        let point = child_point(agents, paced, streaming_limit).await?;
        eprintln!(
            "bench: {agents} agents{}: {:.1} Graph req/s, {} 429s, {} refused, Teams -> Salesforce {} active, {} idle, Salesforce -> Teams {}, {:.2} MiB each",
            if paced { "" } else { " (unpaced)" },
            point.graph_requests_per_s,
            point.graph_429s,
            point.handshakes_refused,
            Summary::brief(point.latency()),
            Summary::brief(Summary::of_ms(&point.idle_teams_to_salesforce_ms)),
            Summary::brief(Summary::of_ms(&point.salesforce_to_teams_ms)),
            point.rss_per_agent_mib
        );
        record(&point)?;
    }
    Ok(())
}

/// One point in a child process of this binary.
async fn child_point(
    agents: usize,
    paced: bool,
    streaming_limit: u32,
) -> Result<ScalePoint, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let unpaced = if paced { "" } else { " (unpaced)" };
    eprintln!("bench: scale, {agents} agents{unpaced} …");
    let mut command = tokio::process::Command::new(&me);
    command.args([
        "scale-point",
        "--agents",
        &agents.to_string(),
        "--streaming-limit",
        &streaming_limit.to_string(),
    ]);
    if !paced {
        command.arg("--unpaced");
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", me.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the {agents}-agent point{unpaced} failed: {}",
            output.status
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .map_err(|e| format!("the {agents}-agent point printed no result ({e}): {line:?}"))
}
