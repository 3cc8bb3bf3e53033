//! Two plots as SVG: the latency distributions (one cumulative curve per idle class and
//! direction, on a log time axis) and latency against agent count (p50 and p99).
//!
//! Written by hand rather than with `plotters`: its SVG backend lays out every label through a
//! font backend (font-kit with fontconfig, or a bundled TTF), which is more than two line
//! charts need; an SVG `<text>` is laid out by whoever views it.

use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One named series of points (x, y) in data units.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub dashed: bool,
}

/// Escapes text for SVG (names come from our own tables, but an SVG is XML all the same).
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An axis: its range in data units, log or linear, and its tick values.
#[derive(Debug, Clone)]
pub struct Axis {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub log: bool,
    pub ticks: Vec<f64>,
}

impl Axis {
    pub fn new(label: &str, (min, max): (f64, f64), log: bool, ticks: &[f64]) -> Self {
        Self {
            label: label.into(),
            min,
            max,
            log,
            ticks: ticks.to_vec(),
        }
    }

    fn place(&self, value: f64, from: f64, to: f64) -> f64 {
        let (lo, hi, v) = if self.log {
            (
                self.min.max(1e-9).log10(),
                self.max.max(1e-9).log10(),
                value.max(self.min.max(1e-9)).log10(),
            )
        } else {
            (self.min, self.max, value)
        };
        let share = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        from + share.clamp(0.0, 1.0) * (to - from)
    }
}

fn tick_label(value: f64) -> String {
    if value >= 1000.0 && value % 1000.0 == 0.0 {
        format!("{}k", value / 1000.0)
    } else if value >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    }
}

/// A line chart with a legend on the right.
pub fn chart(title: &str, x: &Axis, y: &Axis, series: &[Series]) -> String {
    let (x0, x1) = (LEFT, WIDTH - RIGHT);
    let (y0, y1) = (HEIGHT - BOTTOM, TOP);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{}</text>
"##,
        escape(title)
    );
    for &tick in &x.ticks {
        let px = x.place(tick, x0, x1);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{y1}" stroke="#e0e0e0"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            y0 + 16.0,
            tick_label(tick)
        );
    }
    for &tick in &y.ticks {
        let py = y.place(tick, y0, y1);
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            x0 - 6.0,
            py + 4.0,
            tick_label(tick)
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{x0}" y="{y1}" width="{:.1}" height="{:.1}" fill="none" stroke="#333333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>
<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        x1 - x0,
        y0 - y1,
        (x0 + x1) / 2.0,
        HEIGHT - 18.0,
        escape(&x.label),
        (y0 + y1) / 2.0,
        escape(&y.label)
    );
    for (n, line) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let points: Vec<String> = line
            .points
            .iter()
            .map(|&(vx, vy)| format!("{:.1},{:.1}", x.place(vx, x0, x1), y.place(vy, y0, y1)))
            .collect();
        let dash = if line.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            r##"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"##,
            points.join(" ")
        );
        for &(vx, vy) in line.points.iter().filter(|_| line.points.len() <= 12) {
            let _ = writeln!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"##,
                x.place(vx, x0, x1),
                y.place(vy, y0, y1)
            );
        }
        let ly = TOP + 10.0 + n as f64 * 20.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"##,
            x1 + 12.0,
            x1 + 36.0,
            x1 + 42.0,
            ly + 4.0,
            escape(&line.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// The cumulative distribution of a sample, in milliseconds: (latency, share of changes).
pub fn cdf(samples_ms: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = samples_ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &v)| (v, (i + 1) as f64 / n * 100.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_well_formed_and_escapes_names() {
        let axis = |log| Axis {
            label: "ms".into(),
            min: 1.0,
            max: 1000.0,
            log,
            ticks: vec![1.0, 10.0, 100.0, 1000.0],
        };
        let svg = chart(
            "a <test>",
            &axis(true),
            &axis(false),
            &[Series {
                name: "a & b".into(),
                points: cdf(&[3.0, 1.0, 2.0]),
                dashed: true,
            }],
        );
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;test&gt;") && svg.contains("a &amp; b"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(cdf(&[3.0, 1.0]), vec![(1.0, 50.0), (3.0, 100.0)]);
    }
}
