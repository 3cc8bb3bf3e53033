//! `presence-agent`: one agent's sync without a window, printing every snapshot change as one
//! JSON line (for thin clients, diagnostics and checks).

use std::io::Write as _;
use std::path::PathBuf;

use clap::Parser;
use presence_core::Input;
use presence_sync::local::LocalError;
use presence_sync::settings::Settings;
use presence_sync::{SignInTarget, StartError, Storage, SyncOptions};

/// Runs one agent's presence sync between Teams and Salesforce without a window and prints
/// every snapshot change as one JSON line on standard output (diagnostics go to standard error).
#[derive(Debug, Parser)]
#[command(
    name = "presence-agent",
    version,
    after_help = "Commands on standard input, one per line (what the tray and panel offer):\n  \
                  pick <state label>   choose a presence, e.g. `pick Do Not Disturb`\n  \
                  answer <call id>     answer a ringing call\n  \
                  decline <call id>    decline a ringing call\n  \
                  hangup <call id>     end a call\n  \
                  dial <number>        place an outbound call\n  \
                  quit                 log out (as the tray's Quit does) and exit\n\
                  A line that is not a command is refused on standard error; nothing else happens.\n\n\
                  Ctrl-C and SIGTERM log out first, as quit does.\n\
                  Exit codes: 0 after quit or a signal, 1 sign-in or outbox failure, 2 bad arguments or settings,\n\
                  3 another sync (presence-agent or the desktop app) already runs for this agent\n\
                  and data directory."
)]
struct Args {
    /// Base URL of the cloud emulator (`presence-emulator`), e.g. http://127.0.0.1:8787.
    /// Signs in to both emulated clouds without a browser. Needs --user.
    #[arg(long, value_name = "URL", conflicts_with = "config", requires = "user")]
    emulator: Option<String>,
    /// The agent to sign in as at the emulator (its agent name or UPN, e.g. `ada`).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// A settings file (TOML, merged over the built-in defaults) naming the real Microsoft 365
    /// tenant and Salesforce org; sign-in happens in the browser or with a device code, as the
    /// file says; refresh tokens are kept in the OS keyring (in memory only, with a warning,
    /// when none answers), so the next start signs in silently.
    #[arg(long, value_name = "FILE", required_unless_present = "emulator")]
    config: Option<PathBuf>,
    /// The app's client id at the emulator (the Graph presence session id).
    #[arg(long, default_value = presence_sync::EMULATOR_CLIENT_ID)]
    client_id: String,
    /// The agent's data directory: its lock (one sync per agent) and the durable outbox of call
    /// logs and presence writes (default: $XDG_DATA_HOME/presence-bridge, else
    /// ~/.local/share/presence-bridge).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn fail(code: i32, message: String) -> ! {
    eprintln!("presence-agent: {message}");
    std::process::exit(code);
}

/// Where the arguments say to sign in.
fn target(args: &Args) -> SignInTarget {
    if let Some(url) = &args.emulator {
        return SignInTarget::Emulator {
            url: url.clone(),
            user: args.user.clone().unwrap_or_default(),
        };
    }
    let Some(path) = &args.config else {
        fail(
            2,
            "pass --emulator URL --user NAME, or --config FILE (see --help)".into(),
        );
    };
    let settings = Settings::load(path).unwrap_or_else(|error| fail(2, error.to_string()));
    SignInTarget::from_settings(settings)
}

/// The exit code for a sync that could not start (see `--help`).
fn exit_code(error: &StartError) -> i32 {
    match error {
        StartError::Data(LocalError::AlreadyRunning { .. }) => 3,
        StartError::Data(LocalError::NoDataDir) | StartError::Timing(_) => 2,
        StartError::Data(_) | StartError::SignIn(_) => 1,
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut options = SyncOptions::new(target(&args));
    options.origin = args.client_id.clone();
    options.client_id = args.client_id.clone();
    options.storage = Storage::DataDir(args.data_dir.clone());
    // Offline at start, it prints a snapshot that says so and tries again with growing gaps
    // (1 s doubling to 60 s) instead of exiting (N1); refusals still end it.
    let (handle, sync) = presence_sync::start(
        options,
        |asked| eprintln!("presence-agent: {asked}"),
        interrupted(),
    );
    let mut snapshots = handle.snapshots();
    let printer = tokio::spawn(async move {
        loop {
            let line = serde_json::to_string(&*snapshots.borrow_and_update()).unwrap_or_default();
            print_line(&line);
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    });
    tokio::spawn(read_commands(handle.clone()));
    let ended = sync.await;
    // The last snapshot (why it could not start, say) is printed before the exit.
    let _ = printer.await;
    if let Err(error) = ended {
        let hint = match &error {
            StartError::Data(LocalError::AlreadyRunning { .. }) => "; it keeps running",
            StartError::Data(LocalError::NoDataDir) => "; or pass --data-dir",
            _ => "",
        };
        fail(exit_code(&error), format!("{error}{hint}"));
    }
    // Not a return: the runtime would wait for the blocking read of standard input.
    std::process::exit(0);
}

/// Ctrl-C or SIGTERM: the sync logs the agent out (L7), then ends.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn print_line(line: &str) {
    // A reader that went away is no reason to stop syncing.
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Reads commands from standard input until it closes (see `--help`).
async fn read_commands(handle: presence_sync::SyncHandle) {
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut dialled = 0u32;
    while let Ok(Some(line)) = lines.next_line().await {
        match command(&line, &mut dialled) {
            Ok(Some(input)) => {
                if !handle.send(input).await {
                    return;
                }
            }
            Ok(None) => {}
            Err(message) => eprintln!("presence-agent: {message}"),
        }
    }
}

/// One line of standard input as an engine input (`None` for a blank line).
fn command(line: &str, dialled: &mut u32) -> Result<Option<Input>, String> {
    use presence_core::{Picker, UserIntent};
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (verb, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let needs = |what: &str| format!("`{verb}` needs {what}");
    let intent = match verb {
        "pick" if !rest.is_empty() => UserIntent::Pick {
            label: rest.to_string(),
            via: Picker::Panel,
        },
        "answer" | "decline" | "hangup" if !rest.is_empty() => {
            let call_id = rest.to_string();
            match verb {
                "answer" => UserIntent::Answer { call_id },
                "decline" => UserIntent::Decline { call_id },
                _ => UserIntent::HangUp { call_id },
            }
        }
        "dial" if !rest.is_empty() => {
            *dialled += 1;
            UserIntent::Dial {
                call_id: format!("agent-{}-{}", std::process::id(), dialled),
                number: rest.to_string(),
            }
        }
        "quit" => return Ok(Some(Input::Quit)),
        "pick" => return Err(needs("a state label")),
        "answer" | "decline" | "hangup" => return Err(needs("a call id")),
        "dial" => return Err(needs("a number")),
        _ => {
            let shown: String = verb.chars().take(40).collect();
            return Err(format!("unknown command {shown:?} (see --help)"));
        }
    };
    Ok(Some(Input::User(intent)))
}

#[cfg(test)]
mod tests {
    use super::command;
    use presence_core::{Input, Picker, UserIntent};

    #[test]
    fn commands_become_inputs_and_bad_lines_are_refused_by_name() {
        let mut dialled = 0;
        assert_eq!(
            command("  pick   Do Not Disturb ", &mut dialled),
            Ok(Some(Input::User(UserIntent::Pick {
                label: "Do Not Disturb".into(),
                via: Picker::Panel
            })))
        );
        assert_eq!(command("", &mut dialled), Ok(None));
        assert_eq!(command("quit", &mut dialled), Ok(Some(Input::Quit)));
        assert!(matches!(
            command("dial +1 415 555 0100", &mut dialled),
            Ok(Some(Input::User(UserIntent::Dial { .. })))
        ));
        assert_eq!(dialled, 1);
        assert_eq!(
            command("answer", &mut dialled),
            Err("`answer` needs a call id".into())
        );
        let long = format!("{} x", "z".repeat(100_000));
        let refused = command(&long, &mut dialled).expect_err("unknown");
        assert!(refused.len() < 100, "{refused}");
        assert!(command("\u{202e}pick", &mut dialled).is_err());
    }
}
