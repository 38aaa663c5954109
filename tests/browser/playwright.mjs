// Shared by the Chromium drivers: find playwright-core (installed by scripts/setup-browser.sh
// under SECRETWATCH_NODE, NODE_PATH or ~/.cache/secretwatch/node) or exit 2 saying so.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function loadPlaywright(who) {
  const dirs = [];
  if (process.env.SECRETWATCH_NODE) dirs.push(path.join(process.env.SECRETWATCH_NODE, 'node_modules'));
  for (const p of (process.env.NODE_PATH || '').split(path.delimiter)) if (p) dirs.push(p);
  dirs.push(path.join(os.homedir(), '.cache', 'secretwatch', 'node', 'node_modules'));
  const require = createRequire(import.meta.url);
  for (const dir of dirs) {
    const candidate = path.join(dir, 'playwright-core');
    if (fs.existsSync(path.join(candidate, 'package.json'))) return require(candidate);
  }
  try {
    return require('playwright-core');
  } catch {
    console.error(`${who}: playwright-core not found (looked in ${dirs.join(', ')}): run scripts/setup-browser.sh`);
    process.exit(2);
  }
}
