// The wearable device console at a cloudlet (docs/device_console.md, ADR 0024). A browser cannot
// run MedMesh's NTRU seal, so console devices live at the cloudlet: it keeps their keys, seals
// and signs what they send exactly as a wearable does, and runs its normal enrolment and ingest
// checks on it. This page enrols one for a patient, sends a patient report (photo and symptoms
// document as uploads), shows what the device sent in its stored encrypted form with its
// signature re-checked, and starts, shows and stops a live stream of simulated readings.
//
// Routes: /api/v1/console/... of this cloudlet (docs/openapi.yaml). The operator of this
// cloudlet enrols devices for the patients known here and drives every device; a patient enrols
// devices for themselves (how a newly registered patient gets data at a cloudlet) and drives
// only their own.
import { ApiError, api, hasCsrfCookie } from '../api.js';
import { announce, formatTime, h, replace } from '../dom.js';
import { fileMember, form, textField } from '../forms.js';
import { loadChart } from '../charts.js';

const BASE = '/api/v1/console/devices';
const POLL_MS = 2000;
const MAX_FILE_BYTES = 1024 * 1024;
const PROFILES = [['healthy', 'Healthy'], ['hypertension', 'Hypertension'],
  ['type2_diabetes', 'Type 2 diabetes'], ['copd', 'COPD'],
  ['atrial_fibrillation', 'Atrial fibrillation'], ['fever', 'Fever']];
const CHARTED = { heart_rate: 'Heart rate', spo2: 'SpO2' };
const KINDS = { ...CHARTED, body_temperature: 'Body temperature', systolic_bp: 'Systolic BP',
  diastolic_bp: 'Diastolic BP', respiratory_rate: 'Respiratory rate', glucose: 'Glucose',
  steps: 'Steps', ecg_rhythm: 'ECG rhythm' };


function checkFile(file, field, types, what) {
  if (!file) return null;
  if (!types.includes(file.type)) return { field, message: `The ${what} must be ${types.join(' or ')}.` };
  if (file.size > MAX_FILE_BYTES) return { field, message: `The ${what} is larger than 1 MiB.` };
  return null;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const yesNo = (value) => h('span', { class: value ? 'badge ok' : 'badge bad' }, value ? 'yes' : 'no');
const time = (ms) => new Date(ms).toLocaleTimeString(undefined, { hour12: false });

function row(term, ...value) {
  return [h('dt', {}, term), h('dd', {}, ...value)];
}

// One upload as the cloudlet keeps it.
function uploadItem(u) {
  const record = u.content_type === 'patient_record';
  return h('li', { class: 'card upload', 'data-kind': u.content_type },
    h('h4', {}, record ? 'Patient report' : `Readings batch (${u.readings} readings)`,
      ' ', h('span', { class: u.verifies ? 'badge ok' : 'badge bad' },
        u.verifies ? 'signature verifies' : 'signature does not verify')),
    h('dl', {},
      row('Sent', formatTime(u.sent_ms), ` (upload #${u.sequence})`),
      record ? row('Record', h('span', { class: 'mono' }, u.record_id)) : null,
      row('Ingest', u.ingest_status),
      row('Sizes', `${u.upload_bytes} bytes sent, ${u.sealed_payload_bytes ?? '?'} sealed`,
        u.stored_ciphertext_bytes ? `, ${u.stored_ciphertext_bytes} stored encrypted` : ''),
      row('Ciphertext', h('span', { class: 'mono' }, `${u.ciphertext_excerpt ?? ''}…`)),
      u.stored_ciphertext_excerpt
        ? row('At rest', h('span', { class: 'mono' }, `${u.stored_ciphertext_excerpt}…`)) : null,
      row('Signature', h('span', { class: 'mono' }, u.signature ?? 'unreadable')),
      row('Verifies', yesNo(u.verifies)),
      row('Stored here', yesNo(u.stored)),
      row('Forwarded', u.forwarded ? yesNo(true) : h('span', { class: 'badge' }, 'not yet'))));
}

export function render(context) {
  const section = h('section', { class: 'console' });
  const status = h('div', { role: 'status', class: 'console-status' });
  const enrolArea = h('div', {});
  const deviceList = h('div', {});
  const detail = h('div', {});
  let selected = null;
  let operator = false;
  let devices = [];
  let poll = null;

  const stopPolling = () => { clearTimeout(poll); poll = null; };

  async function loadDevices(select) {
    let answer;
    try {
      // Without the session's CSRF cookie there is no session to ask with (and no 401 to log).
      if (!hasCsrfCookie()) throw new ApiError({ status: 401, code: 'unauthenticated', message: '' });
      answer = await api.get(BASE);
    } catch (error) {
      stopPolling();
      replace(enrolArea);
      replace(deviceList);
      replace(detail);
      replace(status, h('p', { class: 'form-error', role: 'alert' },
        error.status === 401 || error.status === 403
          ? 'Log in as this cloudlet\'s operator, or as a patient, to use the device console.'
          : error.message),
      error.status === 401 ? h('p', {}, 'Use "Log in" at the top of the page, then come back ' +
        'here.') : null);
      return;
    }
    replace(status);
    operator = Array.isArray(answer.patients);
    devices = answer.devices;
    if (operator) drawEnrol(answer.patients); else drawSelfEnrol();
    selected = select ?? selected ?? devices.at(-1)?.device_id ?? null;
    drawList();
    await drawDetail();
  }

  function drawEnrol(patients) {
    if (patients.length === 0) {
      replace(enrolArea, h('section', { class: 'card', 'aria-labelledby': 'enrol-heading' },
        h('h2', { id: 'enrol-heading' }, 'Enrol a console device'),
        h('p', {}, 'No patient has a device at this cloudlet yet.')));
      return;
    }
    const enrol = form({
      label: 'Enrol a console device',
      fields: [
        textField({ name: 'patient_id', label: 'Patient', required: true,
          hint: 'Patients with a device at this cloudlet.',
          options: patients.map((id) => [id, id]) }),
        textField({ name: 'profile', label: 'Simulated condition', options: PROFILES }),
      ],
      submitLabel: 'Enrol device',
      busyLabel: 'Enrolling…',
      async onSubmit(values) {
        const device = await api.post(BASE, values, { fields: Object.keys(values) });
        announce('Device enrolled');
        await loadDevices(device.device_id);
      },
    });
    replace(enrolArea, h('section', { class: 'card', 'aria-labelledby': 'enrol-heading' },
      h('h2', { id: 'enrol-heading' }, 'Enrol a console device'),
      h('p', { class: 'muted' }, 'The cloudlet makes the device\'s key pair, and the device signs ' +
        'its enrolment request; the cloudlet checks it like any wearable\'s.'),
      enrol));
  }

  // A patient's own enrolment: the session says who they are.
  function drawSelfEnrol() {
    const enrol = form({
      label: 'Enrol a console device',
      fields: [textField({ name: 'profile', label: 'Simulated condition', options: PROFILES })],
      submitLabel: 'Enrol a device for me',
      busyLabel: 'Enrolling…',
      async onSubmit(values) {
        const device = await api.post(BASE, values, { fields: Object.keys(values) });
        announce('Device enrolled');
        await loadDevices(device.device_id);
      },
    });
    replace(enrolArea, h('section', { class: 'card', 'aria-labelledby': 'enrol-heading' },
      h('h2', { id: 'enrol-heading' }, 'Enrol a console device'),
      h('p', { class: 'muted' }, 'A simulated wearable of yours, kept at this cloudlet: it ' +
        'sends readings and reports to this cloudlet like any wearable. Once it is enrolled you ' +
        'can ask this cloudlet for portal access (My profile, at the cloud).'),
      enrol));
  }

  function drawList() {
    if (devices.length === 0) {
      replace(deviceList, h('p', { class: 'muted' }, 'No console device yet.'));
      return;
    }
    replace(deviceList, h('section', { 'aria-labelledby': 'devices-heading' },
      h('h2', { id: 'devices-heading' }, 'Console devices'),
      h('ul', { class: 'plain-list device-list' }, devices.map((d) => h('li', {},
        h('span', { class: 'mono' }, d.device_id),
        h('span', { class: 'muted' }, (operator ? ` · patient ${d.patient_id}` : '') +
          ` · ${d.profile} · ${d.status}` + (d.streaming ? ' · streaming' : '')),
        ' ',
        d.device_id === selected
          ? h('strong', { class: 'current' }, '(shown below)')
          : h('button', { type: 'button', class: 'link', onclick: () => {
            selected = d.device_id;
            drawList();
            drawDetail();
          } }, `Show ${d.device_id}`))))));
  }

  function reportForm(deviceId, uploads) {
    const sent = h('div', {});
    const report = form({
      label: 'Add a patient report',
      fields: [
        textField({ name: 'name', label: 'Name', required: true, maxlength: 1000,
          hint: 'Sealed with everything else; the cloud keeps the name apart from the rest.' }),
        textField({ name: 'phone', label: 'Phone', type: 'tel', maxlength: 1000 }),
        textField({ name: 'email', label: 'E-mail', type: 'email', maxlength: 1000 }),
        textField({ name: 'address', label: 'Address', maxlength: 1000 }),
        textField({ name: 'symptoms', label: 'Symptoms', maxlength: 2000,
          hint: 'Separated by commas.' }),
        textField({ name: 'pulse_bpm', label: 'Pulse (beats per minute)', type: 'number' }),
        textField({ name: 'ecg_summary', label: 'ECG summary', maxlength: 1000 }),
        textField({ name: 'symptoms_document', label: 'Symptoms document', type: 'file',
          accept: 'text/plain,application/pdf', hint: 'Text or PDF, at most 1 MiB.' }),
        textField({ name: 'photo', label: 'Photo', type: 'file', accept: 'image/png,image/jpeg',
          hint: 'PNG or JPEG, at most 1 MiB.' }),
      ],
      submitLabel: 'Seal and send report',
      busyLabel: 'Sealing and sending…',
      validate(values) {
        const pulse = values.pulse_bpm.trim();
        if (pulse !== '' && !/^\d+$/.test(pulse)) {
          return { field: 'pulse_bpm', message: 'The pulse must be a whole number.' };
        }
        return checkFile(values.photo, 'photo', ['image/png', 'image/jpeg'], 'photo') ??
          checkFile(values.symptoms_document, 'symptoms_document',
            ['text/plain', 'application/pdf'], 'symptoms document');
      },
      async onSubmit(values) {
        const body = { name: values.name.trim() };
        for (const name of ['phone', 'email', 'address', 'ecg_summary']) {
          if (values[name].trim() !== '') body[name] = values[name].trim();
        }
        const symptoms = values.symptoms.split(',').map((s) => s.trim()).filter(Boolean);
        if (symptoms.length) body.symptoms = symptoms;
        if (values.pulse_bpm.trim() !== '') body.pulse_bpm = Number(values.pulse_bpm.trim());
        body.photo = await fileMember(values.photo);
        body.symptoms_document = await fileMember(values.symptoms_document);
        if (!body.photo) delete body.photo;
        if (!body.symptoms_document) delete body.symptoms_document;
        const answer = await api.post(`${BASE}/${encodeURIComponent(deviceId)}/reports`, body,
          { fields: Object.keys(body) });
        replace(sent, h('p', { class: 'notice', role: 'status' },
          `Report for ${body.name} sealed, signed and ${answer.status} (${answer.bytes} bytes).`));
        report.reset();  // sent: a second click must not send the same report again
        await uploads.refresh();
      },
    });
    return h('section', { class: 'card', 'aria-labelledby': 'report-heading' },
      h('h3', { id: 'report-heading' }, 'Add a patient report'), sent, report);
  }

  function uploadsSection(deviceId) {
    const list = h('ol', { class: 'plain-list uploads', 'aria-live': 'polite' });
    const summary = h('p', { class: 'muted' });
    const element = h('section', { class: 'card', 'aria-labelledby': 'uploads-heading' },
      h('h3', { id: 'uploads-heading' }, 'What the device sent'),
      h('p', { class: 'muted' }, 'Each upload as sent: the sealed payload (an excerpt), its ' +
        'sizes and the device\'s Ed25519 signature, checked again now against the enrolment.'),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary',
        onclick: () => element.refresh() }, 'Refresh')),
      summary, list);
    element.refresh = async () => {
      try {
        const answer = await api.get(`${BASE}/${encodeURIComponent(deviceId)}/uploads`);
        const verified = answer.uploads.filter((u) => u.verifies).length;
        replace(summary, answer.uploads.length === 0 ? 'Nothing sent yet.'
          : `${plural(answer.uploads.length, 'upload')} (newest first); ` +
            (verified === answer.uploads.length ? 'every signature verifies.'
              : `${verified} of them verify, ${answer.uploads.length - verified} do not.`));
        replace(list, answer.uploads.slice(0, 20).map(uploadItem));
      } catch (error) {
        replace(summary, h('span', { class: 'form-error', role: 'alert' }, error.message));
      }
    };
    return element;
  }

  function streamSection(deviceId, uploads) {
    const canvas = h('canvas', { role: 'img', 'aria-label': 'Heart rate and SpO2 of the stream over time' });
    const count = h('p', { class: 'stream-count', 'aria-live': 'polite' }, 'Not streaming.');
    const tbody = h('tbody', {});
    const error = h('p', { class: 'field-error', role: 'alert' });
    // Shown once the stream's state is known.
    const start = h('button', { type: 'button', hidden: true }, 'Start stream');
    const stop = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Stop stream');
    let chart = null;
    let seen = 0;

    const draw = async (state) => {
      seen = state.readings.length;
      replace(count, state.running
        ? `Streaming: ${plural(state.readings_stored, 'reading')} received ` +
          `(${plural(state.batches, 'batch', 'batches')}).`
        : `Not streaming. ${plural(state.readings_stored, 'reading')} received in the last stream.`);
      count.dataset.readings = String(state.readings_stored);
      count.dataset.running = String(state.running);
      if (state.last_error) replace(error, state.last_error); else replace(error);
      start.hidden = state.running;
      stop.hidden = !state.running;
      replace(tbody, state.readings.slice(-10).reverse().map((r) => h('tr', {},
        h('td', {}, time(r.time_ms)), h('td', {}, KINDS[r.kind] ?? r.kind),
        h('td', {}, `${r.value} ${r.unit}`))));
      if (seen === 0) return;
      const Chart = await loadChart();
      const times = [...new Set(state.readings.filter((r) => CHARTED[r.kind]).map((r) => r.time_ms))];
      const datasets = Object.entries(CHARTED).map(([kind, label], i) => {
        const byTime = new Map(state.readings.filter((r) => r.kind === kind).map((r) => [r.time_ms, r.value]));
        return { label, data: times.map((t) => byTime.get(t) ?? null), spanGaps: true,
          borderColor: i === 0 ? '#b00020' : '#0b5cad', pointRadius: 2, borderWidth: 2 };
      });
      const labels = times.map(time);
      if (!chart) {
        chart = new Chart(canvas, { type: 'line', data: { labels, datasets },
          options: { animation: false, maintainAspectRatio: false, responsive: true,
            scales: { x: { ticks: { maxTicksLimit: 6 } } } } });
      } else {
        chart.data.labels = labels;
        chart.data.datasets.forEach((d, i) => { d.data = datasets[i].data; });
        chart.update('none');
      }
    };

    // Polls while the stream runs, this device is shown and the page is still on screen (a
    // timer that finds the page gone ends the polling).
    const refresh = async (fromTimer = false) => {
      stopPolling();
      if (fromTimer && !element.isConnected) return;
      try {
        const state = await api.get(`${BASE}/${encodeURIComponent(deviceId)}/stream`);
        await draw(state);
        if (state.running && selected === deviceId) {
          poll = setTimeout(() => refresh(true), POLL_MS);
        }
      } catch (e) {
        replace(error, e.message);
      }
    };

    const act = (method, button) => async () => {
      button.disabled = true;
      replace(error);
      try {
        if (method === 'POST') await api.post(`${BASE}/${encodeURIComponent(deviceId)}/stream`);
        else await api.delete(`${BASE}/${encodeURIComponent(deviceId)}/stream`);
        announce(method === 'POST' ? 'Stream started' : 'Stream stopped');
        await refresh();
        if (method === 'DELETE') await uploads.refresh();
      } catch (e) {
        replace(error, e.message);
      } finally {
        button.disabled = false;
      }
    };
    start.addEventListener('click', act('POST', start));
    stop.addEventListener('click', act('DELETE', stop));

    const element = h('section', { class: 'card', 'aria-labelledby': 'stream-heading' },
      h('h3', { id: 'stream-heading' }, 'Live readings'),
      h('p', { class: 'muted' }, 'Simulated readings, sealed and ingested every second; this ' +
        'page asks for new ones every 2 seconds.'),
      h('div', { class: 'actions' }, start, stop),
      error, count,
      h('div', { class: 'chart-box' }, canvas),
      h('table', { class: 'readings' },
        h('caption', {}, 'The newest readings received'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'),
          h('th', { scope: 'col' }, 'Reading'), h('th', { scope: 'col' }, 'Value'))),
        tbody));
    element.refresh = () => refresh();
    return element;
  }

  async function drawDetail() {
    stopPolling();
    const device = devices.find((d) => d.device_id === selected);
    if (!device) {
      replace(detail);
      return;
    }
    const uploads = uploadsSection(device.device_id);
    const stream = streamSection(device.device_id, uploads);
    replace(detail, h('section', { class: 'device-detail', 'aria-labelledby': 'device-heading' },
      h('h2', { id: 'device-heading' }, 'Device ', h('span', { class: 'mono' }, device.device_id)),
      h('p', { class: 'muted' }, operator
        ? `Patient ${device.patient_id}, enrolled ${formatTime(device.enrolled_at_ms)}.`
        : `Your device, enrolled ${formatTime(device.enrolled_at_ms)}.`),
      h('div', { class: 'console-grid' }, reportForm(device.device_id, uploads), stream),
      uploads));
    await Promise.all([uploads.refresh(), stream.refresh()]);
  }

  replace(section,
    h('h1', {}, 'Wearable device console'),
    h('p', { class: 'lead' }, 'Devices that live at this cloudlet: it keeps their keys, seals ' +
      'and signs what they send exactly as a wearable does, and checks it like any upload.'),
    status, enrolArea, deviceList, detail);
  return loadDevices().then(() => section);
}
