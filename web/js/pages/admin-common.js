// What the cloud admin's pages share: their own navigation (with the places of the pages later
// issues add), the page frame, the table (js/table.js), status badges.
import { h } from '../dom.js';

// The admin's sections: path, title, what it is for (the overview lists them).
export const SECTIONS = [
  ['/admin/registrations', 'Registrations', 'Approve or reject people who registered.'],
  ['/admin/patients', 'Patients', 'The partitioned view: pseudonyms and generalised data; ' +
    'an identity only with a recorded reason.'],
  ['/admin/doctors', 'Doctors', 'Every doctor with their licence, hospital and status.'],
  ['/admin/audit', 'Audit log', 'Who did what, and whether the log is untouched.'],
  ['/admin/mesh', 'Cloudlets', 'The cloudlets of the mesh; give each its operator accounts.'],
  ['/admin/keys', 'Keys', 'Rotation of the key-encryption key of each part.'],
  ['/admin/ids', 'Intrusion detection', "The cloud's alerts and decisions (revoke, allowlist) " +
    'and what the cloudlets of the mesh report.'],
];
// Pages of later issues: their place is kept here; they are not links until they exist.
export const COMING = [
  ['Trust', 'issue 10', 'Certificates and trust of the nodes.'],
];

export function adminNav(current) {
  return h('nav', { class: 'subnav', 'aria-label': 'Administration' },
    h('ul', {},
      h('li', {}, h('a', { href: '#/admin', 'aria-current': current === '/admin' ? 'page' : null },
        'Overview')),
      SECTIONS.map(([path, title]) => h('li', {},
        h('a', { href: `#${path}`, 'aria-current': path === current ? 'page' : null }, title))),
      COMING.map(([title, issue]) => h('li', { class: 'coming' }, title,
        h('span', { class: 'visually-hidden' }, ` (not built yet: ${issue})`)))));
}

// The frame of an admin page: its h1, the admin navigation, then the content.
export function adminPage(title, current, ...content) {
  return h('section', { class: 'admin' }, h('h1', {}, title), adminNav(current), content);
}

// The table is the UI's one data table (js/table.js), shared with the operator's pages.
export { table } from '../table.js';

export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}

// The start of a long id or pseudonym; all of it in the title (and to copy).
export function shortId(id, length = 12) {
  if (!id) return '—';
  return h('code', { title: id }, id.length > length + 2 ? `${id.slice(0, length)}…` : id);
}

export const shortPseudonym = (pseudonym) => shortId(pseudonym);

export function alertBox(message) {
  return h('p', { class: 'form-error', role: 'alert' }, message);
}

// Hands a filter to the audit page ("see this in the audit log"), read once by it.
export const auditHandoff = { filter: null };
