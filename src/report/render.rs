//! A report as HTML (self-contained: inline CSS and SVG, no script), Markdown, CSV or JSON.

use std::fmt::Write;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{section, svg, Report, ReportConfig, Session, SessionEvent};
use secretwatch_alerting::email::html_escape as esc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
    Csv,
    Json,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s {
            "html" => Format::Html,
            "md" | "markdown" => Format::Markdown,
            "csv" => Format::Csv,
            "json" => Format::Json,
            other => {
                return Err(format!(
                    "unknown report format {other:?} (html, md, csv, json)"
                ))
            }
        })
    }
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

pub fn render(r: &Report, cfg: &ReportConfig, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(r).unwrap_or_default(),
        Format::Html => html(r, cfg),
        Format::Markdown => markdown(r, cfg),
        Format::Csv => csv(r),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn opt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(time).unwrap_or_else(|| "-".into())
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// One table of a section.
struct Table {
    key: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    empty: String,
}

fn tables(r: &Report) -> Vec<Table> {
    let access = |rows: &[super::AccessRow]| {
        rows.iter()
            .map(|a| {
                vec![
                    a.environment.clone().unwrap_or_else(|| "-".into()),
                    a.principal.clone(),
                    a.principal_kind.clone(),
                    a.source.clone(),
                    a.secret.clone(),
                    a.reads.to_string(),
                    a.lists.to_string(),
                    a.changes.to_string(),
                    a.denied.to_string(),
                    time(a.first),
                    time(a.last),
                ]
            })
            .collect()
    };
    let access_cols = vec![
        "environment",
        "identity",
        "kind",
        "source",
        "secret",
        "reads",
        "lists",
        "changes",
        "denied",
        "first",
        "last",
    ];
    vec![
        Table {
            key: "access",
            columns: access_cols.clone(),
            rows: access(&r.access),
            empty: "No secret was accessed in the period.".into(),
        },
        Table {
            key: "human_production_reads",
            columns: access_cols,
            rows: access(&r.human_production_reads),
            empty: if r.production_environments.is_empty() {
                "No production environments are configured (detect.context.production_environments).".into()
            } else {
                format!(
                    "No person read a secret of {} in the period.",
                    r.production_environments.join(", ")
                )
            },
        },
        Table {
            key: "break_glass",
            columns: vec![
                "identity", "source", "start", "end", "events", "triage", "by", "note", "alerts",
            ],
            rows: r
                .break_glass
                .iter()
                .map(|s| {
                    vec![
                        s.principal.clone(),
                        s.source.clone(),
                        time(s.start),
                        if s.closed { time(s.end) } else { format!("{} (open)", time(s.end)) },
                        s.events_total.to_string(),
                        s.state.clone(),
                        s.triaged_by.clone().unwrap_or_default(),
                        s.note.clone().unwrap_or_default(),
                        s.alerts
                            .iter()
                            .map(|a| format!("{} {} ({})", a.rule, a.id, a.state))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ]
                })
                .collect(),
            empty: "No break-glass identity was used in the period.".into(),
        },
        Table {
            key: "alerts",
            columns: vec![
                "rule", "severity", "alerts", "new", "acknowledged", "resolved", "false positive",
                "median time to triage", "longest time to triage",
            ],
            rows: r
                .alerts
                .rules
                .iter()
                .map(|a| {
                    vec![
                        a.rule.clone(),
                        a.severity.clone(),
                        a.alerts.to_string(),
                        a.new.to_string(),
                        a.acknowledged.to_string(),
                        a.resolved.to_string(),
                        a.false_positive.to_string(),
                        a.median_ack_seconds.map(span).unwrap_or_else(|| "-".into()),
                        a.max_ack_seconds.map(span).unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect(),
            empty: "No alert was raised in the period.".into(),
        },
        Table {
            key: "broad_listers",
            columns: vec![
                "identity", "kind", "list calls", "namespaces", "cluster-wide lists", "expected",
                "first", "last",
            ],
            rows: r
                .broad_listers
                .iter()
                .map(|b| {
                    vec![
                        b.principal.clone(),
                        b.principal_kind.clone(),
                        b.lists.to_string(),
                        b.namespaces.to_string(),
                        b.cluster_wide.to_string(),
                        if b.expected { "yes" } else { "no" }.into(),
                        time(b.first),
                        time(b.last),
                    ]
                })
                .collect(),
            empty: "No identity listed secrets across namespaces in the period.".into(),
        },
        Table {
            key: "dormant",
            columns: vec![
                "identity", "kind", "source", "accesses before", "last access", "days inactive",
                "inactive",
            ],
            rows: r
                .dormant
                .iter()
                .map(|d| {
                    vec![
                        d.principal.clone(),
                        d.principal_kind.clone(),
                        d.source.clone(),
                        d.accesses_before.to_string(),
                        time(d.last_access),
                        d.days_inactive.to_string(),
                        if d.inactive { "yes" } else { "no" }.into(),
                    ]
                })
                .collect(),
            empty: match r.store_begins {
                Some(b) if b < r.from => "Every identity with earlier secret access also used it in the period.".into(),
                _ => "The store holds no events before the period, so no identity can be called dormant yet.".into(),
            },
        },
        Table {
            key: "rotation",
            columns: vec![
                "secret", "source", "reads", "last read", "last change", "age (days)",
                "policy (days)", "status",
            ],
            rows: r
                .rotation
                .iter()
                .map(|x| {
                    vec![
                        x.secret.clone(),
                        x.source.clone(),
                        x.reads.to_string(),
                        time(x.last_read),
                        opt_time(x.last_change),
                        x.age_days.map(|a| a.to_string()).unwrap_or_else(|| "-".into()),
                        x.policy_days.to_string(),
                        x.status.into(),
                    ]
                })
                .collect(),
            empty: "No secret was read in the period.".into(),
        },
        Table {
            key: "sync",
            columns: vec![
                "vault path", "kubernetes secret", "last vault change", "last sync", "lag (min)",
                "sla (min)", "status", "alerts",
            ],
            rows: r
                .sync
                .iter()
                .map(|x| {
                    vec![
                        x.vault_path.clone(),
                        x.secret.clone(),
                        opt_time(x.last_vault_change),
                        opt_time(x.last_sync),
                        x.lag_minutes.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                        x.sla_minutes.to_string(),
                        x.status.into(),
                        x.alerts.to_string(),
                    ]
                })
                .collect(),
            empty: "No Vault-to-Kubernetes sync is configured (detect.context.sync).".into(),
        },
        Table {
            key: "coverage",
            columns: vec!["source", "events", "first", "last", "allowed silence (min)", "gap from", "gap to", "gap (min)"],
            rows: r
                .coverage
                .iter()
                .flat_map(|c| {
                    let base = vec![
                        c.source.clone(),
                        c.events.to_string(),
                        opt_time(c.first),
                        opt_time(c.last),
                        c.max_silence_minutes.to_string(),
                    ];
                    if c.gaps.is_empty() {
                        let mut row = base;
                        row.extend(["none".into(), String::new(), String::new()]);
                        vec![row]
                    } else {
                        c.gaps
                            .iter()
                            .map(|g| {
                                let mut row = base.clone();
                                row.extend([time(g.from), time(g.to), g.minutes.to_string()]);
                                row
                            })
                            .collect()
                    }
                })
                .collect(),
            empty: "No source has sent events yet.".into(),
        },
    ]
}

/// Findings for the summary: label, count, the section, whether a non-zero count needs action.
fn findings(r: &Report) -> Vec<(&'static str, u64, &'static str, bool)> {
    let s = &r.summary;
    vec![
        ("Secret accesses", s.secret_accesses, "access", false),
        ("Identities", s.principals, "access", false),
        (
            "Human reads of production secrets",
            s.human_production_reads,
            "human_production_reads",
            true,
        ),
        (
            "Break-glass sessions",
            s.break_glass_sessions,
            "break_glass",
            true,
        ),
        ("Alerts", s.alerts, "alerts", false),
        ("Alerts not triaged", s.alerts_open, "alerts", true),
        (
            "Unexpected cross-namespace listers",
            s.broad_listers,
            "broad_listers",
            true,
        ),
        ("Dormant identities", s.dormant_identities, "dormant", true),
        (
            "Secrets past rotation age",
            s.rotation_overdue,
            "rotation",
            true,
        ),
        ("Rotation sync gaps", s.sync_gaps, "sync", true),
        ("Gaps in the audit trail", s.coverage_gaps, "coverage", true),
    ]
}

const CSS: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b1b1b;margin:0;background:#fafafa}\
main{max-width:1180px;margin:0 auto;padding:24px 28px 48px;background:#fff}\
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 4px;padding-top:8px;border-top:2px solid #e6e6e6}\
.meta{color:#555;margin:0 0 18px}.controls{display:inline-block;font-size:12px;background:#eef3fb;color:#1f4e96;border:1px solid #c9d9f2;border-radius:4px;padding:1px 7px;margin:2px 0 6px}\
.about{color:#444;margin:4px 0 10px;max-width:900px}\
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px;margin:14px 0}\
.tile{border:1px solid #ddd;border-radius:6px;padding:10px 12px;text-decoration:none;color:inherit;background:#fff}\
.tile b{display:block;font-size:24px}.tile.bad{border-color:#d9381e;background:#fff4f1}.tile.bad b{color:#b3261e}\
.tile.good b{color:#1e7b34}\
table{border-collapse:collapse;width:100%;margin:6px 0 4px;font-size:12.5px}\
th,td{border:1px solid #e2e2e2;padding:4px 6px;text-align:left;vertical-align:top;word-break:break-word}\
th{background:#f3f4f6;font-weight:600;white-space:nowrap;word-break:normal}tr:nth-child(even) td{background:#fbfbfb}\
.empty{color:#1e7b34;font-style:italic}.more{color:#555;font-size:12px}\
.session{border:1px solid #e5c7c2;border-left:4px solid #b3261e;border-radius:4px;padding:8px 12px;margin:10px 0;background:#fffafa}\
.session h3{font-size:15px;margin:2px 0 4px}.charts{display:grid;grid-template-columns:1fr;gap:6px}\
.chart h3{font-size:14px;margin:10px 0 2px;color:#333}nav ol{columns:2;margin:6px 0 0;padding-left:20px}\
footer{color:#666;font-size:12px;margin-top:40px}\
@media print{body{background:#fff}main{padding:0}h2{break-after:avoid}.session,tr{break-inside:avoid}}";

fn html_table(out: &mut String, t: &Table, max: usize) {
    if t.rows.is_empty() {
        let _ = write!(out, "<p class=\"empty\">{}</p>", esc(&t.empty));
        return;
    }
    out.push_str("<table><thead><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in t.rows.iter().take(max) {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if t.rows.len() > max {
        let _ = write!(
            out,
            "<p class=\"more\">{} of {} rows shown; the CSV and JSON formats have them all.</p>",
            max,
            t.rows.len()
        );
    }
}

/// The events of one break-glass session as a table.
fn session_events(s: &Session, empty: &str) -> Table {
    Table {
        key: "break_glass",
        columns: vec!["time", "action", "verb", "target", "outcome", "source ip"],
        rows: s.events.iter().map(session_event_cells).collect(),
        empty: empty.into(),
    }
}

/// One event of a break-glass session as table cells (time, action, verb, target, outcome,
/// source ip): the HTML/Markdown table and the CSV rows.
fn session_event_cells(e: &SessionEvent) -> Vec<String> {
    vec![
        time(e.time),
        e.action.clone(),
        e.verb.clone(),
        e.target.clone(),
        e.outcome.clone(),
        e.source_ip.clone().unwrap_or_default(),
    ]
}

fn html_session(out: &mut String, s: &Session) {
    let _ = write!(
        out,
        "<div class=\"session\"><h3>{} <small>({}) {} to {}{}</small></h3><p>{}</p><p><b>Triage:</b> {}{}{}</p>",
        esc(&s.principal),
        esc(&s.source),
        time(s.start),
        time(s.end),
        if s.closed { "" } else { ", still open" },
        esc(&s.why),
        esc(&s.state),
        s.triaged_by
            .as_ref()
            .map(|b| format!(" by {}", esc(b)))
            .unwrap_or_default(),
        s.note
            .as_ref()
            .map(|n| format!(": \u{201c}{}\u{201d}", esc(n)))
            .unwrap_or_default(),
    );
    let t = session_events(
        s,
        "No event of this session is in the store (past retention?).",
    );
    html_table(out, &t, usize::MAX);
    if s.events_total > s.events.len() as u64 {
        let _ = write!(
            out,
            "<p class=\"more\">{} of {} events shown (report.max_session_events).</p>",
            s.events.len(),
            s.events_total
        );
    }
    out.push_str("</div>");
}

fn html(r: &Report, cfg: &ReportConfig) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}: {from} to {to}</title><style>{CSS}</style></head><body><main>\
         <h1>{title}</h1><p class=\"meta\">Period <b>{from}</b> to <b>{to}</b> (UTC) &middot; generated {gen} UTC by secretwatch &middot; {events} events in the period{begins}</p>",
        title = esc(&r.title),
        from = time(r.from),
        to = time(r.to),
        gen = time(r.generated_at),
        events = r.summary.events,
        begins = r
            .store_begins
            .map(|b| format!(" &middot; the store holds events since {}", time(b)))
            .unwrap_or_default(),
    );
    o.push_str("<h2 id=\"summary\">Summary</h2><div class=\"tiles\">");
    for (label, n, key, finding) in findings(r) {
        let class = match (finding, n) {
            (true, 0) => "tile good",
            (true, _) => "tile bad",
            _ => "tile",
        };
        let _ = write!(
            o,
            "<a class=\"{class}\" href=\"#{key}\"><b>{n}</b>{}</a>",
            esc(label)
        );
    }
    o.push_str(
        "</div><div class=\"charts\"><div class=\"chart\"><h3>Secret accesses over time</h3>",
    );
    o.push_str(&svg::volume(&r.volume, r.from, r.to));
    o.push_str("</div><div class=\"chart\"><h3>Alerts by severity</h3>");
    o.push_str(&svg::severities(&r.alerts));
    o.push_str("</div></div><nav><b>Sections</b><ol>");
    for s in super::SECTIONS.iter() {
        let _ = write!(o, "<li><a href=\"#{}\">{}</a></li>", s.key, esc(s.title));
    }
    o.push_str("</ol></nav>");
    for t in tables(r) {
        let info = section(t.key);
        let _ = write!(
            o,
            "<section id=\"{}\"><h2>{}</h2><span class=\"controls\">{}</span><p class=\"about\">{}</p>",
            info.key,
            esc(info.title),
            esc(info.controls),
            esc(info.about)
        );
        if t.key == "alerts" && r.alerts.total > 0 {
            let states: Vec<String> = r
                .alerts
                .by_state
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            let _ = write!(
                o,
                "<p>{} alerts: {}.</p>",
                r.alerts.total,
                esc(&states.join(", "))
            );
        }
        html_table(&mut o, &t, cfg.max_table_rows);
        if t.key == "break_glass" {
            for s in &r.break_glass {
                html_session(&mut o, s);
            }
        }
        o.push_str("</section>");
    }
    let _ = write!(
        o,
        "<footer>Made by secretwatch from its event store (the same data as its SQL endpoint) and its alerts with their triage history. \
         Times are UTC. Time to triage runs from an alert's last event to its first triage decision.</footer></main></body></html>"
    );
    o
}

/// A Markdown table cell: one line, pipes escaped, no raw HTML.
fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
}

fn md_table(o: &mut String, t: &Table, max: usize) {
    if t.rows.is_empty() {
        let _ = writeln!(o, "_{}_\n", md_cell(&t.empty));
        return;
    }
    let _ = writeln!(o, "| {} |", t.columns.join(" | "));
    let _ = writeln!(o, "|{}", " --- |".repeat(t.columns.len()));
    for row in t.rows.iter().take(max) {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    if t.rows.len() > max {
        let _ = writeln!(
            o,
            "\n{} of {} rows shown; the CSV and JSON formats have them all.",
            max,
            t.rows.len()
        );
    }
    o.push('\n');
}

fn markdown(r: &Report, cfg: &ReportConfig) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {}\n\nPeriod **{}** to **{}** (UTC), generated {} UTC by secretwatch; {} events in the period.\n\n## Summary\n",
        md_cell(&r.title),
        time(r.from),
        time(r.to),
        time(r.generated_at),
        r.summary.events
    );
    o.push_str("| finding | count |\n| --- | --- |\n");
    for (label, n, _, _) in findings(r) {
        let _ = writeln!(o, "| {label} | {n} |");
    }
    o.push('\n');
    if !r.alerts.by_severity.is_empty() {
        let sev: Vec<String> = r
            .alerts
            .by_severity
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let _ = writeln!(o, "Alerts by severity: {}.\n", sev.join(", "));
    }
    for t in tables(r) {
        let info = section(t.key);
        let _ = writeln!(
            o,
            "## {}\n\n_{}_\n\n{}\n",
            info.title, info.controls, info.about
        );
        md_table(&mut o, &t, cfg.max_table_rows);
        if t.key == "break_glass" {
            for s in &r.break_glass {
                let _ = writeln!(
                    o,
                    "### {} ({}), {} to {}{}\n\n{}\n\nTriage: {}{}\n",
                    md_cell(&s.principal),
                    s.source,
                    time(s.start),
                    time(s.end),
                    if s.closed { "" } else { ", still open" },
                    md_cell(&s.why),
                    s.state,
                    s.triaged_by
                        .as_ref()
                        .map(|b| format!(" by {}", md_cell(b)))
                        .unwrap_or_default()
                );
                let ev = session_events(s, "No event of this session is in the store.");
                md_table(&mut o, &ev, usize::MAX);
            }
        }
    }
    o
}

/// A CSV cell, quoted when needed; cells a spreadsheet would run as a formula get a `'`.
fn csv_cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) && s != "-" {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Every table one after another: a `# title (controls)` line, the header row, the rows and an
/// empty line; break-glass events as their own table keyed by the session.
fn csv(r: &Report) -> String {
    let mut o = String::new();
    let line = |o: &mut String, cells: &[String]| {
        let v: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        o.push_str(&v.join(","));
        o.push_str("\r\n");
    };
    line(
        &mut o,
        &[
            format!("# {}", r.title),
            format!("from {}", time(r.from)),
            format!("to {}", time(r.to)),
            "UTC".into(),
        ],
    );
    o.push_str("\r\n");
    for t in tables(r) {
        let info = section(t.key);
        line(&mut o, &[format!("# {} ({})", info.title, info.controls)]);
        line(
            &mut o,
            &t.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        );
        for row in &t.rows {
            line(&mut o, row);
        }
        o.push_str("\r\n");
        if t.key == "break_glass" && !r.break_glass.is_empty() {
            line(&mut o, &["# Break-glass session events".into()]);
            line(
                &mut o,
                &[
                    "identity",
                    "session start",
                    "time",
                    "action",
                    "verb",
                    "target",
                    "outcome",
                    "source ip",
                ]
                .map(String::from),
            );
            for s in &r.break_glass {
                for e in &s.events {
                    let mut cells = vec![s.principal.clone(), time(s.start)];
                    cells.extend(session_event_cells(e));
                    line(&mut o, &cells);
                }
            }
            o.push_str("\r\n");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped_for_each_format() {
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-"), "-");
        assert_eq!(md_cell("a|b<script>"), "a\\|b&lt;script&gt;");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(600), "10 min");
        assert_eq!(span(7300), "2 h 1 min");
        assert_eq!(span(200_000), "2 d 7 h");
    }
}
