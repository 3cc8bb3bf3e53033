//! `presence-agent`: one agent's sync without a window, printing every snapshot change as one
//! JSON line (for thin clients, diagnostics and checks).

use std::time::Instant;

use clap::Parser;
use presence_core::{Engine, Input};

/// Runs one agent's presence sync between Teams and Salesforce without a window and prints
/// every snapshot change as one JSON line on standard output (diagnostics go to standard error).
#[derive(Debug, Parser)]
#[command(name = "presence-agent", version)]
struct Args {
    /// Base URL of the cloud emulator (`presence-emulator`), e.g. http://127.0.0.1:8787.
    /// Signs in to both emulated clouds without a browser.
    #[arg(long, value_name = "URL")]
    emulator: String,
    /// The agent to sign in as (the emulator's agent name or UPN, e.g. `ada`).
    #[arg(long, value_name = "NAME")]
    user: String,
    /// The app's client id (the Graph presence session id, and Origin_Client__c).
    #[arg(long, default_value = presence_sync::EMULATOR_CLIENT_ID)]
    client_id: String,
    /// Where the durable outbox of call logs lives (default: $XDG_DATA_HOME/presence-bridge,
    /// else ~/.local/share/presence-bridge).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
}

fn data_dir(chosen: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    chosen
        .or_else(|| {
            std::env::var_os("XDG_DATA_HOME")
                .map(|d| std::path::PathBuf::from(d).join("presence-bridge"))
        })
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".local/share/presence-bridge"))
        })
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
    let Some(dir) = data_dir(args.data_dir.clone()) else {
        eprintln!(
            "presence-agent: no data directory: pass --data-dir or set XDG_DATA_HOME or HOME"
        );
        std::process::exit(2);
    };
    let safe_user: String = args
        .user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("outbox-{safe_user}.sqlite"));
    let outbox = match presence_sync::outbox::Outbox::open(&path) {
        Ok(outbox) => std::sync::Arc::new(outbox),
        Err(error) => {
            eprintln!(
                "presence-agent: cannot open the call-log outbox {}: {error}",
                path.display()
            );
            std::process::exit(1);
        }
    };
    if let Some(aside) = &outbox.quarantined {
        eprintln!(
            "presence-agent: the call-log outbox was damaged and set aside as {}; a new one was started",
            aside.display()
        );
    }
    let connectors =
        match presence_sync::connect_emulator(&args.emulator, &args.user, &args.client_id, outbox)
            .await
        {
            Ok(connectors) => connectors,
            Err(error) => {
                eprintln!(
                    "presence-agent: cannot sign in to {} as {}: {error}",
                    args.emulator, args.user
                );
                std::process::exit(1);
            }
        };
    let seed = args.user.bytes().map(u64::from).sum();
    let (config, warning) = presence_sync::engine_config(
        &connectors,
        &format!("{}:{}", args.client_id, args.user),
        seed,
    )
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
            println!("{line}");
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
