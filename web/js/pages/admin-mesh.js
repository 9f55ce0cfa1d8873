// The cloudlets of the mesh, as the cloud is configured with them (GET /api/v1/node), each with
// a link to its own pages; and a new operator account for one of them (POST
// /api/v1/admin/operators). The cloud does not track the state of its links to the cloudlets:
// each cloudlet's page shows its own.
import { api } from '../api.js';
import { announce, h, link, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { adminPage, table } from './admin-common.js';

export function render(context) {
  const cloudlets = context.node.cloudlets ?? [];
  const done = h('div', { 'aria-live': 'polite' });
  const operator = form({
    label: 'Create an operator',
    fields: [
      cloudlets.length
        ? textField({ name: 'cloudlet_id', label: 'Cloudlet', required: true,
          options: cloudlets.map((c) => [c.id ?? '', c.id ?? c.url]) })
        : textField({ name: 'cloudlet_id', label: 'Cloudlet id', required: true, maxlength: 64 }),
      textField({ name: 'display_name', label: 'Name shown to others', required: true, maxlength: 200 }),
      textField({ name: 'email', label: 'E-mail', type: 'email', required: true, maxlength: 254,
        hint: 'The operator logs in with it.' }),
      textField({ name: 'password', label: 'First password', type: 'password', required: true,
        minlength: 12, maxlength: 1024, autocomplete: 'new-password',
        hint: 'At least 12 characters. Give it to the operator in person.' }),
    ],
    submitLabel: 'Create operator',
    busyLabel: 'Creating…',
    async onSubmit(values, element) {
      const body = { ...values, email: values.email.trim(), display_name: values.display_name.trim() };
      try {
        await api.post('/api/v1/admin/operators', body, { fields: Object.keys(body) });
      } catch (error) {
        if (error.code === 'already_exists') {
          error.field = 'email';
          error.message = 'An account with this e-mail exists already.';
        }
        throw error;
      }
      element.reset();
      const message = `Operator ${body.display_name} can now log in for ${body.cloudlet_id}.`;
      replace(done, h('p', { class: 'notice', role: 'status' }, message));
      announce(message);
    },
  });
  const columns = [
    ['Cloudlet', (c) => h('strong', {}, c.id ?? 'unnamed')],
    ['Address', (c) => (context.safeUrl(c.url) ? link(new URL('/#/', c.url).href, c.url) : c.url ?? '—')],
    ['Link state', () => h('span', { class: 'muted' }, 'shown at the cloudlet')],
  ];
  return adminPage('Cloudlets', '/admin/mesh',
    h('p', { class: 'lead' }, 'The cloudlets this cloud is configured with. Each one’s own ' +
      'pages show its devices, its link to the cloud and its queue.'),
    cloudlets.length ? table('Cloudlets of the mesh', columns, cloudlets)
      : h('p', {}, 'This cloud is configured with no cloudlet.'),
    h('section', { class: 'card', 'aria-labelledby': 'operator-heading' },
      h('h2', { id: 'operator-heading' }, 'New operator'),
      h('p', { class: 'muted' }, 'An operator runs one cloudlet: its devices and its records.'),
      done, operator));
}
