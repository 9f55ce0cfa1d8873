// Every doctor in every status, by registration time (GET /api/v1/admin/doctors; audited).
import { api } from '../api.js';
import { formatTime, h } from '../dom.js';
import { adminPage, badge, table } from './admin-common.js';

const COLUMNS = [
  ['Name', (d) => h('strong', {}, d.display_name)],
  ['E-mail', (d) => d.email],
  ['Licence', (d) => d.licence_number],
  ['Speciality', (d) => d.speciality],
  ['Hospital', (d) => d.hospital],
  ['Status', (d) => [badge(d.status),
    d.status_reason ? h('span', { class: 'reason' }, d.status_reason) : null]],
  ['Registered', (d) => formatTime(d.registered_ms)],
];

export async function render() {
  const { doctors } = await api.get('/api/v1/admin/doctors');
  const counts = {};
  for (const d of doctors) counts[d.status] = (counts[d.status] ?? 0) + 1;
  return adminPage('Doctors', '/admin/doctors',
    h('p', { class: 'lead' }, doctors.length === 0 ? 'No doctor has registered yet.'
      : `${doctors.length} doctor${doctors.length === 1 ? '' : 's'}: ` +
        Object.entries(counts).map(([status, n]) => `${n} ${status}`).join(', ') + '.'),
    doctors.length ? table('Doctors, by registration time', COLUMNS, doctors) : null);
}
