#!/usr/bin/env bash
# The whole test suite: format, lints, every test, and the public-sample parse check.
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

# Cache the build outside the clone when possible; never depend on it existing.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/secretwatch/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

scripts/setup.sh

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked 2>&1 | tee "$CARGO_TARGET_DIR/test-output.txt"

step "public samples"
scripts/check-public-samples.sh

step "other projects' labelled events, one per scan: >= 80% of true tests alerted, >= 95% of false ones quiet"
python3 scripts/check-third-party.py --min-true 80 --min-false 95 \
  --data "${THIRD_PARTY_LABELLED:-../shared/datasets/public/third-party-labelled}"

step "grafana dashboard names only metrics the service exports"
python3 scripts/check-grafana.py

# The closing line CI reads.
passed=$(grep -Eo 'test result: ok\. [0-9]+ passed' "$CARGO_TARGET_DIR/test-output.txt" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$CARGO_TARGET_DIR/test-output.txt" | awk '{s+=$1} END {print s+0}')
echo
echo "secretwatch: ${passed} passed, ${failed} failed"
