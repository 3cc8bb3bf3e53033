//! Order statistics of a sample: nearest-rank percentiles, so that every figure reported is a
//! latency that was actually measured.

use std::time::Duration;

/// Durations in milliseconds, as the results and samples files keep them.
pub fn millis(samples: &[Duration]) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

/// The figures reported for one distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `None` for an empty sample (nothing was measured, and no figure is invented).
    pub fn of(samples: &[Duration]) -> Option<Self> {
        Self::of_ms(&millis(samples))
    }

    /// The same for a sample already in milliseconds (as `bench/samples.json` keeps them).
    pub fn of_ms(samples_ms: &[f64]) -> Option<Self> {
        let mut sorted = samples_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let rank = |p: f64| sorted[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        (n > 0).then(|| Self {
            n,
            p50_ms: rank(0.50),
            p95_ms: rank(0.95),
            p99_ms: rank(0.99),
            max_ms: sorted[n - 1],
        })
    }

    /// `p50 … ms, p99 … ms (n …)` for a progress line; "nothing measured" for no sample.
    pub fn brief(summary: Option<Self>) -> String {
        match summary {
            Some(s) => format!("p50 {:.0} ms, p99 {:.0} ms (n {})", s.p50_ms, s.p99_ms, s.n),
            None => "nothing measured".into(),
        }
    }

    /// The figures under `prefix` (`prefix.p50_ms`, …) for the results file.
    pub fn entries(&self, prefix: &str) -> Vec<(String, f64)> {
        vec![
            (format!("{prefix}.n"), self.n as f64),
            (format!("{prefix}.p50_ms"), self.p50_ms),
            (format!("{prefix}.p95_ms"), self.p95_ms),
            (format!("{prefix}.p99_ms"), self.p99_ms),
            (format!("{prefix}.max_ms"), self.max_ms),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles_are_measured_values() {
        let samples = ms(&(1..=100).collect::<Vec<_>>());
        let summary = Summary::of(&samples).expect("a sample");
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p95_ms, 95.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        // 30 samples: p99 is the largest, p95 the second largest.
        let summary = Summary::of(&ms(&(1..=30).rev().collect::<Vec<_>>())).expect("a sample");
        assert_eq!((summary.p95_ms, summary.p99_ms), (29.0, 30.0));
    }

    #[test]
    fn an_empty_sample_has_no_figures() {
        assert_eq!(Summary::of(&[]), None);
    }
}
