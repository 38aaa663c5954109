#!/usr/bin/env node
// Renders a secretwatch HTML report in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) the way an auditor opens a mailed attachment, and checks that it reads:
//   1. it loads from a file with no console error and no request beyond the file itself
//      (self-contained: inline CSS and SVG, no script, no external asset);
//   2. the title, the summary tiles, and both charts drawn (SVG with bars) are there;
//   3. every section is there with the controls it supports (SOC 2 / PCI-DSS);
//   4. every --expect text is visible on the page;
// and keeps a full-page screenshot (report.png) in --out.
//
// Usage: node tests/browser/report.mjs REPORT.html --out DIR [--expect TEXT]... [--timeout MS]
// Exits 0 when every check passed, 1 on a failed check, 2 on bad usage or setup.

import fs from 'node:fs';
import path from 'node:path';
import { loadPlaywright } from './playwright.mjs';
import { pathToFileURL } from 'node:url';

const SECTIONS = ['access', 'human_production_reads', 'break_glass', 'alerts', 'broad_listers', 'dormant', 'rotation', 'sync', 'coverage'];

function usage(message) {
  if (message) console.error(`report.mjs: ${message}`);
  console.error('usage: node tests/browser/report.mjs REPORT.html --out DIR [--expect TEXT]... [--timeout MS]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { file: '', out: '', expect: [], timeout: 15000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out') opts.out = value();
    else if (a === '--expect') opts.expect.push(value());
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!opts.file) opts.file = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.file || !fs.existsSync(opts.file)) usage(`no report file ${opts.file}`);
  if (!opts.out) usage('--out is missing');
  return opts;
}

function check(condition, message) {
  if (!condition) {
    console.log(`FAIL ${message}`);
    throw new Error(message);
  }
  console.log(`ok ${message}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    console.error(`report.mjs: ${executablePath} not found: run scripts/setup-browser.sh`);
    process.exit(2);
  }
  const { chromium } = loadPlaywright('report.mjs');
  fs.mkdirSync(opts.out, { recursive: true });
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    timeout: 60000,
  });
  const problems = [];
  const requests = [];
  let failed = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(opts.timeout);
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(path.resolve(opts.file)).href;
    await page.goto(url, { waitUntil: 'load' });

    const foreign = requests.filter((u) => u !== url && !u.startsWith('data:'));
    check(foreign.length === 0, `self-contained: no request beyond the file (${foreign.join(', ') || 'none'})`);
    const h1 = (await page.textContent('h1')) || '';
    check(h1.trim().length > 0, `title shown: ${h1.trim()}`);
    const tiles = await page.locator('.tiles .tile').count();
    check(tiles >= 8, `summary tiles: ${tiles}`);
    const charts = await page.locator('svg').count();
    const bars = await page.locator('svg rect').count();
    check(charts >= 2 && bars > 2, `charts drawn: ${charts} svg, ${bars} bars`);
    for (const id of SECTIONS) {
      const s = page.locator(`section#${id}`);
      check((await s.count()) === 1, `section ${id} present`);
      const controls = (await s.locator('.controls').textContent()) || '';
      check(/SOC 2 CC\d/.test(controls) && /PCI-DSS \d/.test(controls), `section ${id} names its controls: ${controls}`);
    }
    const body = (await page.innerText('body')) || '';
    for (const t of opts.expect) check(body.includes(t), `shows ${JSON.stringify(t)}`);
    check(problems.length === 0, `no console errors, page errors or dialogs (${problems.join('; ') || 'none'})`);
    await page.screenshot({ path: path.join(opts.out, 'report.png'), fullPage: true });
    console.log(`ok screenshot ${path.join(opts.out, 'report.png')}`);
  } catch (e) {
    failed = true;
    if (!String(e.message).length) console.log(`FAIL ${e}`);
  } finally {
    await browser.close().catch(() => {});
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`report.mjs: ${e.stack || e}`);
  process.exit(1);
});
