// The patient's profile (GET /api/v1/account/profile and /photo, decrypted for them) and portal
// access: asking a cloudlet that holds their data to open it (POST /api/v1/activations) and the
// operators' answers (GET /api/v1/activations), the reason of a denial shown as written.
import { api } from '../api.js';
import { formatTime, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { badge, card } from './patient-common.js';

const STATUS = { requested: ['wait', 'Waiting for the operator'], approved: ['ok', 'Approved'],
  denied: ['bad', 'Denied'] };

function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value === '' ? h('span', { class: 'muted' }, 'not given') : value)];
}

async function photoElement() {
  const response = await fetch('/api/v1/account/photo', { credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) return h('p', { class: 'muted' }, 'Your photo could not be loaded.');
  const url = URL.createObjectURL(await response.blob());
  return h('img', { class: 'profile-photo', src: url, alt: 'Your photo' });
}

async function profileCard(session) {
  let profile;
  try {
    profile = await api.get('/api/v1/account/profile');
  } catch (error) {
    return card('Your profile', h('p', { class: 'form-error', role: 'alert' },
      error.status === 404 ? 'Your data was deleted.' : `Your profile could not be loaded: ${error.message}`));
  }
  return card('Your profile',
    h('div', { class: 'profile' },
      profile.has_photo ? await photoElement() : h('p', { class: 'muted photo-none' }, 'No photo.'),
      h('dl', {},
        row('Name shown', session.display_name),
        row('Full name', profile.full_name),
        row('Birth date', profile.birth_date),
        row('Sex', profile.sex),
        row('Phone', profile.phone),
        row('Address', profile.address),
        row('E-mail', session.email))),
    h('p', { class: 'muted' }, 'Stored encrypted under a key of your own: deleting your data ' +
      'destroys the key.'));
}

function activationList(activations) {
  if (activations.length === 0) return h('p', { class: 'muted' }, 'You have not asked yet.');
  return h('ul', { class: 'plain-list', 'data-list': 'activations' }, activations.map((a) => {
    const [kind, text] = STATUS[a.status] ?? ['wait', a.status];
    return h('li', { 'data-status': a.status },
      h('strong', {}, `Cloudlet ${a.cloudlet_id}`), ' ', badge(kind, text),
      h('span', { class: 'muted block' }, `Asked ${formatTime(a.requested_ms)}` +
        (a.decided_ms ? `, answered ${formatTime(a.decided_ms)}` : '')),
      a.reason ? h('span', { class: 'block' }, 'The operator wrote: ', h('q', {}, a.reason)) : null);
  }));
}

async function accessCard(node) {
  const list = h('div', {});
  async function refresh() {
    const { activations } = await api.get('/api/v1/activations');
    replace(list, activationList(activations));
  }
  const cloudlets = node.cloudlets ?? [];
  const request = form({
    label: 'Ask for portal access',
    fields: [cloudlets.length > 0
      ? textField({ name: 'cloudlet_id', label: 'Cloudlet', required: true,
        options: cloudlets.map((c) => [c.id, `Cloudlet ${c.id}`]),
        hint: 'The cloudlet your device was enrolled at.' })
      : textField({ name: 'cloudlet_id', label: 'Cloudlet id', required: true, maxlength: 64 })],
    submitLabel: 'Ask for access',
    busyLabel: 'Asking…',
    async onSubmit(values) {
      try {
        await api.post('/api/v1/activations', { cloudlet_id: values.cloudlet_id },
          { fields: ['cloudlet_id'] });
      } catch (error) {
        if (error.status === 404) {
          error.message = 'This cloudlet holds none of your data. No device of yours yet? Log in ' +
            'at the cloudlet and enrol one in its device console, then ask again.';
        }
        if (error.status === 409) error.message = 'You asked this cloudlet already.';
        if (error.status === 404 || error.status === 409) error.field = 'cloudlet_id';
        throw error;
      }
      await refresh();
    },
  });
  try {
    await refresh();
  } catch (error) {
    replace(list, h('p', { class: 'form-error', role: 'alert' }, `The answers could not be loaded: ${error.message}`));
  }
  return card('Portal access',
    h('p', {}, 'Your readings and records show here once an operator of a cloudlet that holds ' +
      'your data opens your portal. A cloudlet holds your data once a device of yours is enrolled ' +
      'there: at the ward, or by you in the cloudlet\'s device console.'),
    request, h('h3', {}, 'Your requests'), list);
}

export async function render(context) {
  const [profile, access] = await Promise.all([profileCard(context.session), accessCard(context.node)]);
  return h('section', {}, h('h1', {}, 'My profile'), h('div', { class: 'cards' }, profile, access));
}
