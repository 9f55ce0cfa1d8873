// What the doctor's pages share: the inbox (GET /api/v1/inbox) read into patients and grants,
// an answer shown as text, a labelled multi-line field for forms.js, and which patient the
// doctor opened. The chosen patient is kept in memory only, never in the address: a patient id
// in a URL would end up in the browser's history (docs/ui.md).
import { api } from '../api.js';
import { formatTime, h } from '../dom.js';

let chosen = null;

export function choosePatient(patientId) {
  chosen = patientId;
}

export function chosenPatient() {
  return chosen;
}

// The inbox as [{id, name, birth_date, sex, grants: [{consent, records, answer_ids}],
// readings}], newest grant's patient first (the API's order). Name, birth date and sex come from
// the newest record the patient sent.
export async function loadInbox() {
  const inbox = await api.get('/api/v1/inbox');
  return inbox.patients.map((p) => {
    const records = p.grants.flatMap((g) => g.records);
    const newest = records.reduce((a, b) => (b.created_ms > (a?.created_ms ?? -1) ? b : a), null);
    return {
      id: p.patient_id,
      name: newest?.name || 'A patient',
      birth_date: newest?.birth_date ?? '',
      sex: newest?.sex ?? '',
      grants: p.grants,
      readings: p.recent_readings,
    };
  });
}

export function describePatient(patient) {
  return [patient.birth_date && `born ${patient.birth_date}`, patient.sex]
    .filter(Boolean).join(', ');
}

// "Omeprazole 20 mg, once daily, for 4 weeks".
export function prescriptionText(p) {
  return `${p.drug} ${p.dose}, ${p.frequency}, for ${p.duration}`;
}

export function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

// An answer's contents as a description list (the texts exactly as written, as text).
export function answerDetails(answer, { prescription = true } = {}) {
  return h('dl', { class: 'answer' },
    row('Written', formatTime(answer.created_ms)),
    row('Diagnosis', h('span', { class: 'pre-wrap' }, answer.diagnosis)),
    answer.medication ? row('Medication', h('span', { class: 'pre-wrap' }, answer.medication)) : null,
    prescription ? row('Prescription', answer.prescription
      ? prescriptionText(answer.prescription) : 'none') : null);
}

// A labelled <textarea> built like forms.js's textField, so form() shows errors under it.
let nextId = 0;
export function textArea({ name, label, required = false, maxlength, hint }) {
  nextId += 1;
  const id = `d${nextId}-${name}`;
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: id }, label, required ? null : h('span', { class: 'muted' }, ' (optional)')),
    hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null,
    h('textarea', { id, name, required, maxlength, rows: 3, 'aria-describedby': describedBy }),
    h('p', { class: 'field-error', id: `${id}-error` }));
}
