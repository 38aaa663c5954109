#!/usr/bin/env bash
# Scans the public sample logs in ../shared/datasets/public (when present) with the formats we
# claim to support, and fails when a record is reported unparseable that is not listed, with its
# reason, in scripts/public-samples-expected-bad.txt. Samples are read in place, never copied.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${PUBLIC_SAMPLES:-../shared/datasets/public}"
if [ ! -d "$root" ]; then
  echo "public samples: $root not present, skipped"
  exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secretwatch/target}"
cargo build --locked --quiet
bin="$CARGO_TARGET_DIR/debug/secretwatch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Formats we claim: Kubernetes audit (Event, EventList, managed-cluster envelopes), Vault audit,
# and the cloud secrets managers (CloudTrail, Key Vault, Cloud Audit Logs).
cloud_dirs=(aws-cloudtrail-secretsmanager:aws azure-keyvault-msdocs:azure gcp-secretmanager-stratus:gcp)
files=()
for d in "$root"/k8s-audit-* "$root"/vault-audit-* "${cloud_dirs[@]/#/$root/}"; do
  d="${d%%:*}"
  [ -d "$d" ] || continue
  while IFS= read -r f; do files+=("$f"); done < <(find "$d" -maxdepth 1 -type f \( -name '*.log' -o -name '*.json' -o -name '*.jsonl' \) | sort)
done
if [ "${#files[@]}" -eq 0 ]; then
  echo "public samples: no files under $root"
  exit 0
fi

"$bin" scan --no-progress --dead-letter "$work/dead.jsonl" "${files[@]}" > "$work/alerts.jsonl" 2> "$work/summary.txt"
cat "$work/summary.txt" | grep -v '^\s*$' | grep -v 'WARN' || true

# Locations relative to the samples root.
touch "$work/dead.jsonl"
python3 - "$work/dead.jsonl" "$root" scripts/public-samples-expected-bad.txt <<'PY'
import json, os, sys
dead, root, expected_path = sys.argv[1:4]
root = os.path.abspath(root)
got = {}
for line in open(dead):
    r = json.loads(line)
    src = os.path.relpath(os.path.abspath(r["source"]), root)
    got[f"{src}:{r['line']}"] = r["error"]
expected = {}
for line in open(expected_path):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    loc, _, why = line.partition(" ")
    expected[loc] = why.strip()
unexpected = sorted(set(got) - set(expected))
stale = sorted(set(expected) - set(got))
for loc in sorted(set(got) & set(expected)):
    print(f"  expected bad: {loc}: {got[loc]}  ({expected[loc]})")
for loc in stale:
    print(f"  note: {loc} now parses; remove it from {expected_path}")
if unexpected:
    for loc in unexpected:
        print(f"  UNEXPECTED bad record {loc}: {got[loc]}")
    sys.exit(f"public samples: {len(unexpected)} unexpected bad record(s)")
print(f"public samples: ok ({len(got)} expected bad records, 0 unexpected)")
PY

# Every record of the cloud samples becomes at least one event of its source (none is skipped as
# another service's, none is an error).
for entry in "${cloud_dirs[@]}"; do
  dir="$root/${entry%%:*}"
  source="${entry##*:}"
  [ -d "$dir" ] || { echo "  note: $dir not present, skipped"; continue; }
  while IFS= read -r f; do
    "$bin" scan --no-progress --dead-letter "$work/dead-cloud.jsonl" "$f" > /dev/null 2> "$work/cloud-summary.txt"
    python3 - "$work/cloud-summary.txt" "$f" "$source" <<'PY'
import re, sys
summary, path, source = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
m = re.search(r"(\d+) records, (\d+) events \(([^)]*)\), (\d+) skipped", summary)
b = re.search(r"bad records: (\d+)", summary)
if not m or not b:
    sys.exit(f"public samples: no scan summary for {path}:\n{summary}")
records, events, skipped, bad = int(m[1]), int(m[2]), int(m[4]), int(b[1])
by_source = dict((k, int(v)) for k, v in re.findall(r"(\w+) (\d+)", m[3]))
if records == 0 or bad or skipped or by_source.get(source, 0) < records:
    sys.exit(f"public samples: {path}: {records} records, {by_source} events, {skipped} skipped, {bad} bad; expected every record to become a {source} event")
print(f"  {path.split('/public/')[-1]}: {records} records -> {by_source[source]} {source} events")
PY
  done < <(find "$dir" -maxdepth 1 -type f \( -name '*.log' -o -name '*.json' -o -name '*.jsonl' \) | sort)
done
echo "public cloud samples: ok"

# SigmaHQ's Kubernetes audit rules load unchanged (read in place) and fire on the public events.
sigma_dir="$root/sigma-k8s-audit"
if [ -d "$sigma_dir" ]; then
  printf '[detect]\nrules_dirs = ["%s"]\n' "$(cd "$sigma_dir" && pwd)" > "$work/sigma.toml"
  k8s_files=()
  for f in "${files[@]}"; do case "$f" in */k8s-audit-*) k8s_files+=("$f");; esac; done
  "$bin" scan --no-progress --config "$work/sigma.toml" --dead-letter "$work/dead2.jsonl" "${k8s_files[@]}" > "$work/sigma-alerts.jsonl" 2> "$work/sigma-summary.txt" \
    || { cat "$work/sigma-summary.txt"; echo "public Sigma rules: failed to load or run"; exit 1; }
  # Rules that fire without SigmaHQ's rules are ours; the rest came from the public rules.
  "$bin" scan --no-progress --dead-letter "$work/dead3.jsonl" "${k8s_files[@]}" > "$work/own-alerts.jsonl" 2>/dev/null
  python3 - "$work/sigma-alerts.jsonl" "$work/own-alerts.jsonl" <<'PY'
import json, sys
ours = {json.loads(l)["rule"] for l in open(sys.argv[2])}
rules = {}
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a["rule"] not in ours:
        rules[a["rule"]] = rules.get(a["rule"], 0) + 1
for r, n in sorted(rules.items()):
    print(f"  SigmaHQ rule {r}: {n} alert(s)")
if not rules:
    sys.exit("public Sigma rules: loaded, but none fired on the public Kubernetes samples")
print(f"public Sigma rules: ok ({len(rules)} SigmaHQ rules fired)")
PY
fi
