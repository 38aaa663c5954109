#!/usr/bin/env python3
"""Checks the Grafana dashboards against the metrics secretwatch exports.

Every PromQL expression in a dashboard (panel targets, also inside collapsed rows, and the
templating variables' label_values()/query_result() queries) may only name metrics that appear in
the Rust source of /metrics (src/serve/metrics.rs), and only labels that source sets (plus the
job/instance labels Prometheus adds at scrape time). Function names must be PromQL's. The
dashboard must take its data source from the DS_PROMETHEUS input/variable and have
schemaVersion 39 or later. Python standard library only.

Usage: scripts/check-grafana.py [DASHBOARD.json ...] [--metrics-source FILE ...]
  defaults: dashboards/grafana/*.json and src/serve/metrics.rs, relative to the repository.
Exits 0 when everything checks, 1 with one line per problem otherwise, 2 on bad usage.
"""

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# PromQL functions and aggregation operators (Prometheus 2.x/3.x), and Grafana's query helpers.
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum", "holt_winters",
    "double_exponential_smoothing", "hour", "idelta", "increase", "irate", "label_join",
    "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time",
    "min_over_time", "minute", "month", "pi", "predict_linear", "present_over_time",
    "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh", "sort",
    "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "stddev_over_time",
    "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
    # aggregations
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "atan2", "inf", "nan", "start", "end"}
SCRAPE_LABELS = {"job", "instance", "__name__"}

LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
MATCHERS = re.compile(r"\{([^{}]*)\}")
MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GRAFANA_VAR = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\[\[[^\]]*\]\]")
RANGE = re.compile(r"\[[^\]]*\]")
IDENT = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")


def exported(sources):
    """Metric names and label names that the Rust source of /metrics writes."""
    metrics, labels = set(), set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        # Names, not crate paths (`secretwatch_alerting::LaneStatus`).
        metrics |= set(re.findall(r"\bsecretwatch_[a-z0-9_]+\b(?!::)", text))
        labels |= set(re.findall(r'([a-z_][a-z0-9_]*)=\\"', text))
    return metrics, labels


def names_in(expr):
    """(metrics, labels, functions) named in a PromQL expression; raises ValueError if malformed."""
    if expr.count("(") != expr.count(")"):
        raise ValueError("unbalanced parentheses")
    if expr.count("{") != expr.count("}"):
        raise ValueError("unbalanced braces")
    labels = set()
    text = GRAFANA_VAR.sub(" ", expr)
    for m in MATCHERS.finditer(STRING.sub('""', text)):
        labels |= {name for name, _ in MATCHER_LABEL.findall(m.group(1))}
    text = MATCHERS.sub(" ", STRING.sub('""', text))
    for m in LABEL_LIST.finditer(text):
        labels |= {part.strip() for part in m.group(2).split(",") if part.strip()}
    text = LABEL_LIST.sub(" ", text)
    text = RANGE.sub(" ", text)
    text = STRING.sub(" ", text)
    metrics, functions = set(), set()
    for m in IDENT.finditer(text):
        name, call = m.group(1), m.group(2)
        if call:
            functions.add(name)
        elif name not in KEYWORDS:
            metrics.add(name)
    return metrics, labels, functions


def expressions(dashboard):
    """(where, expr) for every PromQL expression of the dashboard."""
    found = []

    def walk_panels(panels, trail):
        for panel in panels or []:
            title = panel.get("title") or f"panel {panel.get('id')}"
            for target in panel.get("targets") or []:
                if isinstance(target, dict) and target.get("expr"):
                    found.append((f"{trail}{title} [{target.get('refId', '?')}]", target["expr"]))
            walk_panels(panel.get("panels"), f"{trail}{title} / ")

    walk_panels(dashboard.get("panels"), "")
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if not isinstance(query, str) or not query.strip():
            continue
        where = f"variable ${var.get('name')}"
        q = query.strip()
        m = re.fullmatch(r"label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)", q, re.S)
        if m:
            found.append((where, f"group by ({m.group(2)}) ({m.group(1)})" if m.group(1) else f"group by ({m.group(2)}) (vector(0))"))
            continue
        m = re.fullmatch(r"query_result\((.*)\)", q, re.S)
        if m:
            found.append((where, m.group(1)))
        elif not re.fullmatch(r"(label_names|metrics)\(.*\)", q, re.S):
            found.append((where, q))
    return found


def panels_with_targets(dashboard):
    out = []

    def walk(panels):
        for panel in panels or []:
            if panel.get("targets"):
                out.append(panel)
            walk(panel.get("panels"))

    walk(dashboard.get("panels"))
    return out


def check(path, metrics, labels):
    problems, used = [], set()
    try:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return [f"{path}: cannot read as JSON: {err}"], used, 0
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 39:
        problems.append(f"{path}: schemaVersion is {dashboard.get('schemaVersion')!r}, want 39 or later")
    inputs = {i.get("name") for i in dashboard.get("__inputs") or []}
    variables = {v.get("name") for v in (dashboard.get("templating") or {}).get("list") or []}
    if "DS_PROMETHEUS" not in inputs and "DS_PROMETHEUS" not in variables:
        problems.append(f"{path}: no DS_PROMETHEUS input or variable")
    ids = {}
    for panel in panels_with_targets(dashboard):
        title = panel.get("title")
        if panel.get("id") in ids:
            problems.append(f"{path}: panel {title!r} reuses id {panel.get('id')} of {ids[panel.get('id')]!r}")
        ids[panel.get("id")] = title
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"] if isinstance(t, dict)]
        for ds in sources:
            uid = ds.get("uid") if isinstance(ds, dict) else ds
            if uid is not None and uid != "${DS_PROMETHEUS}":
                problems.append(f"{path}: panel {title!r} uses data source {uid!r}, not ${{DS_PROMETHEUS}}")
    exprs = expressions(dashboard)
    if not exprs:
        problems.append(f"{path}: no PromQL expression found")
    for where, expr in exprs:
        try:
            named, label_names, functions = names_in(expr)
        except ValueError as err:
            problems.append(f"{path}: {where}: {err}: {expr}")
            continue
        for name in sorted(named - metrics):
            problems.append(f"{path}: {where}: metric {name!r} is not exported by secretwatch: {expr}")
        for name in sorted(label_names - labels - SCRAPE_LABELS):
            problems.append(f"{path}: {where}: label {name!r} is set on no secretwatch metric: {expr}")
        for name in sorted(functions - FUNCTIONS):
            problems.append(f"{path}: {where}: {name!r} is not a PromQL function: {expr}")
        used |= named & metrics
    return problems, used, len(exprs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dashboards", nargs="*", type=Path)
    parser.add_argument("--metrics-source", action="append", type=Path, default=None,
                        help="Rust file that renders /metrics (default src/serve/metrics.rs); repeatable")
    args = parser.parse_args()
    sources = args.metrics_source or [ROOT / "src" / "serve" / "metrics.rs"]
    dashboards = args.dashboards or sorted((ROOT / "dashboards" / "grafana").glob("*.json"))
    for src in sources:
        if not src.is_file():
            print(f"check-grafana: {src} not found", file=sys.stderr)
            return 2
    if not dashboards:
        print("check-grafana: no dashboard to check", file=sys.stderr)
        return 2
    metrics, labels = exported(sources)
    if not metrics:
        print(f"check-grafana: no secretwatch_* metric name in {', '.join(map(str, sources))}", file=sys.stderr)
        return 2

    problems, used, count = [], set(), 0
    for path in dashboards:
        p, u, n = check(path, metrics, labels)
        problems += p
        used |= u
        count += n
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"check-grafana: {len(problems)} problem(s) in {len(dashboards)} dashboard(s)", file=sys.stderr)
        return 1
    unused = sorted(metrics - used)
    print(f"check-grafana: {count} expressions in {len(dashboards)} dashboard(s) name only metrics and labels "
          f"of {', '.join(str(s.relative_to(ROOT)) if s.is_relative_to(ROOT) else str(s) for s in sources)} "
          f"({len(used)} of {len(metrics)} metrics used)")
    if unused:
        print(f"check-grafana: not on any panel: {', '.join(unused)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
