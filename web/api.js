// Talking to the admin API: the bearer token (kept in sessionStorage, so it lasts as long
// as the tab and is gone when the browser closes, which suits a shared classroom PC), and
// one request function that turns the API's error bodies into ApiError.

const TOKEN_KEY = 'bootlab.adminToken';

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** An error answer: `body` is the API's { error, message, field?, lines?, retryAfter? }. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error ? body.error : null;
    this.field = body && body.field ? body.field : null;
    this.lines = body && Array.isArray(body.lines) ? body.lines : null;
  }
}

// Set by the page: shows the token dialog and resolves true once a token was entered.
let promptToken = async () => false;
export function onTokenNeeded(fn) {
  promptToken = fn;
}

/**
 * One request. `json` is sent as JSON, `text` as is with `contentType`. A 401 asks the
 * user for the token and retries with it, so the teacher's click is not lost; if the
 * dialog is dismissed the 401 is thrown like any other error.
 */
export async function api(method, path, { json, text, contentType } = {}) {
  for (;;) {
    const headers = { Accept: 'application/json', ...authHeaders() };
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (text !== undefined) {
      headers['Content-Type'] = contentType || 'text/plain';
      body = text;
    }
    const res = await fetch(path, { method, headers, body, cache: 'no-store' });
    if (res.status === 401) {
      const why = getToken() ? 'The token was refused; enter the current one.' : 'This needs the admin token.';
      if (await promptToken(why)) continue;
    }
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch {
      // Not JSON (a proxy's error page): the status alone must do.
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
}

/** `/api/hosts/<mac>` with the MAC as typed: the API accepts any usual notation. */
export function hostPath(mac, suffix = '') {
  return `/api/hosts/${encodeURIComponent(mac.trim())}${suffix}`;
}

/** The error as one line for a form: "message (field: hosts[2].mac)". */
export function describeError(e) {
  if (!(e instanceof ApiError)) return `Could not reach bootlab: ${e && e.message ? e.message : e}`;
  // The API's messages often start with the field already ("hostname: must be ...").
  const field = e.field && !e.message.startsWith(e.field) ? ` (field: ${e.field})` : '';
  const lines = e.lines && e.lines.length ? `: ${e.lines.join('; ')}` : '';
  return `${e.message}${field}${lines}`;
}
