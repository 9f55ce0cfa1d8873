// Pending registrations, oldest first (GET /api/v1/admin/registrations): approve one, or reject
// it with a reason, which is required and kept with the account (POST .../approval,
// .../rejection), looking at a patient's photo first if need be (GET .../photo). A decided
// registration leaves the list, saying what was decided.
import { api } from '../api.js';
import { announce, formatTime, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { adminPage, alertBox, badge } from './admin-common.js';

function details(account) {
  const rows = [['E-mail', account.email], ['Registered', formatTime(account.created_ms)]];
  if (account.role === 'doctor') {
    rows.push(['Licence', account.licence_number], ['Speciality', account.speciality],
      ['Hospital', account.hospital]);
  }
  return h('dl', {}, rows.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

// A patient's registration photo, fetched only when asked for (each look is audited), shown
// from a blob: URL (the CSP's img-src allows it).
function photoSlot(account, base) {
  const slot = h('div', { class: 'registration-photo' });
  const button = h('button', { type: 'button', class: 'secondary small' }, 'Show photo');
  button.addEventListener('click', async () => {
    button.disabled = true;
    const response = await fetch(`${base}/photo`, { credentials: 'same-origin', cache: 'no-store' })
      .catch(() => null);
    if (response?.ok) {
      const url = URL.createObjectURL(await response.blob());
      const img = h('img', { class: 'photo-preview', src: url, alt: `Photo of ${account.display_name}` });
      img.addEventListener('load', () => URL.revokeObjectURL(url));
      replace(slot, img);
    } else {
      replace(slot, h('p', { class: 'muted' }, response?.status === 404 ? 'No photo was given.'
        : 'The photo could not be loaded.'));
    }
  });
  return replace(slot, button);
}

function decided(item, headingId, message) {
  replace(item, h('p', { class: 'notice', role: 'status', id: headingId, tabindex: '-1' }, message));
  item.firstChild.focus();
  announce(message);
}

function registration(account) {
  const base = `/api/v1/admin/registrations/${encodeURIComponent(account.account_id)}`;
  const headingId = `reg-${account.account_id}`;
  const problem = h('div');
  const approve = h('button', { type: 'button' }, 'Approve');
  const item = h('li', { class: 'card', 'aria-labelledby': headingId });
  approve.addEventListener('click', async () => {
    approve.disabled = true;
    replace(approve, 'Approving…');
    replace(problem);
    try {
      await api.post(`${base}/approval`);
      decided(item, headingId, `Approved: ${account.display_name} can log in now.`);
    } catch (error) {
      approve.disabled = false;
      replace(approve, 'Approve');
      replace(problem, alertBox(error.message));
    }
  });
  const reject = form({
    label: `Reject ${account.display_name}`,
    fields: [textField({ name: 'reason', label: 'Reason for rejecting', required: true,
      maxlength: 1000, hint: 'Required. Kept with the account.' })],
    submitLabel: 'Reject',
    busyLabel: 'Rejecting…',
    validate: (values) => (values.reason.trim() === ''
      ? { field: 'reason', message: 'Say why this registration is rejected.' } : null),
    async onSubmit(values) {
      await api.post(`${base}/rejection`, { reason: values.reason.trim() }, { fields: ['reason'] });
      decided(item, headingId, `Rejected: ${account.display_name}. The reason is kept with the account.`);
    },
  });
  reject.classList.add('reject-form');
  return replace(item,
    h('h2', { id: headingId }, account.display_name, ' ', badge(account.role, 'role')),
    details(account),
    account.role === 'patient' ? photoSlot(account, base) : null,
    problem,
    h('div', { class: 'decision' }, h('div', { class: 'actions' }, approve), reject));
}

export async function render() {
  const { registrations } = await api.get('/api/v1/admin/registrations');
  return adminPage('Registrations', '/admin/registrations',
    h('p', { class: 'lead' }, 'People who registered and wait for a decision, oldest first. ' +
      'Nobody can log in before you approve them.'),
    registrations.length === 0
      ? h('p', { class: 'notice', role: 'status' }, 'No registration waits for a decision.')
      : h('ul', { class: 'admin-list' }, registrations.map(registration)));
}
