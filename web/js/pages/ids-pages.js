// The intrusion detection pages (docs/ids.md, docs/ids_mesh.md; docs/ui.md "Intrusion
// detection"), one module for the two of them, each over the IDS routes of the node serving it:
//
//   #/operator/ids  a cloudlet, its operator: live alerts (with the kernel drop), decisions
//                   (made by hand, revoked), the allowlist,
//                   the mesh peers and their trust, and in the demo the red-team scenarios
//   #/admin/ids     the cloud, an admin (options.admin): the cloud's own alerts and decisions
//                   (a revocation here is what the mesh passes on), the allowlist, the peers
//                   and the mesh view (the reports received and their fused verdicts)
//
// The alerts are polled every POLL_MS while the page is on screen and the tab visible (the
// section's data-live says "on" or "off"); a timer that finds the page gone stops. A section
// whose route answers 404 says so (no mesh on this node) or is left out (not a demo).
// Routes: GET /api/v1/ids/alerts, GET and POST /api/v1/ids/decisions, POST .../{id}/revocation,
// GET/POST /api/v1/ids/allowlist, POST .../removal, GET /api/v1/ids/peers, GET /api/v1/ids/mesh,
// GET and POST /api/v1/attack/runs, GET /api/v1/attack/runs/{id}.
import { api } from '../api.js';
import { announce, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

export const POLL_MS = 3000;
const SCOPES = [['ip', 'IP address'], ['range', 'IPv6 /64 range'], ['account', 'Account'],
  ['device', 'Device']];
const ACTIONS = [['block', 'Block'], ['throttle', 'Throttle (1 request a second)'],
  ['alert', 'Alert only']];
const scopeText = (scope) => [`${scope.kind} `, mono(scope.value)];
const clock = () => new Date().toLocaleTimeString();
const count = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
const errorText = (error) => h('p', { class: 'form-error', role: 'alert' }, error.message);

// The scope and value fields of the allowlist's and the decision's forms.
const scopeFields = (kindLabel, valueLabel) => [
  textField({ name: 'scope', label: kindLabel, options: SCOPES, required: true }),
  textField({ name: 'value', label: valueLabel, required: true, maxlength: 200,
    hint: 'For example 192.0.2.7, 2001:db8:1:2::/64, an account reference (acct_…) ' +
      'as a decision names it, or a device id.' }),
];

function section(id, title, ...content) {
  return h('section', { id, 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, title), content);
}

// The kernel drop of GET /api/v1/ids/alerts: a flood the kernel drops never reaches the
// counts above, so it is said on its own (null: the node reports none).
function kernelDropText(drop) {
  if (!drop) return '';
  const now = drop.sources === 0 ? ' No source is dropped in the kernel now'
    : ` The kernel drops the connection attempts of ${count(drop.sources, 'source')} now` +
      (drop.ranges > 0 ? ` (${count(drop.ranges, 'IPv6 /64 range')} among them)` : '');
  return `${now}; ${count(drop.dropped_segments, 'segment')} dropped at the listening socket ` +
    `and ${count(drop.escalations, 'flooding source')} moved there so far.`;
}

function decisionState(d) {
  if (d.revoked_ms !== null) return `revoked ${time(d.revoked_ms)}`;
  return d.active ? 'in force' : 'expired';
}

// A section of the mesh filled from `path`; a 404 means this node has no mesh: it says so.
function meshSection(id, title, path, draw) {
  const body = loading(title.toLowerCase());
  api.get(path).then((answer) => body.show(draw(answer))).catch((error) => {
    if (error.status !== 404) body.fail(error);
    else body.show(h('p', { class: 'muted' }, 'The mesh is not available on this node.'));
  });
  return section(id, title, body.region);
}

export async function render(context) {
  const admin = Boolean(context.options.admin);
  const message = h('p', { role: 'status', class: 'muted' });
  const node = admin ? 'the cloud' : 'this cloudlet';

  // --- live alerts
  const summary = h('p', { class: 'ids-summary' });
  const liveNote = h('p', { class: 'muted' });
  const alertList = h('div');
  const alerts = section('alerts', 'Live alerts', summary, liveNote, alertList);
  let timer = null;
  let total = null;
  async function poll() {
    clearTimeout(timer);
    timer = null;
    if (total !== null && !alerts.isConnected) return stop();
    try {
      const a = await api.get('/api/v1/ids/alerts?limit=50');
      replace(summary, `${count(a.alerts_total, 'alert')} so far; ` +
        `${count(a.blocked_requests, 'request')} blocked and ${a.throttled_requests} throttled ` +
        `since ${node} started. ` + (a.payload_scorer?.enabled
        ? `Payload scoring is on (model ${a.payload_scorer.model}): ` +
          `${count(a.payload_scorer.flagged_requests, 'request part')} scored as injection so far.`
        : 'Payload scoring is off: no request model was loaded at start.'),
      kernelDropText(a.kernel_drop));
      replace(alertList, table('The 50 newest alerts, newest first', ['Time', 'Detector', 'Scope',
        'Action', 'Reason', 'Allowlisted'], a.alerts.map((x) => [time(x.time_ms), mono(x.detector),
        scopeText(x.scope), x.action, x.reason, x.allowlisted ? 'yes' : 'no']),
      { id: 'alerts-table' }));
      if (total !== null && a.alerts_total > total) {
        announce(`${a.alerts_total - total} new alerts`);
        loadDecisions();
      }
      total = a.alerts_total;
      replace(liveNote, `Live: checked at ${clock()}, again every ${POLL_MS / 1000} seconds ` +
        'while this page is shown.');
    } catch (error) {
      total ??= 0;
      replace(liveNote, errorText(error));
    }
    if (!document.hidden) timer = setTimeout(poll, POLL_MS);
    alerts.dataset.live = timer ? 'on' : 'off';
  }
  function pause() {
    clearTimeout(timer);
    timer = null;
    alerts.dataset.live = 'off';
  }
  function stop() {
    pause();
    document.removeEventListener('visibilitychange', visibility);
  }
  function visibility() {
    if (!alerts.isConnected) stop();
    else if (document.hidden) pause();
    else if (!timer) poll();
  }
  document.addEventListener('visibilitychange', visibility);

  // --- decisions and allowlist
  const decisionList = h('div');
  const allowList = h('div');
  async function loadDecisions() {
    try {
      const { decisions } = await api.get('/api/v1/ids/decisions?active=false&limit=100');
      replace(decisionList, table('Decisions, newest first', ['Scope', 'Action', 'Detector',
        'Origin', 'Reason', 'Made', 'Expires', 'State', ''], decisions.map((d) => [
        scopeText(d.scope), d.action, mono(`${d.detector} v${d.detector_version}`), mono(d.origin),
        d.reason,
        time(d.created_ms), time(d.expires_ms), decisionState(d), d.active ? h('button', {
          type: 'button', class: 'secondary', onclick: () => act(
            `/api/v1/ids/decisions/${encodeURIComponent(d.id)}/revocation`, null,
            'The decision is revoked.', loadDecisions) }, 'Revoke') : '']),
      { id: 'decisions-table' }));
    } catch (error) {
      replace(decisionList, errorText(error));
    }
  }
  async function loadAllowlist() {
    try {
      const { allowlist } = await api.get('/api/v1/ids/allowlist');
      replace(allowList, table('Allowlisted sources', ['Scope', 'Note', 'Added', ''],
        allowlist.map((e) => [scopeText(e.scope), e.note, time(e.added_ms), h('button', {
          type: 'button', class: 'secondary', onclick: () => act('/api/v1/ids/allowlist/removal',
            { scope: e.scope.kind, value: e.scope.value }, 'The entry is removed.', loadAllowlist),
        }, 'Remove')]), { id: 'allowlist-table' }));
    } catch (error) {
      replace(allowList, errorText(error));
    }
  }
  async function act(path, payload, done, reload) {
    try {
      await api.post(path, payload ?? undefined);
      replace(message, done);
      announce(done);
    } catch (error) {
      replace(message, h('span', { class: 'form-error', role: 'alert' }, error.message));
    }
    await reload();
  }
  const allowForm = form({
    label: 'Allowlist a source',
    fields: [
      ...scopeFields('Kind', 'Value'),
      textField({ name: 'note', label: 'Note', maxlength: 200 }),
    ],
    submitLabel: 'Allowlist',
    busyLabel: 'Saving…',
    async onSubmit(values) {
      const entry = { scope: values.scope, value: values.value.trim() };
      if (values.note.trim()) entry.note = values.note.trim();
      await api.post('/api/v1/ids/allowlist', entry, { fields: Object.keys(entry) });
      replace(message, 'The source is allowlisted.');
      await loadAllowlist();
    },
  });

  // An operator's own decision (POST /api/v1/ids/decisions). The expiry goes to the server as
  // typed (a whole number of minutes, else the text itself), so that what it refuses is said in
  // its own words under the field.
  const decisionForm = form({
    label: 'Make a decision',
    fields: [
      ...scopeFields('Scope', 'Scope value'),
      textField({ name: 'action', label: 'Action', options: ACTIONS, required: true }),
      textField({ name: 'expires_in_minutes', label: 'Expires in (minutes)', maxlength: 12,
        hint: 'From 1 to 10080 (a week). Empty: as a detector\'s decision would (10 minutes, ' +
          'longer for a repeat offender).' }),
      textField({ name: 'reason', label: 'Reason', maxlength: 256 }),
    ],
    submitLabel: 'Make the decision',
    busyLabel: 'Saving…',
    async onSubmit(values) {
      const decision = { scope: values.scope, value: values.value.trim(), action: values.action };
      const expiry = values.expires_in_minutes.trim();
      if (expiry) decision.expires_in_minutes = /^-?\d+$/.test(expiry) ? Number(expiry) : expiry;
      if (values.reason.trim()) decision.reason = values.reason.trim();
      await api.post('/api/v1/ids/decisions', decision, { fields: Object.keys(decision) });
      replace(message, 'The decision is made.');
      announce('The decision is made.');
      await loadDecisions();
    },
  });

  // --- the mesh: peers (both pages), received reports (admin), red-team scenarios (operator)
  const reachable = (p) => (p.reachable === null ? 'not tried yet' : p.reachable ? 'yes' : 'no');
  const peers = meshSection('peers', 'Peers', '/api/v1/ids/peers', ({ peers: list }) => table(
    'Peers and their trust, most trusted first', ['Peer', 'Trust', 'Influence', 'Confirmed',
      'Refuted', 'Last report', 'Outbox', 'Reachable'], [...list]
      .sort((x, y) => y.trust - x.trust).map((p) => [
        p.cloud && p.id !== 'cloud' ? `${p.id} (the cloud)` : p.id,
        p.trust.toFixed(2), p.weight.toFixed(2), p.confirmed, p.refuted, time(p.last_report_ms),
        p.outbox_depth, reachable(p)]), { id: 'peers-table' }));
  const output = h('pre', { class: 'ids-output', tabindex: '0', 'aria-live': 'polite',
    'aria-label': 'Output of the scenario' });
  const runList = h('div');
  const verdictText = (run) => (run.verdicts.length === 0 ? '—'
    : run.verdicts.map((v) => `${v.scenario}: ${v.verdict}`).join(', '));
  // The scenarios and the runs kept (GET /api/v1/attack/runs); null where this is no demo (404).
  async function loadRuns() {
    try {
      const listed = await api.get('/api/v1/attack/runs');
      replace(runList, table('Runs, newest first', ['Run', 'Scenario', 'State', 'Verdicts'],
        listed.runs.map((r) => [mono(r.id), r.scenario, r.state, verdictText(r)]),
      { id: 'runs-table' }));
      return listed;
    } catch (error) {
      if (error.status === 404) return null;
      replace(runList, errorText(error));
      return { scenarios: [], runs: [] };
    }
  }
  // A run's output lines, asked for every second until it is done or the page is left; then
  // the runs, alerts and decisions again, so what the attack caused shows at once.
  async function attack(scenario, button) {
    button.disabled = true;
    try {
      let run = await api.post('/api/v1/attack/runs', { scenario });
      await loadRuns();
      for (;;) {
        run = await api.get(`/api/v1/attack/runs/${encodeURIComponent(run.id)}`);
        replace(output, run.lines.join('\n'));
        if (run.state === 'done' || !output.isConnected) break;
        await new Promise((resolve) => { setTimeout(resolve, 1000); });
      }
      if (output.isConnected) {
        announce(`${scenario}: ${verdictText(run)}`);
        await Promise.all([loadRuns(), poll(), loadDecisions()]);
      }
    } catch (error) {
      replace(output, error.message);
    }
    button.disabled = false;
  }
  // Only a demo's cloudlet lists its scenarios; any other node answers 404 and the section
  // stays hidden (data-demo says which).
  function redTeam() {
    const buttons = h('div', { class: 'actions' });
    const element = section('attack', 'Red team (demo only)', h('p', { class: 'muted' },
      'Runs a scenario of medmesh attack against this cloudlet from a loopback address of ' +
      'its own; what it tried and what the system did show below.'), buttons, output, runList);
    element.hidden = true;
    loadRuns().then((listed) => {
      element.hidden = listed === null;
      element.dataset.demo = String(!element.hidden);
      if (listed === null) return;
      const names = ['all', ...listed.scenarios.map((x) => x.name)];
      replace(buttons, names.map((name) => h('button', { type: 'button', class: 'secondary',
        title: listed.scenarios.find((x) => x.name === name)?.tries ?? 'every scenario in turn',
        onclick: (e) => attack(name, e.currentTarget) }, name)));
    });
    return element;
  }
  const reports = ({ reports: list }) => table(
    'Reports received, newest first, with the fused verdict', ['Received', 'Origin', 'Kind',
      'About', 'Verdict', 'Why'], list.map((r) => [time(r.received_ms), r.origin, r.kind,
      r.decision ? [scopeText(r.decision.scope), `: ${r.decision.action}`]
        : ['decision ', mono(r.revoked_id ?? '—')], r.verdict.replace('_', ' '), r.why]),
    { id: 'mesh-table' });
  const extra = admin
    ? meshSection('mesh', 'Reports from the mesh', '/api/v1/ids/mesh?limit=100', reports)
    : redTeam();

  await Promise.all([poll(), loadDecisions(), loadAllowlist()]);
  const lead = `What ${node}'s detectors saw and decided. A decision blocks or throttles a ` +
    'source before any of its requests is read; an allowlisted source is never blocked. ' +
    'With the mesh running, decisions and revocations made here also go to every peer.';
  const content = [message, alerts, section('decisions', 'Decisions', decisionList, decisionForm),
    section('allowlist', 'Allowlist', allowList, allowForm), peers, extra];
  if (!admin) return page(context, 'Intrusion detection', lead, content);
  const { adminPage } = await import('./admin-common.js');
  return adminPage('Intrusion detection — mesh', '/admin/ids', h('p', { class: 'lead' }, lead),
    content);
}
