//! Every live call's state on disk (SQLite), written before the controller acts on it: the
//! call's flow, its line and caller, and the effects still to perform. A controller killed
//! mid-call finds them again at start, performs what was left undone and reconciles each call
//! with Graph and Salesforce (`driver.rs`), so no call is lost and none is offered twice.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use crate::flow::{CallFlow, Effect};

/// A live call as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveCall {
    pub flow: CallFlow,
    /// The resource account called (the line: its agent is resolved at start).
    pub resource_account: String,
    /// The caller's number.
    pub from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the call store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the call store holds a call it cannot read ({call}): {error}")]
    Unreadable {
        call: String,
        error: serde_json::Error,
    },
}

#[derive(Debug)]
pub struct CallStore {
    db: Mutex<Connection>,
}

impl CallStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::with(Connection::open(path)?)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(db: Connection) -> Result<Self, StoreError> {
        // WAL with full sync: a saved call survives a SIGKILL of the controller and a power cut.
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS live_calls (
                 call TEXT PRIMARY KEY,
                 state TEXT NOT NULL,
                 pending TEXT NOT NULL,
                 saved_ms INTEGER NOT NULL
             );",
        )?;
        Ok(Self { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        match self.db.lock() {
            Ok(db) => db,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Saves a call and the effects about to be performed for it, in one transaction.
    pub fn save(&self, call: &LiveCall, pending: &[Effect], now_ms: i64) -> Result<(), StoreError> {
        let state = serde_json::to_string(call).map_err(|error| StoreError::Unreadable {
            call: call.flow.call.clone(),
            error,
        })?;
        let pending = serde_json::to_string(pending).map_err(|error| StoreError::Unreadable {
            call: call.flow.call.clone(),
            error,
        })?;
        self.db().execute(
            "INSERT INTO live_calls (call, state, pending, saved_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(call) DO UPDATE SET state = ?2, pending = ?3, saved_ms = ?4",
            params![call.flow.call, state, pending, now_ms],
        )?;
        Ok(())
    }

    /// The effects of a call were all performed.
    pub fn performed(&self, call: &str) -> Result<(), StoreError> {
        self.db().execute(
            "UPDATE live_calls SET pending = '[]' WHERE call = ?1",
            params![call],
        )?;
        Ok(())
    }

    /// The call is over.
    pub fn forget(&self, call: &str) -> Result<(), StoreError> {
        self.db()
            .execute("DELETE FROM live_calls WHERE call = ?1", params![call])?;
        Ok(())
    }

    /// Every live call with the effects left undone, oldest first. A row that cannot be read
    /// is an error that names it (it is not dropped).
    pub fn load(&self) -> Result<Vec<(LiveCall, Vec<Effect>)>, StoreError> {
        let db = self.db();
        let mut query =
            db.prepare("SELECT call, state, pending FROM live_calls ORDER BY saved_ms")?;
        let rows = query.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        let mut calls = Vec::new();
        for row in rows {
            let (call, state, pending) = row?;
            let unreadable = |error| StoreError::Unreadable {
                call: call.clone(),
                error,
            };
            let live: LiveCall = serde_json::from_str(&state).map_err(unreadable)?;
            let pending: Vec<Effect> = serde_json::from_str(&pending).map_err(unreadable)?;
            calls.push((live, pending));
        }
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{Action, AgentView, Rules};

    #[test]
    fn a_saved_call_and_its_pending_effects_come_back_after_a_reopen() {
        let dir = std::env::temp_dir().join(format!("controller-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("calls.sqlite");
        let timers = Rules {
            offer_timeout_ms: 5_000,
            ring_timeout_ms: 20_000,
            heartbeat_timeout_ms: 120_000,
            log_missed_calls: true,
            logged_out_states: Vec::new(),
            unanswered: Default::default(),
        };
        let (flow, effects) = CallFlow::incoming(
            "c1",
            AgentView {
                logged_out: false,
                heartbeat_age_ms: Some(1),
            },
            &timers,
        );
        let live = LiveCall {
            flow,
            resource_account: "ra".into(),
            from: "+1".into(),
        };
        {
            let store = CallStore::open(&path).expect("open");
            store.save(&live, &effects, 1).expect("save");
        }
        let store = CallStore::open(&path).expect("reopen");
        let loaded = store.load().expect("load");
        assert_eq!(
            loaded,
            vec![(live.clone(), vec![Effect::Graph(Action::Answer)])]
        );
        store.performed("c1").expect("performed");
        assert_eq!(store.load().expect("load")[0].1, Vec::<Effect>::new());
        store.forget("c1").expect("forget");
        assert!(store.load().expect("load").is_empty());
        store
            .db()
            .execute("INSERT INTO live_calls VALUES ('bad', '{', '[]', 0)", [])
            .expect("insert");
        let error = store.load().expect_err("an unreadable row is an error");
        assert!(error.to_string().contains("bad"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
