//! The tenant and org scale part of the report: each point's figures under its own part,
//! what the points say together, the table and the plot of latency against agent count.

use std::fmt::Write as _;

use crate::economy::org_daily_allowance;
use crate::results::Results;
use crate::scale::ScalePoint;
use crate::stats::Summary;
use crate::svg::{chart, Axis, Series};

use super::{cell, Figures};

/// Where a scale point's figures live: `scale.agents_500`, or `scale.unpaced.agents_500` for
/// the baseline with the pace off.
pub fn scale_prefix(agents: usize, paced: bool) -> String {
    if paced {
        format!("scale.agents_{agents}")
    } else {
        format!("scale.unpaced.agents_{agents}")
    }
}

/// One scale point's figures and series, all under its own part ([`scale_prefix`]), so that a
/// point measured again replaces only its own.
pub fn scale_point_figures(p: &ScalePoint) -> Figures {
    let prefix = scale_prefix(p.agents, p.paced);
    let mut figures = Vec::new();
    for (key, value) in [
        ("synced", p.synced as f64),
        ("streaming", p.streaming as f64),
        ("graph_requests_per_s", p.graph_requests_per_s),
        ("graph_presence_reads_per_s", p.graph_presence_reads_per_s),
        ("graph_429s", p.graph_429s as f64),
        ("graph_429s_per_s", p.graph_429s_per_s),
        ("salesforce_requests_per_s", p.salesforce_requests_per_s),
        ("salesforce_api_per_s", p.salesforce_api_per_s),
        ("salesforce_api_used", p.salesforce_api_used as f64),
        ("handshakes_refused", p.handshakes_refused as f64),
        ("changes_lost", p.changes_lost as f64),
        ("rss_per_agent_mb", p.rss_per_agent_mib),
    ] {
        figures.push((format!("{prefix}.{key}"), value));
    }
    for (key, summary) in [
        ("teams_to_salesforce", p.latency()),
        (
            "teams_to_salesforce_idle",
            Summary::of_ms(&p.idle_teams_to_salesforce_ms),
        ),
        (
            "salesforce_to_teams",
            Summary::of_ms(&p.salesforce_to_teams_ms),
        ),
    ] {
        figures.push((
            format!("{prefix}.{key}.p50_ms"),
            summary.map_or(f64::NAN, |s| s.p50_ms),
        ));
        figures.push((
            format!("{prefix}.{key}.p99_ms"),
            summary.map_or(f64::NAN, |s| s.p99_ms),
        ));
    }
    figures.push((
        format!("{prefix}.graph_throttled_fraction"),
        p.graph_429s_per_s
            / (p.graph_presence_reads_per_s + p.graph_429s_per_s).max(f64::MIN_POSITIVE),
    ));
    // How long the org's daily allowance, with one licence per agent, lasts at this rate.
    if p.salesforce_api_per_s > 0.0 {
        figures.push((
            format!("{prefix}.org_allowance_lasts_h"),
            org_daily_allowance(p.agents) / (p.salesforce_api_per_s * 3600.0),
        ));
    }
    let series = vec![
        (prefix.clone(), p.teams_to_salesforce_ms.clone()),
        (
            format!("{prefix}.idle"),
            p.idle_teams_to_salesforce_ms.clone(),
        ),
    ];
    (figures, series)
}

/// What the scale points recorded so far say together (`scale.summary.*`): up to which agent
/// count the active agents' Teams → Salesforce p99 stays under 2 s with nothing lost, from
/// which it does not, and from which streaming handshakes are refused.
pub fn scale_summary(r: &Results) -> Vec<(String, f64)> {
    let counts = scale_counts(r, "scale.agents_");
    let at = |n: u64, key: &str| r.get(&format!("scale.agents_{n}.{key}"));
    let meets = |n: u64| {
        at(n, "changes_lost") == Some(0.0)
            && at(n, "teams_to_salesforce.p99_ms").is_some_and(|p99| p99 < 2000.0)
    };
    let mut figures = Vec::new();
    if let Some(n) = counts.iter().take_while(|n| meets(**n)).last() {
        figures.push(("scale.summary.p99_under_2s_up_to_agents".into(), *n as f64));
    }
    if let Some(n) = counts.iter().find(|n| !meets(**n)) {
        figures.push(("scale.summary.p99_over_2s_from_agents".into(), *n as f64));
    }
    if let Some(n) = counts
        .iter()
        .find(|n| at(**n, "handshakes_refused").is_some_and(|refused| refused > 0.0))
    {
        figures.push((
            "scale.summary.streaming_refused_from_agents".into(),
            *n as f64,
        ));
    }
    figures
}

/// The agent counts recorded under `prefix` (`scale.agents_`, `scale.unpaced.agents_`), in
/// order.
fn scale_counts(r: &Results, prefix: &str) -> Vec<u64> {
    r.0.keys()
        .filter_map(|k| k.strip_prefix(prefix)?.split('.').next()?.parse().ok())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The scale table and what it says, when any point is recorded.
pub(super) fn table(md: &mut String, r: &Results) {
    let counts = scale_counts(r, "scale.agents_");
    if !counts.is_empty() {
        let _ = writeln!(md, "\n### Tenant and org scale\n\nTeams → Salesforce is timed for active agents (a change within a minute of the agent's own pick: the target) and for agents idle past that minute; Salesforce → Teams for the active agents' picks.\n\n| agents | synced | streaming | Graph req/s | Graph 429s/s | throttled share | handshakes refused | Salesforce req/s | T → S active p50 / p99 ms | T → S idle p50 / p99 ms | S → T p50 / p99 ms | lost | MiB per agent | org allowance lasts, h |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let unpaced = scale_counts(r, "scale.unpaced.agents_");
        let rows = counts
            .iter()
            .map(|n| (format!("scale.agents_{n}"), n.to_string()))
            .chain(unpaced.iter().map(|n| {
                (
                    format!("scale.unpaced.agents_{n}"),
                    format!("{n}, pace off (baseline)"),
                )
            }));
        for (prefix, label) in rows {
            let k = |f: &str| cell(r.get(&format!("{prefix}.{f}")));
            let pair = |f: &str| {
                format!(
                    "{} / {}",
                    k(&format!("{f}.p50_ms")),
                    k(&format!("{f}.p99_ms"))
                )
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                k("synced"),
                k("streaming"),
                k("graph_requests_per_s"),
                k("graph_429s_per_s"),
                k("graph_throttled_fraction"),
                k("handshakes_refused"),
                k("salesforce_requests_per_s"),
                pair("teams_to_salesforce"),
                pair("teams_to_salesforce_idle"),
                pair("salesforce_to_teams"),
                k("changes_lost"),
                k("rss_per_agent_mb"),
                k("org_allowance_lasts_h")
            );
        }
        let _ = writeln!(md, "\nTeams → Salesforce p99 (active agents) under 2 s up to: {} agents; over 2 s from: {} agents; streaming handshakes refused from: {} agents.",
            r.get("scale.summary.p99_under_2s_up_to_agents").map_or("no measured".into(), |v| format!("{v:.0}")),
            r.get("scale.summary.p99_over_2s_from_agents").map_or("none of the measured".into(), |v| format!("{v:.0}")),
            r.get("scale.summary.streaming_refused_from_agents").map_or("none of the measured".into(), |v| format!("{v:.0}")));
    }
}

pub fn scale_svg(r: &Results) -> String {
    let counts: Vec<f64> = crate::scale::AGENT_COUNTS
        .map(|n| n as f64)
        .into_iter()
        .filter(|n| r.get(&format!("scale.agents_{n}.synced")).is_some())
        .collect();
    let line = |f: &str, name: &str, dashed| Series {
        name: name.into(),
        dashed,
        points: counts
            .iter()
            .filter_map(|n| Some((*n, r.get(&format!("scale.agents_{n}.{f}"))?)))
            .collect(),
    };
    let x = Axis::new(
        "agents in the tenant",
        (0.0, 2000.0),
        false,
        &[0.0, 500.0, 1000.0, 1500.0, 2000.0],
    );
    let y = Axis::new(
        "Teams → Salesforce, ms (log)",
        (10.0, 100_000.0),
        true,
        &[10.0, 100.0, 1000.0, 10_000.0, 100_000.0],
    );
    chart(
        "Latency against agent count (target: p99 under 2 s)",
        &x,
        &y,
        &[
            line("teams_to_salesforce.p50_ms", "active p50", false),
            line("teams_to_salesforce.p99_ms", "active p99", true),
            line("teams_to_salesforce_idle.p99_ms", "idle p99", true),
            Series {
                name: "target, 2 s".into(),
                dashed: true,
                points: vec![(0.0, 2000.0), (2000.0, 2000.0)],
            },
            Series {
                name: "active p99, pace off".into(),
                dashed: false,
                points: scale_counts(r, "scale.unpaced.agents_")
                    .into_iter()
                    .filter_map(|n| {
                        let p99 = r.get(&format!(
                            "scale.unpaced.agents_{n}.teams_to_salesforce.p99_ms"
                        ))?;
                        Some((n as f64, p99))
                    })
                    .collect(),
            },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(agents: usize, paced: bool, p99_ms: f64, refused: u64) -> ScalePoint {
        ScalePoint {
            agents,
            paced,
            synced: agents,
            streaming: agents - refused as usize,
            graph_requests_per_s: 50.0,
            graph_presence_reads_per_s: 45.0,
            graph_429s: 300,
            graph_429s_per_s: 5.0,
            salesforce_requests_per_s: 20.0,
            salesforce_api_per_s: 2.0,
            salesforce_api_used: 1_000,
            handshakes_refused: refused,
            teams_to_salesforce_ms: vec![100.0, p99_ms],
            idle_teams_to_salesforce_ms: vec![3000.0],
            salesforce_to_teams_ms: vec![5.0],
            changes_lost: 0,
            rss_per_agent_mib: 0.75,
            rss_mib: 100.0,
        }
    }

    #[test]
    fn scale_names_where_the_target_stops_being_met_and_keeps_the_baseline_apart() {
        let points = [
            point(100, true, 1500.0, 0),
            point(250, true, 3000.0, 0),
            point(2000, true, 30_000.0, 1000),
            point(250, false, 20_000.0, 0),
        ];
        let mut results = Results::default();
        let mut series = Vec::new();
        for p in &points {
            let (figures, list) = scale_point_figures(p);
            results.replace_part(&scale_prefix(p.agents, p.paced), figures);
            series.extend(list);
        }
        // A point measured again replaces only its own figures.
        let again = scale_point_figures(&point(250, true, 2500.0, 0)).0;
        results.replace_part("scale.agents_250", again);
        let summary = scale_summary(&results);
        results.replace_part("scale.summary", summary);
        let get = |key: &str| results.get(key);
        assert_eq!(get("scale.summary.p99_under_2s_up_to_agents"), Some(100.0));
        assert_eq!(get("scale.summary.p99_over_2s_from_agents"), Some(250.0));
        assert_eq!(
            get("scale.summary.streaming_refused_from_agents"),
            Some(2000.0)
        );
        assert_eq!(
            get("scale.agents_250.teams_to_salesforce.p99_ms"),
            Some(2500.0)
        );
        assert_eq!(
            get("scale.agents_2000.org_allowance_lasts_h"),
            Some(2_100_000.0 / 7200.0)
        );
        assert_eq!(
            get("scale.unpaced.agents_250.teams_to_salesforce.p99_ms"),
            Some(20_000.0)
        );
        assert_eq!(get("scale.agents_100.graph_throttled_fraction"), Some(0.1));
        assert!(series
            .iter()
            .any(|(name, _)| name == "scale.unpaced.agents_250"));
    }
}
