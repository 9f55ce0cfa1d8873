// Portal-access requests to the operator's cloudlet, at the cloud (GET /api/v1/activations):
// approve, or deny with a reason the patient sees (POST /api/v1/activations/{id}/decision).
// A decided request moves to the "decided" table without a reload.
import { api } from '../api.js';
import { announce, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

function decide(id, body) {
  return api.post(`/api/v1/activations/${encodeURIComponent(id)}/decision`, body,
    { fields: Object.keys(body) });
}

export function render(context) {
  const pending = loading('the requests');
  const decided = loading('the decided requests');

  function pendingCard(activation, redraw) {
    const card = h('li', { class: 'card op-request', 'data-activation': activation.activation_id });
    const done = async (body, verb) => {
      await decide(activation.activation_id, body);
      announce(`Request ${verb}.`);
      await redraw();
    };
    const approve = form({
      label: 'Approve',
      fields: [],
      submitLabel: 'Approve',
      busyLabel: 'Approving…',
      onSubmit: () => done({ approve: true }, 'approved'),
    });
    const deny = form({
      label: 'Deny',
      fields: [textField({ name: 'reason', label: 'Reason for denying', required: true,
        maxlength: 1000, hint: 'The patient sees it as you write it.' })],
      submitLabel: 'Deny',
      busyLabel: 'Denying…',
      onSubmit: (values) => done({ approve: false, reason: values.reason.trim() }, 'denied'),
    });
    return replace(card,
      h('h3', {}, 'Patient ', mono(activation.patient_id)),
      h('p', { class: 'muted' }, `Asked ${time(activation.requested_ms)}`),
      h('div', { class: 'op-decide' }, approve, deny));
  }

  async function redraw() {
    try {
      const { activations } = await api.get('/api/v1/activations');
      const open = activations.filter((a) => a.status === 'requested');
      const closed = activations.filter((a) => a.status !== 'requested');
      pending.show(open.length === 0
        ? h('p', { class: 'notice' }, 'No request is waiting for a decision.')
        : h('ul', { class: 'plain-list op-requests' }, open.map((a) => pendingCard(a, redraw))));
      decided.show(table(`Decided requests (${closed.length})`,
        ['Patient', 'Decision', 'Reason', 'Asked', 'Decided'],
        closed.map((a) => [mono(a.patient_id), a.status, a.reason || '—', time(a.requested_ms),
          time(a.decided_ms)]), { id: 'decided-requests' }));
    } catch (error) {
      pending.fail(error);
      decided.show();
    }
  }

  const content = page(context, 'Portal-access requests',
    'Patients whose data your cloudlet holds ask to see it in their portal. Until you approve, ' +
    'they see none of their medical data.',
    h('h2', {}, 'Waiting for you'), pending.region,
    h('h2', {}, 'Decided'), decided.region);
  return redraw().then(() => content);
}
