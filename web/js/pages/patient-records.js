// The patient's own records (GET /api/v1/me/records), the devices that sent them, each record's
// stored (encrypted) form with the integrity verdict (GET /api/v1/me/records/{device}/{record}),
// verify and restore (POST /api/v1/integrity/records/{device}/{record}/verify | restore), and
// sending chosen records to a doctor from the directory (GET /api/v1/doctors, POST
// /api/v1/consents).
import { api } from '../api.js';
import { formatTime, h, link, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { badge, card, listText, messageLine, portalNotice, recordLabel, recordPath } from './patient-common.js';

const CHECKS = {
  missing: 'a stored part is missing', decrypt: 'a stored part no longer decrypts',
  digest: 'its content differs from its digest', signature: "the device's signature fails",
  chain: 'its hash chain entry differs',
};
const STORED = [['link', 'Link'], ['ei', 'Identifiers (EI)'], ['qi', 'Quasi-identifiers (QI)'],
  ['mi', 'Medical part (MI)'], ['digest', 'Digest'], ['device_signature', "Device's signature"]];

function verdict(verification) {
  return verification.ok
    ? h('p', { class: 'verdict', 'data-ok': 'true' }, badge('ok', 'Verifies'),
      ' Digest, device signature and hash chain all check out.')
    : h('p', { class: 'verdict', 'data-ok': 'false' }, badge('bad', 'Tampered'),
      ` It does not verify: ${CHECKS[verification.failed_check] ?? verification.failed_check}.`);
}

function stored(value) {
  if (value === null) return h('span', { class: 'muted' }, 'missing');
  const shown = value.length > 72 ? `${value.slice(0, 72)}…` : value;
  return [h('code', {}, shown), value.length > 72 ? h('span', { class: 'muted' }, ` (${value.length} characters)`) : null];
}

// The expanded part of a record: decrypted content, stored form, verdict, verify and restore.
function recordDetail(key) {
  const body = h('div', { class: 'record-detail' }, h('p', { class: 'loading' }, 'Loading…'));
  const message = messageLine();
  const verdictSlot = h('div', {});
  const restore = h('button', { type: 'button', class: 'secondary', hidden: true }, "Restore from the cloudlet's copy");
  const verify = h('button', { type: 'button', class: 'secondary' }, 'Verify now');

  function showVerdict(v) {
    replace(verdictSlot, verdict(v));
    restore.hidden = v.ok;
  }
  async function act(button, busy, run) {
    button.disabled = true;
    message.say(busy);
    try {
      await run();
    } catch (error) {
      message.say(error.message, 'error');
    } finally {
      button.disabled = false;
    }
  }
  verify.addEventListener('click', () => act(verify, 'Verifying…', async () => {
    const v = await api.post(`/api/v1/integrity/records/${recordPath(key)}/verify`);
    if (!v.ok) await load();  // show what is stored now
    showVerdict(v);
    message.say(v.ok ? 'Checked: the record verifies.' : 'Checked: the record was tampered with.', v.ok ? 'info' : 'error');
  }));
  restore.addEventListener('click', () => act(restore, "Restoring from the cloudlet's copy…", async () => {
    const outcome = await api.post(`/api/v1/integrity/records/${recordPath(key)}/restore`);
    await load();
    showVerdict(outcome.after);
    message.say(`Restored from cloudlet ${outcome.restore.cloudlet_id}.`);
  }));

  async function load() {
    const view = await api.get(`/api/v1/me/records/${recordPath(key)}`);
    const r = view.record;
    replace(body,
      verdictSlot,
      h('div', { class: 'actions' }, verify, restore), message,
      r ? h('dl', {},
        h('dt', {}, 'Name'), h('dd', {}, r.name),
        h('dt', {}, 'Symptoms'), h('dd', {}, listText(r.symptoms)),
        h('dt', {}, 'Conditions'), h('dd', {}, listText(r.conditions)),
        h('dt', {}, 'Pulse'), h('dd', {}, `${r.pulse_bpm} /min`),
        h('dt', {}, 'ECG'), h('dd', {}, r.ecg_summary || 'none'))
        : h('p', {}, 'The content cannot be shown: it does not decrypt or match its digest.'),
      h('h3', {}, 'As stored at the cloud (encrypted)'),
      h('dl', { class: 'stored' }, STORED.map(([name, label]) =>
        [h('dt', {}, label), h('dd', { 'data-stored': name }, stored(view.stored[name]))])));
    showVerdict(view.verification);
  }
  return { body, load };
}

function recordItem(record, selected) {
  const label = recordLabel(record);
  const box = h('input', { type: 'checkbox', id: `pick-${record.device_id}-${record.record_id}`,
    disabled: !record.intact });
  box.addEventListener('change', () => {
    const id = `${record.device_id}/${record.record_id}`;
    if (box.checked) selected.set(id, record); else selected.delete(id);
  });
  const detail = recordDetail(record);
  const more = h('details', { class: 'record-more' }, h('summary', {}, 'Stored form and integrity check'), detail.body);
  let loaded = false;
  more.addEventListener('toggle', () => {
    if (!more.open || loaded) return;
    loaded = true;
    detail.load().catch((error) => {
      loaded = false;
      replace(detail.body, h('p', { class: 'form-error', role: 'alert' }, error.message));
    });
  });
  return h('li', { class: 'record', 'data-record': record.record_id },
    h('div', { class: 'record-head' }, box,
      h('label', { for: box.id }, h('strong', {}, label)),
      record.intact ? badge('ok', 'Intact') : badge('bad', `Damaged (${record.failed_check})`)),
    record.intact ? h('p', { class: 'record-summary' },
      `Symptoms: ${listText(record.symptoms)}. Pulse ${record.pulse_bpm} /min. ` +
      `ECG: ${record.ecg_summary || 'none'}.`) : null,
    more);
}

function devicesCard(records) {
  const devices = new Map();
  for (const r of records) {
    const d = devices.get(r.device_id) ?? { count: 0, newest: 0 };
    d.count += 1;
    d.newest = Math.max(d.newest, r.created_ms ?? 0);
    devices.set(r.device_id, d);
  }
  return card('My devices', devices.size === 0
    ? h('p', { class: 'muted' }, 'No device has sent a record yet.')
    : h('ul', { class: 'plain-list', 'data-list': 'devices' }, [...devices].map(([id, d]) =>
      h('li', {}, h('strong', {}, id), h('span', { class: 'muted block' },
        `${d.count} record${d.count === 1 ? '' : 's'} shown below` +
        (d.newest ? `, newest ${formatTime(d.newest)}` : ''))))));
}

async function sendCard(selected) {
  const { doctors } = await api.get('/api/v1/doctors');
  const byId = new Map(doctors.map((d) => [d.account_id, d]));
  const sent = messageLine();
  const send = form({
    label: 'Send records to a doctor',
    fields: [textField({ name: 'doctor_id', label: 'Doctor', required: true,
      options: [['', 'Choose a doctor'], ...doctors.map((d) =>
        [d.account_id, `${d.display_name} (${d.speciality}, ${d.hospital})`])] })],
    submitLabel: 'Send the chosen records',
    busyLabel: 'Sending…',
    validate() {
      return selected.size === 0 ? { message: 'Tick at least one record above first.' } : null;
    },
    async onSubmit(values) {
      const records = [...selected.values()].map((r) => ({ device_id: r.device_id, record_id: r.record_id }));
      await api.post('/api/v1/consents', { doctor_id: values.doctor_id, records },
        { fields: ['doctor_id', 'records'] });
      sent.say(`Sent ${records.length} record${records.length === 1 ? '' : 's'} to ` +
        `${byId.get(values.doctor_id)?.display_name ?? 'the doctor'}. Their answer will show ` +
        "under Doctors' answers.");
    },
  });
  return card('Send to a doctor', h('p', {}, 'Tick the records to share, then choose the doctor. ' +
    'Only they can read them, until you revoke it under ', link('#/patient/answers', "Doctors' answers"), '.'),
  send, sent);
}

export async function render() {
  const section = h('section', {}, h('h1', {}, 'My records'));
  let page;
  try {
    page = await api.get('/api/v1/me/records?limit=50');
  } catch (error) {
    section.append(portalNotice(error));
    return section;
  }
  const selected = new Map();
  const list = h('ul', { class: 'plain-list records' }, page.records.map((r) => recordItem(r, selected)));
  const devices = h('div', {}, devicesCard(page.records));
  const all = [...page.records];
  const more = h('button', { type: 'button', class: 'secondary', hidden: !page.next_cursor }, 'Show older records');
  let cursor = page.next_cursor;
  const moreMessage = messageLine();
  more.addEventListener('click', async () => {
    more.disabled = true;
    moreMessage.say('');
    try {
      const next = await api.get(`/api/v1/me/records?limit=50&cursor=${encodeURIComponent(cursor)}`);
      all.push(...next.records);
      list.append(...next.records.map((r) => recordItem(r, selected)));
      replace(devices, devicesCard(all));
      cursor = next.next_cursor;
      more.hidden = !cursor;
    } catch (error) {
      moreMessage.say(`Older records could not be loaded: ${error.message}`, 'error');
    } finally {
      more.disabled = false;
    }
  });
  section.append(
    h('p', { class: 'lead' }, 'What your devices sent, decrypted for you. Open a record to see ' +
      'how it is stored, check it has not been changed, and restore it if it has.'),
    devices,
    card('Records', page.records.length === 0 ? h('p', { class: 'muted' }, 'No records yet.') : list, more, moreMessage),
    await sendCard(selected));
  return section;
}
