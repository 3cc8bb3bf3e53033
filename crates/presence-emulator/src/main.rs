//! `presence-emulator`: Microsoft Graph, Entra ID, Salesforce and a call controller on one
//! loopback port. See the crate README for every route and the control API.

use clap::Parser;
use tokio::net::TcpListener;

/// Emulates Microsoft Graph presence, Entra ID sign-in, Salesforce (OAuth, REST, Streaming) and
/// a call controller on one port, for Presence Bridge's demo and tests.
#[derive(Debug, Parser)]
#[command(name = "presence-emulator", version)]
struct Args {
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to bind. Loopback by default; the emulator has no authentication of its own.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Data to start with: `demo` (three agents, contacts, the default Call Center) or `empty`.
    #[arg(long, default_value = "demo")]
    scenario: String,
    /// How fast emulated time runs (2 = twice as fast): session fades, token expiry, ring timeouts.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Serve HTTPS with a new self-signed certificate for 127.0.0.1 and localhost, written as
    /// PEM to --tls-cert (whose path is printed) for clients to trust.
    #[arg(long)]
    tls: bool,
    /// Where --tls writes its certificate (default: presence-emulator-<port>.pem in the
    /// temporary directory).
    #[arg(long, value_name = "FILE", requires = "tls")]
    tls_cert: Option<std::path::PathBuf>,
    /// The calling bot's webhook (what `POST /_emulator/calling` sets): calls to the bot's
    /// numbers are offered to it (our `presence-controller`); without one they cannot be
    /// reached.
    #[arg(long, value_name = "URL")]
    calling_webhook: Option<String>,
    /// A certificate (PEM) the webhook notifier trusts besides the public roots: the
    /// controller's self-signed one in the demo (what `trust_pem` of `POST /_emulator/calling`
    /// sets).
    #[arg(long, value_name = "FILE")]
    calling_trust: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        eprintln!("presence-emulator: --time-scale must be a positive number");
        std::process::exit(2);
    }
    let options = presence_emulator::Options {
        scenario: args.scenario.clone(),
        time_scale: args.time_scale,
    };
    let state = match presence_emulator::shared(&options) {
        Ok(state) => state,
        Err(error) => {
            eprintln!("presence-emulator: {error}");
            std::process::exit(2);
        }
    };
    if let Some(webhook) = &args.calling_webhook {
        state.world().calling.bot.webhook = Some(webhook.clone());
    }
    if let Some(path) = &args.calling_trust {
        match std::fs::read_to_string(path) {
            Ok(pem) if presence_emulator::calling_control::is_pem_certificate(&pem) => {
                state.world().calling.bot.trust_pem = Some(pem)
            }
            Ok(_) => {
                eprintln!(
                    "presence-emulator: --calling-trust {}: not a PEM certificate",
                    path.display()
                );
                std::process::exit(2);
            }
            Err(error) => {
                eprintln!(
                    "presence-emulator: --calling-trust {}: {error}",
                    path.display()
                );
                std::process::exit(2);
            }
        }
    }
    let listener = match TcpListener::bind((args.host, args.port)).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "presence-emulator: cannot listen on {}:{}: {error}",
                args.host, args.port
            );
            std::process::exit(1);
        }
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(args.port);
    let (tls, scheme, certificate_line) = if args.tls {
        let identity = match presence_emulator::tls::TlsIdentity::generate() {
            Ok(identity) => identity,
            Err(error) => {
                eprintln!("presence-emulator: {error}");
                std::process::exit(1);
            }
        };
        let path = args
            .tls_cert
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("presence-emulator-{port}.pem")));
        if let Err(error) = std::fs::write(&path, &identity.cert_pem) {
            eprintln!(
                "presence-emulator: cannot write the certificate to {}: {error}",
                path.display()
            );
            std::process::exit(1);
        }
        let line = format!(
            "TLS certificate (trust it in clients): {}\n",
            path.display()
        );
        (Some(identity), "https", line)
    } else {
        (None, "http", String::new())
    };
    // One write, and no panic when nobody reads standard output any more (a closed pipe).
    {
        use std::io::Write as _;
        let banner = format!(
            "presence-emulator listening on {scheme}://{address} (scenario {}, time scale {})\ncontrol page: {scheme}://{address}/_emulator/ui\n{certificate_line}",
            args.scenario, args.time_scale
        );
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(banner.as_bytes());
        let _ = stdout.flush();
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = presence_emulator::serve_with(listener, state, tls, shutdown).await {
        eprintln!("presence-emulator: {error}");
        std::process::exit(1);
    }
}
