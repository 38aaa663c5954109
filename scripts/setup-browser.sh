#!/usr/bin/env bash
# Installs what the dashboard's browser test (tests/browser/dashboard.mjs) needs, once per machine:
# Debian's Chromium (/usr/bin/chromium, through apt-get when missing) and playwright-core from npm,
# outside the clone. playwright-core only drives the browser; it never downloads one of its own.
# Idempotent: a second run only checks what is there. Prints the node_modules directory, to be
# passed to node as NODE_PATH (tests/browser/dashboard.mjs also reads SECRETWATCH_NODE).
#   SECRETWATCH_NODE  where playwright-core is installed (default ~/.cache/secretwatch/node)
#   CHROMIUM          the browser (default /usr/bin/chromium; only that path is installed here)
set -euo pipefail

PLAYWRIGHT_CORE_VERSION=1.64.1
dir="${SECRETWATCH_NODE:-$HOME/.cache/secretwatch/node}"
chromium="${CHROMIUM:-/usr/bin/chromium}"

# --- Chromium (Debian package) ---
if [ ! -x "$chromium" ]; then
  if [ "$chromium" != /usr/bin/chromium ]; then
    echo "setup-browser: CHROMIUM=$chromium is not an executable file" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-browser: /usr/bin/chromium is missing and apt-get is not available: install Chromium" >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup-browser: installing chromium needs root (or sudo)" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup-browser: installing Debian's chromium" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >&2
  [ -x "$chromium" ] || { echo "setup-browser: apt-get ran but $chromium is still missing" >&2; exit 1; }
fi

# --- playwright-core (npm) ---
installed() {
  [ -f "$dir/node_modules/playwright-core/package.json" ] &&
    node -e 'const v = require(process.argv[1]).version; process.exit(v === process.argv[2] ? 0 : 1)' \
      "$dir/node_modules/playwright-core/package.json" "$PLAYWRIGHT_CORE_VERSION" 2>/dev/null
}

if ! installed; then
  command -v node >/dev/null 2>&1 || { echo "setup-browser: node not found: install Node.js 18 or later" >&2; exit 1; }
  command -v npm >/dev/null 2>&1 || { echo "setup-browser: npm not found: install npm" >&2; exit 1; }
  echo "setup-browser: installing playwright-core $PLAYWRIGHT_CORE_VERSION into $dir" >&2
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || printf '{"name":"secretwatch-browser-tools","private":true}\n' >"$dir/package.json"
  # playwright-core has no install script that fetches a browser; skip any other package's too.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund \
    --ignore-scripts --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION" >&2
  installed || { echo "setup-browser: playwright-core $PLAYWRIGHT_CORE_VERSION did not install into $dir" >&2; exit 1; }
fi

echo "$dir/node_modules"
