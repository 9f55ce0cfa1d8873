// The cloudlet's intrusion detection for its operator (docs/ids.md): the decisions in force with
// their reason and expiry (revoke one), the newest alerts, and the allowlist (add, remove).
// Routes: GET /api/v1/ids/alerts, GET /api/v1/ids/decisions, POST .../{id}/revocation,
// GET/POST /api/v1/ids/allowlist, POST /api/v1/ids/allowlist/removal, all of this cloudlet.
import { api } from '../api.js';
import { announce, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

const SCOPES = [['ip', 'IP address'], ['range', 'IPv6 /64 range'], ['account', 'Account'],
  ['device', 'Device']];
const scopeText = (scope) => [`${scope.kind} `, mono(scope.value)];

function decisionState(d) {
  if (d.revoked_ms !== null) return 'revoked';
  return d.active ? 'in force' : 'expired';
}

export async function render(context) {
  const body = loading('intrusion detection');
  const message = h('p', { role: 'status', class: 'muted' });
  const content = page(context, 'Intrusion detection',
    'What this cloudlet\'s detectors saw and decided. A decision blocks or throttles a source ' +
    'before any of its requests is read; an allowlisted source is never blocked.',
    message, body.region);

  async function refresh() {
    const [alerts, decisions, allowed] = await Promise.all([api.get('/api/v1/ids/alerts'),
      api.get('/api/v1/ids/decisions'), api.get('/api/v1/ids/allowlist')]);
    body.show(
      h('p', { class: 'ids-summary' }, `${alerts.alerts_total} alerts so far; ` +
        `${alerts.blocked_requests} requests blocked and ${alerts.throttled_requests} throttled ` +
        'since this cloudlet started.'),
      h('section', { 'aria-labelledby': 'decisions-heading' },
        h('h2', { id: 'decisions-heading' }, 'Decisions'),
        table('Decisions, newest first', ['Scope', 'Action', 'Detector', 'Reason', 'Made',
          'Expires', 'State', ''], decisions.decisions.map((d) => [scopeText(d.scope), d.action,
          `${d.detector} v${d.detector_version}`, d.reason, time(d.created_ms),
          time(d.expires_ms), decisionState(d), d.active
            ? h('button', { type: 'button', class: 'secondary', onclick: () => act(
              `/api/v1/ids/decisions/${encodeURIComponent(d.id)}/revocation`, null,
              'The decision is revoked.') }, 'Revoke') : '']), { id: 'decisions-table' })),
      h('section', { 'aria-labelledby': 'alerts-heading' },
        h('h2', { id: 'alerts-heading' }, 'Newest alerts'),
        table('Alerts, newest first', ['Time', 'Detector', 'Scope', 'Action', 'Reason',
          'Allowlisted'], alerts.alerts.map((a) => [time(a.time_ms), a.detector,
          scopeText(a.scope), a.action, a.reason, a.allowlisted ? 'yes' : 'no']),
        { id: 'alerts-table' })),
      h('section', { 'aria-labelledby': 'allowlist-heading' },
        h('h2', { id: 'allowlist-heading' }, 'Allowlist'),
        table('Allowlisted sources', ['Scope', 'Note', 'Added', ''],
          allowed.allowlist.map((e) => [scopeText(e.scope), e.note, time(e.added_ms),
            h('button', { type: 'button', class: 'secondary', onclick: () => act(
              '/api/v1/ids/allowlist/removal', { scope: e.scope.kind, value: e.scope.value },
              'The entry is removed.') }, 'Remove')]), { id: 'allowlist-table' }),
        allowForm()));
  }

  async function act(path, payload, done) {
    try {
      await api.post(path, payload ?? undefined);
      replace(message, done);
      announce(done);
      await refresh();
    } catch (error) {
      replace(message, h('span', { class: 'form-error', role: 'alert' }, error.message));
    }
  }

  function allowForm() {
    return form({
      label: 'Allowlist a source',
      fields: [
        textField({ name: 'scope', label: 'Kind', options: SCOPES }),
        textField({ name: 'value', label: 'Value', required: true, maxlength: 200,
          hint: 'For example 192.0.2.7, 2001:db8:1:2::/64, an account id or a device id.' }),
        textField({ name: 'note', label: 'Note', maxlength: 200 }),
      ],
      submitLabel: 'Allowlist',
      busyLabel: 'Saving…',
      async onSubmit(values) {
        const entry = { scope: values.scope, value: values.value.trim() };
        if (values.note.trim()) entry.note = values.note.trim();
        await api.post('/api/v1/ids/allowlist', entry, { fields: Object.keys(entry) });
        replace(message, 'The source is allowlisted.');
        await refresh();
      },
    });
  }

  try {
    await refresh();
  } catch (error) {
    body.fail(error);
  }
  return content;
}
