// A principal's page: its baseline (what is normal for it), its volume per hour against that
// expectation, the hours of the week it is usually active, and its latest alerts.

import {
  h, replace, fmtNum, fmtTime, fmtAgo, severityBadge, stateBadge, breakGlassFlag, alertHref,
} from './dom.js';
import { endpoints } from './api.js';
import { hourlyChart, hoursGrid } from './charts.js';

function stat(label, value, testid, hint) {
  return h('div', { class: 'stat', 'data-testid': testid, title: hint || null },
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-label' }, label));
}

function recentAlerts(result, name) {
  if (result instanceof Error) {
    return h('p', { class: 'error' }, `Could not load the alerts: ${result.message}`);
  }
  const alerts = Array.isArray(result.alerts) ? result.alerts : [];
  if (alerts.length === 0) return h('p', { class: 'muted', 'data-testid': 'principal-alerts' }, 'No alerts for this principal.');
  const total = Number.isFinite(result.total) ? result.total : alerts.length;
  return h('div', null,
    h('table', { class: 'compact', 'data-testid': 'principal-alerts' },
      h('thead', null, h('tr', null, ['Severity', 'Last seen (UTC)', 'Alert', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, alerts.map((a) => h('tr', null,
        h('td', null, severityBadge(a.severity), a.break_glass ? [' ', breakGlassFlag()] : null),
        h('td', null, fmtTime(a.last_seen), h('div', { class: 'muted small' }, fmtAgo(a.last_seen))),
        h('td', null, h('a', { href: alertHref(a.id) }, a.title || a.rule || a.id)),
        h('td', null, stateBadge(a.state || 'new')))))),
    total > alerts.length
      ? h('p', null, h('a', { href: `#/alerts?principal=${encodeURIComponent(name)}` }, `All ${fmtNum(total)} alerts of this principal →`))
      : null);
}

export async function renderPrincipal(ctx) {
  const name = ctx.args.name;
  document.title = `${name} · secretwatch`;
  replace(ctx.main,
    h('h1', { tabindex: -1 }, 'Principal ', h('code', { class: 'principal' }, name)),
    h('p', { class: 'loading' }, 'Loading baseline…'));

  const [data, alerts] = await Promise.all([
    endpoints.principal(name, ctx.signal),
    endpoints.alerts({ principal: name, limit: 10, offset: 0 }, ctx.signal).catch((err) => {
      if (err && err.name === 'AbortError') throw err;
      return err;
    }),
  ]);
  if (!ctx.isCurrent()) return;
  const b = data.baseline && typeof data.baseline === 'object' ? data.baseline : {};
  const learning = b.learning === true;

  const head = h('header', { class: 'principal-head', 'data-testid': 'principal-page', 'data-principal': data.principal || name },
    h('h1', { tabindex: -1 }, 'Principal ', h('code', { class: 'principal', 'data-testid': 'principal-name' }, data.principal || name)),
    h('p', { class: 'badges' },
      h('span', { class: 'chip', 'data-testid': 'principal-kind', 'data-kind': data.kind }, String(data.kind || 'unknown kind').replace(/_/g, ' ')),
      h('span', { class: learning ? 'chip learning' : 'chip learned', 'data-testid': 'principal-learning' },
        learning ? 'baseline still learning' : 'baseline learned'),
      b.first_seen ? h('span', { class: 'muted small' }, `first seen ${fmtTime(b.first_seen)} (${fmtAgo(b.first_seen)})`) : null));

  const stats = h('div', { class: 'stats' },
    stat('mean accesses per hour', fmtNum(Number(b.hourly_mean)), 'stat-hourly-mean', 'Mean of the hourly secret reads learned for this principal'),
    stat('99th percentile per hour', fmtNum(Number(b.hourly_p99)), 'stat-hourly-p99'),
    stat('secrets seen', fmtNum(b.seen_secrets), 'seen-secrets'),
    stat('networks seen', fmtNum(b.seen_networks), 'seen-networks', 'Distinct /24 (IPv4) or /64 (IPv6) networks'),
    stat('user agents seen', fmtNum(b.seen_user_agents), 'seen-user-agents'));

  replace(ctx.main,
    h('a', { href: '#/alerts', class: 'back' }, '← Alerts'),
    head,
    stats,
    learning ? h('p', { class: 'notice' }, 'This principal is still in its learning period: baseline detections do not fire for it yet.') : null,
    h('section', { 'aria-labelledby': 'volume-heading' },
      h('h2', { id: 'volume-heading' }, 'Access volume per hour'),
      hourlyChart({
        points: data.volume,
        testid: 'volume-chart',
        label: `Secret accesses per hour by ${name}, with the baseline's expected count`,
        expected: true,
      })),
    h('section', { 'aria-labelledby': 'hours-heading' },
      h('h2', { id: 'hours-heading' }, 'Usual hours (UTC)'),
      h('p', { class: 'muted small' }, 'Hours of the week this principal has been active in; an access in an empty cell raises unusual-hour-for-principal.'),
      hoursGrid(b.hours_of_week, { label: `Hours of the week ${name} is active in (UTC, Monday first)` })),
    h('section', { 'aria-labelledby': 'palerts-heading' },
      h('h2', { id: 'palerts-heading' }, 'Latest alerts'),
      recentAlerts(alerts, name)));
}
