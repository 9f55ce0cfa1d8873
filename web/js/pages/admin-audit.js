// The cloud's audit log (GET /api/v1/admin/audit), newest first: whether the chain verifies
// against its signed head, filters (event, patient pseudonym, action, outcome, dates) and
// older pages by `before`. Patients appear only as pseudonyms; recorded reasons verbatim.
import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { adminPage, alertBox, auditHandoff, badge, shortId, shortPseudonym, table } from './admin-common.js';

const PAGE = 50;
const ACTIONS = { C: 'create', R: 'read', U: 'update', D: 'delete', E: 'execute' };
const OUTCOMES = { 0: ['success', 'ok'], 4: ['refused', 'warn'], 8: ['failed', 'bad'],
  12: ['failed badly', 'bad'] };
const FILTERS = ['event', 'patient', 'account', 'action', 'outcome', 'from', 'to'];

function verificationView(v) {
  if (v.ok) {
    return h('p', { class: 'notice verified', role: 'status' }, h('strong', {}, 'Verified. '),
      `All ${v.entries} entries are intact and chained, up to the signed head` +
      `${v.head ? ` (entry ${v.head.seq}, signed by ${v.head.observer})` : ''}.`);
  }
  return h('div', { class: 'form-error', role: 'alert' }, h('strong', {}, 'Verification failed: '),
    `${v.failure.replaceAll('_', ' ')}`,
    v.first_bad_seq === null ? '' : ` at entry ${v.first_bad_seq}`, '. ', v.message);
}

function actor(e) {
  const a = e.actor;
  return [badge(a.role, 'role'), ' ', a.account_id ? shortId(a.account_id) : shortPseudonym(a.pseudonym)];
}

function entity(e) {
  if (!e.entity.type) return '—';
  return [e.entity.type, ' ', e.entity.pseudonym ? shortPseudonym(e.entity.pseudonym)
    : e.entity.id ? shortId(e.entity.id) : ''];
}

const COLUMNS = [
  ['When', (e) => [new Date(e.time_ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }),
    h('span', { class: 'sub' }, `entry ${e.seq}`)]],
  ['Event', (e) => [h('code', {}, e.event), h('span', { class: 'sub' }, ACTIONS[e.action] ?? e.action,
    ' ', badge(...(OUTCOMES[e.outcome] ?? [String(e.outcome), 'muted'])))]],
  ['Who', actor],
  ['Patient', (e) => shortPseudonym(e.patient)],
  ['Object', entity],
  ['Reason', (e) => e.purpose ?? '—'],
  ['Detail', (e) => e.detail ?? '—'],
];

// Unix ms of local midnight of a yyyy-mm-dd date, plus `days`.
function dayMs(date, days = 0) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y, m - 1, d + days).getTime();
}

function queryOf(filter, before) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  for (const name of ['event', 'patient', 'account', 'action', 'outcome']) {
    if (filter[name]) q.set(name, filter[name].trim());
  }
  if (filter.from) q.set('from', String(dayMs(filter.from)));
  if (filter.to) q.set('to', String(dayMs(filter.to, 1)));
  if (before) {
    q.set('before', String(before));
    q.set('verify', 'false');  // verified with the first page
  }
  return q;
}

export async function render() {
  const handed = auditHandoff.filter ?? {};
  auditHandoff.filter = null;
  const status = h('div', { 'aria-live': 'polite' });
  const results = h('div');

  // A page of entries under `filter`: the first replaces the table, older ones extend it.
  async function load(filter, before) {
    const answer = await api.get(`/api/v1/admin/audit?${queryOf(filter, before)}`,
      { fields: FILTERS });
    if (answer.verification) replace(status, verificationView(answer.verification));
    const rows = answer.entries;
    const tableSlot = before ? results.querySelector('tbody') : null;
    if (tableSlot) {
      if (rows.length) tableSlot.append(...table('', COLUMNS, rows).querySelector('tbody').children);
    } else {
      replace(results, rows.length === 0 ? h('p', {}, 'No entry matches.')
        : table('Audit entries, newest first', COLUMNS, rows));
    }
    results.querySelector('.more')?.remove();
    if (answer.next_before) {
      const button = h('button', { type: 'button', class: 'secondary more' }, 'Show older entries');
      button.addEventListener('click', async () => {
        button.disabled = true;
        replace(button, 'Loading…');
        try {
          await load(filter, answer.next_before);
        } catch (error) {
          button.replaceWith(alertBox(error.message));
        }
      });
      results.append(button);
    }
  }

  const filters = form({
    label: 'Filter the audit log',
    fields: [
      textField({ name: 'event', label: 'Event', maxlength: 255, hint: 'For example patient.identity.read' }),
      textField({ name: 'patient', label: 'Patient pseudonym', maxlength: 64 }),
      textField({ name: 'account', label: 'Staff account id', maxlength: 64, hint: 'Who acted' }),
      textField({ name: 'action', label: 'Action', options: [['', 'Any'],
        ...Object.entries(ACTIONS)] }),
      textField({ name: 'outcome', label: 'Outcome', options: [['', 'Any'],
        ...Object.entries(OUTCOMES).map(([code, [text]]) => [code, text])] }),
      textField({ name: 'from', label: 'From', type: 'date' }),
      textField({ name: 'to', label: 'Until', type: 'date', hint: 'Inclusive' }),
    ],
    submitLabel: 'Show entries',
    busyLabel: 'Loading…',
    async onSubmit(values) {
      try {
        await load(values, null);
      } catch (error) {
        if (error.status === 404) {
          error.field = 'patient';
          error.message = 'No patient has this pseudonym.';
        }
        throw error;
      }
    },
  });
  filters.classList.add('filters');
  for (const [name, value] of Object.entries(handed)) filters.elements.namedItem(name).value = value;

  await load(handed, null);
  return adminPage('Audit log', '/admin/audit',
    h('p', { class: 'lead' }, 'Every reading and change of patient data and every administrative ' +
      'act, newest first. Patients appear as pseudonyms.'),
    status,
    h('details', { class: 'card', open: Object.keys(handed).length > 0 },
      h('summary', {}, 'Filter'), filters),
    results);
}
