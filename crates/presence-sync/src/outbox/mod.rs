//! The durable outbox: every Salesforce write that must not be lost waits here, in SQLite (WAL,
//! `synchronous=FULL`), until Salesforce has it.
//!
//! - Call logs: committed before anything is sent, delivered in order, written by upsert on
//!   their key, so a retry or a restart never duplicates one. A row Salesforce refuses for good
//!   is set aside with the reason while the rest drains.
//! - The agent's presence: the latest write the engine decided is staged before it is sent and
//!   cleared when Salesforce confirms it. Presence is a state, not a series of events, so a newer
//!   decision replaces an older one that was never sent (sending the older one later would only
//!   flip the agent back). A write still staged at the next start (the app crashed or was killed
//!   before Salesforce had it) is sent before the engine starts, if it is recent enough to still
//!   be the agent's wish; see [`STAGED_PRESENCE_MAX_AGE`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use presence_core::{CallLog, PresenceWrite};
use rusqlite::{params, Connection, OptionalExtension};
use thiserror::Error;
use tokio::sync::{watch, Notify};

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("the outbox database failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("a call log could not be encoded: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error("the outbox file could not be set aside: {0}")]
    Io(#[from] std::io::Error),
    /// The file is a database that fails its integrity check.
    #[error("the outbox failed its integrity check: {0}")]
    Corrupt(String),
}

impl OutboxError {
    /// Whether the file itself is damaged (not a database, or failing its integrity check),
    /// as opposed to unreachable for now (locked, no permission, disk full, a directory in
    /// its place): only a damaged file is set aside.
    pub fn is_corruption(&self) -> bool {
        match self {
            OutboxError::Corrupt(_) => true,
            OutboxError::Database(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ),
            _ => false,
        }
    }
}

/// A row set aside: Salesforce refused it for good, or it could not be read or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLog {
    pub key: String,
    pub reason: String,
    /// A call log (the rest are presence writes set aside).
    pub is_call_log: bool,
    /// The call log itself, for a call log that can still be read (`None` for a presence
    /// write set aside, or a row whose payload is unreadable).
    pub log: Option<CallLog>,
    /// When the row was first queued (Unix ms, wall clock).
    pub created_ms: i64,
}

/// How old a presence write left staged by an earlier run may be and still be sent at start.
/// Older, the agent has most likely changed state since (in Teams or Salesforce, while the app
/// was not running), and the start-up repair of the two sides decides instead; the write is set
/// aside with that reason, never dropped silently.
pub const STAGED_PRESENCE_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// A presence write waiting for Salesforce's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPresence {
    pub write: PresenceWrite,
    /// When it was staged (Unix ms, wall clock).
    pub staged_ms: i64,
}

#[derive(Debug)]
pub struct Outbox {
    connection: Mutex<Connection>,
    /// Woken when a log is queued.
    pub queued: Notify,
    /// Counts changes to the rows set aside (one set aside, one queued again): the driver
    /// watches it to keep the agent's "not saved to Salesforce" list current.
    pub set_aside_changes: watch::Sender<u64>,
    /// Set when the file failed its integrity check and was set aside at open.
    pub quarantined: Option<PathBuf>,
    /// Rows carried over from the file set aside (call logs not yet delivered, the staged
    /// presence write, stream positions).
    pub salvaged: usize,
    /// Rows that read but could not be updated (a damaged file), skipped until the next start.
    stuck: Mutex<std::collections::BTreeSet<i64>>,
}

/// Copies what can still be read from a damaged outbox into a fresh one, row by row (a row
/// that cannot be read is skipped, the rest still come): call logs not yet delivered, the
/// staged presence write and the stream positions. Returns how many rows came over.
fn salvage(damaged: &Path, fresh: &Connection) -> usize {
    let Ok(old) = Connection::open_with_flags(damaged, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    // A file cut short (a disk that filled, a copy that stopped) says in its header that it has
    // more pages than it holds, and SQLite refuses to read any of it unless the schema is
    // writable; so set, it reads every row up to the cut (the D4 test lost all 200 without it).
    // Nothing is written: the connection is read-only.
    if let Err(error) = old.pragma_update(None, "writable_schema", true) {
        tracing::warn!("the damaged outbox may be read only in part: {error}");
    }
    let copies = [
        (
            "SELECT kind, key, payload, state, attempts, last_error, created_ms FROM outbox WHERE state != 'delivered'",
            "INSERT OR IGNORE INTO outbox (kind, key, payload, state, attempts, last_error, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            7,
        ),
        (
            "SELECT id, sequence, payload, staged_ms FROM presence_write",
            "INSERT OR IGNORE INTO presence_write (id, sequence, payload, staged_ms) VALUES (?1, ?2, ?3, ?4)",
            4,
        ),
        (
            "SELECT channel, replay_id FROM stream_position",
            "INSERT OR IGNORE INTO stream_position (channel, replay_id) VALUES (?1, ?2)",
            2,
        ),
    ];
    let mut carried = 0;
    for (read, write, columns) in copies {
        let Ok(mut statement) = old.prepare(read) else {
            continue;
        };
        let Ok(rows) = statement.query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect::<Result<Vec<_>, _>>()
        }) else {
            continue;
        };
        for row in rows {
            match row {
                Ok(values) => {
                    if fresh
                        .execute(write, rusqlite::params_from_iter(values))
                        .is_ok_and(|n| n == 1)
                    {
                        carried += 1;
                    }
                }
                Err(error) => tracing::warn!("an outbox row could not be read back: {error}"),
            }
        }
    }
    carried
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Outbox {
    /// Opens (or creates) the outbox at `path`. A damaged file (not a database, or failing
    /// `PRAGMA integrity_check`) is renamed aside (`…corrupt-<ms>`), a fresh one started, and
    /// every row that can still be read carried over; the caller tells the agent. Any other
    /// failure (locked, no permission, disk full) leaves the file alone and is returned.
    pub fn open(path: &Path) -> Result<Self, OutboxError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut quarantined = None;
        let mut salvaged = 0;
        let connection = match Self::open_checked(path) {
            Ok(connection) => connection,
            Err(error) if error.is_corruption() && path.is_file() => {
                tracing::warn!("the outbox is damaged ({error}); setting it aside");
                let aside = path.with_extension(format!("corrupt-{}", now_ms()));
                // The write-ahead log goes with the file: it may hold the newest rows.
                for suffix in ["-wal", "-shm"] {
                    let from = format!("{}{suffix}", path.display());
                    if Path::new(&from).exists() {
                        std::fs::rename(&from, format!("{}{suffix}", aside.display()))?;
                    }
                }
                std::fs::rename(path, &aside)?;
                let connection = Self::open_checked(path)?;
                salvaged = salvage(&aside, &connection);
                quarantined = Some(aside);
                connection
            }
            Err(error) => return Err(error),
        };
        Ok(Self {
            connection: Mutex::new(connection),
            queued: Notify::new(),
            set_aside_changes: watch::Sender::new(0),
            quarantined,
            salvaged,
            stuck: Mutex::default(),
        })
    }

    /// An outbox that lives in memory only (tests, or when no data directory can be had).
    pub fn in_memory() -> Result<Self, OutboxError> {
        let connection = Connection::open_in_memory()?;
        Self::prepare(&connection)?;
        Ok(Self {
            connection: Mutex::new(connection),
            queued: Notify::new(),
            set_aside_changes: watch::Sender::new(0),
            quarantined: None,
            salvaged: 0,
            stuck: Mutex::default(),
        })
    }

    fn open_checked(path: &Path) -> Result<Connection, OutboxError> {
        let connection = Connection::open(path)?;
        let verdict: String =
            connection.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if verdict != "ok" {
            return Err(OutboxError::Corrupt(verdict));
        }
        Self::prepare(&connection)?;
        Ok(connection)
    }

    fn prepare(connection: &Connection) -> Result<(), OutboxError> {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                key TEXT NOT NULL UNIQUE,
                payload TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                created_ms INTEGER NOT NULL,
                delivered_ms INTEGER
            );
            CREATE TABLE IF NOT EXISTS presence_write (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                sequence INTEGER NOT NULL,
                payload TEXT NOT NULL,
                staged_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS stream_position (
                channel TEXT PRIMARY KEY,
                replay_id INTEGER NOT NULL
            );",
        )?;
        Ok(())
    }

    fn with<T>(
        &self,
        action: impl FnOnce(&Connection) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let connection = match self.connection.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        action(&connection)
    }

    /// Commits a call log. Returns `false` when a log with the same key is already there
    /// (the same call logged twice is one log).
    pub fn enqueue(&self, log: &CallLog) -> Result<bool, OutboxError> {
        let payload = serde_json::to_string(log)?;
        let inserted = self.with(|c| {
            Ok(c.execute(
                "INSERT OR IGNORE INTO outbox (kind, key, payload, created_ms) VALUES ('call_log', ?1, ?2, ?3)",
                params![log.key, payload, now_ms()],
            )? == 1)
        })?;
        if inserted {
            self.queued.notify_one();
        }
        Ok(inserted)
    }

    /// The oldest log not yet delivered.
    pub fn next_pending(&self) -> Result<Option<(i64, CallLog)>, OutboxError> {
        // Rows that could not be updated are skipped (see `update_row`); numbers only.
        let skipped = self
            .stuck
            .lock()
            .map(|stuck| {
                stuck
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let sql = format!(
            "SELECT seq, key, payload FROM outbox WHERE state = 'pending' AND kind = 'call_log' AND seq NOT IN ({skipped}) ORDER BY seq LIMIT 1"
        );
        let row: Option<(i64, String, String)> = self.with(|c| {
            Ok(
                c.query_row(&sql, [], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .optional()?,
            )
        })?;
        let Some((seq, key, payload)) = row else {
            return Ok(None);
        };
        let reason = match serde_json::from_str::<CallLog>(&payload) {
            Ok(log) if log.key == key => return Ok(Some((seq, log))),
            // The key is written twice, in its column and in the log: when they differ, the
            // row was damaged on disk (a flipped bit) and sending it could overwrite another
            // call's Task.
            Ok(log) => format!(
                "damaged: its stored log names call {}, its row {key}",
                log.key
            ),
            Err(error) => format!("unreadable payload: {error}"),
        };
        // Rows that cannot be sent are set aside with the reason, never retried for ever.
        self.mark_dead(seq, &reason)?;
        self.next_pending()
    }

    pub fn mark_delivered(&self, seq: i64) -> Result<(), OutboxError> {
        self.update_row(
            seq,
            "UPDATE outbox SET state = 'delivered', delivered_ms = ?2 WHERE seq = ?1",
            params![seq, now_ms()],
        )
    }

    pub fn mark_dead(&self, seq: i64, reason: &str) -> Result<(), OutboxError> {
        self.update_row(
            seq,
            "UPDATE outbox SET state = 'dead', last_error = ?2 WHERE seq = ?1",
            params![seq, reason],
        )?;
        self.set_aside_changed();
        Ok(())
    }

    /// Updates the row `seq` was read as. A row that reads but cannot be found again by its
    /// number (a damaged page the integrity check did not see: the D4 test's bit flips found
    /// one) is left alone for the rest of this run, so that its delivery is not repeated for
    /// ever; the error says so, and the next start checks the file again.
    fn update_row(
        &self,
        seq: i64,
        sql: &str,
        values: impl rusqlite::Params,
    ) -> Result<(), OutboxError> {
        let changed = self.with(|c| Ok(c.execute(sql, values)?))?;
        if changed == 1 {
            return Ok(());
        }
        if let Ok(mut stuck) = self.stuck.lock() {
            stuck.insert(seq);
        }
        Err(OutboxError::Corrupt(format!(
            "outbox row {seq} reads but cannot be updated; it is left alone until the next start"
        )))
    }

    /// Queues a call log that was set aside again, as if new (its attempts start over): the
    /// agent's Retry, once what Salesforce refused has been put right. Returns `false` when
    /// no call log set aside has this key (already queued again, or never set aside).
    pub fn requeue(&self, key: &str) -> Result<bool, OutboxError> {
        let requeued = self.with(|c| {
            Ok(c.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0 WHERE key = ?1 AND state = 'dead' AND kind = 'call_log'",
                params![key],
            )? == 1)
        })?;
        if requeued {
            self.set_aside_changed();
            self.queued.notify_one();
        }
        Ok(requeued)
    }

    fn set_aside_changed(&self) {
        self.set_aside_changes.send_modify(|count| *count += 1);
    }

    pub fn record_failure(&self, seq: i64, reason: &str) -> Result<u32, OutboxError> {
        self.with(|c| {
            c.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
                params![seq, reason],
            )?;
            Ok(c.query_row(
                "SELECT attempts FROM outbox WHERE seq = ?1",
                params![seq],
                |row| row.get(0),
            )?)
        })
    }

    /// Stages the agent's presence write before it is sent, replacing any older one.
    pub fn stage_presence(&self, write: &PresenceWrite) -> Result<(), OutboxError> {
        let payload = serde_json::to_string(write)?;
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO presence_write (id, sequence, payload, staged_ms) VALUES (1, ?1, ?2, ?3)",
                params![write.sequence as i64, payload, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Salesforce has the write with this sequence: unstage it (unless a newer one replaced it).
    pub fn presence_delivered(&self, sequence: u64) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute(
                "DELETE FROM presence_write WHERE sequence = ?1",
                params![sequence as i64],
            )?;
            Ok(())
        })
    }

    /// The presence write still waiting for Salesforce, if any. An unreadable one is set
    /// aside with the reason.
    pub fn staged_presence(&self) -> Result<Option<StagedPresence>, OutboxError> {
        let row: Option<(String, i64)> = self.with(|c| {
            Ok(c.query_row(
                "SELECT payload, staged_ms FROM presence_write WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?)
        })?;
        let Some((payload, staged_ms)) = row else {
            return Ok(None);
        };
        match serde_json::from_str(&payload) {
            Ok(write) => Ok(Some(StagedPresence { write, staged_ms })),
            Err(error) => {
                self.set_presence_aside(&format!("unreadable payload: {error}"))?;
                Ok(None)
            }
        }
    }

    /// Moves the staged presence write to the set-aside rows with `reason` (listed by
    /// [`Outbox::dead`] under the key `presence:<sequence>:<staged ms>`).
    pub fn set_presence_aside(&self, reason: &str) -> Result<(), OutboxError> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "INSERT OR IGNORE INTO outbox (kind, key, payload, state, last_error, created_ms)
                 SELECT 'presence', 'presence:' || sequence || ':' || staged_ms, payload, 'dead', ?1, staged_ms
                 FROM presence_write WHERE id = 1",
                params![reason],
            )?;
            tx.execute("DELETE FROM presence_write WHERE id = 1", [])?;
            tx.commit()?;
            Ok(())
        })?;
        self.set_aside_changed();
        Ok(())
    }

    /// The last replay id handled on a streaming channel, so a restart resumes after it.
    pub fn replay_position(&self, channel: &str) -> Result<Option<i64>, OutboxError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT replay_id FROM stream_position WHERE channel = ?1",
                params![channel],
                |row| row.get(0),
            )
            .optional()?)
        })
    }

    pub fn save_replay_position(&self, channel: &str, replay_id: i64) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO stream_position (channel, replay_id) VALUES (?1, ?2)
                 ON CONFLICT(channel) DO UPDATE SET replay_id = excluded.replay_id",
                params![channel, replay_id],
            )?;
            Ok(())
        })
    }

    /// Caps the outbox file at about `max_bytes` (SQLite's `max_page_count`): past it, queuing
    /// fails with "database or disk is full", as on a full disk, and the agent is told.
    pub fn limit_size(&self, max_bytes: u64) -> Result<(), OutboxError> {
        self.with(|c| {
            let page: u64 = c.query_row("PRAGMA page_size", [], |row| row.get(0))?;
            let pages = (max_bytes / page.max(1)).max(1);
            c.pragma_update(None, "max_page_count", pages)?;
            Ok(())
        })
    }

    /// Forgets every stored replay id (the next subscription takes new events only).
    pub fn forget_replay_positions(&self) -> Result<(), OutboxError> {
        self.with(|c| {
            c.execute("DELETE FROM stream_position", [])?;
            Ok(())
        })
    }

    pub fn pending(&self) -> Result<u64, OutboxError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM outbox WHERE state = 'pending'",
                [],
                |row| row.get(0),
            )?)
        })
    }

    /// Every row set aside, oldest first.
    pub fn dead(&self) -> Result<Vec<DeadLog>, OutboxError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT key, COALESCE(last_error, ''), kind, payload, created_ms FROM outbox WHERE state = 'dead' ORDER BY seq",
            )?;
            let rows = statement.query_map([], |row| {
                let kind: String = row.get(2)?;
                let payload: String = row.get(3)?;
                Ok(DeadLog {
                    key: row.get(0)?,
                    reason: row.get(1)?,
                    is_call_log: kind == "call_log",
                    log: (kind == "call_log")
                        .then(|| serde_json::from_str(&payload).ok())
                        .flatten(),
                    created_ms: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

mod delivery;
mod unsaved;
pub use delivery::{deliver_forever, HOLD_GAP, HOLD_PERCENT, SLOW_GAP, SLOW_PERCENT};
