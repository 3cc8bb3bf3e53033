//! The headless agent's footprint, release build: start-up to its first snapshot and to both
//! links connected, idle CPU over five minutes as a share of one core, resident memory. The
//! baseline, same run: the same binary started to print its version and exit (what loading it
//! costs).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use presence_emulator::Emulator;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::fleet::{resident_mib, status_mib};

#[derive(Debug, Clone)]
pub struct AgentFootprint {
    pub startup_first_snapshot: Duration,
    pub startup_connected: Duration,
    pub baseline_version_exit: Vec<Duration>,
    pub idle_span: Duration,
    pub idle_cpu_percent: f64,
    /// Readings of resident memory every 10 s through the idle span, in MiB.
    pub rss_mib: Vec<f64>,
    pub peak_rss_mib: f64,
}

/// The `presence-agent` next to this binary (both are built into the same `target/release`).
pub fn agent_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PB_AGENT_BIN") {
        return Ok(PathBuf::from(path));
    }
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let path = me.with_file_name("presence-agent");
    if path.exists() {
        Ok(path)
    } else {
        Err(format!(
            "no presence-agent at {} (cargo build --release -p presence-sync --bin presence-agent, or set PB_AGENT_BIN)",
            path.display()
        ))
    }
}

/// CPU seconds (user and system) of a process so far.
fn cpu_seconds(pid: Option<u32>) -> Result<f64, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".into(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // plain: state is field 3, utime 14 and stime 15.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path} is not a stat line"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |n: usize| -> Result<f64, String> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("{path} has no field {n}"))
    };
    Ok((ticks(14)? + ticks(15)?) / rustix::param::clock_ticks_per_second() as f64)
}

/// Whether a snapshot line says both links are connected.
fn connected(line: &str) -> bool {
    let Ok(snapshot) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    snapshot["links"].as_array().is_some_and(|links| {
        !links.is_empty()
            && links.iter().all(|link| {
                // The snapshot tags a link's state: `{"state": {"state": "Connected"}}`.
                link["state"]["state"] == "Connected"
            })
    })
}

pub async fn measure(binary: &Path, idle: Duration) -> Result<AgentFootprint, String> {
    let mut baseline_version_exit = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let status = tokio::process::Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        if !status.success() {
            return Err(format!("{} --version failed: {status}", binary.display()));
        }
        baseline_version_exit.push(started.elapsed());
    }
    let emu = Emulator::start()
        .await
        .map_err(|e| format!("the emulator does not start: {e}"))?;
    let data = std::env::temp_dir().join(format!("presence-bench-agent-{}", std::process::id()));
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .args(["--emulator", &emu.base_url, "--user", "ada", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let pid = child.id().ok_or("presence-agent ended at once")?;
    let stdout = child.stdout.take().ok_or("no standard output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut first = None;
    let startup_connected = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .map_err(|_| "presence-agent connected nothing within a minute".to_string())?
            .map_err(|e| format!("reading presence-agent: {e}"))?
            .ok_or("presence-agent ended before it connected")?;
        first.get_or_insert_with(|| started.elapsed());
        if connected(&line) {
            break started.elapsed();
        }
    };
    let startup_first_snapshot = first.unwrap_or(startup_connected);
    // Keep reading its output, so that it never blocks on a full pipe.
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    // Past the minute of fast polling that follows sign-in.
    tokio::time::sleep(Duration::from_secs(65)).await;
    let (agent0, at0) = (cpu_seconds(Some(pid))?, Instant::now());
    let mut rss_mib = Vec::new();
    while at0.elapsed() < idle {
        rss_mib.push(resident_mib(Some(pid))?);
        tokio::time::sleep(Duration::from_secs(10).min(idle.saturating_sub(at0.elapsed()))).await;
    }
    let (agent1, span) = (cpu_seconds(Some(pid))?, at0.elapsed());
    let peak_rss_mib = status_mib(Some(pid), "VmHWM")?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"quit\n").await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    reader.abort();
    let _ = std::fs::remove_dir_all(&data);
    Ok(AgentFootprint {
        startup_first_snapshot,
        startup_connected,
        baseline_version_exit,
        idle_span: span,
        idle_cpu_percent: (agent1 - agent0) / span.as_secs_f64() * 100.0,
        rss_mib,
        peak_rss_mib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_connected_only_when_every_link_is() {
        assert!(connected(
            r#"{"links":[{"state":{"state":"Connected"}},{"state":{"state":"Connected"}}]}"#
        ));
        assert!(!connected(
            r#"{"links":[{"state":{"state":"Connected"}},{"state":{"state":"Degraded","reason":"429"}}]}"#
        ));
        assert!(!connected(r#"{"links":[]}"#));
        assert!(!connected("not json"));
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        assert!(cpu_seconds(None).expect("stat") >= 0.0);
        assert!(resident_mib(None).expect("status") > 0.0);
    }
}
