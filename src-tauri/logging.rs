//! The app's log file: every `tracing` line of the shell and the sync (`info` and up, or what
//! `RUST_LOG` asks for) goes to `presence-bridge.log` under the XDG state directory, kept to a
//! few files of bounded size, so that what went wrong (a call log Salesforce refused, a link
//! that dropped) can be read after the fact and sent with a support ticket. Lines go to stderr
//! too, for whoever started the app from a terminal.
//!
//! `tauri-plugin-log` is not used: it takes `log` records, while every crate here logs through
//! `tracing`, and the sync starts (and logs) before the Tauri app exists. `tracing-appender`
//! rotates by time only, so a storm of lines could fill a day's file without bound;
//! `rolling-file` rotates by size.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rolling_file::{BasicRollingFileAppender, RollingConditionBasic};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The current file's name; older ones are `presence-bridge.log.1` … `.4`.
pub const LOG_FILE: &str = "presence-bridge.log";
/// A file is rotated past this size: with [`OLD_FILES`], the log stays under 25 MB.
const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
const OLD_FILES: usize = 4;

/// `$XDG_STATE_HOME/presence-bridge/logs`, else `~/.local/state/presence-bridge/logs` (the
/// XDG base directory specification's place for logs; `%LOCALAPPDATA%` on Windows,
/// `~/Library/Logs` on macOS: [`presence_sync::places`]).
pub fn log_dir() -> Option<PathBuf> {
    presence_sync::places::log_dir()
}

/// Installs the log: the file under [`log_dir`] and stderr. Returns the folder in use, or says
/// on stderr why there is no file (the app still runs, logging to stderr only).
pub fn install() -> Option<PathBuf> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let file = match log_dir().ok_or_else(|| "no XDG_STATE_HOME or HOME".to_string()) {
        Ok(dir) => open(&dir).map(|file| (dir, file)),
        Err(error) => Err(error),
    };
    let (dir, file) = match file {
        Ok((dir, file)) => (Some(dir), Some(file)),
        Err(error) => {
            eprintln!("presence-bridge: no log file ({error}); logging to stderr only");
            (None, None)
        }
    };
    let installed = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter()),
        )
        .with(file.map(|file| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(file)
                .with_filter(filter())
        }))
        .try_init();
    if let Err(error) = installed {
        eprintln!("presence-bridge: the log could not be installed: {error}");
    }
    if let Some(dir) = &dir {
        tracing::info!("logging to {}", dir.join(LOG_FILE).display());
    }
    dir
}

/// The log file in `dir`, created with the folder. The folder is the agent's alone (0700):
/// the log names callers and their numbers.
fn open(dir: &Path) -> Result<FlushedLog, String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|error| format!("{}: {error}", dir.display()))?;
    let appender = BasicRollingFileAppender::new(
        dir.join(LOG_FILE),
        RollingConditionBasic::new().max_size(MAX_FILE_BYTES),
        OLD_FILES,
    )
    .map_err(|error| format!("{}: {error}", dir.join(LOG_FILE).display()))?;
    Ok(FlushedLog(Mutex::new(appender)))
}

/// The rolling file, flushed after every line: the appender buffers, and a line still in the
/// buffer when the app is killed is the line that would have said why.
struct FlushedLog(Mutex<BasicRollingFileAppender>);

impl<'a> MakeWriter<'a> for FlushedLog {
    type Writer = FlushOnDrop<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        FlushOnDrop(
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// One line's writer: flushes the file when the line is written.
struct FlushOnDrop<'a>(MutexGuard<'a, BasicRollingFileAppender>);

impl Write for FlushOnDrop<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Drop for FlushOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.flush();
    }
}
