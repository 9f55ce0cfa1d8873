// The key-encryption key of each part of the three-part store (EI, QI, MI): how its last
// rotation went (GET /api/v1/admin/keys/{part}/rotation), and starting one (POST, audited as
// kek.rotate). A running rotation is followed every second until it ends.
import { api } from '../api.js';
import { announce, h, replace } from '../dom.js';
import { adminPage, alertBox, badge } from './admin-common.js';

const PARTS = [
  ['ei', 'Identity part (EI)', 'names, contact details, photos'],
  ['qi', 'Quasi-identifier part (QI)', 'age, sex, postcode'],
  ['mi', 'Medical part (MI)', 'readings and records'],
];
const STATES = { never_run: ['not rotated since start', 'muted'], running: ['rotating…', 'warn'],
  done: ['rotated', 'ok'], failed: ['failed', 'bad'] };

function statusView(s) {
  const [text, kind] = STATES[s.state] ?? [s.state, 'muted'];
  const facts = [];
  if (s.state === 'done') {
    facts.push(['New key', h('code', {}, s.kek_id)], ['Data keys moved', String(s.rewrapped)],
      ['Already current', String(s.already_current)], ['Keys retired', String(s.retired.length)]);
  }
  if (s.state === 'failed' && s.error) facts.push(['Why', s.error.message]);
  return [h('p', {}, badge(text, kind)),
    facts.length ? h('dl', {}, facts.map(([t, v]) => [h('dt', {}, t), h('dd', {}, v)])) : null];
}

function part([id, title, holds]) {
  const path = `/api/v1/admin/keys/${id}/rotation`;
  const state = h('div', { 'aria-live': 'polite' });
  const problem = h('div');
  const button = h('button', { type: 'button', class: 'secondary' }, `Rotate the ${id.toUpperCase()} key`);
  const card = h('section', { class: 'card', 'aria-labelledby': `kek-${id}` },
    h('h2', { id: `kek-${id}` }, title), h('p', { class: 'muted' }, `Protects ${holds}.`),
    state, problem, h('div', { class: 'actions' }, button));

  let wasRunning = false;
  function follow(status) {
    replace(state, statusView(status));
    button.disabled = status.state === 'running';
    if (status.state === 'running') {
      setTimeout(() => {
        if (card.isConnected) api.get(path).then(follow).catch(showProblem);
      }, 1000);
    } else if (wasRunning) {
      announce(`${title}: ${STATES[status.state]?.[0] ?? status.state}`);
    }
    wasRunning = status.state === 'running';
  }
  function showProblem(error) {
    button.disabled = false;
    replace(problem, alertBox(error.code === 'failed_precondition'
      ? 'This cloud was started without key files for its parts, so it cannot rotate them.'
      : error.message));
  }
  button.addEventListener('click', () => {
    replace(problem);
    button.disabled = true;
    api.post(path).then(follow).catch(showProblem);
  });
  return { card, load: () => api.get(path).then(follow) };
}

export async function render() {
  const parts = PARTS.map(part);
  await Promise.all(parts.map((p) => p.load()));
  return adminPage('Keys', '/admin/keys',
    h('p', { class: 'lead' }, 'Each part of the store has its own key-encryption key. Rotating ' +
      'one re-wraps every data key of the part under a new key while the cloud keeps serving; ' +
      'no data is rewritten.'),
    h('div', { class: 'cards' }, parts.map((p) => p.card)));
}
