// The patient's data as a whole: export it as FHIR (every page of
// /fhir/r4/Patient/{id}/$everything merged into one Bundle, saved through a blob: link, so no
// token or data goes into a URL), who saw it (GET /api/v1/me/audit), and deleting it for good
// (POST /api/v1/integrity/deletion) after typing a phrase, which also closes the account.
import { api, forgetCsrf } from '../api.js';
import { formatTime, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { card, fhirId, messageLine } from './patient-common.js';

const PHRASE = 'delete my data';
const MAX_PAGES = 10_000;
const EVENTS = {
  'record.read': 'read a record', 'record.list': 'listed your records', 'readings.read': 'read your readings',
  'record.verify': 'verified a record', 'record.restore': 'restored a record', 'inbox.read': 'read records you sent',
  'consent.grant': 'sent records to a doctor', 'consent.revoke': 'revoked a grant', 'consent.read': 'listed your grants',
  'answer.create': 'answered your records', 'answer.read': 'read the answers', 'audit.read': 'read who saw your data',
  'patient.identity.read': 'saw who you are', 'patient.profile.read': 'read your profile',
  'patient.photo.read': 'saw your photo', 'prescription.read': 'read a prescription',
  'activation.request': 'asked for portal access', 'activation.approve': 'opened your portal',
  'activation.deny': 'refused portal access', 'activation.read': 'read the portal requests',
  'fhir.patient.everything': 'exported everything (FHIR)', 'session.login': 'logged in',
  'session.logout': 'logged out', 'account.register': 'registered your account',
  'account.approve': 'approved your registration', 'account.reject': 'rejected your registration',
  'account.password_change': 'changed your password', 'account.close': 'closed your account',
  'patient.delete': 'deleted your data', 'patient.list': 'listed patients (pseudonymised)',
  'device.enrol': 'enrolled a device of yours', 'device.withdraw': 'withdrew a device of yours',
  'console.report': 'sent a report from a console device', 'console.uploads.read': 'read a console device\'s uploads',
  'console.stream.read': 'watched a console device\'s readings', 'console.stream.start': 'started a console device\'s stream',
  'console.stream.stop': 'stopped a console device\'s stream', 'stored.read': 'read your stored data (encrypted)',
  'fhir.patient.read': 'read your record (FHIR)', 'fhir.patient.search': 'searched patients (FHIR)',
  'fhir.observation.read': 'read a reading (FHIR)', 'fhir.observation.search': 'read your readings (FHIR)',
  'fhir.consent.read': 'read a grant (FHIR)', 'fhir.consent.search': 'listed your grants (FHIR)',
  'fhir.medicationrequest.read': 'read a prescription (FHIR)',
  'fhir.medicationrequest.search': 'listed your prescriptions (FHIR)',
};
// An event without words of its own: its code name, made readable ("kek.rotate" → "kek rotate").
const describe = (event) => EVENTS[event] ?? event.replaceAll(/[._]/g, ' ');
const OUTCOMES = { 0: 'done', 4: 'refused', 8: 'failed', 12: 'failed' };

async function fhirPage(path) {
  const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store',
    headers: { Accept: 'application/fhir+json' } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error(body?.issue?.[0]?.diagnostics ?? `The export failed (HTTP ${response.status}).`);
  }
  return body;
}

// Every page of $everything as one "collection" Bundle (the Patient, repeated on each page, once).
async function exportAll(patientId, progress) {
  let path = `/fhir/r4/Patient/${fhirId(patientId)}/$everything?_count=1000`;
  const entries = new Map();
  for (let pageNo = 1; path && pageNo <= MAX_PAGES; pageNo += 1) {
    const bundle = await fhirPage(path);
    for (const entry of bundle.entry ?? []) {
      const key = entry.fullUrl ?? `${entry.resource.resourceType}/${entry.resource.id}`;
      if (!entries.has(key)) entries.set(key, { fullUrl: entry.fullUrl, resource: entry.resource });
    }
    progress(pageNo, entries.size);
    const next = bundle.link?.find((l) => l.relation === 'next')?.url;
    // The link is absolute (from the Host header); only its path and query are followed.
    path = next ? `${new URL(next).pathname}${new URL(next).search}` : null;
  }
  return { resourceType: 'Bundle', type: 'collection', timestamp: new Date().toISOString(),
    entry: [...entries.values()] };
}

function exportCard(session) {
  const message = messageLine();
  const saveSlot = h('p', {});
  const button = h('button', { type: 'button' }, 'Prepare my FHIR export');
  button.addEventListener('click', async () => {
    button.disabled = true;
    replace(saveSlot);
    message.say('Fetching your data…');
    try {
      const bundle = await exportAll(session.patient_id,
        (pageNo, count) => message.say(`Fetched page ${pageNo}: ${count} resources so far…`));
      const blob = new Blob([JSON.stringify(bundle, null, 2)], { type: 'application/fhir+json' });
      replace(saveSlot, h('a', { class: 'button', href: URL.createObjectURL(blob),
        download: 'medmesh-fhir-export.json' }, `Save the file (${bundle.entry.length} resources)`));
      message.say('Your export is ready.');
    } catch (error) {
      message.say(error.message, 'error');
    } finally {
      button.disabled = false;
    }
  });
  return card('Export (FHIR)',
    h('p', {}, 'Everything the cloud holds about you as one FHIR R4 Bundle (JSON): your ' +
      'details, readings, grants and prescriptions. It is put together in this browser.'),
    h('div', { class: 'actions' }, button), message, saveSlot);
}

function who(actor, event) {
  // Registering is done logged out, by the patient.
  if (actor.self || event === 'account.register') return 'You';
  if (actor.role === 'doctor') return actor.name ?? 'A doctor';
  return { operator: 'A cloudlet operator', admin: 'The admin', system: 'The system',
    patient: 'A patient', anonymous: 'Someone not logged in' }[actor.role] ?? actor.role;
}

function auditCard() {
  const body = h('tbody', {});
  const message = messageLine();
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Show older');
  let before = null;
  async function load() {
    more.disabled = true;
    try {
      const page = await api.get(`/api/v1/me/audit?limit=50${before ? `&before=${before}` : ''}`);
      body.append(...page.entries.map((e) => h('tr', {},
        h('td', {}, formatTime(e.time_ms)), h('th', { scope: 'row' }, who(e.actor, e.event)),
        h('td', {}, describe(e.event), e.purpose ? h('span', { class: 'block muted' }, `Reason: ${e.purpose}`) : null),
        h('td', {}, OUTCOMES[e.outcome] ?? String(e.outcome)))));
      before = page.next_before;
      more.hidden = !before;
    } catch (error) {
      message.say(`The list could not be loaded: ${error.message}`, 'error');
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', load);
  return [card('Who saw my data',
    h('p', {}, 'Every read of your data is recorded, newest first.'),
    h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': 'Who saw my data' },
      h('table', { class: 'data-table' }, h('thead', {}, h('tr', {},
        ['When', 'Who', 'What', 'Result'].map((t) => h('th', { scope: 'col' }, t)))), body)),
    message, more), load];
}

function deleteCard(context) {
  const confirm = form({
    label: 'Delete my data',
    fields: [textField({ name: 'phrase', label: `Type “${PHRASE}” to confirm`, required: true,
      autocomplete: 'off', hint: 'This cannot be undone.' })],
    submitLabel: 'Delete my data for good',
    busyLabel: 'Deleting…',
    validate(values) {
      return values.phrase.trim().toLowerCase() === PHRASE ? null
        : { field: 'phrase', message: `Type exactly “${PHRASE}” to confirm.` };
    },
    async onSubmit() {
      // The cloud closes the account with the data: it ends the session and clears its cookies.
      await api.post('/api/v1/integrity/deletion');
      forgetCsrf();
      context.loggedOut('Your data was deleted and your account closed.');
    },
  });
  confirm.querySelector('button[type="submit"]').classList.add('danger');
  return h('section', { class: 'card danger-zone', 'aria-labelledby': 'delete-heading' },
    h('h2', { id: 'delete-heading' }, 'Delete my data'),
    h('ul', {},
      h('li', {}, 'Your readings, records, profile and photo are deleted at the cloud and at ' +
        'every cloudlet, and the keys that encrypted them are destroyed, so backups cannot be read either.'),
      h('li', {}, 'Doctors lose access to what you sent them.'),
      h('li', {}, 'A record that your data was deleted stays in the audit log.')),
    confirm);
}

export async function render(context) {
  const [audit, loadAudit] = auditCard();
  await loadAudit();
  return h('section', {}, h('h1', {}, 'My data'),
    h('div', { class: 'cards' }, exportCard(context.session), deleteCard(context)), audit);
}
