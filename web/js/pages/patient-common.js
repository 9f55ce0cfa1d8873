// What the patient's pages (patient-*.js) share: cards, badges, the "portal not active yet"
// notice, record labels and the FHIR form of an id. Not a page itself (no entry in pages.js).
import { formatTime, h, link } from '../dom.js';

let nextId = 0;

// A card with an <h2> that names it (for the landmark): card('Your photo', ...children).
export function card(title, ...children) {
  nextId += 1;
  const id = `pc${nextId}`;
  return h('section', { class: 'card', 'aria-labelledby': id },
    h('h2', { id }, title), children);
}

// A short coloured word: kind 'ok', 'bad' or 'wait'.
export function badge(kind, text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}

// A page's own message line: role=alert for errors, role=status (polite) otherwise.
export function messageLine() {
  const line = h('p', { class: 'page-message', role: 'status', 'aria-live': 'polite' });
  line.say = (text, kind = 'info') => {
    line.className = `page-message${text ? ` page-message-${kind}` : ''}`;
    line.textContent = text ?? '';
  };
  return line;
}

// Medical data stays hidden until an operator of a cloudlet opens the patient's portal: the
// API answers 403 then. Returns the notice for that case; rethrows any other error.
export function portalNotice(error) {
  if (error?.status !== 403) throw error;
  return h('p', { class: 'notice notice-wait', role: 'status' },
    'Your portal is not open yet: an operator of a cloudlet that holds your data has to ' +
    'approve it first. ', link('#/patient/profile', 'Ask for portal access'), '.');
}

// "12 Mar 2027, 14:05, from wearable-01" (the created time is null for a damaged record).
export function recordLabel(record) {
  const when = record.created_ms ? formatTime(record.created_ms) : 'Unreadable record';
  return `${when}, from ${record.device_id}`;
}

export function recordPath(key) {
  return `${encodeURIComponent(key.device_id)}/${encodeURIComponent(key.record_id)}`;
}

// A MedMesh id as a FHIR id (docs/fhir.md "Ids"): "_" -> ".-", "." -> "..".
export function fhirId(id) {
  return id.replace(/[._]/g, (c) => (c === '_' ? '.-' : '..'));
}

// The value of `list` as one line of text ("none" when empty or null).
export function listText(list) {
  return list && list.length > 0 ? list.join(', ') : 'none';
}
