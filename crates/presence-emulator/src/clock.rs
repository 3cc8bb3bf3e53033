//! The emulator's clock: wall time that can run faster than real time (`--time-scale`) and be
//! moved forward from the control API, so that session fades, token expiry and ring timeouts
//! can be tested without waiting.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Clock {
    origin: Instant,
    wall_origin_ms: i64,
    scale: f64,
    offset_ms: i64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        let wall_origin_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        Self {
            origin: Instant::now(),
            wall_origin_ms,
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
            offset_ms: 0,
        }
    }

    /// Emulated wall time, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        let elapsed = self.origin.elapsed().as_secs_f64() * 1000.0 * self.scale;
        self.wall_origin_ms + elapsed as i64 + self.offset_ms
    }

    /// Moves emulated time forward.
    pub fn advance(&mut self, by: Duration) {
        self.offset_ms += by.as_millis() as i64;
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// How long a span of emulated time takes in real time.
    pub fn real(&self, emulated: Duration) -> Duration {
        emulated.div_f64(self.scale)
    }
}

/// ISO 8601 in UTC with milliseconds and `Z`, as Salesforce streams dates.
pub fn iso_z(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Salesforce REST datetime: `2013-05-20T20:49:32.000+0000`.
pub fn salesforce_datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
        .unwrap_or_default()
}

/// Graph's `innerError.date`: seconds, no offset.
pub fn graph_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}
