// Self-registration of patients and doctors (POST /api/v1/accounts/patients | doctors). The
// account is pending until an administrator approves it.
import { api } from '../api.js';
import { announce, h, link, replace } from '../dom.js';
import { fileMember, form, textField } from '../forms.js';

const MAX_PHOTO_BYTES = 512 * 1024;
const PHOTO_TYPES = ['image/png', 'image/jpeg'];

function commonFields() {
  return [
    textField({ name: 'display_name', label: 'Name shown to others', required: true,
      maxlength: 200, autocomplete: 'name' }),
    textField({ name: 'email', label: 'E-mail', type: 'email', required: true, maxlength: 254,
      autocomplete: 'email', hint: 'You log in with it.' }),
    textField({ name: 'password', label: 'Password', type: 'password', required: true,
      minlength: 12, maxlength: 1024, autocomplete: 'new-password',
      hint: 'At least 12 characters.' }),
    textField({ name: 'confirm_password', label: 'Password again', type: 'password',
      required: true, autocomplete: 'new-password' }),
  ];
}

function patientFields() {
  return [
    textField({ name: 'full_name', label: 'Full name', maxlength: 200, autocomplete: 'name',
      hint: 'Kept encrypted; only you and, with a reason, the admin can read it.' }),
    textField({ name: 'birth_date', label: 'Birth date', type: 'date', autocomplete: 'bday' }),
    textField({ name: 'sex', label: 'Sex', options: [['', 'Not given'], ['female', 'Female'],
      ['male', 'Male'], ['other', 'Other']] }),
    textField({ name: 'phone', label: 'Phone', type: 'tel', maxlength: 200, autocomplete: 'tel' }),
    textField({ name: 'address', label: 'Address', maxlength: 200,
      autocomplete: 'street-address' }),
    textField({ name: 'photo', label: 'Photo', type: 'file', accept: PHOTO_TYPES.join(','),
      hint: 'PNG or JPEG, at most 512 KiB.' }),
  ];
}

function doctorFields() {
  return [
    textField({ name: 'licence_number', label: 'Licence number', required: true, maxlength: 200 }),
    textField({ name: 'speciality', label: 'Speciality', required: true, maxlength: 200 }),
    textField({ name: 'hospital', label: 'Hospital', required: true, maxlength: 200,
      autocomplete: 'organization' }),
  ];
}

function checkPhoto(file) {
  if (!file) return null;
  if (!PHOTO_TYPES.includes(file.type)) {
    return { field: 'photo', message: 'The photo must be a PNG or JPEG image.' };
  }
  if (file.size > MAX_PHOTO_BYTES) {
    return { field: 'photo', message: 'The photo is larger than 512 KiB.' };
  }
  return null;
}

// The request body: the form's non-empty values the API knows, and the photo as base64.
async function bodyOf(kind, values) {
  const names = kind === 'patient'
    ? ['email', 'password', 'display_name', 'full_name', 'phone', 'address', 'birth_date', 'sex']
    : ['email', 'password', 'display_name', 'licence_number', 'speciality', 'hospital'];
  const body = {};
  for (const name of names) {
    const value = name === 'password' ? values[name] : values[name].trim();
    if (value !== '') body[name] = value;
  }
  if (kind === 'patient' && values.photo) {
    body.photo = await fileMember(values.photo);
  }
  return body;
}

export function render(context) {
  const kind = context.options.kind === 'doctor' ? 'doctor' : 'patient';
  const title = kind === 'patient' ? 'Register as a patient' : 'Register as a doctor';
  const fields = [...commonFields(), ...(kind === 'patient' ? patientFields() : doctorFields())];
  const section = h('section', {});
  const registration = form({
    label: title,
    fields,
    submitLabel: 'Register',
    busyLabel: 'Registering…',
    validate(values) {
      if (values.password !== values.confirm_password) {
        return { field: 'confirm_password', message: 'The two passwords differ.' };
      }
      return kind === 'patient' ? checkPhoto(values.photo) : null;
    },
    async onSubmit(values) {
      const body = await bodyOf(kind, values);
      // A taken e-mail is answered as a new registration (docs/accounts.md "Taken e-mails").
      await api.post(`/api/v1/accounts/${kind}s`, body, { fields: Object.keys(body) });
      replace(section,
        h('h1', { tabindex: '-1' }, 'Registration received'),
        h('p', { class: 'notice', role: 'status' }, 'Thank you. If this e-mail address has ' +
          'no account yet, an administrator will check your registration; you can log in once ' +
          'it is approved. If it has one, nothing was changed: log in with it.'),
        h('p', {}, link('#/login', 'Go to the login page')));
      section.querySelector('h1').focus();
      announce('Registration received');
    },
  });

  if (kind === 'patient') {
    // A local preview of the chosen photo (a blob: URL, allowed by the CSP's img-src).
    const input = registration.elements.namedItem('photo');
    const preview = h('img', { class: 'photo-preview', alt: 'Preview of the chosen photo', hidden: true });
    input.after(preview);
    input.addEventListener('change', () => {
      if (preview.src) URL.revokeObjectURL(preview.src);
      const file = input.files[0];
      if (file && PHOTO_TYPES.includes(file.type)) {
        preview.src = URL.createObjectURL(file);
        preview.hidden = false;
      } else {
        preview.removeAttribute('src');
        preview.hidden = true;
      }
    });
  }

  replace(section,
    h('h1', {}, title),
    h('p', {}, kind === 'patient'
      ? 'Your profile and photo are stored encrypted under a key of your own. Deleting your ' +
        'data later destroys that key.'
      : 'The hospital checks your licence before approving your account.'),
    registration,
    h('p', {}, 'Already registered? ', link('#/login', 'Log in'), '.'));
  return section;
}
