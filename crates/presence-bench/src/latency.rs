//! Latency by idle time: for each idle class (0, 10, 30, 60, 300 s) a tenant of its own with a
//! fleet of agents, all classes at once so that the 300 s class costs five minutes, not
//! thirty agents × five minutes. Every agent sits idle for the class's time, then its Teams
//! changes (timed until Salesforce shows it); it sits idle as long again, then its Salesforce
//! state changes (timed until Teams shows it). Changes are spread 150 ms apart across the
//! fleet, so that they fall at every phase of the agents' polls.
//!
//! The tenant of the longest class is also where API economy is read: its agents do nothing
//! but sit, active for a minute after signing in and idle after.

use std::time::{Duration, Instant};

use presence_sync::EMULATOR_CLIENT_ID;

use crate::economy::Window;
use crate::fleet::{Counters, Expect, Tenant};
use crate::stats::Summary;

pub const IDLE_CLASSES_S: [u64; 5] = [0, 10, 30, 60, 300];
const SPREAD: Duration = Duration::from_millis(150);
/// How long a change may take before it counts as not delivered (and is reported so): past
/// the slowest the tenant's budget may pace a poll (60 s and its 10 % jitter).
const GIVE_UP: Duration = Duration::from_secs(90);

/// One idle class's figures.
#[derive(Debug, Clone)]
pub struct ClassResult {
    pub idle_s: u64,
    pub teams_to_salesforce: Vec<Duration>,
    pub salesforce_to_teams: Vec<Duration>,
    /// Changes never seen within a minute, per direction.
    pub lost: (usize, usize),
    /// Graph 429s the tenant answered during the class.
    pub graph_429s: u64,
}

/// The baselines measured in the same run: one bare request of each kind.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub graph_get: Vec<Duration>,
    pub salesforce_upsert: Vec<Duration>,
}

/// Counter readings for the economy part, from the longest class's tenant.
#[derive(Debug, Clone)]
pub struct EconomyReadings {
    pub agents: usize,
    pub active: Window,
    pub idle: Window,
}

#[derive(Debug, Clone)]
pub struct LatencyRun {
    pub classes: Vec<ClassResult>,
    pub baseline: Baseline,
    pub economy: EconomyReadings,
}

/// One bare Graph presence read and one bare Salesforce heartbeat upsert, `rounds` each.
async fn baseline(rounds: usize) -> Result<Baseline, String> {
    let emu = presence_emulator::Emulator::start()
        .await
        .map_err(|e| format!("the emulator does not start: {e}"))?;
    let dir = std::env::temp_dir().join(format!("presence-bench-base-{}", std::process::id()));
    let outbox = presence_sync::outbox::Outbox::open(&dir.join("outbox.sqlite"))
        .map_err(|e| format!("no outbox: {e}"))?;
    let connectors = presence_sync::connect_emulator(
        &emu.base_url,
        "ada",
        EMULATOR_CLIENT_ID,
        std::sync::Arc::new(outbox),
    )
    .await
    .map_err(|e| format!("the baseline cannot sign in: {e}"))?;
    let mut graph_get = Vec::new();
    let mut salesforce_upsert = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        connectors
            .graph
            .my_presence()
            .await
            .map_err(|e| format!("baseline read: {e}"))?;
        graph_get.push(started.elapsed());
        let started = Instant::now();
        connectors
            .salesforce
            .heartbeat()
            .await
            .map_err(|e| format!("baseline upsert: {e}"))?;
        salesforce_upsert.push(started.elapsed());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Baseline {
        graph_get,
        salesforce_upsert,
    })
}

/// Makes `change` for the `chosen` agents (indices into the tenant's members), the k-th at
/// `start(k)`, and times until `expect` shows. Returns the latencies, when each agent's change
/// landed, and how many never did within a minute.
pub async fn timed_changes(
    tenant: &Tenant,
    chosen: &[usize],
    start: impl Fn(usize) -> Instant,
    change: impl Fn(&Tenant, &str) -> Result<(), String>,
    expect: &Expect,
) -> Result<(Vec<Duration>, Vec<Instant>, usize), String> {
    let n = chosen.len();
    let mut made: Vec<Option<Instant>> = vec![None; n];
    let mut landed: Vec<Option<Instant>> = vec![None; n];
    loop {
        let now = Instant::now();
        for k in 0..n {
            if made[k].is_none() && start(k) <= now {
                change(tenant, &tenant.members[chosen[k]].name)?;
                made[k] = Some(Instant::now());
            }
        }
        let seen_at = Instant::now();
        tenant.emu.with_world(|w| {
            for k in 0..n {
                if made[k].is_some()
                    && landed[k].is_none()
                    && Tenant::shows(w, tenant.members[chosen[k]].index, expect)
                {
                    landed[k] = Some(seen_at);
                }
            }
        });
        let open = (0..n).filter(|&k| landed[k].is_none()).count();
        let last_made = made.iter().flatten().max().copied();
        let all_made = made.iter().all(Option::is_some);
        if open == 0 || (all_made && last_made.is_some_and(|at| at.elapsed() > GIVE_UP)) {
            let mut latencies = Vec::new();
            let mut when = Vec::new();
            for k in 0..n {
                if let (Some(m), Some(l)) = (made[k], landed[k]) {
                    latencies.push(l.saturating_duration_since(m));
                    when.push(l);
                } else {
                    when.push(Instant::now());
                }
            }
            return Ok((latencies, when, open));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

pub fn teams_away(tenant: &Tenant, name: &str) -> Result<(), String> {
    tenant
        .emu
        .teams_set_status(name, "Away", "Away")
        .map_err(|e| format!("the Teams change for {name} was refused: {e:?}"))
}

pub fn salesforce_busy(tenant: &Tenant, name: &str) -> Result<(), String> {
    tenant
        .emu
        .salesforce_pick(name, "Busy")
        .map(|_| ())
        .map_err(|e| format!("the Salesforce change for {name} was refused: {e:?}"))
}

/// One idle class on a tenant of its own; the longest also reads the economy windows.
async fn class(
    idle_s: u64,
    agents: usize,
) -> Result<(ClassResult, Option<EconomyReadings>), String> {
    let tenant = Tenant::start(agents, &format!("i{idle_s}x")).await?;
    let ready = tenant.until_ready(true, Duration::from_secs(120)).await;
    if ready < agents {
        return Err(format!(
            "idle {idle_s} s: only {ready} of {agents} agents synced within two minutes"
        ));
    }
    let synced = Instant::now();
    let throttled_before = tenant.counters().throttled;
    let idle = Duration::from_secs(idle_s);
    // The economy windows: active while the first minute after signing in lasts, idle after.
    let economy = if idle_s >= 240 {
        let at = |s: u64| synced + Duration::from_secs(s);
        tokio::time::sleep_until(at(5).into()).await;
        let a0 = tenant.counters();
        tokio::time::sleep_until(at(50).into()).await;
        let a1 = tenant.counters();
        tokio::time::sleep_until(at(70).into()).await;
        let i0 = tenant.counters();
        tokio::time::sleep_until(at(idle_s - 10).into()).await;
        let i1 = tenant.counters();
        Some(EconomyReadings {
            agents,
            active: Window::between(&a0, &a1),
            idle: Window::between(&i0, &i1),
        })
    } else {
        None
    };
    let everyone: Vec<usize> = (0..agents).collect();
    let (t2s, landed, lost_t2s) = timed_changes(
        &tenant,
        &everyone,
        |k| synced + idle + SPREAD * k as u32,
        teams_away,
        &Expect::Salesforce("Away".into()),
    )
    .await?;
    let (s2t, _, lost_s2t) = timed_changes(
        &tenant,
        &everyone,
        |k| landed[k] + idle + SPREAD * k as u32 / 4,
        salesforce_busy,
        &Expect::Teams("Busy".into(), "Busy".into()),
    )
    .await?;
    let throttled: Counters = tenant.counters();
    Ok((
        ClassResult {
            idle_s,
            teams_to_salesforce: t2s,
            salesforce_to_teams: s2t,
            lost: (lost_t2s, lost_s2t),
            graph_429s: throttled.throttled - throttled_before,
        },
        economy,
    ))
}

/// Runs the baseline, then every idle class at once.
pub async fn run(agents: usize) -> Result<LatencyRun, String> {
    let baseline = baseline(agents).await?;
    let classes = IDLE_CLASSES_S.map(|idle_s| tokio::spawn(class(idle_s, agents)));
    let mut results = Vec::new();
    let mut economy = None;
    for handle in classes {
        let (result, readings) = handle
            .await
            .map_err(|e| format!("an idle class stopped: {e}"))??;
        eprintln!(
            "bench: idle {:>3} s: Teams -> Salesforce {}, Salesforce -> Teams {}",
            result.idle_s,
            Summary::brief(Summary::of(&result.teams_to_salesforce)),
            Summary::brief(Summary::of(&result.salesforce_to_teams)),
        );
        results.push(result);
        economy = economy.or(readings);
    }
    Ok(LatencyRun {
        classes: results,
        baseline,
        economy: economy.ok_or("the longest idle class read no economy windows")?,
    })
}

/// The poll's bound for a Teams change made after `idle_s` of idling: the active poll (1 s and
/// up to 10 % jitter) within a minute of activity, the idle poll (5 s and 10 %) after.
pub fn poll_floor_ms(idle_s: u64) -> f64 {
    let timing = presence_core::config::Timing::default();
    let interval = if idle_s * 1000 < timing.active_window_ms {
        timing.teams_poll_active_ms
    } else {
        timing.teams_poll_idle_ms
    }
    .max(timing.teams_poll_floor_ms);
    interval as f64 * 1.1
}
