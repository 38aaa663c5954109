// Overview and health: what was accessed (top principals and secrets, events per hour, alerts by
// severity) over a time range, and whether the service keeps up (ingest per source, sinks).

import { h, replace, fmtNum, principalHref } from './dom.js';
import { endpoints, queryString } from './api.js';
import { hourlyChart, barList, severityRows } from './charts.js';
import { showError } from './ui.js';

const RANGES = [
  ['1h', 'Last hour', 3600e3],
  ['24h', 'Last 24 hours', 86400e3],
  ['7d', 'Last 7 days', 7 * 86400e3],
  ['30d', 'Last 30 days', 30 * 86400e3],
  ['all', 'All time', null],
];
const DEFAULT_RANGE = '24h';
const HEALTH_POLL_MS = 10000;
const FIRST_POLL_MS = 3000;

/** The last two readings of /api/health's per-source counters, for a rate. Kept across visits. */
const samples = [];

function stat(label, value, testid, cls = '') {
  return h('div', { class: `stat ${cls}`.trim(), 'data-testid': testid },
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label));
}

function rankTable(rows, { key, label, testid, link }) {
  if (rows.length === 0) return h('p', { class: 'muted', 'data-testid': testid }, 'Nothing in this range.');
  const max = Math.max(1, ...rows.map((r) => Number(r.count) || 0));
  return h('table', { class: 'rank', 'data-testid': testid },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, label), h('th', { scope: 'col', class: 'num' }, 'Accesses'))),
    h('tbody', null, rows.map((r) => {
      const bar = h('div', { class: 'inline-bar' });
      bar.style.width = `${((Number(r.count) || 0) / max) * 100}%`;
      const name = String(r[key] ?? '');
      return h('tr', { 'data-testid': `${testid}-row` },
        h('td', { class: 'rank-name' },
          link ? h('a', { href: link(name), title: name }, name) : h('code', { title: name }, name),
          bar),
        h('td', { class: 'num' }, fmtNum(r.count)));
    })));
}

function sinkTable(sinks) {
  if (sinks.length === 0) return h('p', { class: 'muted', 'data-testid': 'sinks' }, 'No sinks configured: alerts go to data/alerts.jsonl only.');
  const cols = ['Sink', 'Type', 'Endpoint', 'State', 'Pending', 'Delivered', 'Dead-lettered', 'Last error'];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'sinks', 'data-testid': 'sinks' },
    h('thead', null, h('tr', null, cols.map((c) => h('th', { scope: 'col', class: ['Pending', 'Delivered', 'Dead-lettered'].includes(c) ? 'num' : null }, c)))),
    h('tbody', null, sinks.map((sk) => {
      const state = String(sk.state || 'unknown');
      const known = ['healthy', 'retrying', 'blocked'].includes(state) ? state : 'unknown';
      return h('tr', { 'data-testid': 'sink-row', 'data-sink': sk.name, 'data-state': state, class: `sink-${known}` },
        h('td', null, sk.name || '–',
          sk.sink && sk.sink !== sk.name ? h('div', { class: 'muted small' }, `lane of ${sk.sink}`) : null,
          sk.records === 'events' ? h('div', { class: 'muted small' }, 'forwards access events') : null),
        h('td', null, sk.type || '–'),
        h('td', { class: 'endpoint', title: sk.endpoint || '' }, sk.endpoint || '–'),
        h('td', null, h('span', { class: `sink-state sink-state-${known}`, 'data-testid': 'sink-state' }, state)),
        h('td', { class: 'num' }, fmtNum(sk.pending)),
        h('td', { class: 'num' }, fmtNum(sk.delivered)),
        h('td', { class: `num${Number(sk.dead_lettered) > 0 || Number(sk.dropped) > 0 ? ' warn' : ''}` }, fmtNum(sk.dead_lettered),
          Number(sk.dropped) > 0 ? h('div', { class: 'small' }, `${fmtNum(sk.dropped)} dropped`) : null),
        h('td', { class: 'last-error' }, sk.last_error || ''));
    }))));
}

function ingestTable(sources) {
  const names = Object.keys(sources || {}).sort();
  if (names.length === 0) return h('p', { class: 'muted', 'data-testid': 'ingest' }, 'No events ingested yet.');
  const [older, newer] = samples.length === 2 ? samples : [null, null];
  const seconds = older && newer ? (newer.at - older.at) / 1000 : 0;
  return h('table', { class: 'compact', 'data-testid': 'ingest' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Source'),
      h('th', { scope: 'col', class: 'num' }, 'Events/s'),
      h('th', { scope: 'col', class: 'num' }, 'Events in all'))),
    h('tbody', null, names.map((name) => {
      let rate = 'measuring…';
      if (seconds > 0) {
        const delta = (Number(newer.sources[name]) || 0) - (Number(older.sources[name]) || 0);
        rate = delta >= 0 ? fmtNum(+(delta / seconds).toFixed(2)) : 'restarted';
      }
      return h('tr', { 'data-testid': 'ingest-row', 'data-source': name },
        h('td', null, name),
        h('td', { class: 'num', 'data-testid': 'ingest-rate' }, rate),
        h('td', { class: 'num' }, fmtNum(sources[name])));
    })));
}

function healthBanner(health) {
  const ok = health.status === 'ok';
  const failing = (Array.isArray(health.sinks) ? health.sinks : []).filter((sk) => sk.state !== 'healthy');
  return h('div', { class: `banner ${ok ? 'banner-ok' : 'banner-degraded'}`, role: 'status', 'data-testid': 'health-status', 'data-status': health.status },
    h('strong', null, ok ? 'Service healthy' : `Service ${health.status || 'unknown'}`),
    ok ? ' · every sink is delivering' : null,
    failing.map((sk) => h('div', { class: 'small' }, `${sk.name}: ${sk.state}${sk.last_error ? ` (${sk.last_error})` : ''}`)));
}

function healthSection(health) {
  return [
    healthBanner(health),
    h('div', { class: 'stats' },
      stat('events ingested', fmtNum(health.events), 'health-events'),
      stat('alerts raised', fmtNum(health.alerts), 'health-alerts'),
      stat('bad records (dead-lettered)', fmtNum(health.bad_records), 'health-bad-records', Number(health.bad_records) > 0 ? 'warn' : ''),
      stat('batches waiting for detection', fmtNum(health.queue_batches), 'health-queue')),
    h('div', { class: 'grid-2' },
      h('section', { 'aria-labelledby': 'ingest-heading' },
        h('h2', { id: 'ingest-heading' }, 'Ingest per source'),
        ingestTable(health.sources),
        h('p', { class: 'muted small' }, `Rate between the last two readings (every ${HEALTH_POLL_MS / 1000} s while this page is open).`)),
      h('section', { 'aria-labelledby': 'sinks-heading', class: 'span-2' },
        h('h2', { id: 'sinks-heading' }, 'Alert sinks'),
        sinkTable(Array.isArray(health.sinks) ? health.sinks : []))),
  ];
}

function recordSample(health) {
  const sources = health.sources && typeof health.sources === 'object' ? health.sources : {};
  samples.push({ at: Date.now(), sources: { ...sources } });
  while (samples.length > 2) samples.shift();
}

export async function renderOverview(ctx) {
  document.title = 'Overview · secretwatch';
  let range = ctx.params.get('range') || DEFAULT_RANGE;
  if (!RANGES.some(([k]) => k === range)) range = DEFAULT_RANGE;
  const [, rangeLabel, rangeMs] = RANGES.find(([k]) => k === range);

  const rangeSelect = h('select', { id: 'overview-range', 'data-testid': 'overview-range' },
    RANGES.map(([k, text]) => h('option', { value: k, selected: k === range }, text)));
  rangeSelect.addEventListener('change', () => {
    location.hash = `#/health${queryString({ range: rangeSelect.value === DEFAULT_RANGE ? '' : rangeSelect.value })}`;
  });
  const healthSlot = h('div', { 'data-testid': 'health' }, h('p', { class: 'loading' }, 'Loading health…'));
  const summarySlot = h('div', { 'data-testid': 'summary' }, h('p', { class: 'loading' }, 'Loading summary…'));
  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Overview'),
      h('div', { class: 'field inline' }, h('label', { for: 'overview-range' }, 'Accesses in'), rangeSelect)),
    healthSlot,
    h('h2', { class: 'section-title' }, `Secret access: ${rangeLabel.toLowerCase()}`),
    summarySlot);

  const params = rangeMs ? { from: new Date(Date.now() - rangeMs).toISOString(), to: new Date().toISOString() } : {};
  const [health, summary] = await Promise.all([
    endpoints.health(ctx.signal).catch((err) => err),
    endpoints.summary(params, ctx.signal).catch((err) => err),
  ]);
  if (!ctx.isCurrent()) return;

  if (health instanceof Error) showError(healthSlot, health);
  else {
    recordSample(health);
    replace(healthSlot, healthSection(health));
  }
  if (summary instanceof Error) showError(summarySlot, summary);
  else replace(summarySlot, summarySection(summary, range));

  // Poll the health counters while the page is open, for rates and sink states; the first
  // reading after FIRST_POLL_MS, so a rate shows soon.
  let timer = null;
  const poll = async () => {
    if (!ctx.isCurrent()) return;
    if (!document.hidden) {
      try {
        const next = await endpoints.health(ctx.signal);
        if (!ctx.isCurrent()) return;
        recordSample(next);
        replace(healthSlot, healthSection(next));
      } catch (err) {
        if (err && err.name === 'AbortError') return;
        if (ctx.isCurrent()) showError(healthSlot, err);
      }
    }
    if (ctx.isCurrent()) timer = setTimeout(poll, HEALTH_POLL_MS);
  };
  timer = setTimeout(poll, FIRST_POLL_MS);
  ctx.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
}

function summarySection(summary, range) {
  const bySeverity = summary.alerts_by_severity && typeof summary.alerts_by_severity === 'object' ? summary.alerts_by_severity : {};
  const topPrincipals = Array.isArray(summary.top_principals) ? summary.top_principals : [];
  const topSecrets = Array.isArray(summary.top_secrets) ? summary.top_secrets : [];
  const alertCount = Object.values(bySeverity).reduce((a, n) => a + (Number(n) || 0), 0);
  const rangeParam = range === 'all' ? '' : range;
  return [
    h('div', { class: 'stats' },
      stat('events', fmtNum(summary.events), 'summary-events'),
      stat('alerts', fmtNum(alertCount), 'summary-alerts')),
    Number(summary.events) === 0 && range !== 'all'
      ? h('p', { class: 'notice' }, 'No events in this range. ', h('a', { href: '#/health?range=all' }, 'Show all time.'))
      : null,
    h('div', { class: 'grid-2' },
      h('section', { 'aria-labelledby': 'sev-heading' },
        h('h2', { id: 'sev-heading' }, 'Alerts by severity'),
        barList(severityRows(bySeverity, (sev) => `#/alerts${queryString({ severity: sev, range: rangeParam })}`),
          { testid: 'severity-chart', label: 'Alerts by severity in this range' })),
      h('section', { 'aria-labelledby': 'eph-heading' },
        h('h2', { id: 'eph-heading' }, 'Events per hour'),
        hourlyChart({ points: summary.events_per_hour, testid: 'events-chart', label: 'Events ingested per hour', unit: 'events', width: 520, height: 230 })),
      h('section', { 'aria-labelledby': 'tp-heading' },
        h('h2', { id: 'tp-heading' }, 'Top principals'),
        rankTable(topPrincipals, { key: 'principal', label: 'Principal', testid: 'top-principals', link: principalHref })),
      h('section', { 'aria-labelledby': 'ts-heading' },
        h('h2', { id: 'ts-heading' }, 'Top secrets'),
        rankTable(topSecrets, { key: 'target', label: 'Secret', testid: 'top-secrets' }))),
  ];
}
