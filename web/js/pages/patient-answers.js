// Doctors' answers to the records the patient sent (GET /api/v1/answers): diagnosis, medication
// and prescription, as the doctor wrote them; and the grants behind them (GET /api/v1/consents),
// each revocable at once (POST /api/v1/consents/{id}/revocation). Doctors are named from the
// directory (GET /api/v1/doctors); one no longer listed shows as "a doctor".
import { api } from '../api.js';
import { formatTime, h, link, replace } from '../dom.js';
import { badge, card, messageLine, portalNotice } from './patient-common.js';

function doctorName(doctors, id) {
  const d = doctors.get(id);
  return d ? `${d.display_name} (${d.speciality}, ${d.hospital})` : 'A doctor no longer listed';
}

function answerCard(answer, doctors) {
  const p = answer.prescription;
  return h('article', { class: 'card answer', 'data-answer': answer.answer_id },
    h('h2', {}, doctorName(doctors, answer.doctor_id)),
    h('p', { class: 'muted' }, `Answered ${formatTime(answer.created_ms)} on ` +
      `${answer.records.length} record${answer.records.length === 1 ? '' : 's'}`),
    h('dl', {},
      h('dt', {}, 'Diagnosis'), h('dd', { class: 'pre' }, answer.diagnosis),
      h('dt', {}, 'Medication'), h('dd', { class: 'pre' }, answer.medication || 'none')),
    p ? h('div', { class: 'prescription' },
      h('h3', {}, 'Prescription'),
      h('dl', {},
        h('dt', {}, 'Drug'), h('dd', {}, p.drug),
        h('dt', {}, 'Dose'), h('dd', {}, p.dose),
        h('dt', {}, 'How often'), h('dd', {}, p.frequency),
        h('dt', {}, 'For how long'), h('dd', {}, p.duration)))
      : h('p', { class: 'muted' }, 'No prescription.'));
}

function grantItem(consent, doctors, message) {
  const name = doctorName(doctors, consent.doctor_id);
  const status = h('span', {}, consent.active ? badge('ok', 'Can read them') : badge('wait', `Revoked ${formatTime(consent.revoked_ms)}`));
  const revoke = h('button', { type: 'button', class: 'secondary', hidden: !consent.active,
    'aria-label': `Revoke what you sent to ${name} on ${formatTime(consent.created_ms)}` }, 'Revoke');
  revoke.addEventListener('click', async () => {
    revoke.disabled = true;
    message.say('Revoking…');
    try {
      const after = await api.post(`/api/v1/consents/${encodeURIComponent(consent.consent_id)}/revocation`);
      replace(status, badge('wait', `Revoked ${formatTime(after.revoked_ms)}`));
      revoke.hidden = true;
      message.say('Revoked: the doctor can no longer read those records.');
    } catch (error) {
      revoke.disabled = false;
      message.say(`Revoking failed: ${error.message}`, 'error');
    }
  });
  const n = consent.records.length;
  return h('li', { class: 'grant', 'data-consent': consent.consent_id },
    h('div', {}, h('strong', {}, name), ' ', status,
      h('span', { class: 'block muted' }, `${n} record${n === 1 ? '' : 's'} sent ${formatTime(consent.created_ms)}`)),
    revoke);
}

export async function render() {
  const section = h('section', {}, h('h1', {}, "Doctors' answers"));
  let answers;
  let consents;
  let directory;
  // All three settle before the page draws, so a refusal's notice never shows while another
  // of its requests is still open.
  const settled = await Promise.allSettled([
    api.get('/api/v1/answers'), api.get('/api/v1/consents'), api.get('/api/v1/doctors')]);
  const refused = settled.find((s) => s.status === 'rejected');
  if (refused) {
    section.append(portalNotice(refused.reason));
    return section;
  }
  [{ answers }, { consents }, { doctors: directory }] = settled.map((s) => s.value);
  const doctors = new Map(directory.map((d) => [d.account_id, d]));
  const message = messageLine();
  section.append(
    h('p', { class: 'lead' }, 'What the doctors you sent records to answered, newest first.'),
    answers.length === 0
      ? card('No answers yet', h('p', {}, 'Send records to a doctor from ', link('#/patient/records', 'My records'), '.'))
      : h('div', { class: 'answers' }, answers.slice().reverse().map((a) => answerCard(a, doctors))),
    card('Who can read your records',
      consents.length === 0 ? h('p', { class: 'muted' }, 'Nobody: you have not sent any records.')
        : h('ul', { class: 'plain-list' }, consents.map((c) => grantItem(c, doctors, message))),
      message));
  return section;
}
