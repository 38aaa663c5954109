#!/usr/bin/env bash
# Creates the Python environment the e-mail tests run their SMTP receiver in
# (scripts/smtp-receiver.py, on aiosmtpd from PyPI), outside the clone, once per machine.
# Idempotent: a second run only checks the installed version. Prints the venv's python.
#   SECRETWATCH_PYENV  where the venv lives (default ~/.cache/secretwatch/pyenv)
set -euo pipefail

AIOSMTPD_VERSION=1.4.6
venv="${SECRETWATCH_PYENV:-$HOME/.cache/secretwatch/pyenv}"
py="$venv/bin/python"

installed() {
  [ -x "$py" ] && "$py" - "$AIOSMTPD_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if version("aiosmtpd") == sys.argv[1] else 1)
EOF
}

if installed; then
  echo "$py"
  exit 0
fi

python="$(command -v python3 || true)"
if [ -z "$python" ]; then
  echo "setup-python: python3 not found: install Python 3.8 or later (with its venv module)" >&2
  exit 1
fi

echo "setup-python: installing aiosmtpd $AIOSMTPD_VERSION into $venv" >&2
mkdir -p "$(dirname "$venv")"
[ -x "$py" ] || "$python" -m venv "$venv"
"$py" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
installed || { echo "setup-python: aiosmtpd $AIOSMTPD_VERSION did not install into $venv" >&2; exit 1; }
echo "$py"
