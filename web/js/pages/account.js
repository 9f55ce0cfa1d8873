// The logged-in person's account: who they are, their session, and a password change
// (POST /api/v1/account/password ends every session of the account).
import { api } from '../api.js';
import { formatTime, h } from '../dom.js';
import { form, textField } from '../forms.js';

function row(term, value) {
  return [h('dt', {}, term), h('dd', {}, value)];
}

export function render(context) {
  const { session } = context;
  const passwordForm = form({
    label: 'Change password',
    fields: [
      textField({ name: 'current_password', label: 'Current password', type: 'password',
        required: true, autocomplete: 'current-password' }),
      textField({ name: 'new_password', label: 'New password', type: 'password', required: true,
        minlength: 12, maxlength: 1024, autocomplete: 'new-password',
        hint: 'At least 12 characters.' }),
      textField({ name: 'confirm_password', label: 'New password again', type: 'password',
        required: true, autocomplete: 'new-password' }),
    ],
    submitLabel: 'Change password',
    busyLabel: 'Changing…',
    validate(values) {
      if (values.new_password !== values.confirm_password) {
        return { field: 'confirm_password', message: 'The two new passwords differ.' };
      }
      return null;
    },
    async onSubmit(values) {
      try {
        await api.post('/api/v1/account/password',
          { current_password: values.current_password, new_password: values.new_password },
          { fields: ['current_password', 'new_password'] });
      } catch (error) {
        if (error.reason === 'invalid_credentials') {
          error.message = 'The current password is wrong.';
          error.field = 'current_password';
        }
        throw error;
      }
      context.loggedOut('Your password was changed and all your sessions were ended. ' +
        'Log in with the new password.');
    },
  });
  return h('section', {},
    h('h1', {}, 'My account'),
    h('div', { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'who-heading' },
        h('h2', { id: 'who-heading' }, 'You'),
        h('dl', {},
          row('Name', session.display_name),
          row('E-mail', session.email),
          row('Role', session.role),
          // Doctors: what the hospital checked before approving them.
          session.role === 'doctor' ? [row('Licence number', session.licence_number),
            row('Speciality', session.speciality), row('Hospital', session.hospital)] : null,
          row('Session ends', formatTime(session.expires_ms)))),
      h('section', { class: 'card', 'aria-labelledby': 'password-heading' },
        h('h2', { id: 'password-heading' }, 'Change password'),
        h('p', { class: 'muted' }, 'Changing it logs you out everywhere.'),
        passwordForm)));
}
