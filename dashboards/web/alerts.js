// The alert list (filters, pages, triage per row) and the alert detail page.

import {
  h, replace, fmtNum, fmtTime, fmtAgo, fmtDuration, parseTime, severityBadge, severityClass,
  stateBadge, stateLabel, breakGlassFlag, principalLink, alertHref, tagChip, describeTag,
  SEVERITIES, STATES,
} from './dom.js';
import { endpoints, queryString, ApiError } from './api.js';
import { hourlyChart } from './charts.js';
import { showError, actionError, toast } from './ui.js';

const RANGES = [
  ['all', 'All time'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['custom', 'Custom (UTC)'],
];
const RANGE_MS = { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const PAGE_SIZES = [25, 50, 100];
const DEFAULT_LIMIT = 50;

const TRIAGE_ACTIONS = [
  { state: 'acknowledged', label: 'Acknowledge', verb: 'Acknowledge', testid: 'triage-acknowledge', noteRequired: false },
  { state: 'resolved', label: 'Resolve', verb: 'Resolve', testid: 'triage-resolve', noteRequired: true },
  { state: 'false_positive', label: 'False positive', verb: 'Mark as false positive', testid: 'triage-false-positive', noteRequired: true },
];
const REOPEN = { state: 'new', label: 'Reopen', verb: 'Reopen', testid: 'triage-reopen', noteRequired: true };

const MAX_TARGETS_SHOWN = 20;
const MAX_EVENTS_SHOWN = 100;

/** The list's hash when the user last saw it, for the detail page's way back. */
let lastListHash = '#/alerts';

// ---------------------------------------------------------------- filters

function readFilters(params) {
  const from = params.get('from') || '';
  const to = params.get('to') || '';
  let range = params.get('range') || (from || to ? 'custom' : 'all');
  if (!RANGES.some(([key]) => key === range)) range = 'all';
  const page = Math.max(1, Number.parseInt(params.get('page') || '1', 10) || 1);
  const limitParam = Number.parseInt(params.get('limit') || '', 10);
  return {
    range,
    from,
    to,
    severity: params.get('severity') || '',
    rule: params.get('rule') || '',
    principal: params.get('principal') || '',
    state: params.get('state') || '',
    page,
    limit: PAGE_SIZES.includes(limitParam) ? limitParam : DEFAULT_LIMIT,
  };
}

function filtersHash(f) {
  return `#/alerts${queryString({
    range: f.range === 'all' || f.range === 'custom' ? '' : f.range,
    from: f.range === 'custom' ? f.from : '',
    to: f.range === 'custom' ? f.to : '',
    severity: f.severity,
    rule: f.rule,
    principal: f.principal,
    state: f.state,
    page: f.page > 1 ? f.page : '',
    limit: f.limit !== DEFAULT_LIMIT ? f.limit : '',
  })}`;
}

function apiParams(f) {
  let from = '';
  let to = '';
  if (f.range in RANGE_MS) from = new Date(Date.now() - RANGE_MS[f.range]).toISOString();
  else if (f.range === 'custom') {
    from = f.from;
    to = f.to;
  }
  return {
    from,
    to,
    severity: f.severity,
    rule: f.rule,
    principal: f.principal,
    state: f.state,
    limit: f.limit,
    offset: (f.page - 1) * f.limit,
  };
}

// <input type="datetime-local"> holds "YYYY-MM-DDTHH:MM"; we read and write it as UTC.
const isoToInput = (iso) => {
  const d = parseTime(iso);
  return d ? d.toISOString().slice(0, 16) : '';
};
const inputToIso = (value) => (value ? new Date(`${value}:00Z`).toISOString() : '');

function select(id, label, options, value, testid) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('select', { id, name: id, 'data-testid': testid },
      options.map(([v, text]) => h('option', { value: v, selected: v === value }, text))));
}

function filterForm(f, rulesSeen) {
  const from = h('input', { id: 'filter-from', type: 'datetime-local', value: isoToInput(f.from), 'data-testid': 'filter-from' });
  const to = h('input', { id: 'filter-to', type: 'datetime-local', value: isoToInput(f.to), 'data-testid': 'filter-to' });
  const customFields = h('div', { class: 'custom-range', hidden: f.range !== 'custom' },
    h('div', { class: 'field' }, h('label', { for: 'filter-from' }, 'From (UTC)'), from),
    h('div', { class: 'field' }, h('label', { for: 'filter-to' }, 'To (UTC)'), to));
  const rangeSelect = select('filter-range', 'Time range', RANGES, f.range, 'filter-range');
  rangeSelect.querySelector('select').addEventListener('change', (e) => {
    customFields.hidden = e.target.value !== 'custom';
  });
  const ruleList = h('datalist', { id: 'known-rules' }, [...rulesSeen].sort().map((r) => h('option', { value: r })));

  const form = h('form', { class: 'filters', 'data-testid': 'filters', role: 'search', 'aria-label': 'Alert filters' },
    rangeSelect,
    customFields,
    select('filter-severity', 'Severity', [['', 'Any'], ...SEVERITIES.map((s) => [s, s])], f.severity, 'filter-severity'),
    h('div', { class: 'field' },
      h('label', { for: 'filter-rule' }, 'Rule'),
      h('input', { id: 'filter-rule', type: 'text', value: f.rule, list: 'known-rules', placeholder: 'any rule', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-rule' }),
      ruleList),
    h('div', { class: 'field' },
      h('label', { for: 'filter-principal' }, 'Principal'),
      h('input', { id: 'filter-principal', type: 'text', value: f.principal, placeholder: 'any principal', autocomplete: 'off', spellcheck: 'false', 'data-testid': 'filter-principal' })),
    select('filter-state', 'Triage state', [['', 'Any'], ...STATES.map((s) => [s, stateLabel(s)])], f.state, 'filter-state'),
    select('filter-limit', 'Per page', PAGE_SIZES.map((n) => [String(n), String(n)]), String(f.limit), 'filter-limit'),
    h('div', { class: 'field actions' },
      h('button', { id: 'filter-apply', type: 'submit', 'data-testid': 'filter-apply' }, 'Apply'),
      h('a', { href: '#/alerts', class: 'button secondary', 'data-testid': 'filter-reset' }, 'Reset')));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    const range = value('filter-range');
    const next = {
      range,
      from: range === 'custom' ? inputToIso(from.value) : '',
      to: range === 'custom' ? inputToIso(to.value) : '',
      severity: value('filter-severity'),
      rule: value('filter-rule').trim(),
      principal: value('filter-principal').trim(),
      state: value('filter-state'),
      page: 1,
      limit: Number(value('filter-limit')) || DEFAULT_LIMIT,
    };
    const target = filtersHash(next);
    if (location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
    else location.hash = target;
  });
  return form;
}

// ---------------------------------------------------------------- triage

/** Asks for the triage note in a modal dialog; resolves to the note, or null when cancelled. */
function askNote(alert, action) {
  return new Promise((resolve) => {
    let result = null;
    const textarea = h('textarea', {
      id: 'triage-note',
      name: 'note',
      rows: 4,
      maxlength: 2000,
      'data-testid': 'triage-note',
      'aria-describedby': 'triage-note-error',
    });
    const error = h('p', { id: 'triage-note-error', class: 'field-error', role: 'alert' });
    const dialog = h('dialog', { class: 'triage-dialog', 'data-testid': 'triage-dialog', 'aria-labelledby': 'triage-dialog-title' });
    const form = h('form', { method: 'dialog', novalidate: true },
      h('h2', { id: 'triage-dialog-title' }, `${action.verb}?`),
      h('p', { class: 'dialog-alert' },
        severityBadge(alert.severity), ' ', h('strong', null, alert.title || alert.rule || alert.id)),
      h('p', { class: 'muted small' }, 'Principal: ', h('span', { class: 'principal' }, alert.principal || '–')),
      h('label', { for: 'triage-note' }, action.noteRequired ? 'Note (required)' : 'Note (optional)'),
      textarea,
      error,
      h('div', { class: 'dialog-buttons' },
        h('button', { type: 'button', class: 'secondary', 'data-testid': 'triage-cancel', onclick: () => dialog.close() }, 'Cancel'),
        h('button', { type: 'submit', 'data-testid': 'triage-submit' }, action.label)));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const note = textarea.value.trim();
      if (action.noteRequired && !note) {
        error.textContent = 'Write down why, for whoever reads this alert next.';
        textarea.focus();
        return;
      }
      result = note;
      dialog.close();
    });
    dialog.append(form);
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    textarea.focus();
  });
}

/** Asks for a note and posts the triage; resolves to the updated alert or null. */
async function triage(alert, action, button) {
  const note = await askNote(alert, action);
  if (note === null) return null;
  if (button) button.disabled = true;
  try {
    const answer = await endpoints.triage(alert.id, action.state, note);
    if (!answer.alert || typeof answer.alert !== 'object') {
      throw new ApiError(200, 'The service did not send the updated alert back.');
    }
    toast(`Alert marked ${stateLabel(answer.alert.state)}.`);
    return answer.alert;
  } catch (err) {
    actionError(err);
    if (button) button.disabled = false;
    return null;
  }
}

function triageButtons(alert, onUpdated, { withReopen = false } = {}) {
  const actions = withReopen && alert.state && alert.state !== 'new' ? [...TRIAGE_ACTIONS, REOPEN] : TRIAGE_ACTIONS;
  return h('div', { class: 'triage-buttons', role: 'group', 'aria-label': 'Triage' },
    actions.map((action) => {
      const button = h('button', {
        type: 'button',
        class: `triage triage-${action.state}`,
        'data-testid': action.testid,
        disabled: alert.state === action.state,
        title: `${action.verb}: asks for a note`,
        'aria-label': `${action.verb}: ${alert.title || alert.rule || alert.id}`,
      }, action.label);
      button.addEventListener('click', async () => {
        const updated = await triage(alert, action, button);
        if (updated) onUpdated(updated);
      });
      return button;
    }));
}

function triageSummary(t) {
  if (!t || typeof t !== 'object') return '';
  return `${stateLabel(t.state)} by ${t.by || 'unknown'} at ${fmtTime(t.at)}${t.note ? `: ${t.note}` : ''}`;
}

// ---------------------------------------------------------------- list

function newestFirst(a, b) {
  const ta = parseTime(a.last_seen)?.getTime() ?? 0;
  const tb = parseTime(b.last_seen)?.getTime() ?? 0;
  return tb - ta || String(a.id).localeCompare(String(b.id));
}

function rowCells(alert, onUpdated) {
  const state = alert.state || 'new';
  const last = parseTime(alert.last_seen);
  return [
    h('td', { class: 'col-severity' }, severityBadge(alert.severity), alert.break_glass ? [' ', breakGlassFlag()] : null),
    h('td', { class: 'col-time', title: `first seen ${fmtTime(alert.first_seen)}\nlast seen ${fmtTime(alert.last_seen)}` },
      h('time', { datetime: last ? last.toISOString() : null }, fmtTime(alert.last_seen)),
      h('div', { class: 'muted small' }, fmtAgo(alert.last_seen))),
    h('td', { class: 'col-alert' },
      h('a', { href: alertHref(alert.id), class: 'alert-link', 'data-testid': 'alert-link' }, alert.title || alert.rule || alert.id),
      h('div', { class: 'reason muted small', title: alert.reason || '' }, alert.reason || ''),
      h('div', { class: 'rule small' }, h('code', null, alert.rule || ''), alert.source ? h('span', { class: 'muted' }, ` · ${alert.source}`) : null)),
    h('td', { class: 'col-principal' }, principalLink(alert.principal, { 'data-testid': 'alert-row-principal' })),
    h('td', { class: 'col-state', 'data-testid': 'alert-state', 'data-state': state, title: triageSummary(alert.triage) }, stateBadge(state)),
    h('td', { class: 'col-triage' }, triageButtons(alert, onUpdated)),
  ];
}

function alertRow(alert) {
  const tr = h('tr', { 'data-testid': 'alert-row' });
  const fill = (a) => {
    tr.className = `alert-row ${severityClass(a.severity)}${a.break_glass ? ' is-break-glass' : ''}`;
    tr.setAttribute('data-alert-id', a.id);
    tr.setAttribute('data-severity', a.severity);
    tr.setAttribute('data-state', a.state || 'new');
    tr.replaceChildren(...rowCells(a, fill));
  };
  fill(alert);
  return tr;
}

function alertsTable(alerts) {
  return h('table', { class: 'alerts', 'data-testid': 'alert-table' },
    h('caption', { class: 'visually-hidden' }, 'Alerts, newest first'),
    h('thead', null, h('tr', null,
      ['Severity', 'Last seen (UTC)', 'Alert', 'Principal', 'State', 'Triage'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, alerts.map(alertRow)));
}

function pager(f, total, shown) {
  const pages = Math.max(1, Math.ceil(total / f.limit));
  const first = total === 0 ? 0 : (f.page - 1) * f.limit + 1;
  const last = (f.page - 1) * f.limit + shown;
  const link = (page, text, testid, enabled) => (enabled
    ? h('a', { href: filtersHash({ ...f, page }), class: 'button secondary', 'data-testid': testid }, text)
    : h('span', { class: 'button secondary disabled', 'aria-disabled': 'true', 'data-testid': testid }, text));
  return [
    link(f.page - 1, '← Newer', 'page-prev', f.page > 1),
    h('span', { class: 'page-info', 'data-testid': 'page-info' }, `${fmtNum(first)}–${fmtNum(last)} of ${fmtNum(total)} · page ${fmtNum(f.page)} of ${fmtNum(pages)}`),
    link(f.page + 1, 'Older →', 'page-next', f.page < pages),
  ];
}

export async function renderList(ctx) {
  const f = readFilters(ctx.params);
  lastListHash = location.hash || '#/alerts';
  document.title = 'Alerts · secretwatch';
  const rulesSeen = new Set(f.rule ? [f.rule] : []);
  const formSlot = h('div', null, filterForm(f, rulesSeen));
  const count = h('p', { class: 'list-summary', 'data-testid': 'alert-count', role: 'status' }, 'Loading alerts…');
  const body = h('div', { class: 'table-wrap' });
  const nav = h('nav', { class: 'pager', 'aria-label': 'Alert pages' });
  replace(ctx.main,
    h('div', { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Alerts'),
      h('button', { id: 'refresh', type: 'button', class: 'secondary', 'data-testid': 'refresh', onclick: () => ctx.rerender() }, 'Refresh')),
    formSlot, count, body, nav);

  let data;
  try {
    data = await endpoints.alerts(apiParams(f), ctx.signal);
  } catch (err) {
    if (!ctx.isCurrent()) return;
    count.textContent = '';
    showError(body, err);
    return;
  }
  if (!ctx.isCurrent()) return;
  const alerts = (Array.isArray(data.alerts) ? data.alerts : []).filter((a) => a && typeof a === 'object');
  alerts.sort(newestFirst);
  const total = Number.isFinite(data.total) ? data.total : alerts.length;
  for (const a of alerts) if (a.rule) rulesSeen.add(a.rule);
  replace(formSlot, filterForm(f, rulesSeen));

  if (alerts.length === 0) {
    count.textContent = total > 0 ? `No alerts on this page (${fmtNum(total)} in all).` : 'No alerts match these filters.';
    replace(body, h('p', { class: 'empty', 'data-testid': 'no-alerts' },
      f.range !== 'all' || f.severity || f.rule || f.principal || f.state
        ? 'Nothing matches. Widen the time range or clear a filter.'
        : 'No alerts yet.'));
  } else {
    const breakGlass = alerts.filter((a) => a.break_glass).length;
    count.textContent = `${fmtNum(total)} alert${total === 1 ? '' : 's'}, newest first` +
      (breakGlass ? ` · ${breakGlass} break-glass on this page` : '');
    replace(body, alertsTable(alerts));
  }
  replace(nav, pager(f, total, alerts.length));
}

// ---------------------------------------------------------------- detail

function fact(label, value, testid) {
  return [h('dt', null, label), h('dd', { 'data-testid': testid }, value)];
}

function valueList(values, { max = MAX_TARGETS_SHOWN, testid, cls = '' } = {}) {
  const items = Array.isArray(values) ? values.map(String) : [];
  if (items.length === 0) return h('span', { class: 'muted' }, 'none');
  const list = h('ul', { class: `values ${cls}`.trim(), 'data-testid': testid });
  const shown = items.slice(0, max);
  list.append(...shown.map((v) => h('li', null, h('code', null, v))));
  if (items.length > max) {
    const more = h('button', { type: 'button', class: 'link-button' }, `Show all ${fmtNum(items.length)}`);
    more.addEventListener('click', () => {
      more.remove();
      list.append(...items.slice(max).map((v) => h('li', null, h('code', null, v))));
    });
    return h('div', null, list, more);
  }
  return list;
}

function tagsCell(tags) {
  const list = Array.isArray(tags) ? tags : [];
  if (list.length === 0) return h('span', { class: 'muted' }, 'none');
  const attack = list.filter((t) => describeTag(t).attack);
  const other = list.filter((t) => !describeTag(t).attack);
  return h('div', { class: 'chips', 'data-testid': 'alert-tags' },
    attack.length ? h('span', { class: 'chip-group-label small muted' }, 'ATT&CK') : null,
    attack.map(tagChip),
    other.length && attack.length ? h('span', { class: 'chip-sep' }) : null,
    other.map(tagChip));
}

function historyTable(history) {
  if (history.length === 0) {
    return h('p', { class: 'muted', 'data-testid': 'triage-history' }, 'Not triaged yet.');
  }
  return h('table', { class: 'history', 'data-testid': 'triage-history' },
    h('thead', null, h('tr', null, ['When (UTC)', 'State', 'By', 'Note'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, history.map((t) => h('tr', { 'data-testid': 'triage-history-row' },
      h('td', null, fmtTime(t.at)),
      h('td', null, stateBadge(t.state)),
      h('td', null, t.by || '–'),
      h('td', { class: 'note' }, t.note || '')))));
}

const EVENT_COLUMNS = [
  ['Time (UTC)', (e) => fmtTime(e.time)],
  ['Action', (e) => e.action],
  ['Verb', (e) => e.verb],
  ['Outcome', (e) => e.outcome],
  ['Status', (e) => (e.status === null || e.status === undefined ? '' : String(e.status))],
  ['Target', (e) => e.target],
  ['Source IP', (e) => e.source_ip],
  ['User agent', (e) => e.user_agent],
  ['Event id', (e) => e.id],
];

function eventRow(e) {
  return h('tr', { 'data-testid': 'event-row', class: e.outcome === 'denied' ? 'denied' : null },
    EVENT_COLUMNS.map(([name, get]) => {
      const v = get(e);
      return h('td', { class: `ev-${name.split(' ')[0].toLowerCase()}`, title: name === 'User agent' || name === 'Target' ? v || '' : null },
        v === undefined || v === null || v === '' ? '–' : v);
    }));
}

function eventsTable(events) {
  if (events.length === 0) return h('p', { class: 'muted', 'data-testid': 'events-table' }, 'The service returned no events for this alert.');
  const sorted = events.slice().sort((a, b) => (parseTime(a.time)?.getTime() ?? 0) - (parseTime(b.time)?.getTime() ?? 0));
  const tbody = h('tbody', null, sorted.slice(0, MAX_EVENTS_SHOWN).map(eventRow));
  const table = h('table', { class: 'events', 'data-testid': 'events-table' },
    h('thead', null, h('tr', null, EVENT_COLUMNS.map(([c]) => h('th', { scope: 'col' }, c)))),
    tbody);
  const wrap = h('div', { class: 'table-wrap' }, table);
  if (sorted.length > MAX_EVENTS_SHOWN) {
    const more = h('button', { type: 'button', class: 'link-button' }, `Show all ${fmtNum(sorted.length)} events`);
    more.addEventListener('click', () => {
      more.remove();
      tbody.append(...sorted.slice(MAX_EVENTS_SHOWN).map(eventRow));
    });
    wrap.append(more);
  }
  return wrap;
}

export async function renderDetail(ctx) {
  const id = ctx.args.id;
  const back = h('a', { href: lastListHash, class: 'back', 'data-testid': 'back-to-alerts' }, '← Alerts');
  replace(ctx.main, back, h('h1', { tabindex: -1, class: 'visually-hidden' }, 'Alert'), h('p', { class: 'loading' }, 'Loading alert…'));
  document.title = 'Alert · secretwatch';

  const data = await endpoints.alert(id, ctx.signal);
  if (!ctx.isCurrent()) return;
  const alert = data.alert;
  if (!alert || typeof alert !== 'object') throw new ApiError(200, 'The service sent no alert.');
  const events = (Array.isArray(data.events) ? data.events : []).filter((e) => e && typeof e === 'object');
  let history = (Array.isArray(data.triage_history) ? data.triage_history : []).filter((t) => t && typeof t === 'object');
  if (history.length === 0 && alert.triage) history = [alert.triage];
  const state = alert.state || 'new';
  document.title = `${alert.title || alert.rule || 'Alert'} · secretwatch`;

  const first = parseTime(alert.first_seen);
  const last = parseTime(alert.last_seen);
  const windowText = [
    fmtTime(alert.first_seen), ' → ', fmtTime(alert.last_seen),
    first && last ? h('span', { class: 'muted' }, ` (${fmtDuration(last - first)})`) : null,
  ];

  const article = h('article', { class: `alert-detail ${severityClass(alert.severity)}`, 'data-testid': 'alert-detail', 'data-alert-id': alert.id, 'data-state': state },
    h('header', { class: 'detail-head' },
      h('div', { class: 'badges' },
        severityBadge(alert.severity),
        alert.break_glass ? breakGlassFlag() : null,
        h('span', { 'data-testid': 'alert-detail-state', 'data-state': state }, stateBadge(state))),
      h('h1', { tabindex: -1, 'data-testid': 'alert-title' }, alert.title || alert.rule || alert.id),
      h('p', { class: 'reason', 'data-testid': 'alert-reason' }, alert.reason || ''),
      alert.triage ? h('p', { class: 'muted small', 'data-testid': 'alert-triage' }, `Last triage: ${triageSummary(alert.triage)}`) : null,
      triageButtons(alert, () => ctx.rerender(), { withReopen: true })),
    h('dl', { class: 'facts' },
      fact('Rule', h('code', null, alert.rule || '–'), 'alert-rule'),
      fact('Principal', principalLink(alert.principal, { 'data-testid': 'alert-principal' })),
      fact('Source', alert.source || '–', 'alert-source'),
      fact('Window', windowText, 'alert-window-text'),
      fact('Targets', valueList(alert.targets, { testid: 'alert-targets' })),
      fact('Source IPs', valueList(alert.source_ips, { testid: 'alert-source-ips', cls: 'inline' })),
      fact('Tags', tagsCell(alert.tags)),
      fact('Alert id', h('code', null, alert.id), 'alert-id')),
    h('section', { 'aria-labelledby': 'timeline-heading' },
      h('h2', { id: 'timeline-heading' }, 'Access timeline of ', h('span', { class: 'principal' }, alert.principal || '–')),
      hourlyChart({
        points: data.timeline,
        testid: 'timeline-chart',
        label: `Accesses per hour by ${alert.principal || 'this principal'} around the alert`,
        highlight: first ? { from: alert.first_seen, to: alert.last_seen } : null,
      })),
    h('section', { 'aria-labelledby': 'history-heading' },
      h('h2', { id: 'history-heading' }, 'Triage history'),
      historyTable(history)),
    h('section', { 'aria-labelledby': 'events-heading' },
      h('h2', { id: 'events-heading' }, `Triggering events (${fmtNum(events.length)})`),
      eventsTable(events)));

  replace(ctx.main, back, article);
}
