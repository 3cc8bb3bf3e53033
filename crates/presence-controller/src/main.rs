//! `presence-controller`: the call controller as a server.

use std::path::PathBuf;

use clap::Parser;
use presence_controller::{Controller, Settings};

/// The Presence Bridge call controller: a Teams calling bot that offers each call to the
/// agent's Presence Bridge through Salesforce and applies the answering rules.
#[derive(Debug, Parser)]
#[command(name = "presence-controller", version)]
struct Args {
    /// The settings file (TOML): the tenant and bot app, the org and integration user, the
    /// webhook, the lines (see the crate's README and demo.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Point every cloud at this emulator (`presence-emulator`), e.g. http://127.0.0.1:8787.
    #[arg(long, value_name = "URL")]
    emulator: Option<String>,
    /// Listen on this address instead of the file's `webhook.listen` (port 0: a free one; the
    /// address is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Keep the live calls in this SQLite file instead of the file's `store.path`.
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let settings = match Settings::load(&args.config) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("presence-controller: {error}");
            std::process::exit(2);
        }
    };
    let mut settings = match &args.emulator {
        Some(url) => settings.at_emulator(url),
        None => settings,
    };
    if let Some(listen) = args.listen {
        settings.webhook.listen = listen;
    }
    if let Some(store) = args.store {
        settings.store.path = store;
    }
    let controller = match Controller::start(settings).await {
        Ok(controller) => controller,
        Err(error) => {
            eprintln!("presence-controller: {error}");
            std::process::exit(1);
        }
    };
    if let Some(pem) = &controller.certificate_pem {
        println!(
            "presence-controller: webhook certificate (self-signed, for the caller to trust): {}",
            pem.display()
        );
    }
    // Last: what scripts wait for.
    println!(
        "presence-controller: webhook listening on {}",
        controller.webhook_url
    );
    let _ = tokio::signal::ctrl_c().await;
    controller.stop().await;
}
