#!/usr/bin/env node
// Drives the secretwatch web dashboard in headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) against a running service, and checks what an analyst does first:
//   1. the alert list loads without console errors and shows at least one alert row;
//   2. opening an alert shows its detail, the timeline chart (with bars) and its events;
//   3. acknowledging it from its row (with a note) shows "acknowledged", and still does after a
//      reload, in the list and on the detail page (whose triage history holds the note);
//   4. the principal's page shows the volume chart;
//   5. the overview shows the service's health.
// With --token, it first checks that the page asks for the token (when the API answers 401) and
// then enters it in the token box. Attacker-controlled strings must never run: a native dialog
// (alert/confirm/prompt) or a page error fails the run.
//
// Usage: node tests/browser/dashboard.mjs BASE_URL [--token TOKEN] [--out DIR] [--timeout MS]
//   BASE_URL   where the service serves the dashboard, e.g. http://127.0.0.1:8080/
//   --token    API bearer token (or SECRETWATCH_TOKEN)
//   --out      directory for screenshots (default: a new temporary directory, printed)
//   --timeout  per-step wait in milliseconds (default 15000)
// Needs scripts/setup-browser.sh (Chromium, and playwright-core under SECRETWATCH_NODE or
// ~/.cache/secretwatch/node). CHROMIUM overrides the browser path. Exits 0 when every check
// passed, 1 on a failed check (with a FAIL line and a failure screenshot), 2 on bad usage or setup.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlaywright } from './playwright.mjs';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const NOTE = 'browser test: acknowledged by tests/browser/dashboard.mjs';

function usage(message) {
  if (message) console.error(`dashboard.mjs: ${message}`);
  console.error('usage: node tests/browser/dashboard.mjs BASE_URL [--token TOKEN] [--out DIR] [--timeout MS]');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { base: '', token: process.env.SECRETWATCH_TOKEN || '', out: '', timeout: 15000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--token') opts.token = value();
    else if (a === '--out') opts.out = value();
    else if (a === '--timeout') opts.timeout = Number(value());
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else if (!opts.base) opts.base = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!opts.base) usage('BASE_URL is missing');
  let url;
  try {
    url = new URL(opts.base);
  } catch {
    usage(`BASE_URL is not a URL: ${opts.base}`);
  }
  url.hash = '';
  opts.base = url.href;
  if (!(opts.timeout > 0)) usage('--timeout must be a positive number of milliseconds');
  return opts;
}

class CheckFailed extends Error {}

function assert(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executablePath)) {
    console.error(`dashboard.mjs: ${executablePath} not found: run scripts/setup-browser.sh`);
    process.exit(2);
  }
  const { chromium } = loadPlaywright('dashboard.mjs');
  const outDir = opts.out || fs.mkdtempSync(path.join(os.tmpdir(), 'secretwatch-screens-'));
  fs.mkdirSync(outDir, { recursive: true });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'secretwatch-chromium-'));
  const T = opts.timeout;

  const problems = []; // console errors, page errors, native dialogs, failed requests
  let tolerate401 = false;
  let passed = 0;
  let context;

  const cleanup = async () => {
    if (context) await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };

  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 900 },
      timeout: 60000,
    });
  } catch (err) {
    await cleanup();
    console.error(`dashboard.mjs: Chromium did not start (${executablePath}): ${err.message.split('\n')[0]}`);
    process.exit(2);
  }
  context.setDefaultTimeout(T);
  const page = context.pages()[0] || (await context.newPage());

  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (tolerate401 && /status of 401/.test(text)) return;
    const where = msg.location() && msg.location().url ? ` (${msg.location().url})` : '';
    problems.push(`console error: ${text}${where}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught error in the page: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`a native ${dialog.type()} dialog opened ("${dialog.message()}"): page data ran as code?`);
    dialog.dismiss().catch(() => {});
  });
  page.on('requestfailed', (req) => {
    const failure = req.failure() ? req.failure().errorText : 'failed';
    if (failure.includes('ERR_ABORTED')) return; // a fetch cancelled by navigating away
    problems.push(`request failed: ${req.method()} ${req.url()}: ${failure}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 500) problems.push(`server error: ${res.status()} for ${res.request().method()} ${res.url()}`);
  });

  const shot = async (name) => {
    const file = path.join(outDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    return file;
  };
  const noProblems = (step) => {
    assert(problems.length === 0, `${step}: ${problems.join('; ')}`);
  };
  const check = async (name, fn) => {
    await fn();
    noProblems(name);
    passed += 1;
    console.log(`ok ${passed} - ${name}`);
  };
  const route = (hash) => new URL(hash, opts.base).href;
  const textOf = async (selector) => ((await page.locator(selector).first().textContent({ timeout: 2000 }).catch(() => null)) || '').trim();
  // The list is loaded when it shows rows, the empty message or an error.
  const listSettled = '[data-testid="alert-row"], [data-testid="no-alerts"], [data-testid="error"], [data-testid="forbidden"], [data-testid="needs-token"]';
  const waitForList = async (what) => {
    try {
      await page.waitForSelector(listSettled, { timeout: T });
    } catch {
      throw new CheckFailed(`${what}: the alert list did not load within ${T} ms`);
    }
    const rows = await page.locator('[data-testid="alert-row"]').count();
    if (rows === 0) {
      const why = (await textOf('[data-testid="error"]')) || (await textOf('[data-testid="forbidden"]')) ||
        (await textOf('[data-testid="needs-token"]')) || (await textOf('[data-testid="no-alerts"]'));
      throw new CheckFailed(`${what}: no alert row (the page says: "${why}")`);
    }
    return rows;
  };
  const rowState = (id) => page.locator(`[data-testid="alert-row"][data-alert-id="${id}"] [data-testid="alert-state"]`);

  let target = null;
  try {
    if (opts.token) {
      await check('the dashboard asks for the API token and accepts it', async () => {
        tolerate401 = true;
        await page.goto(route('#/alerts'), { waitUntil: 'load' });
        const first = await Promise.race([
          page.waitForSelector('[data-testid="token-box"]', { timeout: T }).then(() => 'box'),
          page.waitForSelector('[data-testid="alert-row"]', { timeout: T }).then(() => 'rows'),
        ]).catch(() => null);
        assert(first, `neither the token box nor an alert row appeared within ${T} ms`);
        if (first === 'box') {
          await shot('00-token-box');
          await page.fill('[data-testid="token-input"]', opts.token);
          await page.click('[data-testid="token-submit"]');
          // The box goes away; it comes back (with the refusal) if the service answers 401 again.
          await page.waitForFunction(() => {
            const box = document.getElementById('auth');
            return document.querySelector('[data-testid="alert-row"], [data-testid="no-alerts"], [data-testid="error"]') ||
              (box && !box.hidden && /refused/.test(box.textContent));
          }, null, { timeout: T }).catch(() => {});
          const refused = await page.locator('#auth:not([hidden]) [data-testid="token-box"]').count();
          assert(refused === 0, `the service refused the token (401 again): ${await textOf('[data-testid="token-message"]')}`);
        } else {
          console.log('# the service did not ask for a token (no 401): the token box was not exercised');
        }
        await waitForList('after entering the token');
        tolerate401 = false;
      });
    }

    await check('the alert list loads and shows alert rows', async () => {
      await page.goto(route('#/alerts'), { waitUntil: 'load' });
      const rows = await waitForList('alert list');
      const ids = await page.locator('[data-testid="alert-row"]').evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.alertId, state: tr.dataset.state })));
      assert(ids.every((r) => r.id), 'an alert row has no data-alert-id');
      target = ids.find((r) => r.state === 'new') || ids.find((r) => r.state !== 'acknowledged');
      assert(target, `none of the ${rows} alerts on the first page can be acknowledged (all already are)`);
      console.log(`# ${rows} alert rows; using alert ${target.id} (state ${target.state})`);
      await shot('01-alert-list');
    });

    await check('an alert opens its detail with the timeline chart and its events', async () => {
      await page.click(`[data-testid="alert-row"][data-alert-id="${target.id}"] [data-testid="alert-link"]`);
      await page.waitForSelector(`[data-testid="alert-detail"][data-alert-id="${target.id}"]`)
        .catch(async () => { throw new CheckFailed(`the alert detail did not show (page says: "${await textOf('[data-testid="error"]')}")`); });
      await page.waitForSelector('[data-testid="timeline-chart"]')
        .catch(() => { throw new CheckFailed('the detail has no timeline chart'); });
      const bars = await page.locator('[data-testid="timeline-chart"] rect.bar').count();
      assert(bars > 0, 'the timeline chart has no bars: /api/alerts/{id} returned an empty "timeline"');
      assert(await page.locator('[data-testid="alert-reason"]').count() === 1, 'the detail shows no reason');
      const events = await page.locator('[data-testid="event-row"]').count();
      assert(events > 0, 'the detail shows no triggering event: /api/alerts/{id} returned no "events"');
      console.log(`# timeline: ${bars} bars; ${events} events`);
      await shot('02-alert-detail');
    });

    await check('acknowledging an alert from its row (with a note) shows "acknowledged"', async () => {
      await page.goBack({ waitUntil: 'load' });
      await waitForList('alert list after going back');
      const row = page.locator(`[data-testid="alert-row"][data-alert-id="${target.id}"]`);
      assert(await row.count() === 1, `alert ${target.id} is not in the list after going back`);
      await row.locator('[data-testid="triage-acknowledge"]').click();
      await page.waitForSelector('[data-testid="triage-dialog"]')
        .catch(() => { throw new CheckFailed('the acknowledge button did not ask for a note'); });
      await page.fill('[data-testid="triage-note"]', NOTE);
      await shot('03-triage-dialog');
      await page.click('[data-testid="triage-submit"]');
      await page.waitForSelector('[data-testid="triage-dialog"]', { state: 'detached' });
      // Done when the row says "acknowledged", or when the page reports an error in its status line.
      await page.waitForFunction((id) => {
        const cell = document.querySelector(`[data-testid="alert-row"][data-alert-id="${id}"] [data-testid="alert-state"]`);
        const status = document.querySelector('[data-testid="status-message"]');
        return (cell && cell.dataset.state === 'acknowledged') || (status && status.classList.contains('toast-error'));
      }, target.id, { timeout: T }).catch(() => {});
      const state = (await rowState(target.id).textContent().catch(() => '?')).trim();
      if (state !== 'acknowledged') {
        const status = await textOf('[data-testid="status-message"]');
        throw new CheckFailed(`the row's state did not become "acknowledged" (it shows "${state}"; the page says: "${status}")`);
      }
    });

    await check('"acknowledged" persists across a reload, in the list and on the detail page', async () => {
      await page.reload({ waitUntil: 'load' });
      await waitForList('alert list after reload');
      if (await rowState(target.id).count() === 1) {
        const text = (await rowState(target.id).textContent()).trim();
        assert(text === 'acknowledged', `after a reload the row's state is "${text}", not "acknowledged"`);
      } else {
        console.log(`# alert ${target.id} is no longer on the first page after the reload; checking its detail page`);
      }
      await page.goto(route(`#/alerts/${encodeURIComponent(target.id)}`), { waitUntil: 'load' });
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector(`[data-testid="alert-detail"][data-alert-id="${target.id}"]`);
      const state = await textOf('[data-testid="alert-detail-state"]');
      assert(state === 'acknowledged', `after a reload the detail's state is "${state}", not "acknowledged"`);
      const history = await textOf('[data-testid="triage-history"]');
      assert(history.includes(NOTE), `the triage history does not hold the note (it reads "${history.slice(0, 200)}")`);
      await shot('04-acknowledged-detail');
    });

    await check("the alert's principal page shows the volume chart", async () => {
      const link = page.locator('[data-testid="alert-principal"]');
      assert(await link.count() === 1, 'the alert detail has no principal link');
      const name = (await link.textContent()).trim();
      await link.click();
      await page.waitForSelector('[data-testid="principal-page"]')
        .catch(async () => { throw new CheckFailed(`the principal page of "${name}" did not show (page says: "${await textOf('[data-testid="error"]')}")`); });
      await page.waitForSelector('[data-testid="volume-chart"]');
      assert(await page.locator('[data-testid="hours-grid"]').count() === 1, 'the principal page has no hours-of-week grid');
      const shown = await textOf('[data-testid="principal-name"]');
      assert(shown === name, `the principal page shows "${shown}", not "${name}"`);
      console.log(`# principal ${JSON.stringify(name)}: ${await page.locator('[data-testid="volume-chart"] rect.bar').count()} volume bars`);
      await shot('05-principal');
    });

    await check('the overview shows health and summary', async () => {
      await page.goto(route('#/health'), { waitUntil: 'load' });
      await page.waitForSelector('[data-testid="health-status"]')
        .catch(async () => { throw new CheckFailed(`the overview shows no health status (page says: "${await textOf('[data-testid="error"]')}")`); });
      await page.waitForSelector('[data-testid="severity-chart"]')
        .catch(async () => { throw new CheckFailed(`the overview shows no summary (page says: "${await textOf('[data-testid="summary"] [data-testid="error"]')}")`); });
      await shot('06-overview');
    });

    const injected = await page.evaluate(() => window.__xss);
    assert(injected === undefined, 'window.__xss is set: markup from the data ran in the page');
    noProblems('at the end');
  } catch (err) {
    const file = await shot('failure');
    const message = err instanceof CheckFailed ? err.message : `${err.name}: ${err.message.split('\n')[0]}`;
    console.error(`FAIL ${passed + 1}: ${message}`);
    console.error(`# url ${page.url()}; screenshot ${file}`);
    await cleanup();
    process.exit(1);
  }
  await cleanup();
  console.log(`dashboard.mjs: all ${passed} checks passed against ${opts.base}; screenshots in ${outDir}`);
}

main().catch((err) => {
  console.error(`dashboard.mjs: ${err.stack || err}`);
  process.exit(1);
});
