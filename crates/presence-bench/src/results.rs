//! `bench/results.json`: one key per figure (`latency.teams_to_salesforce.idle_60s.p99_ms`,
//! `scale.agents_1000.graph_429s`, …), a flat object of numbers. Each part of the harness
//! replaces its own keys and keeps the others', so the parts can be run one at a time.

use std::collections::BTreeMap;
use std::path::Path;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ResultsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a results file (a JSON object of numbers): {reason}")]
    Malformed { path: String, reason: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The figures, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Results(pub BTreeMap<String, f64>);

impl Results {
    /// The file's figures, or none when it does not exist yet.
    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default())
            }
            Err(source) => {
                return Err(ResultsError::Read {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Self)
            .map_err(|error| ResultsError::Malformed {
                path: path.display().to_string(),
                reason: error.to_string(),
            })
    }

    /// Replaces every key under `part.` with `figures`, keeping the other parts'.
    pub fn replace_part(&mut self, part: &str, figures: Vec<(String, f64)>) {
        let prefix = format!("{part}.");
        self.0.retain(|key, _| !key.starts_with(&prefix));
        for (key, value) in figures {
            if value.is_finite() {
                self.0.insert(key, value);
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).copied()
    }

    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        write_json(path, serde_json::to_string_pretty(&self.0))
    }
}

/// Writes a serialised file, making its folder first.
fn write_json(path: &Path, text: serde_json::Result<String>) -> Result<(), ResultsError> {
    let text = text.map_err(|e| ResultsError::Malformed {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let write_error = |source| ResultsError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    std::fs::write(path, text + "\n").map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_replaces_its_own_keys_only() {
        let mut results = Results::default();
        results.replace_part(
            "latency",
            vec![("latency.a".into(), 1.0), ("latency.b".into(), 2.0)],
        );
        results.replace_part("scale", vec![("scale.a".into(), 3.0)]);
        results.replace_part(
            "latency",
            vec![("latency.c".into(), f64::NAN), ("latency.a".into(), 4.0)],
        );
        let keys: Vec<_> = results.0.keys().cloned().collect();
        assert_eq!(keys, ["latency.a", "scale.a"]);
        assert_eq!(results.get("latency.a"), Some(4.0));
    }

    #[test]
    fn a_file_that_is_not_numbers_is_refused_with_its_path() {
        let dir = std::env::temp_dir().join(format!("bench-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a dir");
        let path = dir.join("results.json");
        std::fs::write(&path, "{\"a\": \"fast\"}").expect("written");
        let error = Results::load(&path).expect_err("refused");
        assert!(error.to_string().contains("results.json"), "{error}");
        assert_eq!(
            Results::load(&dir.join("none.json")).expect("absent"),
            Results::default()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `bench/samples.json`: the raw latencies behind the percentiles (milliseconds), by series
/// (`teams_to_salesforce.idle_60s`, `scale.agents_1000`), for the plots and a second look.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples(pub BTreeMap<String, Vec<f64>>);

impl Samples {
    pub fn load(path: &Path) -> Result<Self, ResultsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                serde_json::from_str(&text)
                    .map(Self)
                    .map_err(|error| ResultsError::Malformed {
                        path: path.display().to_string(),
                        reason: error.to_string(),
                    })
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ResultsError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Replaces every series under `part.` (or named `part`).
    pub fn replace_part(&mut self, part: &str, series: Vec<(String, Vec<f64>)>) {
        let prefix = format!("{part}.");
        self.0
            .retain(|key, _| !key.starts_with(&prefix) && key != part);
        self.0.extend(series);
    }

    pub fn save(&self, path: &Path) -> Result<(), ResultsError> {
        let rounded: BTreeMap<&String, Vec<f64>> = self
            .0
            .iter()
            .map(|(k, v)| (k, v.iter().map(|x| (x * 100.0).round() / 100.0).collect()))
            .collect();
        write_json(path, serde_json::to_string(&rounded))
    }
}
