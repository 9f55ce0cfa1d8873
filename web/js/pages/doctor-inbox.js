// The doctor's inbox (GET /api/v1/inbox): the records patients sent, as long as their grant is
// active, split into grants waiting for an answer and grants answered. Opening one shows the
// patient's page (doctor-patient.js) with the records, the readings and the answer form.
import { formatTime, h } from '../dom.js';
import { choosePatient, describePatient, loadInbox } from './doctor-common.js';

function grantItem(context, patient, grant) {
  const open = () => {
    choosePatient(patient.id);
    context.navigate('/doctor/patient');
  };
  const symptoms = [...new Set(grant.records.flatMap((r) => r.symptoms))];
  const answers = grant.answer_ids.length;
  return h('li', { class: 'grant-item' },
    h('div', {},
      h('strong', { class: 'patient-name' }, patient.name),
      describePatient(patient) ? h('span', { class: 'muted' }, ` (${describePatient(patient)})`) : null,
      h('p', { class: 'muted' }, `Sent ${formatTime(grant.consent.created_ms)} · ` +
        `${grant.records.length} record${grant.records.length === 1 ? '' : 's'}` +
        (answers ? ` · ${answers} answer${answers === 1 ? '' : 's'} written` : '')),
      symptoms.length ? h('p', {}, 'Symptoms: ', symptoms.join(', ')) : null),
    h('button', { type: 'button', class: answers ? 'secondary' : null, onclick: open },
      answers ? 'Open' : 'Open and answer',
      h('span', { class: 'visually-hidden' }, `: ${patient.name}`)));
}

function grantList(context, patients, answered, empty) {
  const items = patients.flatMap((patient) => patient.grants
    .filter((grant) => (grant.answer_ids.length > 0) === answered)
    .map((grant) => grantItem(context, patient, grant)));
  return items.length ? h('ul', { class: 'plain-list grant-list' }, items)
    : h('p', { class: 'muted' }, empty);
}

export async function render(context) {
  const patients = await loadInbox();
  const grants = patients.flatMap((p) => p.grants);
  const waiting = grants.filter((g) => g.answer_ids.length === 0).length;
  return h('section', {},
    h('h1', {}, 'Inbox'),
    h('p', { class: 'lead' }, 'Records patients sent you. You see them, and the patient\'s ' +
      'readings of the last 24 hours, for as long as the patient keeps sharing them.'),
    h('p', { class: 'inbox-summary', role: 'status' }, patients.length === 0
      ? 'No patient has sent you a record yet.'
      : `${patients.length} patient${patients.length === 1 ? '' : 's'}, ` +
        `${grants.length} shared record set${grants.length === 1 ? '' : 's'}, ` +
        `${waiting} waiting for your answer.`),
    h('section', { class: 'card', 'aria-labelledby': 'waiting-heading' },
      h('h2', { id: 'waiting-heading' }, 'Waiting for an answer'),
      grantList(context, patients, false, 'Nothing is waiting for you.')),
    h('section', { class: 'card', 'aria-labelledby': 'answered-heading' },
      h('h2', { id: 'answered-heading' }, 'Answered'),
      grantList(context, patients, true, 'You have not answered any shared records yet.')));
}
