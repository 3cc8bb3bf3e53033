//! A tenant and org (one in-process emulator) and a fleet of agents, each running the
//! product's own sync (`presence_sync::start`: driver, Graph, Salesforce and streaming clients,
//! durable outbox in a data directory of its own) in this process, as `presence-agent` does.
//! What the bench reads of the clouds it reads from the emulated world under its lock, so
//! watching costs the fleet nothing on the wire.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use presence_core::config::Timing;
use presence_emulator::{Emulator, World};
use presence_sync::{SignInTarget, Storage, SyncHandle, SyncOptions};
use tokio::task::JoinHandle;

/// One agent of the fleet: its name at the emulator, its index in the world, its sync.
#[derive(Debug)]
pub struct Member {
    pub name: String,
    pub index: usize,
    _handle: SyncHandle,
    task: JoinHandle<()>,
}

/// The emulator and the agents signed in to it.
#[derive(Debug)]
pub struct Tenant {
    pub emu: Emulator,
    pub members: Vec<Member>,
    data: PathBuf,
    /// Agents not signed in yet.
    names: Vec<String>,
    /// The engine timing of the agents signed in from now on (the product's by default).
    pub timing: Timing,
}

/// What a change is waiting to be seen as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `Agent_Presence__c.State__c` shows this label.
    Salesforce(String),
    /// Graph's effective presence shows this availability and activity.
    Teams(String, String),
}

impl Tenant {
    /// An emulator on the demo scenario (its Call Center and states) with `agents` more agents
    /// named `{prefix}0001`…, each signed in and syncing.
    pub async fn start(agents: usize, prefix: &str) -> Result<Self, String> {
        let mut tenant = Self::unsigned(agents, prefix).await?;
        tenant.sign_in_all(Duration::ZERO).await?;
        Ok(tenant)
    }

    /// The same tenant before anyone signs in.
    pub async fn unsigned(agents: usize, prefix: &str) -> Result<Self, String> {
        let emu = Emulator::start()
            .await
            .map_err(|e| format!("the emulator does not start: {e}"))?;
        let names: Vec<String> = (1..=agents).map(|n| format!("{prefix}{n:04}")).collect();
        emu.with_world(|w| {
            for (n, name) in names.iter().enumerate() {
                w.add_agent(name, &format!("Agent {name}"), &format!("+1415556{n:04}"));
            }
        });
        let data = scratch_dir(prefix, &emu)?;
        Ok(Self {
            emu,
            members: Vec::new(),
            data,
            names,
            timing: Timing::default(),
        })
    }

    /// Starts every agent's sync, one every `gap` (a morning's log-ins, not one instant).
    pub async fn sign_in_all(&mut self, gap: Duration) -> Result<(), String> {
        let names = std::mem::take(&mut self.names);
        self.members.reserve(names.len());
        for name in names {
            self.sign_in(&name)?;
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        Ok(())
    }

    /// Starts `name`'s sync (it signs in to both emulated clouds without a browser).
    fn sign_in(&mut self, name: &str) -> Result<(), String> {
        let index = self
            .emu
            .with_world(|w| w.agent_index(name))
            .ok_or_else(|| format!("{name} is no agent of the emulator"))?;
        let mut options = SyncOptions::new(SignInTarget::Emulator {
            url: self.emu.base_url.clone(),
            user: name.to_string(),
        });
        options.storage = Storage::DataDir(Some(self.data.join(name)));
        options.timing = self.timing.clone();
        let (handle, sync) = presence_sync::start(options, |_| {}, std::future::pending());
        let who = name.to_string();
        let task = tokio::spawn(async move {
            if let Err(error) = sync.await {
                eprintln!("bench: {who}'s sync ended: {error}");
            }
        });
        self.members.push(Member {
            name: name.to_string(),
            index,
            _handle: handle,
            task,
        });
        Ok(())
    }

    /// One pass over the world (a fleet of thousands is read under the emulator's lock, so
    /// not agent by agent): per agent, whether it is synced (its `Agent_Presence__c` has a
    /// state and a heartbeat) and whether its stream is subscribed.
    fn census(&self, world: &World) -> Vec<(bool, bool)> {
        let synced_users: HashSet<&str> = world
            .records
            .get("Agent_Presence__c")
            .into_iter()
            .flat_map(|records| records.values())
            .filter(|record| {
                record.get("State__c").is_some_and(|s| s.is_string())
                    && record.get("Heartbeat_At__c").is_some_and(|s| s.is_string())
            })
            .filter_map(|record| record.get("User__c").and_then(|u| u.as_str()))
            .collect();
        let subscribed: HashSet<usize> = world
            .comet_clients
            .values()
            .filter(|client| !client.subscriptions.is_empty())
            .filter_map(|client| client.agent)
            .collect();
        self.members
            .iter()
            .map(|m| {
                let synced = world
                    .agents
                    .get(m.index)
                    .is_some_and(|a| synced_users.contains(a.salesforce_id.as_str()));
                (synced, synced && subscribed.contains(&m.index))
            })
            .collect()
    }

    /// How many agents are synced, and how many of those subscribed to the stream.
    pub fn synced_and_streaming(&self) -> (usize, usize) {
        let census = self.emu.with_world(|w| self.census(w));
        (
            census.iter().filter(|(synced, _)| *synced).count(),
            census.iter().filter(|(_, streaming)| *streaming).count(),
        )
    }

    /// Waits until every agent is synced (and subscribed, when `streaming`), or `limit`
    /// passes; returns how many were.
    pub async fn until_ready(&self, streaming: bool, limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let (synced, subscribed) = self.synced_and_streaming();
            let ready = if streaming { subscribed } else { synced };
            if ready == self.members.len() || started.elapsed() > limit {
                return ready;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Whether the clouds show `expect` for the agent at `index`.
    pub fn shows(world: &World, index: usize, expect: &Expect) -> bool {
        match expect {
            Expect::Salesforce(label) => world
                .agent_presence(index)
                .and_then(|record| record.get("State__c"))
                .is_some_and(|state| state == label.as_str()),
            Expect::Teams(availability, activity) => {
                let now = world.now_ms();
                world
                    .agents
                    .get(index)
                    .and_then(|agent| world.graph.get(&agent.graph_id))
                    .is_some_and(|user| {
                        let (a, b, _) = user.effective(now);
                        &a == availability && &b == activity
                    })
            }
        }
    }

    /// The request counters (per API, per route, and the emulator's own: handshakes refused).
    pub fn counters(&self) -> Counters {
        Counters::of(&self.emu)
    }
}

impl Drop for Tenant {
    fn drop(&mut self) {
        for member in &self.members {
            member.task.abort();
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The emulator's counters at one moment.
#[derive(Debug, Clone)]
pub struct Counters {
    pub by_name: BTreeMap<String, u64>,
    /// Graph presence reads answered 429.
    pub throttled: u64,
    pub at: Instant,
}

impl Counters {
    /// The emulator's counters now.
    pub fn of(emu: &Emulator) -> Self {
        emu.with_world(|w| Counters {
            by_name: w.counters.clone(),
            throttled: w.throttled,
            at: Instant::now(),
        })
    }

    /// What was counted between `earlier` and this, per name, and the time between.
    pub fn since(&self, earlier: &Counters) -> (BTreeMap<String, u64>, Duration) {
        let delta = self
            .by_name
            .iter()
            .map(|(name, &count)| {
                let before = earlier.by_name.get(name).copied().unwrap_or(0);
                (name.clone(), count.saturating_sub(before))
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        (delta, self.at.saturating_duration_since(earlier.at))
    }
}

/// A new directory for the data of agents at `emu`, named by `prefix`, this process and the
/// emulator's port (so that parts running at once never share one).
pub fn scratch_dir(prefix: &str, emu: &Emulator) -> Result<PathBuf, String> {
    let data = std::env::temp_dir().join(format!(
        "presence-bench-{prefix}-{}-{}",
        std::process::id(),
        emu.address.port()
    ));
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot make {}: {e}", data.display()))?;
    Ok(data)
}

/// Resident memory of a process (this one for `None`), `VmRSS`, in MiB.
pub fn resident_mib(pid: Option<u32>) -> Result<f64, String> {
    status_mib(pid, "VmRSS")
}

/// A memory line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(pid: Option<u32>, field: &str) -> Result<f64, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".into(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .ok_or_else(|| format!("{path} has no {field} line"))
}
