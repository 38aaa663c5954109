// A SQL box over the service's events and alerts (read-only; the service limits what runs).

import { h, replace, fmtNum } from './dom.js';
import { endpoints, queryString } from './api.js';
import { showError } from './ui.js';

const EXAMPLE = 'SELECT principal, count(*) AS n\nFROM events\nGROUP BY principal\nORDER BY n DESC\nLIMIT 20';

function cell(value) {
  if (value === null || value === undefined) return h('td', { class: 'null' }, 'NULL');
  if (typeof value === 'object') return h('td', null, h('code', null, JSON.stringify(value)));
  if (typeof value === 'number') return h('td', { class: 'num' }, String(value));
  return h('td', null, String(value));
}

function resultTable(result, ms) {
  const columns = Array.isArray(result.columns) ? result.columns.map(String) : [];
  const rows = Array.isArray(result.rows) ? result.rows : [];
  return [
    h('p', { class: 'muted small', 'data-testid': 'query-status' },
      `${fmtNum(rows.length)} row${rows.length === 1 ? '' : 's'} in ${fmtNum(Math.round(ms))} ms`,
      result.truncated ? h('strong', { class: 'warn', 'data-testid': 'query-truncated' }, ' · truncated: add a LIMIT or narrow the query') : null),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'compact query-result', 'data-testid': 'query-result' },
        h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, rows.map((row) => h('tr', null, (Array.isArray(row) ? row : [row]).map(cell)))))),
  ];
}

export async function renderQuery(ctx) {
  document.title = 'Query · secretwatch';
  const sql = ctx.params.get('sql') || '';
  const textarea = h('textarea', {
    id: 'query-sql',
    rows: 8,
    spellcheck: 'false',
    autocomplete: 'off',
    'data-testid': 'query-sql',
    placeholder: EXAMPLE,
    'aria-describedby': 'query-help',
  });
  textarea.value = sql;
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'query-form', 'data-testid': 'query-form' },
    h('label', { for: 'query-sql' }, 'SQL'),
    textarea,
    h('p', { id: 'query-help', class: 'muted small' }, 'Read-only SQL over the tables the service offers (events, alerts). Ctrl+Enter runs it. The query is kept in the address, so the link can be shared.'),
    h('div', { class: 'actions' },
      h('button', { id: 'query-run', type: 'submit', 'data-testid': 'query-run' }, 'Run'),
      h('button', { type: 'button', class: 'secondary', onclick: () => { textarea.value = EXAMPLE; textarea.focus(); } }, 'Example')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) return;
    const target = `#/query${queryString({ sql: text })}`;
    if (location.hash === target) ctx.rerender();
    else location.hash = target;
  });
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  replace(ctx.main, h('h1', { tabindex: -1 }, 'Query'), form, out);
  if (!sql) return;

  replace(out, h('p', { class: 'loading' }, 'Running…'));
  const started = performance.now();
  try {
    const result = await endpoints.query(sql, ctx.signal);
    if (!ctx.isCurrent()) return;
    replace(out, resultTable(result, performance.now() - started));
  } catch (err) {
    if (ctx.isCurrent()) showError(out, err);
  }
}
