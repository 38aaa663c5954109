// Pieces every page shares: the token box (after a 401), the status line, and how an error is
// shown in place of a page or after an action.

import { h, replace } from './dom.js';
import { getToken, setToken } from './api.js';

let signedIn = () => {};

/** What to do once a token was entered (the router re-renders the current page). */
export function onSignedIn(fn) {
  signedIn = fn;
}

/** Shows the token box at the top of the page with `message`; one box, however many 401s. */
export function showTokenBox(message) {
  const box = document.getElementById('auth');
  const existing = box.querySelector('[data-testid="token-message"]');
  if (!box.hidden && existing) {
    existing.textContent = message;
    return;
  }
  const input = h('input', {
    id: 'token-input',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    'data-testid': 'token-input',
    'aria-describedby': 'token-message',
  });
  const form = h('form', { class: 'token-form', 'data-testid': 'token-box', novalidate: true },
    h('h2', null, 'API token required'),
    h('p', { id: 'token-message', 'data-testid': 'token-message' }, message),
    h('div', { class: 'token-row' },
      h('label', { for: 'token-input' }, 'Bearer token'),
      input,
      h('button', { type: 'submit', 'data-testid': 'token-submit' }, 'Use token')),
    h('p', { class: 'muted small' }, 'Kept in this browser tab only (sessionStorage) and sent as an Authorization: Bearer header.'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) {
      input.focus();
      return;
    }
    setToken(token);
    hideTokenBox();
    updateAuthIndicator();
    signedIn();
  });
  replace(box, form);
  box.hidden = false;
  input.focus();
}

export function hideTokenBox() {
  const box = document.getElementById('auth');
  box.hidden = true;
  box.replaceChildren();
}

/** The header's "forget token" button, shown while a token is stored. */
export function updateAuthIndicator() {
  const slot = document.getElementById('auth-indicator');
  if (!slot) return;
  if (!getToken()) {
    slot.replaceChildren();
    return;
  }
  replace(slot, h('button', {
    type: 'button',
    class: 'link-button',
    'data-testid': 'forget-token',
    onclick: () => {
      setToken('');
      updateAuthIndicator();
      signedIn();
    },
  }, 'Forget token'));
}

let toastTimer = null;

/** A short message in the status line (announced to screen readers). */
export function toast(message, kind = 'info') {
  const status = document.getElementById('status');
  status.className = `toast toast-${kind}`;
  status.textContent = message;
  status.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    status.hidden = true;
    status.textContent = '';
  }, kind === 'error' ? 12000 : 5000);
}

function tokenMessage() {
  return getToken()
    ? 'The service refused the stored token. Enter a valid API token.'
    : 'This secretwatch service needs an API token to show its data.';
}

/** Shows why a page could not load, in `container`. */
export function showError(container, err) {
  if (err && err.name === 'AbortError') return;
  const status = err && typeof err.status === 'number' ? err.status : -1;
  if (status === 401) {
    showTokenBox(tokenMessage());
    replace(container, h('p', { class: 'notice', 'data-testid': 'needs-token' }, 'Enter an API token above to see this page.'));
    return;
  }
  if (status === 403) {
    replace(container, h('p', { class: 'error', role: 'alert', 'data-testid': 'forbidden' }, 'Your role cannot do this.'));
    return;
  }
  const text = status === 404
    ? `Not found: ${err.message}`
    : (err && err.message) || 'Something went wrong.';
  replace(container, h('p', { class: 'error', role: 'alert', 'data-testid': 'error' }, text));
  if (status < 0) console.warn(err); // a bug of ours rather than an answer of the service
}

/** Tells what went wrong with an action (a triage, a query) without leaving the page. */
export function actionError(err) {
  if (err && err.name === 'AbortError') return;
  const status = err && typeof err.status === 'number' ? err.status : -1;
  if (status === 401) {
    showTokenBox(tokenMessage());
    toast('Enter an API token, then try again.', 'error');
  } else if (status === 403) {
    toast('Your role cannot do this.', 'error');
  } else {
    toast((err && err.message) || 'Something went wrong.', 'error');
  }
}
