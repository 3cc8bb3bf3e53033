//! The engine's effects carried out: each a tracked task on the connectors that answers with
//! the engine's inputs, its outcome last. A task that panics, or does not answer within its
//! deadline, is reported to the engine as a failure, so the lane it belongs to retries.

use std::collections::HashMap;
use std::time::Duration;

use presence_core::{Effect, EffectId, Failure, Input, Outcome, PresenceWrite};
use tokio::task::JoinSet;

use crate::error::SyncError;
use crate::handle::Connectors;

/// Longest an effect may take by default (every request has its own, shorter timeout): past
/// it, the task is given up and the engine told it failed ([`crate::SyncOptions`] can change it).
pub const EFFECT_DEADLINE: Duration = Duration::from_secs(60);

fn outcome(result: Result<(), SyncError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(error) => Outcome::Failed(error.kind()),
    }
}

/// The effects being carried out: each a tracked task that answers with the engine's inputs.
pub(crate) struct EffectTasks {
    tasks: JoinSet<Vec<Input>>,
    /// Which effect each task carries out, to report one that panicked.
    ids: HashMap<tokio::task::Id, EffectId>,
    deadline: Duration,
}

impl EffectTasks {
    pub(crate) fn new(deadline: Duration) -> Self {
        Self {
            tasks: JoinSet::new(),
            ids: HashMap::new(),
            deadline,
        }
    }

    pub(crate) fn perform(&mut self, effect: Effect, connectors: &Connectors) {
        let Some(id) = effect.id() else {
            return;
        };
        let connectors = connectors.clone();
        self.track(id, async move { carry_out(effect, &connectors).await });
    }

    /// Runs the work of effect `id` as a tracked task under the deadline.
    fn track(
        &mut self,
        id: EffectId,
        work: impl std::future::Future<Output = Vec<Input>> + Send + 'static,
    ) {
        let deadline = self.deadline;
        let task = self.tasks.spawn(async move {
            match tokio::time::timeout(deadline, work).await {
                Ok(replies) => replies,
                Err(_) => {
                    tracing::error!(
                        "effect {id} had no answer within {} ms; reported as failed",
                        deadline.as_millis()
                    );
                    vec![failed(id, "no answer in time")]
                }
            }
        });
        self.ids.insert(task.id(), id);
    }

    /// The next finished task's inputs (a panicked task's as a failure); pending while none
    /// runs.
    pub(crate) async fn next(&mut self) -> Vec<Input> {
        let Some(joined) = self.tasks.join_next_with_id().await else {
            return std::future::pending().await;
        };
        match joined {
            Ok((task, replies)) => {
                self.ids.remove(&task);
                replies
            }
            Err(error) => match self.ids.remove(&error.id()) {
                Some(id) => {
                    tracing::error!("the task of effect {id} failed: {error}");
                    vec![failed(id, "the connector's task failed")]
                }
                None => Vec::new(),
            },
        }
    }
}

fn failed(id: EffectId, reason: &str) -> Input {
    Input::EffectDone {
        id,
        outcome: Outcome::Failed(Failure::Transient {
            reason: reason.into(),
        }),
    }
}

/// Sends a staged presence write and settles its row: unstaged once Salesforce has it, set
/// aside when refused for good, kept otherwise (the engine retries; a crash before then sends
/// it at the next start).
pub(crate) async fn send_presence(
    connectors: &Connectors,
    write: &PresenceWrite,
) -> Result<(), SyncError> {
    let result = connectors.salesforce.write_presence(write).await;
    let settled = match &result {
        Ok(()) => connectors.outbox.presence_delivered(write.sequence),
        Err(error @ SyncError::Refused { .. }) => connectors
            .outbox
            .set_presence_aside(&format!("Salesforce refused it: {error}")),
        Err(_) => Ok(()),
    };
    if let Err(error) = settled {
        tracing::error!("presence outbox: {error}");
    }
    result
}

/// Carries out one effect and answers with the engine's inputs (the outcome last).
async fn carry_out(effect: Effect, connectors: &Connectors) -> Vec<Input> {
    let done = |id: EffectId, result: Result<(), SyncError>| Input::EffectDone {
        id,
        outcome: outcome(result),
    };
    match effect {
        Effect::ReadTeams { id } => match connectors.graph.my_presence().await {
            Ok(presence) => vec![Input::TeamsPresence(presence), done(id, Ok(()))],
            Err(error) => vec![done(id, Err(error))],
        },
        Effect::ReadSalesforce { id } => match connectors.salesforce.read_presence().await {
            Ok(observation) => observation
                .map(Input::SalesforceState)
                .into_iter()
                .chain([done(id, Ok(()))])
                .collect(),
            Err(error) => vec![done(id, Err(error))],
        },
        Effect::WriteTeams { id, target } => {
            vec![done(id, connectors.graph.set_preferred(&target).await)]
        }
        Effect::KeepTeamsSession { id, pair } => {
            vec![done(id, connectors.graph.keep_session(&pair).await)]
        }
        Effect::ReleaseTeams { id } => vec![done(id, connectors.graph.release().await)],
        Effect::WriteSalesforce { id, write } => {
            // Staged before it is sent, so a crash cannot lose the agent's state. (The
            // engine has one Salesforce write in flight at a time, so stagings keep order.)
            if let Err(error) = connectors.outbox.stage_presence(&write) {
                tracing::error!("presence write could not be staged: {error}");
            }
            vec![done(id, send_presence(connectors, &write).await)]
        }
        Effect::Heartbeat { id } => vec![done(id, connectors.salesforce.heartbeat().await)],
        Effect::AnswerOffer {
            id,
            call_id,
            answer,
        } => vec![done(
            id,
            connectors.salesforce.answer_offer(&call_id, &answer).await,
        )],
        Effect::UpdateCall {
            id,
            call_id,
            action,
        } => vec![done(
            id,
            connectors.salesforce.update_call(&call_id, action).await,
        )],
        Effect::PlaceCall {
            id,
            call_id,
            number,
        } => vec![done(
            id,
            connectors.salesforce.place_call(&call_id, &number).await,
        )],
        Effect::LookupCaller {
            id,
            call_id,
            digits,
        } => match connectors.salesforce.lookup_caller(&digits).await {
            Ok(caller) => vec![
                Input::CallerIdentified { call_id, caller },
                done(id, Ok(())),
            ],
            Err(error) => vec![done(id, Err(error))],
        },
        Effect::RequestLogRetry { id, call_id } => vec![done(
            id,
            connectors.salesforce.request_log_retry(&call_id).await,
        )],
        // The driver performs these itself (they touch the outbox or the UI, never the network).
        Effect::LogCall { .. }
        | Effect::RetryCallLog { .. }
        | Effect::Ui(_)
        | Effect::Diagnostic { .. }
        | Effect::Shutdown => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome_of(replies: &[Input]) -> Option<(EffectId, &Outcome)> {
        replies.iter().find_map(|reply| match reply {
            Input::EffectDone { id, outcome } => Some((*id, outcome)),
            _ => None,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_panics_or_hangs_is_reported_as_failed_and_one_that_answers_passes() {
        let mut tasks = EffectTasks::new(Duration::from_secs(60));
        tasks.track(EffectId(1), async { panic!("a connector bug") });
        let replies = tasks.next().await;
        assert!(
            matches!(
                outcome_of(&replies),
                Some((EffectId(1), Outcome::Failed(Failure::Transient { .. })))
            ),
            "{replies:?}"
        );
        tasks.track(EffectId(2), std::future::pending());
        let started = tokio::time::Instant::now();
        let replies = tasks.next().await;
        assert!(
            matches!(
                outcome_of(&replies),
                Some((EffectId(2), Outcome::Failed(_)))
            ),
            "{replies:?}"
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(60),
            "given up at the deadline"
        );
        let done = Input::EffectDone {
            id: EffectId(3),
            outcome: Outcome::Done,
        };
        let answer = vec![done.clone()];
        tasks.track(EffectId(3), async move { answer });
        assert_eq!(tasks.next().await, vec![done]);
        assert!(tasks.ids.is_empty(), "nothing left tracked");
    }
}
