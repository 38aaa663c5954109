// The dashboard's only way to the service: same-origin JSON calls with an optional bearer token
// kept in sessionStorage (gone when the tab closes). The shapes are in API.md beside this file.

const TOKEN_KEY = 'secretwatch.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lasts until the page is reloaded.
  }
  memoryToken = token || '';
}

let memoryToken = '';

/** Builds "?a=1&b=2" from an object, leaving out empty values. */
export function queryString(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : '';
}

/**
 * GET or POST a JSON API path. Resolves to the parsed body; rejects with ApiError (status 0 when
 * the service cannot be reached) or with the AbortError of `signal`.
 */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken() || memoryToken;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the secretwatch service.');
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const detail = data && typeof data.error === 'string' ? data.error : `${response.status} ${response.statusText}`.trim();
    throw new ApiError(response.status, detail);
  }
  if (data === null || typeof data !== 'object') {
    throw new ApiError(response.status, `The service answered ${path} with something that is not a JSON object.`);
  }
  return data;
}

export const endpoints = {
  alerts: (params, signal) => api(`/api/alerts${queryString(params)}`, { signal }),
  alert: (id, signal) => api(`/api/alerts/${encodeURIComponent(id)}`, { signal }),
  triage: (id, state, note) => api(`/api/alerts/${encodeURIComponent(id)}/triage`, { method: 'POST', body: { state, note } }),
  principal: (name, signal) => api(`/api/principals/${encodeURIComponent(name)}`, { signal }),
  summary: (params, signal) => api(`/api/summary${queryString(params)}`, { signal }),
  health: (signal) => api('/api/health', { signal }),
  query: (sql, signal) => api('/api/query', { method: 'POST', body: { sql }, signal }),
};
