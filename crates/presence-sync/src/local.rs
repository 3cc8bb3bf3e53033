//! The agent's place on this computer: the data directory, one running sync per agent there
//! (a lock file), and the durable outbox in it. Shared by `presence-agent` and the desktop app,
//! which therefore exclude each other for the same agent: two syncs would double every write.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::outbox::{Outbox, OutboxError};

#[derive(Debug, Error)]
pub enum LocalError {
    #[error("no data directory: set XDG_DATA_HOME or HOME, or choose one")]
    NoDataDir,
    #[error("another Presence Bridge sync (pid {pid}) already runs for {who:?} with {dir}")]
    AlreadyRunning {
        pid: String,
        who: String,
        dir: PathBuf,
    },
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot open the outbox {path}: {error}")]
    Outbox { path: PathBuf, error: OutboxError },
}

/// A name made safe for a file name (anything but ASCII letters, digits, `-`, `_` becomes `_`).
fn file_safe(who: &str) -> String {
    who.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One agent's local data, held for as long as the sync runs (dropping it releases the lock).
#[derive(Debug)]
pub struct AgentData {
    pub dir: PathBuf,
    pub outbox: Arc<Outbox>,
    _lock: File,
}

impl AgentData {
    /// Takes the agent's lock in `dir` (`agent-<who>.lock`, holding the pid) and opens its
    /// outbox (`outbox-<who>.sqlite`; a damaged one is set aside, see
    /// [`Outbox::quarantined`]).
    pub fn open(dir: &Path, who: &str) -> Result<Self, LocalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| LocalError::Io { path, error }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let safe = file_safe(who);
        let lock_path = dir.join(format!("agent-{safe}.lock"));
        let mut lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {
                let _ = lock.set_len(0);
                let _ = lock.rewind();
                let _ = write!(lock, "{}", std::process::id());
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let pid: String = holder
                    .chars()
                    .filter(char::is_ascii_digit)
                    .take(10)
                    .collect();
                return Err(LocalError::AlreadyRunning {
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid
                    },
                    who: who.to_string(),
                    dir: dir.to_path_buf(),
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io(&lock_path)(error)),
        }
        let path = dir.join(format!("outbox-{safe}.sqlite"));
        let outbox = Outbox::open(&path).map_err(|error| LocalError::Outbox {
            path: path.clone(),
            error,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            outbox: Arc::new(outbox),
            _lock: lock,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sync_per_agent_and_directory_and_names_are_made_safe() {
        let dir = std::env::temp_dir().join(format!("presence-local-{}", std::process::id()));
        let first = AgentData::open(&dir, "ada").expect("first");
        let second = AgentData::open(&dir, "ada").expect_err("second");
        assert!(
            matches!(&second, LocalError::AlreadyRunning { pid, .. } if *pid == std::process::id().to_string()),
            "{second}"
        );
        let other = AgentData::open(&dir, "../grace\u{202e}").expect("another agent");
        assert!(other.outbox.quarantined.is_none());
        assert!(dir.join("outbox-___grace_.sqlite").exists());
        drop(first);
        AgentData::open(&dir, "ada").expect("released with the first");
        let _ = std::fs::remove_dir_all(dir);
    }
}
