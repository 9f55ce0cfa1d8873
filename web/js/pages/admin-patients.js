// Every patient in the partitioned view (GET /api/v1/admin/patients): the pseudonym and the
// generalised quasi-identifiers only, a page at a time. Seeing one patient's identity is a
// deliberate act: a reason (required, kept verbatim in the audit log, which the patient can
// read) and a confirmation, then POST .../identity. The identity is shown until hidden.
import { api } from '../api.js';
import { announce, formatTime, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { adminPage, alertBox, auditHandoff, badge, shortPseudonym, table } from './admin-common.js';

const PAGE = 50;

function generalisation(level) {
  const parts = [
    level.age_band_years === 0 ? 'ages hidden'
      : `ages in ${level.age_band_years}-year bands (as of ${level.reference_year})`,
    level.postcode_chars === 0 ? 'postcodes hidden'
      : `postcodes to ${level.postcode_chars} character${level.postcode_chars === 1 ? '' : 's'}`,
    level.keep_sex ? 'sex kept' : 'sex hidden',
  ];
  return `Generalised so that no row stands out: ${parts.join(', ')}.`;
}

function qiCell(key) {
  return (p) => {
    if (p.suppressed) return badge('suppressed', 'muted');
    return p.qi ? p.qi[key] : h('span', { class: 'muted' }, 'no record');
  };
}

function definitions(rows) {
  return h('dl', {}, rows.filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function identityView(identity, context, close) {
  const records = identity.records_identity;
  const account = identity.account;
  const profile = account?.profile;
  return [
    h('p', { class: 'notice', role: 'status' },
      'Identity shown. This reading is in the audit log with your reason.'),
    h('h3', {}, 'From the stored records'),
    records ? definitions([
      ['Name', records.name], ['National id', records.national_id], ['Phone', records.phone],
      ['E-mail', records.email], ['Address', records.address],
      ['Photo', records.has_photo ? 'stored' : 'none'],
      ['Devices', records.device_ids.join(', ')], ['As of', formatTime(records.as_of_ms)],
    ]) : h('p', { class: 'muted' }, 'No stored record.'),
    h('h3', {}, 'From the account'),
    account ? definitions([
      ['Name shown', account.display_name], ['E-mail', account.email], ['Status', account.status],
      ['Registered', formatTime(account.registered_ms)], ['Full name', profile?.full_name],
      ['Birth date', profile?.birth_date], ['Sex', profile?.sex], ['Phone', profile?.phone],
      ['Address', profile?.address], ['Photo', profile ? (profile.has_photo ? 'stored' : 'none') : null],
    ]) : h('p', { class: 'muted' }, 'No account.'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: close }, 'Hide identity'),
      h('button', { type: 'button', class: 'secondary', onclick: () => {
        auditHandoff.filter = { patient: identity.pseudonym };
        context.navigate('/admin/audit');
      } }, 'See in the audit log')),
  ];
}

// The reveal panel for one pseudonym: the reason, the confirmation, then the identity.
function revealPanel(pseudonym, context, close) {
  const panel = h('section', { class: 'card reveal', 'aria-labelledby': 'reveal-heading' });
  const confirmId = 'reveal-confirm';
  const reveal = form({
    label: 'Reveal the identity',
    fields: [
      textField({ name: 'reason', label: 'Reason', required: true, maxlength: 1000,
        hint: 'Required. Kept word for word in the audit log; the patient can read it.' }),
      h('div', { class: 'field check', 'data-field': 'confirm' },
        h('input', { type: 'checkbox', id: confirmId, name: 'confirm', required: true,
          'aria-describedby': `${confirmId}-error` }),
        h('label', { for: confirmId }, 'I need this identity for the reason above.'),
        h('p', { class: 'field-error', id: `${confirmId}-error` })),
    ],
    submitLabel: 'Reveal identity',
    busyLabel: 'Revealing…',
    validate: (values) => (values.reason.trim() === ''
      ? { field: 'reason', message: 'Say why you need to know who this patient is.' } : null),
    async onSubmit(values) {
      const identity = await api.post(
        `/api/v1/admin/patients/${encodeURIComponent(pseudonym)}/identity`,
        { reason: values.reason.trim() }, { fields: ['reason'] });
      replace(panel, heading, ...identityView(identity, context, close));
      announce('Identity shown');
    },
  });
  const heading = h('h2', { id: 'reveal-heading', tabindex: '-1' }, 'Identity of ',
    shortPseudonym(pseudonym));
  reveal.querySelector('.actions').append(
    h('button', { type: 'button', class: 'secondary', onclick: close }, 'Cancel'));
  return replace(panel, heading,
    h('p', {}, 'Only when you must know who this is. Your reason goes into the audit log.'),
    reveal);
}

export async function render(context) {
  const panelSlot = h('div');
  const listSlot = h('div', { 'aria-live': 'polite' });
  const pagesSeen = [''];

  function closePanel() {
    replace(panelSlot);
    listSlot.querySelector('button')?.focus();
  }

  async function show(after) {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (after) query.set('after', after);
    const answer = await api.get(`/api/v1/admin/patients?${query}`);
    const columns = [
      ['Pseudonym', (p) => shortPseudonym(p.pseudonym)],
      ['Age', qiCell('age_band')],
      ['Sex', qiCell('sex')],
      ['Postcode', qiCell('postcode_prefix')],
      ['Records', (p) => String(p.records)],
      ['Last upload', (p) => (p.last_upload_ms ? formatTime(p.last_upload_ms) : '—')],
      ['Account', (p) => (p.account_status ? badge(p.account_status) : 'none')],
      ['Identity', (p) => h('button', { type: 'button', class: 'secondary small',
        'aria-label': `Reveal identity of ${p.pseudonym.slice(0, 12)}`,
        onclick: () => {
          replace(panelSlot, revealPanel(p.pseudonym, context, closePanel));
          panelSlot.querySelector('h2').focus();
        } }, 'Reveal…')],
    ];
    const index = pagesSeen.indexOf(after ?? '');
    replace(listSlot,
      h('p', { class: 'muted' }, generalisation(answer.generalisation)),
      answer.patients.length === 0 ? h('p', {}, 'No patient yet.')
        : table('Patients, by pseudonym', columns, answer.patients),
      h('div', { class: 'actions' },
        index > 0 ? h('button', { type: 'button', class: 'secondary',
          onclick: () => turn(pagesSeen[index - 1]) }, 'Previous page') : null,
        answer.next_after ? h('button', { type: 'button', class: 'secondary', onclick: () => {
          if (!pagesSeen.includes(answer.next_after)) pagesSeen.push(answer.next_after);
          turn(answer.next_after);
        } }, 'Next page') : null));
  }

  // A page turn that fails says why in place of the list.
  function turn(after) {
    show(after).catch((error) => replace(listSlot, alertBox(error.message)));
  }

  await show('');
  return adminPage('Patients', '/admin/patients',
    h('p', { class: 'lead' }, 'Patients by pseudonym, with generalised age, sex and postcode. ' +
      'No name, e-mail or id is shown here.'),
    panelSlot, listSlot);
}
