// Every prescription the doctor wrote (GET /api/v1/prescriptions), newest first, also those for
// patients who stopped sharing since. Names come from the inbox, which holds only the patients
// who share now; the others are shown without a name.
import { api } from '../api.js';
import { h } from '../dom.js';
import { answerDetails, loadInbox, prescriptionText } from './doctor-common.js';

export async function render() {
  const [answers, patients] = await Promise.all([api.get('/api/v1/prescriptions'), loadInbox()]);
  const names = new Map(patients.map((p) => [p.id, p.name]));
  const list = [...answers.prescriptions].sort((a, b) => b.created_ms - a.created_ms);
  return h('section', {},
    h('h1', {}, 'Prescriptions'),
    h('p', { class: 'lead' }, 'Every prescription you wrote, newest first, with the diagnosis ' +
      'it answered. Those for patients who stopped sharing their records stay here.'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'You have not written a prescription yet.')
      : h('ul', { class: 'prescription-list' }, list.map((answer) => h('li', { class: 'card' },
        h('h2', { class: 'prescription-drug' }, prescriptionText(answer.prescription)),
        h('p', { class: 'muted' }, 'For ', names.has(answer.patient_id)
          ? h('strong', { class: 'patient-name' }, names.get(answer.patient_id))
          : 'a patient who no longer shares records with you'),
        answerDetails(answer, { prescription: false })))));
}
