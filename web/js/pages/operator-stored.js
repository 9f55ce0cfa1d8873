// What this cloudlet stores of a patient, as it is on disk (GET /api/v1/patients/{id}/stored):
// reading batches and records with their sizes and the first bytes of each ciphertext, nothing
// decrypted. The patients offered are those with a device here (GET /api/v1/devices). Every
// look is audited at the cloudlet.
import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

// "3f9a…" groups of 8 hex digits, so the excerpt wraps on a phone.
function hex(head, bytes, shown) {
  const groups = head.match(/.{1,8}/g) ?? [];
  return h('span', { class: 'mono op-hex' }, groups.join(' '), bytes > shown ? ' …' : '');
}

const size = (bytes) => `${bytes.toLocaleString()}\u00a0B`;

export async function render(context) {
  const result = h('div', { 'aria-live': 'polite' });
  const devices = loading('the patients');
  const content = page(context, 'Stored data',
    'What this cloudlet keeps, exactly as it is stored: every row is encrypted under the ' +
    'patient\'s own data key. You see ids, times, sizes and the first bytes of each ' +
    'ciphertext, never the readings or the record.', devices.region, result);

  async function show(patientId) {
    replace(result, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading the stored rows…'));
    const data = await api.get(`/api/v1/patients/${encodeURIComponent(patientId)}/stored?limit=50`);
    const shown = data.excerpt_bytes;
    replace(result,
      h('h2', {}, 'Patient ', mono(data.patient_id)),
      table(`Reading batches (${data.reading_batches.length}, newest first)`,
        ['Stored', 'Device', 'Readings', 'Time range', 'Size', 'Ciphertext (start)'],
        data.reading_batches.map((b) => [time(b.stored_ms), mono(b.device_id), b.readings,
          `${time(b.from_ms)} – ${time(b.to_ms)}`, size(b.ciphertext_bytes),
          hex(b.ciphertext_head, b.ciphertext_bytes, shown)]), { id: 'stored-batches' }),
      table(`Records (${data.records.length}, oldest first)`,
        ['Created', 'Device', 'Record', 'Size', 'Ciphertext (start)'],
        data.records.map((r) => [time(r.created_ms), mono(r.device_id), mono(r.record_id),
          size(r.ciphertext_bytes), hex(r.ciphertext_head, r.ciphertext_bytes, shown)]),
        { id: 'stored-records' }));
  }

  try {
    const { devices: list } = await api.get('/api/v1/devices');
    const patients = [...new Set(list.map((d) => d.patient_id))].sort();
    if (patients.length === 0) {
      devices.show(h('p', { class: 'notice' }, 'Nothing is stored here yet: no device is enrolled.'));
      return content;
    }
    const picker = form({
      label: 'Choose a patient',
      fields: [textField({ name: 'patient_id', label: 'Patient', required: true,
        options: patients.map((id) => [id, id]),
        hint: 'Patients with a device enrolled here, by id.' })],
      submitLabel: 'Show stored data',
      busyLabel: 'Loading…',
      onSubmit: (values) => show(values.patient_id).catch((error) => {
        replace(result);
        throw error;
      }),
    });
    devices.show(picker);
    await show(patients[0]).catch((error) => replace(result,
      h('p', { class: 'form-error', role: 'alert' }, error.message)));
  } catch (error) {
    devices.fail(error);
  }
  return content;
}
