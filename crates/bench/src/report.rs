//! Results: one JSON file per scenario (the same shape for the Rust scenarios and the
//! desktop-app script), merged into `bench.json` with the machine's description, printed
//! as a table, and drawn as SVG charts.

use anyhow::Context;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A goal from the issue, e.g. `<= 8 KB`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Goal {
    /// `<=` or `>=`.
    pub op: String,
    pub value: f64,
}

impl Goal {
    pub fn at_most(value: f64) -> Option<Goal> {
        Some(Goal {
            op: "<=".into(),
            value,
        })
    }
    pub fn at_least(value: f64) -> Option<Goal> {
        Some(Goal {
            op: ">=".into(),
            value,
        })
    }
    pub fn met(&self, v: f64) -> bool {
        match self.op.as_str() {
            "<=" => v <= self.value,
            _ => v >= self.value,
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figure {
    pub metric: String,
    /// What was measured: `tidings`, `rabbitmq`, `bare`, `tidings-cache`, ...
    pub target: String,
    /// A note has no value: NaN here, `null` in JSON.
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A line on a chart: `chart` names the SVG file, several series share one chart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub chart: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What one scenario found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    #[serde(default)]
    pub conditions: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub figures: Vec<Figure>,
    #[serde(default)]
    pub series: Vec<Series>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        Report {
            scenario: scenario.into(),
            ..Report::default()
        }
    }

    pub fn condition(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.conditions.insert(key.into(), value.into());
    }

    pub fn figure(
        &mut self,
        target: &str,
        metric: &str,
        value: f64,
        unit: &str,
        goal: Option<Goal>,
    ) {
        let met = goal.as_ref().map(|g| g.met(value));
        println!(
            "  {target:<10} {metric:<48} {}{}",
            fmt_value(value, unit),
            match (&goal, met) {
                (Some(g), Some(m)) => format!(
                    "   goal {} {}: {}",
                    g.op,
                    fmt_value(g.value, unit),
                    if m { "met" } else { "MISSED" }
                ),
                _ => String::new(),
            }
        );
        self.figures.push(Figure {
            metric: metric.into(),
            target: target.into(),
            value,
            unit: unit.into(),
            goal,
            met,
            note: None,
        });
    }

    pub fn note(&mut self, target: &str, metric: &str, note: &str) {
        println!("  {target:<10} {metric:<48} {note}");
        self.figures.push(Figure {
            metric: metric.into(),
            target: target.into(),
            value: f64::NAN,
            unit: String::new(),
            goal: None,
            met: None,
            note: Some(note.into()),
        });
    }

    pub fn series(&mut self, s: Series) {
        self.series.push(s);
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.json", self.scenario));
        std::fs::write(&path, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

/// Serde writes NaN as null; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn fmt_value(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "-".into();
    }
    let num = if v.abs() >= 1000.0 {
        group_thousands(v.round() as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{num} {unit}")
}

fn group_thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The machine the figures were taken on.
pub fn machine() -> BTreeMap<String, serde_json::Value> {
    let mut m = BTreeMap::new();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    m.insert("cpu".into(), model.into());
    m.insert(
        "cores".into(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .into(),
    );
    let mem_kb = read("/proc/meminfo")
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    m.insert(
        "memory_gib".into(),
        ((mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0).into(),
    );
    m.insert(
        "kernel".into(),
        read("/proc/sys/kernel/osrelease").trim().into(),
    );
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("unknown")
        .trim_matches('"')
        .to_owned();
    m.insert("os".into(), os.into());
    let cmd = |c: &str, args: &[&str]| {
        std::process::Command::new(c)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "unknown".into())
    };
    m.insert("rustc".into(), cmd("rustc", &["-V"]).into());
    m.insert("commit".into(), cmd("git", &["rev-parse", "HEAD"]).into());
    m.insert(
        "date".into(),
        cmd("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).into(),
    );
    m.insert("open_files_limit".into(), crate::sys::nofile_limit().into());
    m
}

/// Reads every `<scenario>.json` in `dir` (but `bench.json`), writes `bench.json` with the
/// machine, prints the table, and draws the charts. Returns how many goals were missed.
pub fn merge(dir: &Path) -> anyhow::Result<usize> {
    let mut reports = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().is_some_and(|n| n != "bench.json")
        })
        .collect();
    names.sort_by_key(|p| order(p));
    for p in names {
        let text = std::fs::read_to_string(&p)?;
        let r: Report = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a scenario report", p.display()))?;
        reports.push(r);
    }
    let doc = serde_json::json!({ "machine": machine(), "scenarios": reports });
    std::fs::write(dir.join("bench.json"), serde_json::to_vec_pretty(&doc)?)?;

    println!();
    println!(
        "{:<9} {:<10} {:<52} {:>16}  {:<22}",
        "scenario", "target", "metric", "value", "goal"
    );
    println!("{}", "-".repeat(114));
    let mut missed = 0;
    for r in &reports {
        for f in &r.figures {
            let goal = match (
                &f.goal,
                f.met.or_else(|| f.goal.as_ref().map(|g| g.met(f.value))),
            ) {
                (Some(g), Some(m)) => {
                    if !m {
                        missed += 1;
                    }
                    format!(
                        "{} {}  {}",
                        g.op,
                        fmt_value(g.value, &f.unit),
                        if m { "met" } else { "MISSED" }
                    )
                }
                _ => String::new(),
            };
            let value = match &f.note {
                Some(n) if f.value.is_nan() => n.clone(),
                _ => fmt_value(f.value, &f.unit),
            };
            println!(
                "{:<9} {:<10} {:<52} {:>16}  {goal}",
                r.scenario, f.target, f.metric, value
            );
        }
    }
    let charts = draw(dir, &reports)?;
    println!();
    println!(
        "results: {} ; charts: {}",
        dir.join("bench.json").display(),
        charts.join(", ")
    );
    Ok(missed)
}

fn order(p: &Path) -> usize {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    ["idle", "fanout", "chat", "catchup", "cache", "files", "app"]
        .iter()
        .position(|s| *s == stem)
        .unwrap_or(99)
}

const COLOURS: [RGBColor; 6] = [
    RGBColor(0x2b, 0x6c, 0xb0),
    RGBColor(0xd9, 0x48, 0x1c),
    RGBColor(0x2f, 0x9e, 0x44),
    RGBColor(0x86, 0x45, 0xb5),
    RGBColor(0x99, 0x77, 0x00),
    RGBColor(0x55, 0x55, 0x55),
];

/// One SVG per chart name. Percentile charts get a log-scaled "nines" x axis.
fn draw(dir: &Path, reports: &[Report]) -> anyhow::Result<Vec<String>> {
    let mut charts: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in reports.iter().flat_map(|r| &r.series) {
        charts.entry(s.chart.as_str()).or_default().push(s);
    }
    let mut written = Vec::new();
    for (name, series) in charts {
        let path = dir.join(format!("{name}.svg"));
        draw_one(&path, &series).with_context(|| format!("cannot draw {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// Percentile p (0-100) to "nines": 50 → 0.3, 90 → 1, 99 → 2, 99.9 → 3.
fn nines(p: f64) -> f64 {
    -(1.0 - (p / 100.0).min(0.99999)).log10()
}

fn draw_one(path: &Path, series: &[&Series]) -> anyhow::Result<()> {
    let first = series[0];
    let percentile = first.x_label == "percentile";
    let tx = |x: f64| if percentile { nines(x) } else { x };
    let pts: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().map(|&(x, y)| (tx(x), y)).collect())
        .collect();
    let all = pts.iter().flatten();
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if percentile {
        // Whole "nines" as ticks: p0, p90, p99, p99.9, p99.99.
        x0 = 0.0;
        x1 = x1.ceil().max(4.0);
    }
    if x0 >= x1 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&first.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..y1 * 1.1)?;
    let x_fmt = |x: &f64| {
        if percentile {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            let s = format!("{p:.3}");
            format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
        } else {
            trim(*x)
        }
    };
    chart
        .configure_mesh()
        .x_desc(if percentile {
            "percentile"
        } else {
            first.x_label.as_str()
        })
        .y_desc(first.y_label.as_str())
        .x_labels(if percentile { x1 as usize + 1 } else { 10 })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|y| trim(*y))
        .draw()?;
    for (i, (s, p)) in series.iter().zip(&pts).enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(p.clone(), c.stroke_width(2)))?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart.draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

fn trim(v: f64) -> String {
    if v.abs() >= 100.0 {
        group_thousands(v.round() as i64)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A latency histogram's percentile curve, in milliseconds.
pub fn percentile_points(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, f64)> {
    [50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99]
        .iter()
        .map(|&p| (p, h.value_at_quantile(p / 100.0) as f64 / 1000.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_and_formatting() {
        assert!(Goal::at_most(8.0).is_some_and(|g| g.met(7.9) && !g.met(8.1)));
        assert!(Goal::at_least(100.0).is_some_and(|g| g.met(100.0) && !g.met(99.0)));
        assert_eq!(fmt_value(1234567.4, "msg/s"), "1,234,567 msg/s");
        assert_eq!(fmt_value(4.256, "ms"), "4.26 ms");
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        // A note (no value) survives the round trip through JSON.
        let mut r = Report::new("t");
        r.note("tidings", "m", "not measurable here");
        let back: Report =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("a report");
        assert!(back.figures[0].value.is_nan());
    }
}
