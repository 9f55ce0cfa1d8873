// Who is logged in, as the cloud says (GET /api/v1/session). Only the cloud keeps sessions;
// the session token itself stays in the HttpOnly cookie, out of every script's reach: this
// module keeps the account's role, name and expiry, and hands the CSRF value to api.js.
import { api, forgetCsrf, hasCsrfCookie, setCsrf } from './api.js';

const FIELDS = ['email', 'password'];

// The current session ({role, display_name, email, expires_ms, ...}) or null. At a cloudlet
// too: it verifies the cloud's session offline and answers GET /api/v1/session (docs/accounts.md
// "At a cloudlet"); a cloudlet without that route (404) counts as logged out.
export async function loadSession(node) {
  // The cloud sets mm_csrf beside the session cookie and clears both together: without it
  // there is no session to ask about (and no 401 to log).
  if (!hasCsrfCookie()) return null;
  try {
    const session = await api.get('/api/v1/session');
    setCsrf(session.csrf);
    delete session.csrf;
    return session;
  } catch (error) {
    if (error.status === 401) {
      forgetCsrf();
      return null;
    }
    if (error.status === 404 && node.kind !== 'cloud') return null;
    throw error;
  }
}

// Logs in (the cloud sets the cookies); returns the session as loadSession() does.
export async function logIn(node, email, password) {
  const answer = await api.post('/api/v1/session', { email, password }, { fields: FIELDS });
  setCsrf(answer.csrf);
  // The token is in the HttpOnly cookie now; drop the copy the answer carried.
  delete answer.token;
  return loadSession(node);
}

// Ends the session everywhere (revoked at the cloud); an already expired one counts as ended.
export async function logOut() {
  try {
    await api.delete('/api/v1/session');
  } catch (error) {
    if (error.status !== 401) throw error;
  } finally {
    forgetCsrf();
  }
}
