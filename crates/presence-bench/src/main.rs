//! `presence-bench`: `run` (latency by idle time, API economy, the headless agent's footprint),
//! `scale` (tenant and org scale, each point in a process of its own), `report` (the tables
//! and plots from `bench/results.json`). `make bench` and `make bench-scale` call it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use presence_bench::results::{Results, Samples};
use presence_bench::{calls, economy, footprint, latency, report, scale};

#[derive(Debug, Parser)]
#[command(name = "presence-bench", version)]
struct Args {
    /// Where results.json, samples.json and the plots go.
    #[arg(long, default_value = "bench")]
    out: PathBuf,
    /// The document whose generated part is rewritten.
    #[arg(long, default_value = "BENCHMARKS.md")]
    benchmarks: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Latency by idle time (0, 10, 30, 60, 300 s), API economy (presence changes, calls) and presence-agent's footprint, all at once (about ten minutes), then the report.
    Run {
        /// Agents per idle class (changes per class and direction).
        #[arg(long, default_value_t = 30)]
        agents: usize,
        /// Seconds of idle CPU measured on presence-agent.
        #[arg(long, default_value_t = 300)]
        idle_cpu_s: u64,
    },
    /// Tenant and org scale at these agent counts, then the report.
    Scale {
        #[arg(long, value_delimiter = ',', default_values_t = scale::AGENT_COUNTS)]
        agents: Vec<usize>,
        /// The agent count measured again with the pace off (the baseline); 0 for none.
        #[arg(long, default_value_t = scale::BASELINE_AGENTS)]
        baseline: usize,
        /// The org's concurrent Streaming API clients (1,000 Enterprise, 2,000 Unlimited).
        #[arg(long, default_value_t = 1000)]
        streaming_limit: u32,
    },
    /// One scale point in this process; prints its figures as one JSON line.
    ScalePoint {
        #[arg(long)]
        agents: usize,
        /// Turn the pace off: the agents only wait out each 429's Retry-After.
        #[arg(long)]
        unpaced: bool,
        #[arg(long, default_value_t = 1000)]
        streaming_limit: u32,
    },
    /// Only the calls' part of the economy (about three minutes): prints what each call costs
    /// each API and the Tasks it left, and records nothing.
    Calls,
    /// Rewrites the tables and plots from the results file.
    Report,
}

fn fail(message: String) -> ! {
    eprintln!("presence-bench: {message}");
    std::process::exit(1);
}

fn write_report(out: &Path, benchmarks: &Path) -> Result<(), String> {
    let results = Results::load(&out.join("results.json")).map_err(|e| e.to_string())?;
    let samples = Samples::load(&out.join("samples.json")).map_err(|e| e.to_string())?;
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let document = match std::fs::read_to_string(benchmarks) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".into(),
        Err(e) => return Err(format!("cannot read {}: {e}", benchmarks.display())),
    };
    let generated = report::markdown(&results, &date);
    std::fs::write(benchmarks, report::splice(&document, &generated))
        .map_err(|e| format!("cannot write {}: {e}", benchmarks.display()))?;
    for (name, svg) in [
        ("latency.svg", report::latency_svg(&samples)),
        ("scale.svg", report::scale_svg(&results)),
    ] {
        std::fs::write(out.join(name), svg).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    print!("{generated}");
    Ok(())
}

/// Raw samples by series.
type Series = Vec<(String, Vec<f64>)>;

fn record(
    out: &Path,
    parts: Vec<(&str, Vec<(String, f64)>)>,
    series: Vec<(&str, Series)>,
) -> Result<(), String> {
    let path = out.join("results.json");
    let mut results = Results::load(&path).map_err(|e| e.to_string())?;
    for (part, figures) in parts {
        results.replace_part(part, figures);
    }
    results.save(&path).map_err(|e| e.to_string())?;
    let path = out.join("samples.json");
    let mut samples = Samples::load(&path).map_err(|e| e.to_string())?;
    for (part, list) in series {
        samples.replace_part(part, list);
    }
    samples.save(&path).map_err(|e| e.to_string())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let outcome = match args.command {
        Command::Run { agents, idle_cpu_s } => run(&args.out, agents, idle_cpu_s).await,
        Command::Scale {
            agents,
            baseline,
            streaming_limit,
        } => {
            scale::run(
                &agents,
                (baseline > 0).then_some(baseline),
                streaming_limit,
                |point| {
                    let part = report::scale_prefix(point.agents, point.paced);
                    let (figures, series) = report::scale_point_figures(point);
                    record(&args.out, vec![(&part, figures)], vec![(&part, series)])?;
                    let results =
                        Results::load(&args.out.join("results.json")).map_err(|e| e.to_string())?;
                    record(
                        &args.out,
                        vec![("scale.summary", report::scale_summary(&results))],
                        vec![],
                    )
                },
            )
            .await
        }
        Command::ScalePoint {
            agents,
            unpaced,
            streaming_limit,
        } => match scale::point(agents, streaming_limit, !unpaced).await {
            Ok(point) => {
                println!("{}", serde_json::to_string(&point).unwrap_or_default());
                // The fleet's tasks are not waited for: the process ends with the point.
                std::process::exit(0);
            }
            Err(e) => Err(e),
        },
        Command::Calls => match calls::cost().await {
            Ok(cost) => {
                for (api, counter) in economy::APIS {
                    println!("{api}: {:.1} requests per call", cost.per_call(counter));
                }
                for (kind, id, outcome) in &cost.calls {
                    println!("{id}: {} → {outcome}", kind.name());
                }
                println!("{} calls, {} Tasks", cost.calls.len(), cost.tasks);
                std::process::exit(0);
            }
            Err(e) => Err(e),
        },
        Command::Report => Ok(()),
    };
    if let Err(message) = outcome.and_then(|()| write_report(&args.out, &args.benchmarks)) {
        fail(message);
    }
}

/// Latency, economy and the agent's footprint at once. A part that fails does not cost the
/// others: what was measured is recorded, and the failures are reported after.
async fn run(out: &Path, agents: usize, idle_cpu_s: u64) -> Result<(), String> {
    let binary = footprint::agent_binary()?;
    let footprint =
        tokio::spawn(
            async move { footprint::measure(&binary, Duration::from_secs(idle_cpu_s)).await },
        );
    let changes = tokio::spawn(economy::change_cost(10, 6));
    let calls = tokio::spawn(calls::cost());
    let latency = latency::run(agents).await;
    let changes = changes
        .await
        .map_err(|e| format!("the change cost stopped: {e}"))
        .and_then(|measured| measured);
    let calls = calls
        .await
        .map_err(|e| format!("the call cost stopped: {e}"))
        .and_then(|measured| measured);
    let footprint = footprint
        .await
        .map_err(|e| format!("the footprint stopped: {e}"))
        .and_then(|measured| measured);
    let mut parts = Vec::new();
    let mut series = Vec::new();
    let mut failures = Vec::new();
    match (&latency, &changes, &calls) {
        (Ok(latency), Ok(changes), Ok(calls)) => {
            let readings = &latency.economy;
            let economy = economy::compose(
                &readings.idle,
                &readings.active,
                readings.agents,
                changes,
                calls,
            );
            parts.push(("economy", report::economy_figures(&economy)));
        }
        _ => {
            // The latency's own failure is reported below.
            for failed in [changes.as_ref().err(), calls.as_ref().err()]
                .into_iter()
                .flatten()
            {
                failures.push(failed.clone());
            }
        }
    }
    match latency {
        Ok(latency) => {
            let (figures, samples) = report::latency_figures(&latency);
            parts.push(("latency", figures));
            series.push(("latency", samples));
        }
        Err(e) => failures.push(e),
    }
    match footprint {
        Ok(footprint) => parts.push(("footprint.agent", report::footprint_figures(&footprint))),
        Err(e) => failures.push(e),
    }
    record(out, parts, series)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
