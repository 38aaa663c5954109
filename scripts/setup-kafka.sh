#!/usr/bin/env bash
# Installs the Kafka-protocol broker our tests and benchmarks run against (tansu, from crates.io)
# into a cache folder outside the clone, once per machine. Prints the broker binary's path.
# Users run real Apache Kafka; nothing in secretwatch depends on tansu.
# See ../shared/notes/kafka-broker.md for why 0.6.0 with dynostore + libsql (SQLite storage).
set -euo pipefail

TANSU_VERSION=0.6.0
root="${SECRETWATCH_TANSU_ROOT:-$HOME/.cache/secretwatch/tansu-$TANSU_VERSION}"
bin="$root/bin/tansu"

if [ -x "$bin" ] && "$bin" --help >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

echo "setup-kafka: installing tansu $TANSU_VERSION into $root (about 9 minutes on 2 cores, once)" >&2
mkdir -p "$root"
# Its own target dir so it does not disturb ours; removed afterwards to save disk.
tmp_target="$(mktemp -d "${TMPDIR:-/tmp}/tansu-build.XXXXXX")"
trap 'rm -rf "$tmp_target"' EXIT
CARGO_TARGET_DIR="$tmp_target" cargo install tansu --locked --version "$TANSU_VERSION" \
  --features dynostore,libsql --root "$root" >&2
"$bin" --help >/dev/null
echo "$bin"
