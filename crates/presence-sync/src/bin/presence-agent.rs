//! `presence-agent`: one agent's sync without a window, printing every snapshot change as one
//! JSON line (for thin clients, diagnostics and checks).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use presence_core::{Engine, Input};
use presence_sync::outbox::Outbox;
use presence_sync::settings::Settings;
use presence_sync::{Connectors, SyncError};

/// Runs one agent's presence sync between Teams and Salesforce without a window and prints
/// every snapshot change as one JSON line on standard output (diagnostics go to standard error).
#[derive(Debug, Parser)]
#[command(name = "presence-agent", version)]
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
    /// file says. Tokens last while the process runs.
    #[arg(long, value_name = "FILE", required_unless_present = "emulator")]
    config: Option<PathBuf>,
    /// The app's client id at the emulator (the Graph presence session id).
    #[arg(long, default_value = presence_sync::EMULATOR_CLIENT_ID)]
    client_id: String,
    /// Where the durable outbox of call logs lives (default: $XDG_DATA_HOME/presence-bridge,
    /// else ~/.local/share/presence-bridge).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

fn data_dir(chosen: Option<PathBuf>) -> Option<PathBuf> {
    chosen
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("presence-bridge"))
        })
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/presence-bridge"))
        })
}

fn fail(code: i32, message: String) -> ! {
    eprintln!("presence-agent: {message}");
    std::process::exit(code);
}

fn open_outbox(dir: Option<PathBuf>, who: &str) -> Arc<Outbox> {
    let Some(dir) = data_dir(dir) else {
        fail(
            2,
            "no data directory: pass --data-dir or set XDG_DATA_HOME or HOME".into(),
        );
    };
    let safe: String = who
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("outbox-{safe}.sqlite"));
    let outbox = Outbox::open(&path).unwrap_or_else(|error| {
        fail(
            1,
            format!(
                "cannot open the call-log outbox {}: {error}",
                path.display()
            ),
        )
    });
    if let Some(aside) = &outbox.quarantined {
        eprintln!(
            "presence-agent: the call-log outbox was damaged and set aside as {}; a new one was started",
            aside.display()
        );
    }
    Arc::new(outbox)
}

/// Signs in as the arguments say; returns the connectors and the agent's name for logs.
async fn connect(args: &Args) -> Result<(Connectors, String), SyncError> {
    if let Some(url) = &args.emulator {
        let user = args.user.clone().unwrap_or_default();
        let outbox = open_outbox(args.data_dir.clone(), &user);
        return presence_sync::connect_emulator(url, &user, &args.client_id, outbox)
            .await
            .map(|c| (c, user));
    }
    let Some(path) = &args.config else {
        fail(
            2,
            "pass --emulator URL --user NAME, or --config FILE (see --help)".into(),
        );
    };
    let settings = Settings::load(path).unwrap_or_else(|error| fail(2, error.to_string()));
    match &settings.emulator {
        Some(emulator) => {
            let outbox = open_outbox(args.data_dir.clone(), &emulator.user);
            presence_sync::connect_emulator(&emulator.url, &emulator.user, &args.client_id, outbox)
                .await
                .map(|c| (c, emulator.user.clone()))
        }
        None => {
            let outbox = open_outbox(args.data_dir.clone(), "agent");
            let (secrets, unavailable) =
                presence_sync::secrets::keyring_or_memory("presence-bridge");
            if let Some(reason) = unavailable {
                eprintln!(
                    "presence-agent: {reason}; this sign-in lasts only while presence-agent runs"
                );
            }
            presence_sync::connect_clouds(&settings, outbox, secrets, |text| {
                eprintln!("presence-agent: {text}")
            })
            .await
            .map(|c| (c, "agent".to_string()))
        }
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let (connectors, user) = connect(&args)
        .await
        .unwrap_or_else(|error| fail(1, format!("cannot sign in: {error}")));
    let seed = user.bytes().map(u64::from).sum();
    let (config, warning) =
        presence_sync::engine_config(&connectors, &format!("{}:{user}", args.client_id), seed)
            .await;
    if let Some(warning) = warning {
        eprintln!("presence-agent: {warning}");
    }
    let engine = Engine::new(config, Instant::now());
    let (handle, driver) = presence_sync::driver(engine, connectors);
    let mut snapshots = handle.snapshots();
    let printer = tokio::spawn(async move {
        loop {
            let line = serde_json::to_string(&*snapshots.borrow_and_update()).unwrap_or_default();
            // A reader that went away is no reason to stop syncing.
            {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
            }
            if snapshots.changed().await.is_err() {
                return;
            }
        }
    });
    let quit = handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        quit.send(Input::Quit).await;
    });
    driver.await;
    printer.abort();
}
