// Every prescription the doctor wrote (GET /api/v1/prescriptions), newest first, also those for
// patients who stopped sharing since, then their answers without a prescription (advice; from
// GET /api/v1/answers, every answer the doctor wrote). Names come from the inbox, which holds
// only the patients who share now; the others are shown without a name.
import { api } from '../api.js';
import { h } from '../dom.js';
import { answerDetails, loadInbox, prescriptionText } from './doctor-common.js';

const newestFirst = (list) => [...list].sort((a, b) => b.created_ms - a.created_ms);

export async function render() {
  const [prescribed, written, patients] = await Promise.all([api.get('/api/v1/prescriptions'),
    api.get('/api/v1/answers'), loadInbox()]);
  const names = new Map(patients.map((p) => [p.id, p.name]));
  const forWhom = (answer) => h('p', { class: 'muted' }, 'For ', names.has(answer.patient_id)
    ? h('strong', { class: 'patient-name' }, names.get(answer.patient_id))
    : 'a patient who no longer shares records with you');
  const list = newestFirst(prescribed.prescriptions);
  const advice = newestFirst(written.answers.filter((answer) => !answer.prescription));
  return h('section', {},
    h('h1', {}, 'Prescriptions'),
    h('p', { class: 'lead' }, 'Every prescription you wrote, newest first, with the diagnosis ' +
      'it answered. Those for patients who stopped sharing their records stay here.'),
    list.length === 0
      ? h('p', { class: 'muted' }, 'You have not written a prescription yet.')
      : h('ul', { class: 'prescription-list' }, list.map((answer) => h('li', { class: 'card' },
        h('h2', { class: 'prescription-drug' }, prescriptionText(answer.prescription)),
        forWhom(answer), answerDetails(answer, { prescription: false })))),
    h('section', { 'aria-labelledby': 'advice-heading' },
      h('h2', { id: 'advice-heading' }, `Answers without a prescription (${advice.length})`),
      advice.length === 0
        ? h('p', { class: 'muted' }, 'You have written no answer without a prescription.')
        : h('ul', { class: 'advice-list' }, advice.map((answer) => h('li', { class: 'card' },
          h('h3', { class: 'patient-name' }, names.get(answer.patient_id) ??
            'A patient who no longer shares records with you'),
          answerDetails(answer, { prescription: false }))))));
}
