//! What calls cost the clouds: one agent (the product's own sync, as `presence-agent` runs it)
//! and the call controller (`presence_controller::Controller`, as `presence-controller` runs
//! it) against one emulator, through the scripted hour's 12 calls: two of each kind an agent
//! meets (a direct call answered, one the caller gives up on while it rings, one declined, a
//! queue call answered, one the agent dials, one that comes in Do Not Disturb).
//!
//! A call's cost is every request the window of calls made beyond the idle rate, measured over
//! a minute of the same agent and controller idling just before: the ringing, the answer, the
//! presence the call sets and restores, the fast polling it starts, the agent ending wrap-up
//! (a pick of Available), and the Task the controller logs. Each call must end with exactly one
//! Task; a call without one, or with two, fails the part rather than being priced.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use presence_controller::{Controller, Settings};
use presence_core::{Input, Picker, Snapshot, UserIntent};
use presence_emulator::world::Call;
use presence_emulator::{Emulator, World};
use presence_sync::{SignInTarget, Storage, SyncHandle, SyncOptions};

use crate::economy::Window;
use crate::fleet::{scratch_dir, Counters};

/// The kinds of call in the scripted hour, each placed `CALLS_PER_KIND` times.
pub const KINDS: [CallKind; 6] = [
    CallKind::DirectAnswered,
    CallKind::CallerGivesUp,
    CallKind::Declined,
    CallKind::QueueAnswered,
    CallKind::Dialled,
    CallKind::InDoNotDisturb,
];
pub const CALLS_PER_KIND: usize = 2;

/// How long the agent talks on an answered call.
const TALK: Duration = Duration::from_millis(1000);
/// The idle span the per-call cost is measured against, and the settling before it (past the
/// minute of fast polling after signing in).
const BASELINE: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(65);
/// Longest wait for one step of a call.
const PATIENCE: Duration = Duration::from_secs(30);
const AGENT: &str = "ada";
const CALLER: &str = "+1 415 555 0100";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    DirectAnswered,
    CallerGivesUp,
    Declined,
    QueueAnswered,
    Dialled,
    InDoNotDisturb,
}

impl CallKind {
    pub fn name(self) -> &'static str {
        match self {
            CallKind::DirectAnswered => "direct call answered",
            CallKind::CallerGivesUp => "caller gives up while it rings",
            CallKind::Declined => "declined",
            CallKind::QueueAnswered => "queue call answered",
            CallKind::Dialled => "dialled by the agent",
            CallKind::InDoNotDisturb => "in Do Not Disturb (not signalled)",
        }
    }
}

/// The calls' window, the idle baseline before it, and what each call ended as.
#[derive(Debug, Clone)]
pub struct CallCost {
    pub window: Window,
    pub baseline: Window,
    /// Per call placed: its kind, the id its Task carries, its outcome at the emulator.
    pub calls: Vec<(CallKind, String, String)>,
    /// Tasks found, over all the calls (one each when nothing was lost or doubled).
    pub tasks: usize,
}

impl CallCost {
    /// Requests to one counter per call, beyond the idle rate (never below zero).
    pub fn per_call(&self, counter: &str) -> f64 {
        let counted = self.window.counts.get(counter).copied().unwrap_or(0) as f64;
        let idle_per_s = self.baseline.counts.get(counter).copied().unwrap_or(0) as f64
            / self.baseline.span.as_secs_f64().max(1e-9);
        let beyond = counted - idle_per_s * self.window.span.as_secs_f64();
        (beyond / self.calls.len().max(1) as f64).max(0.0)
    }
}

/// The agent's sync and the controller, running against `emu`.
struct Desk {
    emu: Emulator,
    handle: SyncHandle,
    sync: tokio::task::JoinHandle<()>,
    _controller: Controller,
    data: PathBuf,
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.sync.abort();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Waits for `check` on the world, up to `PATIENCE`; `what` names it in the error.
async fn until_world<T>(
    emu: &Emulator,
    what: &str,
    check: impl Fn(&World) -> Option<T>,
) -> Result<T, String> {
    let started = Instant::now();
    loop {
        if let Some(found) = emu.with_world(|w| check(w)) {
            return Ok(found);
        }
        if started.elapsed() > PATIENCE {
            return Err(format!("calls: timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Desk {
    async fn start() -> Result<Self, String> {
        let emu = Emulator::start()
            .await
            .map_err(|e| format!("calls: the emulator does not start: {e}"))?;
        // A declined or blocked call reaches the agent's Teams, which rings for a second.
        emu.with_world(|w| w.settings.teams_ring_s = 1);
        let data = scratch_dir("calls", &emu).map_err(|e| format!("calls: {e}"))?;
        let settings = Settings::demo(&emu.base_url, &data.join("calls.sqlite"))
            .map_err(|e| format!("calls: the controller's demo settings: {e}"))?;
        let controller = Controller::start(settings)
            .await
            .map_err(|e| format!("calls: the controller does not start: {e}"))?;
        emu.register_calling_webhook(&controller.webhook_url, controller.certificate());
        let mut options = SyncOptions::new(SignInTarget::Emulator {
            url: emu.base_url.clone(),
            user: AGENT.into(),
        });
        options.storage = Storage::DataDir(Some(data.join(AGENT)));
        let (handle, sync) = presence_sync::start(options, |_| {}, std::future::pending());
        let sync = tokio::spawn(async move {
            if let Err(error) = sync.await {
                eprintln!("bench: {AGENT}'s sync ended: {error}");
            }
        });
        let desk = Self {
            emu,
            handle,
            sync,
            _controller: controller,
            data,
        };
        desk.until_app("connected with a state", |s| {
            !s.links.is_empty()
                && s.links.iter().all(|l| l.state.is_connected())
                && s.state.is_some()
        })
        .await?;
        // Both streams subscribed: the agent's own and the controller's (the integration
        // user's, an id but no agent of the tenant).
        until_world(&desk.emu, "both streams subscribed", |w| {
            let subscribed = |agent: bool| {
                w.comet_clients
                    .values()
                    .any(|c| !c.subscriptions.is_empty() && c.agent.is_some() == agent)
            };
            (subscribed(true) && subscribed(false)).then_some(())
        })
        .await?;
        Ok(desk)
    }

    async fn until_app(&self, what: &str, check: impl Fn(&Snapshot) -> bool) -> Result<(), String> {
        let mut snapshots = self.handle.snapshots();
        let started = Instant::now();
        while !check(&snapshots.borrow_and_update()) {
            let left = PATIENCE.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(format!("calls: timed out waiting for the app: {what}"));
            }
            let _ = tokio::time::timeout(left, snapshots.changed()).await;
        }
        Ok(())
    }

    async fn say(&self, intent: UserIntent) -> Result<(), String> {
        if self.handle.send(Input::User(intent)).await {
            Ok(())
        } else {
            Err("calls: the agent's sync stopped".into())
        }
    }

    /// The agent picks `label` in the tray (unless Salesforce shows it already) and waits
    /// until Salesforce does.
    async fn pick(&self, label: &str) -> Result<(), String> {
        let index = self.index()?;
        let shows = |w: &World| {
            w.agent_presence(index)
                .and_then(|r| r.get("State__c"))
                .is_some_and(|s| s == label)
        };
        if self.emu.with_world(|w| shows(w)) {
            return Ok(());
        }
        self.say(UserIntent::Pick {
            label: label.into(),
            via: Picker::Tray,
        })
        .await?;
        until_world(&self.emu, &format!("{label} in Salesforce"), |w| {
            shows(w).then_some(())
        })
        .await
    }

    fn index(&self) -> Result<usize, String> {
        self.emu
            .with_world(|w| w.agent_index(AGENT))
            .ok_or_else(|| format!("calls: {AGENT} is no agent of the emulator"))
    }

    fn place(&self, kind: &str) -> Result<String, String> {
        self.emu
            .place_call(AGENT, kind, CALLER)
            .map(|call| call.call_id)
            .map_err(|e| format!("calls: the {kind} call is refused: {e:?}"))
    }

    async fn ringing(&self, offer: &str) -> Result<(), String> {
        self.until_app(&format!("{offer} ringing"), |s| {
            s.calls.iter().any(|c| c.call_id == offer)
        })
        .await
    }

    /// Waits until the emulator's call `call` gives `check` an answer; `what` names it.
    async fn until_call<T>(
        &self,
        call: &str,
        what: &str,
        check: impl Fn(&Call) -> Option<T>,
    ) -> Result<T, String> {
        until_world(&self.emu, &format!("{call} {what}"), |w| {
            w.calls.iter().find(|c| c.call_id == call).and_then(&check)
        })
        .await
    }

    /// Waits until the call has an outcome, and returns it.
    async fn outcome(&self, call: &str) -> Result<String, String> {
        self.until_call(call, "ended with an outcome", |c| c.outcome.clone())
            .await
    }

    /// Waits until the agent's Teams has joined the call (the bot answers every call it owns
    /// at once, so the call's own status says nothing of the agent).
    async fn joined(&self, call: &str) -> Result<(), String> {
        self.until_call(call, "joined in the agent's Teams", |c| {
            c.teams
                .as_deref()
                .is_some_and(|t| t.starts_with("answered by"))
                .then_some(())
        })
        .await
    }

    /// Waits until the far end of a call the agent dialled answers.
    async fn far_end_answered(&self, call: &str) -> Result<(), String> {
        self.until_call(call, "answered at the far end", |c| {
            (c.status == "Answered").then_some(())
        })
        .await
    }

    fn hang_up(&self, call: &str) -> Result<(), String> {
        self.emu
            .hang_up(call)
            .map(|_| ())
            .map_err(|e| format!("calls: hanging up {call} is refused: {e:?}"))
    }

    /// Places one call of `kind` and plays the agent's part; returns the id its Task carries
    /// and the call's outcome.
    async fn call(&self, kind: CallKind, n: usize) -> Result<(String, String), String> {
        // Each call starts with the agent Available (wrap-up after an answered call is
        // ended by picking it, as an agent who is ready does).
        let ready = if kind == CallKind::InDoNotDisturb {
            "Do Not Disturb"
        } else {
            "Available"
        };
        self.pick(ready).await?;
        match kind {
            CallKind::DirectAnswered | CallKind::QueueAnswered => {
                let (id, offer) = if kind == CallKind::DirectAnswered {
                    let id = self.place("Direct")?;
                    (id.clone(), id)
                } else {
                    let id = self.place("Queue")?;
                    (id.clone(), format!("{id}~1"))
                };
                self.ringing(&offer).await?;
                self.say(UserIntent::Answer { call_id: offer }).await?;
                self.joined(&id).await?;
                tokio::time::sleep(TALK).await;
                self.hang_up(&id)?;
                let outcome = self.outcome(&id).await?;
                Ok((id, outcome))
            }
            CallKind::CallerGivesUp => {
                let id = self.place("Direct")?;
                self.ringing(&id).await?;
                self.hang_up(&id)?;
                let outcome = self.outcome(&id).await?;
                Ok((id, outcome))
            }
            CallKind::Declined => {
                let id = self.place("Direct")?;
                self.ringing(&id).await?;
                self.say(UserIntent::Decline {
                    call_id: id.clone(),
                })
                .await?;
                let outcome = self.outcome(&id).await?;
                Ok((id, outcome))
            }
            CallKind::InDoNotDisturb => {
                let id = self.place("Direct")?;
                let outcome = self.outcome(&id).await?;
                Ok((id, outcome))
            }
            CallKind::Dialled => {
                let request = format!("bench-out-{n}");
                let before = self.emu.with_world(|w| w.calls.len());
                self.say(UserIntent::Dial {
                    call_id: request.clone(),
                    number: CALLER.into(),
                })
                .await?;
                let placed = until_world(&self.emu, "the dialled call placed", |w| {
                    w.calls
                        .iter()
                        .skip(before)
                        .find(|c| c.kind == "Outbound" && c.agent == AGENT)
                        .map(|c| c.call_id.clone())
                })
                .await?;
                self.far_end_answered(&placed).await?;
                tokio::time::sleep(TALK).await;
                self.say(UserIntent::HangUp {
                    call_id: request.clone(),
                })
                .await?;
                let outcome = self.outcome(&placed).await?;
                Ok((request, outcome))
            }
        }
    }

    fn counters(&self) -> Counters {
        Counters::of(&self.emu)
    }
}

/// The org's Tasks per call id (`CallObject`).
fn tasks_in(world: &World) -> BTreeMap<String, usize> {
    let mut tasks = BTreeMap::new();
    for task in world
        .records
        .get("Task")
        .into_iter()
        .flat_map(|r| r.values())
    {
        if let Some(call) = task.get("CallObject").and_then(|c| c.as_str()) {
            *tasks.entry(call.to_string()).or_default() += 1;
        }
    }
    tasks
}

/// Runs the scripted hour's calls (about three minutes: a minute settling, a minute of idle
/// baseline, then the calls) and prices them.
pub async fn cost() -> Result<CallCost, String> {
    let desk = Desk::start().await?;
    tokio::time::sleep(SETTLE).await;
    let idle_from = desk.counters();
    tokio::time::sleep(BASELINE).await;
    let idle_to = desk.counters();
    let mut calls = Vec::new();
    for round in 0..CALLS_PER_KIND {
        for (k, kind) in KINDS.into_iter().enumerate() {
            let n = round * KINDS.len() + k;
            let (id, outcome) = desk
                .call(kind, n)
                .await
                .map_err(|e| format!("{e} (call {n}, {})", kind.name()))?;
            calls.push((kind, id, outcome));
        }
    }
    desk.pick("Available").await?;
    // Every call's Task, then a moment more for a second one that should not come.
    let ids: Vec<String> = calls.iter().map(|(_, id, _)| id.clone()).collect();
    let logged = until_world(&desk.emu, "a Task for every call", |w| {
        let tasks = tasks_in(w);
        ids.iter().all(|id| tasks.contains_key(id)).then_some(())
    })
    .await;
    let calls_to = desk.counters();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let tasks = desk.emu.with_world(|w| tasks_in(w));
    let counts: Vec<usize> = ids
        .iter()
        .map(|id| tasks.get(id).copied().unwrap_or(0))
        .collect();
    if logged.is_err() || counts.iter().any(|&n| n != 1) {
        let each: Vec<String> = calls
            .iter()
            .zip(&counts)
            .map(|((kind, id, outcome), n)| format!("{id} ({}, {outcome}): {n}", kind.name()))
            .collect();
        let others: Vec<String> = tasks
            .iter()
            .filter(|(id, _)| !ids.contains(id))
            .map(|(id, n)| format!("{id}: {n}"))
            .collect();
        return Err(format!(
            "calls: not one Task per call: {}; Tasks of no call placed: {}",
            each.join("; "),
            others.join("; ")
        ));
    }
    Ok(CallCost {
        window: Window::between(&idle_to, &calls_to),
        baseline: Window::between(&idle_from, &idle_to),
        tasks: counts.iter().sum(),
        calls,
    })
}
