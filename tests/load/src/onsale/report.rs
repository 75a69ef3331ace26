//! The HTML report: the run's figures and four plots drawn as inline SVG (no scripts,
//! no external files), so the page opens anywhere and can be attached to an issue.

use super::record::Sample;
use serde_json::Value;
use std::fmt::Write;

const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line chart, x in seconds since the start.
pub fn chart(title: &str, y_unit: &str, series: &[Series]) -> String {
    let (w, h, left, bottom, top, right) = (760.0, 260.0, 64.0, 30.0, 28.0, 170.0);
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(1.0_f64, f64::max);
    let y_max = all.map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9) * 1.05;
    let px = |x: f64| left + x / x_max * (w - left - right);
    let py = |y: f64| h - bottom - y / y_max * (h - bottom - top);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<figure><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">
<text x="{left}" y="16" font-size="13" font-weight="bold">{t}</text>
<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#333"/><line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="#333"/>"##,
        t = escape(title),
        b = h - bottom,
        r = w - right,
    );
    for i in 0..=4 {
        let y = y_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" y1="{py}" x2="{r}" y2="{py}" stroke="#ddd"/><text x="{tx}" y="{ty}" text-anchor="end">{label}</text>"##,
            py = py(y),
            r = w - right,
            tx = left - 4.0,
            ty = py(y) + 4.0,
            label = short(y),
        );
        let x = x_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r#"<text x="{px}" y="{ty}" text-anchor="middle">{x:.0} s</text>"#,
            px = px(x),
            ty = h - bottom + 16.0,
        );
    }
    let _ = write!(
        svg,
        r#"<text x="12" y="{my}" transform="rotate(-90 12 {my})" text-anchor="middle">{u}</text>"#,
        my = (h - bottom + top) / 2.0,
        u = escape(y_unit)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/><rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/><text x="{tx}" y="{ty}">{name}</text>"#,
            points.join(" "),
            lx = w - right + 10.0,
            ly = top + 16.0 * i as f64,
            tx = w - right + 24.0,
            ty = top + 9.0 + 16.0 * i as f64,
            name = escape(&s.name),
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

fn short(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Per-second rates of a counter read from the samples.
fn rate(samples: &[Sample], read: impl Fn(&Sample) -> f64) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].t - w[0].t).max(1e-3);
            (w[1].t, ((read(&w[1]) - read(&w[0])) / dt).max(0.0))
        })
        .collect()
}

/// The run's plots, each an SVG with a file name (without `.svg`).
pub fn charts(
    samples: &[Sample],
    windows: &[super::record::Window],
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();

    let line = |name: &str, read: &dyn Fn(&Sample) -> f64| Series {
        name: name.to_owned(),
        points: samples.iter().map(|s| (s.t, read(s))).collect(),
    };
    out.push((
        "fans",
        chart(
            "Fans waiting and admitted",
            "fans",
            &[
                line("waiting at the edge", &|s| s.at_edge as f64),
                line("in tier 2", &|s| s.in_tier2 as f64),
                line("booking", &|s| s.booking as f64),
            ],
        ),
    ));
    out.push((
        "admissions",
        chart(
            "Admissions per second",
            "fans/s",
            &[
                Series {
                    name: "edge passes".into(),
                    points: rate(samples, |s| s.passes as f64),
                },
                Series {
                    name: "tier-2 admissions".into(),
                    points: rate(samples, |s| s.admitted as f64),
                },
                Series {
                    name: "payments".into(),
                    points: rate(samples, |s| s.paid as f64),
                },
            ],
        ),
    ));
    out.push((
        "connections",
        chart(
            "Open connections and requests",
            "count, req/s",
            &[
                line("open connections", &|s| s.connections as f64),
                Series {
                    name: "requests/s".into(),
                    points: rate(samples, |s| s.requests as f64),
                },
            ],
        ),
    ));
    let phases: Vec<&str> = windows
        .iter()
        .flat_map(|(_, m)| m.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let percentile = |pick: fn(&(f64, f64)) -> f64| -> Vec<Series> {
        phases
            .iter()
            .map(|p| Series {
                name: (*p).to_owned(),
                points: windows
                    .iter()
                    .filter_map(|(t, m)| m.get(p).map(|v| (*t as f64, pick(v))))
                    .collect(),
            })
            .collect()
    };
    out.push((
        "latency_p50",
        chart("p50 latency per phase", "ms", &percentile(|v| v.0)),
    ));
    out.push((
        "latency_p99",
        chart("p99 latency per phase", "ms", &percentile(|v| v.1)),
    ));
    let names: Vec<String> = samples
        .last()
        .map(|s| s.procs.keys().cloned().collect())
        .unwrap_or_default();
    let cpu: Vec<Series> = names
        .iter()
        .map(|n| Series {
            name: n.clone(),
            points: rate(samples, |s| {
                s.procs.get(n).map_or(0.0, |p| p.cpu_seconds * 100.0)
            }),
        })
        .collect();
    out.push(("cpu", chart("CPU per process", "% of one core", &cpu)));
    let rss: Vec<Series> = names
        .iter()
        .map(|n| Series {
            name: n.clone(),
            points: samples
                .iter()
                .map(|s| (s.t, s.procs.get(n).map_or(0.0, |p| p.rss_mb)))
                .collect(),
        })
        .collect();
    out.push(("memory", chart("Resident memory per process", "MB", &rss)));
    out
}

/// The whole page.
pub fn html(report: &Value, samples: &[Sample], windows: &[super::record::Window]) -> String {
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>URR on-sale load test</title>\
         <style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
         table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
         th{background:#f4f4f4}td:first-child{text-align:left}</style>\
         <h1>URR on-sale load test</h1>",
    );
    let _ = write!(
        page,
        "<p>{} fans, {} cores, {} s. Verdict: <strong>{}</strong></p><h2>Invariants</h2><table>",
        report["fans"],
        report["cores"],
        report["duration_secs"],
        if report["passed"] == true {
            "passed"
        } else {
            "FAILED"
        }
    );
    for key in [
        "tickets_sold",
        "double_sold",
        "over_admitted",
        "http_5xx",
        "lost_payments",
        "kendall_tau_min",
        "peak_concurrent_connections",
        "requests",
        "requests_per_sec",
    ] {
        let _ = write!(page, "<tr><td>{key}</td><td>{}</td></tr>", report[key]);
    }
    page.push_str("</table><h2>Latency per phase (ms)</h2><table><tr><th>phase</th><th>requests</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>");
    if let Some(phases) = report["phases"].as_object() {
        for (name, p) in phases {
            let _ = write!(
                page,
                "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p["requests"], p["p50_ms"], p["p90_ms"], p["p99_ms"], p["max_ms"]
            );
        }
    }
    page.push_str("</table><h2>Processes</h2><table><tr><th>process</th><th>CPU seconds</th><th>max RSS (MB)</th></tr>");
    if let Some(procs) = report["processes"].as_object() {
        for (name, p) in procs {
            let _ = write!(
                page,
                "<tr><td>{name}</td><td>{}</td><td>{}</td></tr>",
                p["cpu_seconds"], p["max_rss_mb"]
            );
        }
    }
    page.push_str("</table><h2>Over time</h2>");
    for (_, svg) in charts(samples, windows) {
        page.push_str(&svg);
    }
    let _ = write!(
        page,
        "<h2>Configuration</h2><pre>{}</pre></html>",
        escape(&serde_json::to_string_pretty(&report["config"]).unwrap_or_default())
    );
    page
}
