// The devices enrolled at this cloudlet and their last contact (GET /api/v1/devices); withdrawing
// one (POST /api/v1/devices/{id}/withdrawal) after a deliberate confirmation: the operator types
// the device id. A withdrawn device's uploads are refused from then on, for good.
import { api } from '../api.js';
import { announce, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

export function render(context) {
  const body = loading('the devices');
  const confirmation = h('div', { id: 'withdraw-panel' });

  function askToWithdraw(device, button) {
    const confirm = form({
      label: `Withdraw device ${device.device_id}`,
      fields: [textField({ name: 'confirm', label: 'Type the device id to confirm',
        required: true, autocomplete: 'off',
        hint: `Withdrawing ${device.device_id} refuses its uploads from now on. ` +
          'It cannot be undone: the device must be enrolled under a new id.' })],
      submitLabel: 'Withdraw the device',
      busyLabel: 'Withdrawing…',
      validate: (values) => (values.confirm.trim() === device.device_id ? null
        : { field: 'confirm', message: 'That is not the id of this device.' }),
      async onSubmit() {
        await api.post(`/api/v1/devices/${encodeURIComponent(device.device_id)}/withdrawal`);
        replace(confirmation);
        await redraw();
        announce(`Device ${device.device_id} withdrawn.`);
        replace(confirmation, h('p', { class: 'notice', role: 'status' },
          `Device ${device.device_id} is withdrawn.`));
      },
    });
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    cancel.addEventListener('click', () => {
      replace(confirmation);
      button.focus();
    });
    replace(confirmation, h('section', { class: 'card op-danger', 'aria-labelledby': 'withdraw-heading' },
      h('h2', { id: 'withdraw-heading' }, 'Withdraw ', mono(device.device_id), '?'),
      confirm, cancel));
    confirm.elements.namedItem('confirm').focus();
  }

  async function redraw() {
    try {
      const { devices } = await api.get('/api/v1/devices');
      devices.sort((a, b) => (b.last_contact_ms ?? 0) - (a.last_contact_ms ?? 0));
      const enrolled = devices.filter((d) => d.status === 'enrolled').length;
      body.show(devices.length === 0 ? h('p', { class: 'notice' }, 'No device is enrolled here.')
        : table(`Devices (${enrolled} enrolled, ${devices.length - enrolled} withdrawn)`,
          ['Device', 'Patient', 'Enrolled', 'Last contact', 'Status', 'Action'],
          devices.map((d) => {
            let action = '';
            if (d.status === 'enrolled') {
              action = h('button', { type: 'button', class: 'secondary',
                'aria-label': `Withdraw ${d.device_id}` }, 'Withdraw…');
              action.addEventListener('click', () => askToWithdraw(d, action));
            }
            return [mono(d.device_id), mono(d.patient_id), time(d.enrolled_at_ms),
              d.last_contact_ms ? time(d.last_contact_ms) : 'never', d.status, action];
          }), { id: 'devices' }));
    } catch (error) {
      body.fail(error);
    }
  }

  const content = page(context, 'Devices',
    'Wearables enrolled at this cloudlet, newest contact first. Last contact is the newest ' +
    'upload this cloudlet still keeps.', confirmation, body.region);
  return redraw().then(() => content);
}
