// One patient who shared records with the doctor: their readings of the last 24 hours as
// charts, the records of each active grant, the answers written, and a form per grant to answer
// with a diagnosis, medication and a prescription (POST /api/v1/consents/{id}/answers), and an
// attestation for sharing between patients: the doctor vouches for (or against) the patient with
// a reason (POST /api/v1/patients/{id}/attestations; the cloud passes it on to the patient's
// cloudlets, where it anchors the patient's trust: docs/trust_system.md "Clinicians'
// attestations"). Which patient is chosen on the inbox page (doctor-common.js); without a choice
// the page lists them.
import { api } from '../api.js';
import { destroyCharts, readingsChart } from '../doctor-readings-chart.js';
import { announce, formatTime, h, link, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import {
  answerDetails, choosePatient, chosenPatient, describePatient, loadInbox, row, textArea,
} from './doctor-common.js';

const KIND_ORDER = ['heart_rate', 'spo2', 'systolic_bp', 'diastolic_bp', 'respiratory_rate',
  'body_temperature', 'glucose', 'steps', 'ecg_rhythm'];
const PRESCRIPTION = ['drug', 'dose', 'frequency', 'duration'];
// Answers written on this page since it was loaded (the API lists a doctor's answers only when
// they hold a prescription).
const written = new Map();

function chooser(context, patients) {
  return h('section', {},
    h('h1', {}, 'Patient'),
    patients.length === 0
      ? h('p', {}, 'No patient shares records with you now. ', link('#/doctor/inbox', 'Inbox'), '.')
      : [h('p', {}, 'Choose a patient who shares records with you:'),
        h('ul', { class: 'plain-list' }, patients.map((p) => h('li', {},
          h('button', { type: 'button', class: 'link', onclick: () => {
            choosePatient(p.id);
            context.navigate('/doctor/patient');
          } }, p.name))))]);
}

function readingsSection(patient) {
  const byKind = new Map();
  for (const r of patient.readings) {
    if (!byKind.has(r.kind)) byKind.set(r.kind, { unit: r.unit, readings: [] });
    byKind.get(r.kind).readings.push(r);
  }
  const kinds = [...byKind.keys()].sort((a, b) => KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b));
  return h('section', { 'aria-labelledby': 'readings-heading' },
    h('h2', { id: 'readings-heading' }, 'Readings of the last 24 hours'),
    kinds.length === 0
      ? h('p', { class: 'muted' }, 'No readings arrived from this patient\'s devices in the last 24 hours.')
      : h('div', { class: 'chart-grid' }, kinds.map((kind) =>
        readingsChart({ kind, unit: byKind.get(kind).unit, readings: byKind.get(kind).readings }))));
}

function recordCard(record) {
  return h('li', { class: 'record' },
    h('dl', {},
      row('Recorded', formatTime(record.created_ms)),
      row('Symptoms', record.symptoms.length ? record.symptoms.join(', ') : 'none given'),
      row('Conditions', record.conditions.length ? record.conditions.join(', ') : 'none given'),
      row('Pulse', `${record.pulse_bpm} /min`),
      row('ECG', record.ecg_summary || 'none'),
      row('Attached', [record.has_photo && 'a photo', record.has_symptoms_document &&
        'a symptoms document'].filter(Boolean).join(' and ') || 'nothing')));
}

function answerForm(grant, label, onAnswered) {
  const answerFields = [
    textArea({ name: 'diagnosis', label: 'Diagnosis', required: true, maxlength: 4000 }),
    textArea({ name: 'medication', label: 'Medication', maxlength: 4000,
      hint: 'Advice on medication the patient takes or should take.' }),
    h('fieldset', { class: 'prescription' },
      h('legend', {}, 'Prescription ', h('span', { class: 'muted' }, '(optional: all four or none)')),
      textField({ name: 'drug', label: 'Drug', maxlength: 200 }),
      textField({ name: 'dose', label: 'Dose', maxlength: 100, hint: 'For example 5 mg.' }),
      textField({ name: 'frequency', label: 'Frequency', maxlength: 100,
        hint: 'For example twice daily.' }),
      textField({ name: 'duration', label: 'Duration', maxlength: 100,
        hint: 'For example 3 months.' })),
  ];
  return form({
    label,
    fields: answerFields,
    submitLabel: 'Send the answer',
    busyLabel: 'Sending…',
    validate(values) {
      const given = PRESCRIPTION.filter((name) => values[name].trim() !== '');
      if (given.length === 0 || given.length === PRESCRIPTION.length) return null;
      const missing = PRESCRIPTION.find((name) => values[name].trim() === '');
      return { field: missing, message: `A prescription needs its ${missing} too (or leave all ` +
        'four empty).' };
    },
    async onSubmit(values, element) {
      const body = { diagnosis: values.diagnosis };
      if (values.medication.trim() !== '') body.medication = values.medication;
      if (values.drug.trim() !== '') {
        body.prescription = Object.fromEntries(PRESCRIPTION.map((n) => [n, values[n].trim()]));
      }
      try {
        const answer = await api.post(`/api/v1/consents/${encodeURIComponent(grant.consent.consent_id)}/answers`,
          body, { fields: ['diagnosis', 'medication'] });
        onAnswered(answer, element);
      } catch (error) {
        const part = /^prescription\.([a-z]+) (.*)$/.exec(error.message);
        if (error.status === 400 && part && PRESCRIPTION.includes(part[1])) {
          error.field = part[1];
          error.message = `The ${part[1]} ${part[2]}.`;
        } else if (error.field === 'diagnosis' && /required/.test(error.message)) {
          error.message = 'Write a diagnosis: it is required.';
        } else if (error.status === 404) {
          error.message = 'The patient no longer shares these records: the answer was not sent.';
        }
        throw error;
      }
    },
  });
}

function grantSection(grant, known, index) {
  const section = h('section', { class: 'card grant', 'aria-labelledby': `grant-${index}` });
  const shared = formatTime(grant.consent.created_ms);
  const draw = (justSent) => {
    const answers = grant.answer_ids.map((id) => known.get(id) ?? null);
    const shown = answers.filter(Boolean);
    const hidden = answers.length - shown.length;
    replace(section,
      h('h3', { id: `grant-${index}` }, `Shared ${shared}`),
      h('p', { class: answers.length ? 'status answered' : 'status waiting' },
        answers.length ? `Answered (${answers.length})` : 'Waiting for your answer'),
      h('ul', { class: 'plain-list records' }, grant.records.map(recordCard)),
      answers.length ? [h('h4', {}, 'Your answers'),
        justSent ? h('p', { class: 'notice', role: 'status' }, 'Your answer was sent to the patient.') : null,
        h('ul', { class: 'plain-list' }, shown.map((a) => h('li', {}, answerDetails(a)))),
        hidden ? h('p', { class: 'muted' }, `${hidden} earlier answer${hidden === 1 ? '' : 's'} ` +
          'could not be read.') : null] : null,
      answers.length ? null : h('h4', {}, 'Answer'),
      answers.length ? h('details', { class: 'another' }, h('summary', {}, 'Write another answer'),
        answerForm(grant, `Another answer to the records shared ${shared}`, onAnswered))
        : answerForm(grant, `Answer to the records shared ${shared}`, onAnswered));
  };
  const onAnswered = (answer) => {
    written.set(answer.answer_id, answer);
    known.set(answer.answer_id, answer);
    grant.answer_ids.push(answer.answer_id);
    draw(true);
    section.querySelector('.notice')?.setAttribute('tabindex', '-1');
    section.querySelector('.notice')?.focus();
    announce('Your answer was sent to the patient.');
  };
  draw(false);
  return section;
}

// The attestation: one choice of verdict and reason (fixed reasons: no free text is kept).
const ATTESTATIONS = [
  ['known_in_care', 'Vouch: known to me in their care'],
  ['consistent_reports', 'Vouch: their reports are consistent'],
  ['misuse_concern', 'Warn: concern about how they use shared data'],
  ['identity_concern', 'Warn: concern about who they are'],
];
const POSITIVE = new Set(['known_in_care', 'consistent_reports']);

function attestationSection(patient) {
  const result = h('div', { id: 'attestation-result' });
  const section = h('section', { class: 'card', 'aria-labelledby': 'attest-heading', id: 'attestation' },
    h('h2', { id: 'attest-heading' }, 'Trust for sharing between patients'),
    h('p', { class: 'muted' }, 'Patients with similar conditions share data with each other at ' +
      'their cloudlet when their trust is high enough. Your word as their clinician counts more ' +
      'than other patients\' ratings. Only the verdict and the reason below are kept.'),
    form({
      label: 'Attestation',
      fields: [textField({ name: 'attestation', label: 'Your attestation', required: true,
        options: ATTESTATIONS })],
      submitLabel: 'Record the attestation',
      busyLabel: 'Recording…',
      async onSubmit(values) {
        const reason = values.attestation;
        const positive = POSITIVE.has(reason);
        try {
          const answer = await api.post(`/api/v1/patients/${encodeURIComponent(patient.id)}/attestations`,
            { positive, reason });
          const at = answer.cloudlets.filter((c) => c.status === 201).map((c) => c.cloudlet_id);
          const text = `${positive ? 'Vouched for' : 'Warned about'} this patient at ${at.join(', ')}.`;
          replace(result, h('p', { class: 'notice', role: 'status' }, text));
          announce(text);
        } catch (error) {
          if (error.status === 404) error.message = 'This patient no longer shares records with you.';
          if (error.status === 409 || error.status === 502) {
            error.message = 'None of the patient\'s cloudlets could record it now. Try again later.';
          }
          throw error;
        }
      },
    }),
    result);
  return section;
}

export async function render(context) {
  destroyCharts();
  // Every answer the doctor wrote (advice without a prescription too), to show under its grant.
  const [patients, mine] = await Promise.all([loadInbox(), api.get('/api/v1/answers')]);
  const patient = patients.find((p) => p.id === chosenPatient());
  if (!patient) return chooser(context, patients);
  const known = new Map(written);
  for (const a of mine.answers) known.set(a.answer_id, a);
  return h('section', {},
    h('h1', {}, patient.name),
    h('p', { class: 'lead' }, describePatient(patient) ? `${describePatient(patient)}. ` : '',
      link('#/doctor/inbox', 'Back to the inbox')),
    readingsSection(patient),
    h('section', { 'aria-labelledby': 'records-heading' },
      h('h2', { id: 'records-heading' }, 'Records shared with you'),
      patient.grants.map((grant, i) => grantSection(grant, known, i))),
    attestationSection(patient));
}
