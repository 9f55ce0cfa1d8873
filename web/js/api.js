// The one way pages talk to the node's HTTP API (docs/openapi.yaml).
//
//   const account = await api.get('/api/v1/session');
//   await api.post('/api/v1/account/password', {current_password, new_password});
//
// - Same origin only, with the session cookie (mm_session, HttpOnly: no script sees it).
// - Every request that changes state carries X-CSRF-Token (docs/accounts.md "Cookies and
//   CSRF"). The value is kept in memory only (this module's variable), taken from the login
//   answer or GET /api/v1/session; after a reload it is read back from the mm_csrf cookie,
//   which the cloud sets for exactly this. Never in web storage or in a URL.
// - A refusal throws ApiError: `status`, `code` (MedMesh's "error" member, or "network"),
//   `message` (for people), `reason`, `retryAfterS`, and `field`: the request member the
//   message names, when it names one (MedMesh's 400 messages start with the field name), so a
//   form can show it next to that field.
// - A 401 that means "no session (any more)" also dispatches SESSION_ENDED_EVENT, so the app
//   shell shows the logged-out state wherever it happened.

let csrfToken = null;

// Dispatched on window when the API answers 401 to a request that had a session.
export const SESSION_ENDED_EVENT = 'medmesh:session-ended';

export function setCsrf(token) {
  csrfToken = typeof token === 'string' && token.length > 0 ? token : null;
}

export function forgetCsrf() {
  csrfToken = null;
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

// Whether the cloud's readable companion of the session cookie is present.
export function hasCsrfCookie() {
  return cookie('mm_csrf') !== null;
}

function currentCsrf() {
  return csrfToken ?? cookie('mm_csrf');
}

// Messages for people, by status, when the API's own message is not meant for them.
function friendlyMessage(status, body, retryAfterS) {
  const wait = retryAfterS ? ` Try again in ${retryAfterS} s.` : ' Try again in a moment.';
  if (status === 429) {
    return ['locked_out', 'account_blocked', 'account_throttled'].includes(body?.reason)
      ? `Too many attempts: this is locked for a while.${wait}`
      : `The server is busy.${wait}`;
  }
  if (status === 503) return `The service is not available right now.${wait}`;
  if (status >= 500) return 'Something went wrong on the server. Try again later.';
  if (status === 413) return 'That is too large to send.';
  return null;
}

export class ApiError extends Error {
  constructor({ status, code, message, reason = null, retryAfterS = null, field = null }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.reason = reason;
    this.retryAfterS = retryAfterS;
    this.field = field;
  }
}

// The request member a MedMesh message names ("password must be 12 to 1024 bytes",
// "photo.content_type must be ..."): the first word, up to a space or a dot, if it is one of
// `fields`.
export function fieldOf(message, fields) {
  const match = /^([a-z_]+)[ .]/.exec(message ?? '');
  return match && fields.includes(match[1]) ? match[1] : null;
}

async function request(method, path, { json, fields = [] } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    const token = currentCsrf();
    if (token) headers['X-CSRF-Token'] = token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError({
      status: 0, code: 'network',
      message: 'The server could not be reached. Check your connection and try again.',
    });
  }
  const type = response.headers.get('Content-Type') ?? '';
  const body = type.startsWith('application/json') ? await response.json().catch(() => null) : null;
  if (response.ok) return response.status === 204 ? null : body;

  const retryAfterS = body?.retry_after_s ?? (Number(response.headers.get('Retry-After')) || null);
  const own = body && typeof body.error === 'string' && typeof body.message === 'string';
  const message = friendlyMessage(response.status, body, retryAfterS) ??
    (own ? body.message : `The request failed (HTTP ${response.status}).`);
  // A session that ended at the server (expired, revoked, logged out elsewhere): the shell
  // switches to logged out. Not for a wrong password, which is also a 401.
  if (response.status === 401 && body?.reason !== 'invalid_credentials' &&
      !(method === 'POST' && path === '/api/v1/session')) {
    window.dispatchEvent(new CustomEvent(SESSION_ENDED_EVENT));
  }
  throw new ApiError({
    status: response.status,
    code: own ? body.error : 'http',
    message,
    reason: body?.reason ?? null,
    retryAfterS,
    field: own && response.status === 400 ? fieldOf(body.message, fields) : null,
  });
}

export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, json, options = {}) => request('POST', path, { ...options, json }),
  put: (path, json, options = {}) => request('PUT', path, { ...options, json }),
  delete: (path, options) => request('DELETE', path, options),
};
