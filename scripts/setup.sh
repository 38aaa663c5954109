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
