// Home page of every node: what this node is, who uses it, the mesh around it, how to log in.
import { h, link } from '../dom.js';

const ROLES = {
  cloud: {
    patient: ['Patients', 'Register, log in, see their own readings and records, send records ' +
      'to a doctor, verify them and restore them if tampered with, export or delete their data.'],
    doctor: ['Doctors', 'Register, log in, read the records patients send them and answer with ' +
      'a diagnosis, medication and prescription.'],
    admin: ['The cloud admin', 'Approves registrations, sees patients (in the partitioned ' +
      'view) and doctors, and reads the audit log.'],
  },
  cloudlet: {
    device: ['Wearable devices', 'Enrol to a patient and upload sealed, signed batches of ' +
      'readings, which this cloudlet checks, stores encrypted and forwards to the cloud.'],
    operator: ['The cloudlet operator', 'Sees the stored data in its encrypted form, the ' +
      'devices and their last contact, security events, and the forward queue.'],
    patient: ['Patients', 'Enrol their devices here and see or withdraw them.'],
  },
};

function rolesCard(node) {
  const known = ROLES[node.kind] ?? {};
  return h('section', { class: 'card', 'aria-labelledby': 'roles-heading' },
    h('h2', { id: 'roles-heading' }, 'Who uses this node'),
    h('ul', { class: 'plain-list' }, node.roles.map((role) => {
      const [name, text] = known[role] ?? [role, ''];
      return h('li', {}, h('span', { class: 'role-name' }, name), text);
    })));
}

function nodeLink(context, url, text) {
  const safe = url ? context.safeUrl(url) : null;
  return safe ? link(new URL('/', safe).href, text) : h('span', {}, text);
}

function meshCard(context) {
  const { node } = context;
  let body;
  if (node.kind === 'cloud') {
    body = node.cloudlets.length === 0
      ? h('p', {}, 'No cloudlet is configured for this cloud yet.')
      : [h('p', {}, 'Cloudlets of this deployment:'),
        h('ul', { class: 'plain-list' }, node.cloudlets.map((cloudlet) =>
          h('li', {}, nodeLink(context, cloudlet.url, `Cloudlet ${cloudlet.id}`),
            cloudlet.url ? h('span', { class: 'muted mono' }, ` ${cloudlet.url}`) : null)))];
  } else if (node.cloud) {
    body = h('p', {}, 'This cloudlet forwards what it stores to ',
      nodeLink(context, node.cloud.url, 'the cloud'),
      node.cloud.url ? h('span', { class: 'muted mono' }, ` (${node.cloud.url})`) : null, '.');
  } else {
    body = h('p', {}, 'This cloudlet forwards to no cloud: it keeps what it receives.');
  }
  return h('section', { class: 'card', 'aria-labelledby': 'mesh-heading' },
    h('h2', { id: 'mesh-heading' }, 'The mesh'), body);
}

function loginCard(context) {
  const { node, session } = context;
  const content = [];
  if (session) {
    content.push(h('p', {}, 'You are logged in as ', h('strong', {}, session.display_name),
      ` (${session.role}). A session lasts 15 minutes; then you log in again.`));
    if (node.kind === 'cloud') content.push(h('p', {}, link('#/account', 'Your account')));
  } else if (node.kind === 'cloud') {
    content.push(
      h('p', {}, 'Patients and doctors register first. An administrator approves each ' +
        'registration; you can log in once yours is approved.'),
      h('div', { class: 'actions' },
        link('#/login', 'Log in', { class: 'button' }),
        link('#/register/patient', 'Register as a patient'),
        link('#/register/doctor', 'Register as a doctor')),
      h('p', { class: 'muted' }, 'Operators get their accounts from the admin. The first admin ' +
        'is created on the cloud\'s machine with ', h('code', {}, 'medmesh admin create'), '.'));
  } else {
    content.push(
      h('p', {}, 'Log in here with your hospital account: the cloudlet passes the login to the ' +
        'cloud, which keeps the accounts. Registering is at the cloud.'),
      h('div', { class: 'actions' },
        link('#/login', 'Log in', { class: 'button' }),
        node.cloud?.url ? nodeLink(context, node.cloud.url, 'Register at the cloud') : null));
  }
  return h('section', { class: 'card', 'aria-labelledby': 'login-heading' },
    h('h2', { id: 'login-heading' }, session ? 'Your session' : 'Logging in'), content);
}

export function render(context) {
  const { node } = context;
  const what = node.kind === 'cloud'
    ? 'The hospital\'s cloud keeps accounts, the three-part record store, consent, doctors\' ' +
      'answers and the audit log.'
    : 'A cloudlet sits near patients: wearables send it sealed readings, and it forwards ' +
      'them to the hospital\'s cloud.';
  return h('section', {},
    h('h1', {}, node.kind === 'cloud' ? 'MedMesh cloud' : 'MedMesh cloudlet'),
    h('p', { class: 'lead' }, what, ' Node id: ', h('span', { class: 'mono' }, node.id), '.'),
    h('div', { class: 'cards' }, loginCard(context), rolesCard(node), meshCard(context)));
}
