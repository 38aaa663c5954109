// DOM building and formatting. Every value reaches the page as a text node or an attribute
// value, never as markup: principals, reasons and targets come from audit logs, which an attacker
// can write into. Nothing in the dashboard assigns innerHTML/outerHTML or calls insertAdjacentHTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An HTML element: h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same signature as h(). */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        node.addEventListener(key.slice(2), value);
      } else if (key === 'text') {
        node.textContent = String(value);
      } else {
        node.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }
  appendAll(node, children);
  return node;
}

/** Appends strings (as text nodes), numbers, nodes and nested arrays; skips null/false. */
export function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces a node's children. */
export function replace(node, ...children) {
  node.replaceChildren();
  return appendAll(node, children);
}

// ---- formatting ----

const numberFormat = new Intl.NumberFormat('en-US');
const decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

export function fmtNum(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return n === undefined || n === null ? '–' : String(n);
  return Number.isInteger(n) ? numberFormat.format(n) : decimalFormat.format(n);
}

/** A Date from an ISO string, or null. */
export function parseTime(iso) {
  if (typeof iso !== 'string' || iso === '') return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n) => String(n).padStart(2, '0');

/** "2026-11-29 13:05:12Z" (UTC): the audit logs' clock, the same for every analyst. */
export function fmtTime(iso) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d) return iso ? String(iso) : '–';
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}Z`;
}

/** "3 min ago", "2 h ago", "5 d ago" (or "in 4 min" for clocks ahead of ours). */
export function fmtAgo(iso, now = Date.now()) {
  const d = iso instanceof Date ? iso : parseTime(iso);
  if (!d) return '';
  const sec = Math.round((now - d.getTime()) / 1000);
  const abs = Math.abs(sec);
  let text;
  if (abs < 60) text = `${abs} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 2) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  return sec >= 0 ? `${text} ago` : `in ${text}`;
}

/** "4 min 20 s", "2 h 5 min", "3 d 4 h". */
export function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const sec = Math.round(ms / 1000);
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return sec % 60 ? `${min} min ${sec % 60} s` : `${min} min`;
  const hr = Math.floor(min / 60);
  if (hr < 48) return min % 60 ? `${hr} h ${min % 60} min` : `${hr} h`;
  const days = Math.floor(hr / 24);
  return hr % 24 ? `${days} d ${hr % 24} h` : `${days} d`;
}

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const SEVERITY_RANK = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };

export function severityRank(sev) {
  return SEVERITY_RANK[sev] ?? -1;
}

/** A class-safe severity name: unknown values map to "unknown", never into a class list raw. */
export function severityClass(sev) {
  return `sev-${sev in SEVERITY_RANK ? sev : 'unknown'}`;
}

export function severityBadge(sev) {
  return h('span', { class: `badge ${severityClass(sev)}`, 'data-testid': 'severity' }, sev || 'unknown');
}

export const STATES = ['new', 'acknowledged', 'resolved', 'false_positive'];

export function stateLabel(state) {
  return String(state ?? 'new').replace(/_/g, ' ');
}

export function stateBadge(state, testid) {
  const known = STATES.includes(state) ? state : 'unknown';
  return h('span', { class: `state state-${known}`, 'data-testid': testid, 'data-state': state }, stateLabel(state));
}

export function breakGlassFlag() {
  return h('span', {
    class: 'badge break-glass',
    title: 'Break-glass: a root token, an emergency identity or a privileged impersonation',
    'data-testid': 'break-glass',
  }, 'break-glass');
}

export function principalHref(name) {
  return `#/principals/${encodeURIComponent(name)}`;
}

export function alertHref(id) {
  return `#/alerts/${encodeURIComponent(id)}`;
}

/** A link to a principal's page, or a dash when the alert has none. */
export function principalLink(name, attrs = {}) {
  if (typeof name !== 'string' || name === '') return h('span', { class: 'muted' }, '–');
  return h('a', { href: principalHref(name), class: 'principal', title: name, ...attrs }, name);
}

/** ATT&CK tags read as T-numbers and tactic names; others as they are. */
export function describeTag(tag) {
  const t = String(tag);
  const technique = /^attack\.(t\d{4}(?:\.\d{3})?)$/i.exec(t);
  if (technique) return { attack: true, text: technique[1].toUpperCase(), title: `MITRE ATT&CK technique ${technique[1].toUpperCase()}` };
  const tactic = /^attack\.([a-z_]+)$/i.exec(t);
  if (tactic) {
    const name = tactic[1].split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
    return { attack: true, text: name, title: `MITRE ATT&CK tactic ${name}` };
  }
  return { attack: false, text: t, title: t };
}

export function tagChip(tag) {
  const d = describeTag(tag);
  return h('span', { class: d.attack ? 'chip attack' : 'chip', title: d.title, 'data-testid': 'tag' }, d.text);
}
