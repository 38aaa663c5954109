#!/usr/bin/env python3
"""Other projects' labelled test events, one event per scan: per category, how many of the
events a peer calls malicious secretwatch alerts on, and how many it calls benign secretwatch
stays quiet on.

Reads ../shared/datasets/public/third-party-labelled/ in place (Panther's rule tests and Stratus
Red Team's detonations; never copied into the repo), the `.completed` files of each family (the
envelope fields a real log always has filled in). Each event is scanned alone with a config of
no lists and `detect.history_learning_days = 0` (first sighting alerts; the baselines, which
need days, stay in their learning period). Categories `workload-risk` (pod specs, not secret
access) and `ioc-source-ip` (decided by threat-intelligence enrichment not in the event) are
out of scope and shown apart.

Usage: scripts/check-third-party.py [--bin PATH] [--data DIR] [--min-true PCT --min-false PCT] [--show]
Prints a Markdown table; with --min-* exits 1 when the in-scope totals are below them.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

OUT_OF_SCOPE = {"workload-risk", "ioc-source-ip"}
CONFIG = "[detect]\nhistory_learning_days = 0\n"


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "debug", "secretwatch"))
    ap.add_argument("--data", default=os.path.join(
        root, "..", "shared", "datasets", "public", "third-party-labelled"))
    ap.add_argument("--min-true", type=float)
    ap.add_argument("--min-false", type=float)
    ap.add_argument("--show", action="store_true",
                    help="list each false test that alerted and each in-scope true test that did not")
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"third-party labelled events: {args.data} not found; skipped")
        return 0

    files = {}

    def event(family: str, line: int) -> str:
        if family not in files:
            with open(os.path.join(args.data, f"{family}.completed.jsonl")) as f:
                files[family] = f.read().splitlines()
        return files[family][line - 1]

    labels = []
    for name in ("panther-labels.jsonl", "stratus-labels.jsonl"):
        with open(os.path.join(args.data, name)) as f:
            labels.extend(json.loads(l) for l in f if l.strip())

    # category -> [true alerted, true total, false quiet, false total]
    table = collections.defaultdict(lambda: [0, 0, 0, 0])
    rules_on_true = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "secretwatch.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        ev = os.path.join(tmp, "event.jsonl")
        for lab in labels:
            with open(ev, "w") as f:
                f.write(event(lab["family"], lab["line"]) + "\n")
            out = subprocess.run(
                [args.bin, "scan", "--no-progress", "--config", cfg,
                 "--dead-letter", os.path.join(tmp, "dead.jsonl"), ev],
                capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(f"scan failed on {lab['family']}:{lab['line']}: {out.stderr}", file=sys.stderr)
                return 2
            alerted = [json.loads(l)["rule"] for l in out.stdout.splitlines() if l.strip()]
            row = table[lab["category"]]
            if lab["expected"]:
                row[1] += 1
                if alerted:
                    row[0] += 1
                    rules_on_true[lab["category"]].update(set(alerted))
            else:
                row[3] += 1
                if not alerted:
                    row[2] += 1
            if args.show and lab["category"] not in OUT_OF_SCOPE and bool(alerted) != lab["expected"]:
                what = "false, alerted" if alerted else "true, quiet"
                print(f"{what}: {lab['category']} {lab['family']}:{lab['line']} "
                      f"{lab.get('rule_id', lab.get('technique', ''))} {sorted(set(alerted))}",
                      file=sys.stderr)

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.0f}%" if b else "-"

    print("| category | true: alerted | false: quiet | rules that fired on true tests |")
    print("|---|---:|---:|---|")
    totals = [0, 0, 0, 0]
    for cat in sorted(table, key=lambda c: (c in OUT_OF_SCOPE, c)):
        r = table[cat]
        label = f"{cat} (out of scope)" if cat in OUT_OF_SCOPE else cat
        fired = ", ".join(f"{k} {v}" for k, v in rules_on_true[cat].most_common())
        print(f"| {label} | {r[0]}/{r[1]} ({pct(r[0], r[1])}) | {r[2]}/{r[3]} ({pct(r[2], r[3])}) | {fired} |")
        if cat not in OUT_OF_SCOPE:
            totals = [t + x for t, x in zip(totals, r)]
    print(f"| **in scope** | {totals[0]}/{totals[1]} ({pct(totals[0], totals[1])}) "
          f"| {totals[2]}/{totals[3]} ({pct(totals[2], totals[3])}) | |")
    ok = True
    if args.min_true is not None and totals[1] and 100 * totals[0] / totals[1] < args.min_true:
        ok = False
    if args.min_false is not None and totals[3] and 100 * totals[2] / totals[3] < args.min_false:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
