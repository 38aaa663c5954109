//! The report's charts as inline SVG: no script, no external asset.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{AlertSection, Volume};
use secretwatch_alerting::email::html_escape as esc;

const SOURCE_COLORS: [(&str, &str); 5] = [
    ("kubernetes", "#326ce5"),
    ("vault", "#f2a900"),
    ("aws", "#d45b07"),
    ("azure", "#0a8a8a"),
    ("gcp", "#34a853"),
];

fn color(source: &str) -> &'static str {
    SOURCE_COLORS
        .iter()
        .find(|(s, _)| *s == source)
        .map(|(_, c)| *c)
        .unwrap_or("#777777")
}

/// A round upper bound for an axis.
fn nice_max(v: u64) -> u64 {
    let v = v.max(1);
    let mag = 10u64.pow((v as f64).log10().floor() as u32);
    for m in [1, 2, 5, 10] {
        if v <= m * mag {
            return m * mag;
        }
    }
    10 * mag
}

/// Secret accesses per bucket, stacked by source; empty buckets shown as zero.
pub fn volume(v: &Volume, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let step = if v.bucket == "day" {
        Duration::days(1)
    } else {
        Duration::hours(1)
    };
    let mut buckets: BTreeMap<DateTime<Utc>, BTreeMap<&str, u64>> = BTreeMap::new();
    let mut at = from.duration_trunc(step).unwrap_or(from);
    // Bounded: a year of hours at most.
    while at < to && buckets.len() < 9000 {
        buckets.insert(at, BTreeMap::new());
        at += step;
    }
    let mut sources: Vec<&str> = Vec::new();
    for p in &v.points {
        if !sources.contains(&p.source.as_str()) {
            sources.push(&p.source);
        }
        *buckets
            .entry(p.at)
            .or_default()
            .entry(p.source.as_str())
            .or_default() += p.secret_accesses;
    }
    let (w, h, left, bottom, top) = (900.0, 240.0, 56.0, 36.0, 28.0);
    let plot_w = w - left - 12.0;
    let plot_h = h - bottom - top;
    let max = nice_max(
        buckets
            .values()
            .map(|m| m.values().sum::<u64>())
            .max()
            .unwrap_or(0),
    );
    let n = buckets.len().max(1) as f64;
    let bw = plot_w / n;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="Secret accesses per {b}, by source"><title>Secret accesses per {b}, by source</title>"##,
        b = v.bucket
    );
    for i in 0..=4 {
        let y = top + plot_h - plot_h * i as f64 / 4.0;
        let label = max * i / 4;
        let _ = write!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#555">{label}</text>"##,
            x2 = w - 12.0,
            tx = left - 6.0,
            ty = y + 4.0
        );
    }
    let label_every = (buckets.len() / 8).max(1);
    for (i, (at, per)) in buckets.iter().enumerate() {
        let x = left + bw * i as f64;
        let mut y = top + plot_h;
        for src in &sources {
            let c = per.get(src).copied().unwrap_or(0);
            if c == 0 {
                continue;
            }
            let bh = plot_h * c as f64 / max as f64;
            y -= bh;
            let _ = write!(
                s,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{bw2:.2}" height="{bh:.2}" fill="{col}"><title>{t} {src}: {c}</title></rect>"##,
                bw2 = (bw - 1.0).max(0.5),
                col = color(src),
                t = at.format(if v.bucket == "day" {
                    "%Y-%m-%d"
                } else {
                    "%Y-%m-%d %H:00"
                }),
                src = esc(src),
            );
        }
        if i % label_every == 0 {
            let _ = write!(
                s,
                r##"<text x="{x:.1}" y="{ly}" font-size="11" fill="#555">{t}</text>"##,
                ly = h - bottom + 16.0,
                t = at.format(if v.bucket == "day" {
                    "%m-%d"
                } else {
                    "%m-%d %H:00"
                }),
            );
        }
    }
    let mut lx = left;
    for src in &sources {
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="8" width="12" height="12" fill="{c}"/><text x="{tx}" y="18" font-size="12" fill="#222">{name}</text>"##,
            c = color(src),
            tx = lx + 16.0,
            name = esc(src)
        );
        lx += 24.0 + 8.0 * src.len() as f64;
    }
    if v.points.is_empty() {
        let _ = write!(
            s,
            r##"<text x="{x}" y="{y}" font-size="14" text-anchor="middle" fill="#777">No events in the period</text>"##,
            x = w / 2.0,
            y = top + plot_h / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

const SEVERITIES: [(&str, &str); 5] = [
    ("critical", "#8b0000"),
    ("high", "#d9381e"),
    ("medium", "#f29100"),
    ("low", "#3b7dd8"),
    ("info", "#888888"),
];

/// Alerts per severity, as horizontal bars.
pub fn severities(a: &AlertSection) -> String {
    let (w, row, left) = (900.0, 26.0, 90.0);
    let h = row * SEVERITIES.len() as f64 + 10.0;
    let max = nice_max(a.by_severity.values().copied().max().unwrap_or(0));
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="Alerts by severity"><title>Alerts by severity</title>"##
    );
    for (i, (sev, col)) in SEVERITIES.iter().enumerate() {
        let n = a.by_severity.get(*sev).copied().unwrap_or(0);
        let y = 5.0 + row * i as f64;
        let bw = (w - left - 80.0) * n as f64 / max as f64;
        let _ = write!(
            s,
            r##"<text x="{tx}" y="{ty}" font-size="12" text-anchor="end" fill="#222">{sev}</text><rect x="{left}" y="{y}" width="{bw:.1}" height="{bh}" fill="{col}"/><text x="{nx:.1}" y="{ty}" font-size="12" fill="#222">{n}</text>"##,
            tx = left - 8.0,
            ty = y + 15.0,
            bh = row - 8.0,
            nx = left + bw + 6.0,
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::VolumePoint;

    #[test]
    fn volume_chart_has_a_bar_per_nonzero_source_bucket_and_escapes_names() {
        let from: DateTime<Utc> = "2026-11-03T00:00:00Z".parse().unwrap();
        let v = Volume {
            bucket: "hour",
            points: vec![
                VolumePoint {
                    at: from,
                    source: "kubernetes".into(),
                    events: 10,
                    secret_accesses: 7,
                },
                VolumePoint {
                    at: from,
                    source: "vault".into(),
                    events: 3,
                    secret_accesses: 3,
                },
                VolumePoint {
                    at: from + Duration::hours(2),
                    source: "<x>".into(),
                    events: 1,
                    secret_accesses: 1,
                },
            ],
        };
        let svg = volume(&v, from, from + Duration::hours(4));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(
            svg.matches("<rect x=").count(),
            3 + 3,
            "3 bars and 3 legend boxes: {svg}"
        );
        assert!(svg.contains("kubernetes: 7"), "{svg}");
        assert!(!svg.contains("<x>") && svg.contains("&lt;x&gt;"));
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(130), 200);
    }
}
