// Log in: POST /api/v1/session sets the HttpOnly session cookie (a cloudlet relays it to the
// cloud and sets the cookies for its own origin).
import { h, link } from '../dom.js';
import { form, textField } from '../forms.js';
import { logIn } from '../session.js';

const REFUSALS = {
  invalid_credentials: 'The e-mail or the password is wrong.',
  account_pending: 'Your registration is waiting for an administrator\'s approval. You can ' +
    'log in once it is approved.',
  account_rejected: 'Your registration was rejected. Contact the hospital for details.',
  account_disabled: 'This account is disabled. Contact the hospital.',
};

// Registration is at the cloud: a cloudlet's login page links there.
function registerLinks(context) {
  let base = '';
  if (context.node.kind !== 'cloud') {
    const cloud = context.node.cloud?.url ? context.safeUrl(context.node.cloud.url) : null;
    if (!cloud) return null;
    base = new URL('/', cloud).href;
  }
  return h('p', {}, 'No account yet? ', link(`${base}#/register/patient`, 'Register as a patient'),
    ' or ', link(`${base}#/register/doctor`, 'as a doctor'), context.node.kind === 'cloud' ? '.'
      : ' at the cloud.');
}

export function render(context) {
  const loginForm = form({
    label: 'Log in',
    fields: [
      textField({ name: 'email', label: 'E-mail', type: 'email', required: true,
        autocomplete: 'username' }),
      textField({ name: 'password', label: 'Password', type: 'password', required: true,
        autocomplete: 'current-password' }),
    ],
    submitLabel: 'Log in',
    busyLabel: 'Logging in…',
    async onSubmit(values) {
      try {
        const session = await logIn(context.node, values.email.trim(), values.password);
        context.loggedIn(session, `Welcome, ${session.display_name}.`);
      } catch (error) {
        const known = error.reason ? REFUSALS[error.reason] : null;
        if (known) error.message = known;
        if (error.status === 401 || error.status === 403) error.field = null;
        throw error;
      }
    },
  });
  return h('section', {},
    h('h1', {}, 'Log in'),
    h('p', {}, 'Log in with the e-mail and password you registered with.',
      context.node.kind === 'cloud' ? null : ' This cloudlet passes your login to the cloud.'),
    loginForm,
    registerLinks(context));
}
