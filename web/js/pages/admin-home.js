// The admin's overview: the cloud's figures at a glance (GET /api/v1/stats, the admin's full
// answer; pending registrations), every section of the administration, and the places kept
// for the pages of later issues (not links until they exist).
import { api } from '../api.js';
import { h, link } from '../dom.js';
import { COMING, SECTIONS, adminPage } from './admin-common.js';

function figure(label, value, href) {
  return h('div', { class: 'figure' }, h('span', { class: 'figure-value' }, String(value ?? '—')),
    href ? link(href, label) : h('span', {}, label));
}

export async function render() {
  const [stats, pending] = await Promise.all([api.get('/api/v1/stats'),
    api.get('/api/v1/admin/registrations')]);
  return adminPage('Administration', '/admin',
    h('p', { class: 'lead' }, 'You see patients only as pseudonyms. Seeing who a patient is ' +
      'needs a reason, which the audit log keeps and the patient can read.'),
    h('section', { class: 'figures', 'aria-label': 'At a glance' },
      figure('registrations waiting', pending.registrations.length, '#/admin/registrations'),
      figure('patients with data', stats.patients),
      figure('records stored', stats.records),
      figure('readings', stats.readings),
      figure('integrity chain entries', stats.chain_length)),
    h('ul', { class: 'cards plain-cards' },
      SECTIONS.map(([path, title, about]) => h('li', { class: 'card' },
        h('h2', {}, link(`#${path}`, title)), h('p', {}, about))),
      COMING.map(([title, issue, about]) => h('li', { class: 'card coming-card' },
        h('h2', {}, title), h('p', {}, about), h('p', { class: 'muted' }, `Coming with ${issue}.`)))));
}
