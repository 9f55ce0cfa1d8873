// The admin's overview: every section of the administration, and the places kept for the
// pages of later issues (not links until they exist).
import { h, link } from '../dom.js';
import { COMING, SECTIONS, adminPage } from './admin-common.js';

export function render() {
  return adminPage('Administration', '/admin',
    h('p', { class: 'lead' }, 'You see patients only as pseudonyms. Seeing who a patient is ' +
      'needs a reason, which the audit log keeps and the patient can read.'),
    h('ul', { class: 'cards plain-cards' },
      SECTIONS.map(([path, title, about]) => h('li', { class: 'card' },
        h('h2', {}, link(`#${path}`, title)), h('p', {}, about))),
      COMING.map(([title, issue, about]) => h('li', { class: 'card coming-card' },
        h('h2', {}, title), h('p', {}, about), h('p', { class: 'muted' }, `Coming with ${issue}.`)))));
}
