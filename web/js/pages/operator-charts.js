// The two charts of the original system, at the cloud (GET /api/v1/statistics/charts): how many
// patients have each symptom, and how many patients were referred to each doctor. Counts below
// k are left out by the cloud (k-anonymity) and said so. Each chart has its table beside it.
// Doctors are named from the cloud's directory of approved doctors (GET /api/v1/doctors); a
// doctor no longer listed there is shown by account id.
import { api } from '../api.js';
import { h } from '../dom.js';
import { loadChart } from '../charts.js';
import { loading, page, table } from './operator-shared.js';

function chart(Chart, canvas, labels, counts, label) {
  const style = getComputedStyle(document.documentElement);
  // eslint-disable-next-line no-new
  new Chart(canvas, {
    type: 'bar',
    data: { labels, datasets: [{ label, data: counts,
      backgroundColor: style.getPropertyValue('--brand').trim() || '#0b5cad' }] },
    options: {
      indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { display: false } },
    },
  });
}

function figure(Chart, { id, title, rows, suppressed, k, what }) {
  const labels = rows.map((row) => row[0]);
  const counts = rows.map((row) => row[1]);
  const canvas = h('canvas', { role: 'img',
    'aria-label': `${title}: bar chart; the same numbers are in the table below.` });
  const box = h('div', { class: 'op-chart' }, canvas);
  box.classList.toggle('op-chart-tall', rows.length > 6);
  const note = suppressed > 0
    ? `${suppressed} ${what} with fewer than ${k} patients are left out (k-anonymity).`
    : `Every ${what.replace(/s$/, '')} with at least ${k} patients is shown.`;
  const section = h('section', { class: 'card', 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, title),
    rows.length === 0 ? h('p', {}, 'Nothing to show yet.') : [box,
      table(`${title}, in numbers`, [what === 'doctors' ? 'Doctor' : 'Symptom', 'Patients'],
        rows.map(([name, count, id]) => [id ? h('span', { title: id }, name) : name, count]),
        { id: `${id}-table` })],
    h('p', { class: 'muted' }, note));
  if (rows.length > 0) requestAnimationFrame(() => chart(Chart, canvas, labels, counts, 'Patients'));
  return section;
}

export async function render(context) {
  const body = loading('the charts');
  const content = page(context, 'Patients by symptom and by doctor',
    'The two charts of the original system, counted over pseudonyms at the cloud: no patient ' +
    'is named and small groups are hidden.', body.region);
  try {
    const [data, directory, Chart] = await Promise.all([api.get('/api/v1/statistics/charts'),
      api.get('/api/v1/doctors'), loadChart()]);
    const names = new Map(directory.doctors.map((d) => [d.account_id,
      d.speciality ? `${d.display_name} (${d.speciality})` : d.display_name]));
    body.show(h('div', { class: 'cards op-charts' },
      figure(Chart, { id: 'symptoms', title: 'Symptom vs number of patients', what: 'symptoms',
        k: data.k, suppressed: data.suppressed_symptoms,
        rows: data.symptoms.map((s) => [s.symptom, s.patients]) }),
      figure(Chart, { id: 'doctors', title: 'Doctor vs number of patients', what: 'doctors',
        k: data.k, suppressed: data.suppressed_doctors,
        rows: data.doctors.map((d) => [names.get(d.doctor_id) ?? d.doctor_id, d.patients,
          d.doctor_id]) })));
  } catch (error) {
    body.fail(error);
  }
  return content;
}
