//! Presence Bridge's benchmark harness (`make bench`, `make bench-scale`): what an admin asks
//! before rolling out to a contact centre, measured through the product's own sync against
//! the emulator on loopback, with baselines from the same run.
//!
//! Promises: every figure is measured in the run that reports it (percentiles are nearest-rank,
//! values that occurred); a change never seen is counted as lost, never dropped from the
//! sample; `bench/results.json` holds one key per figure and `BENCHMARKS.md` the tables, with
//! each target marked met or missed. Benchmarks, not tests: nothing here asserts a speed.

pub mod calls;
pub mod economy;
pub mod fleet;
pub mod footprint;
pub mod latency;
pub mod report;
pub mod results;
pub mod scale;
pub mod stats;
pub mod svg;
