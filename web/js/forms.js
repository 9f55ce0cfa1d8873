// Forms that keep what was typed and say what went wrong next to what caused it.
//
//   const f = form({
//     fields: [textField({name: 'email', label: 'E-mail', type: 'email', required: true})],
//     submitLabel: 'Log in', busyLabel: 'Logging in…',
//     onSubmit: async (values) => { await api.post(...); },
//   });
//
// On submit: the browser's own checks first (required, type, length), each shown under its
// field; then onSubmit(values) with the button disabled and its label saying what is
// happening. An ApiError naming a field (error.field, see api.js) is shown under that field,
// any other error above the form, and focus moves there so keyboard and screen-reader users
// hear it. Nothing typed is cleared on an error. Every label is a <label for>, every hint and
// error is tied to its control with aria-describedby.
import { h, replace } from './dom.js';

let nextId = 0;
function uid(name) {
  nextId += 1;
  return `f${nextId}-${name}`;
}

// A labelled control. kind: 'input' (default), 'select' (options: [[value, label], ...]).
export function textField({ name, label, type = 'text', required = false, autocomplete, hint,
  minlength, maxlength, options, accept }) {
  const id = uid(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const describedBy = [hintId, errorId].filter(Boolean).join(' ');
  const common = { id, name, required, 'aria-describedby': describedBy };
  let control;
  if (options) {
    control = h('select', common,
      options.map(([value, text]) => h('option', { value }, text)));
  } else {
    control = h('input', { ...common, type, autocomplete, minlength, maxlength, accept });
  }
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: id }, label, required ? null : h('span', { class: 'muted' }, ' (optional)')),
    hint ? h('span', { class: 'hint', id: hintId }, hint) : null,
    control,
    h('p', { class: 'field-error', id: errorId }));
}

function errorSlot(formElement, name) {
  const wrapper = formElement.querySelector(`[data-field="${CSS.escape(name)}"]`);
  return wrapper ? wrapper.querySelector('.field-error') : null;
}

export function clearErrors(formElement) {
  replace(formElement.querySelector('.form-error'));
  for (const slot of formElement.querySelectorAll('.field-error')) replace(slot);
  for (const control of formElement.querySelectorAll('[aria-invalid]')) {
    control.removeAttribute('aria-invalid');
  }
}

// Shows `message` under the field `name` (and focuses it), or above the form when the form
// has no such field.
export function showError(formElement, message, name = null) {
  const control = name ? formElement.elements.namedItem(name) : null;
  const slot = name ? errorSlot(formElement, name) : null;
  if (control && slot) {
    replace(slot, message);
    control.setAttribute('aria-invalid', 'true');
    control.focus();
    return;
  }
  const summary = formElement.querySelector('.form-error');
  replace(summary, message);
  summary.focus();
}

// The form's values by name (files as File objects, empty strings for empty fields).
export function valuesOf(formElement) {
  const values = {};
  for (const control of formElement.elements) {
    if (!control.name) continue;
    values[control.name] = control.type === 'file' ? (control.files[0] ?? null) : control.value;
  }
  return values;
}

// Runs the browser's constraint checks; shows the first failure under its field.
function checkConstraints(formElement) {
  for (const control of formElement.elements) {
    if (!control.name || control.checkValidity()) continue;
    showError(formElement, control.validationMessage, control.name);
    return false;
  }
  return true;
}

export function form({ fields, submitLabel, busyLabel, onSubmit, validate, label }) {
  const button = h('button', { type: 'submit' }, submitLabel);
  const element = h('form', { novalidate: true, 'aria-label': label },
    h('div', { class: 'form-error', role: 'alert', tabindex: '-1' }),
    fields,
    h('div', { class: 'actions' }, button));
  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    clearErrors(element);
    if (!checkConstraints(element)) return;
    const values = valuesOf(element);
    const problem = validate ? validate(values) : null;
    if (problem) {
      showError(element, problem.message, problem.field ?? null);
      return;
    }
    button.disabled = true;
    element.setAttribute('aria-busy', 'true');
    replace(button, busyLabel ?? submitLabel);
    try {
      await onSubmit(values, element);
    } catch (error) {
      showError(element, error?.message ?? 'Something went wrong.', error?.field ?? null);
    } finally {
      button.disabled = false;
      element.removeAttribute('aria-busy');
      replace(button, submitLabel);
    }
  });
  return element;
}

// A file chosen in a form as the API takes uploads ({content_type, data: base64}), or undefined
// when none was chosen.
export async function fileMember(file) {
  if (!file) return undefined;
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return { content_type: file.type, data: btoa(binary) };
}
