// Entry point: hash routes to pages. A page gets a context with its arguments, the query
// parameters of the hash, and an AbortSignal that fires when the user navigates away.
//   #/alerts?severity=high&page=2   alert list (filters live in the hash: links and Back work)
//   #/alerts/<id>                    alert detail
//   #/principals/<name>              principal (name percent-encoded: it holds ':' and '/')
//   #/health (also #/overview)       overview and service health
//   #/query                          SQL over events and alerts

import { h, replace } from './dom.js';
import { showError, onSignedIn, updateAuthIndicator } from './ui.js';
import { renderList, renderDetail } from './alerts.js';
import { renderPrincipal } from './principal.js';
import { renderOverview } from './overview.js';
import { renderQuery } from './query.js';

const routes = [
  { path: ['alerts'], render: renderList, nav: 'alerts' },
  { path: ['alerts', ':id'], render: renderDetail, nav: 'alerts' },
  { path: ['principals', ':name'], render: renderPrincipal, nav: 'alerts' },
  { path: ['health'], render: renderOverview, nav: 'health' },
  { path: ['overview'], render: renderOverview, nav: 'health' },
  { path: ['query'], render: renderQuery, nav: 'query' },
];

function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const segments = path.split('/').filter(Boolean).map((seg) => {
    try {
      return decodeURIComponent(seg);
    } catch {
      return seg;
    }
  });
  return { segments, params };
}

function match(segments) {
  for (const r of routes) {
    if (r.path.length !== segments.length) continue;
    const args = {};
    let ok = true;
    r.path.forEach((part, i) => {
      if (part.startsWith(':')) args[part.slice(1)] = segments[i];
      else if (part !== segments[i]) ok = false;
    });
    if (ok) return { route: r, args };
  }
  return null;
}

let current = null;
let lastPath = null;

async function render() {
  const { segments, params } = parseHash();
  if (segments.length === 0) {
    location.replace('#/alerts');
    return;
  }
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById('main');
  const found = match(segments);

  for (const link of document.querySelectorAll('nav.site a[data-nav]')) {
    if (found && link.dataset.nav === found.route.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }

  if (!found) {
    document.title = 'Not found · secretwatch';
    replace(main, h('h1', { tabindex: -1 }, 'Page not found'),
      h('p', null, 'No such page. ', h('a', { href: '#/alerts' }, 'Go to the alerts.')));
    focusHeading(main);
    return;
  }

  const path = segments.join('/');
  const newPage = path !== lastPath;
  lastPath = path;
  const ctx = {
    main,
    args: found.args,
    params,
    signal: controller.signal,
    isCurrent: () => current === controller && !controller.signal.aborted,
    rerender: render,
  };
  // A re-render of the same page (new filters, a triage) keeps keyboard focus where it was.
  const active = document.activeElement;
  const keepFocus = !newPage && active && active.id && main.contains(active) ? active.id : null;
  main.setAttribute('aria-busy', 'true');
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    await found.route.render(ctx);
  } catch (err) {
    if (ctx.isCurrent()) showError(main, err);
  } finally {
    if (ctx.isCurrent()) {
      main.removeAttribute('aria-busy');
      if (newPage) focusHeading(main);
      else if (keepFocus) document.getElementById(keepFocus)?.focus({ preventScroll: true });
    }
  }
}

/** Moves focus to the page's heading on navigation, so screen readers announce the new page. */
function focusHeading(main) {
  const heading = main.querySelector('h1');
  if (heading) {
    if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

onSignedIn(() => {
  lastPath = null;
  render();
});
window.addEventListener('hashchange', render);
// The skip link must not touch the hash: the hash is the route.
document.querySelector('[data-skip]')?.addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});
updateAuthIndicator();
render();
