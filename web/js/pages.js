// The UI's pages: one entry per page, the only list of them. The navigation shows an entry
// only where its page exists: on the right kind of node, for the right people. To add a page,
// write its module in pages/ (export function render(context) returning an element, whose
// first heading is an <h1>) and add its entry here (docs/ui.md "Adding a page").
//
//   path       the page's address after "#" ("#/account")
//   title      the document title and the navigation label
//   module     () => import(...) of the page's module, loaded when first shown
//   nodes      the node kinds that serve the page (default: every node)
//   audience   'anyone' (default), 'anonymous' (only when logged out) or a list of roles
//   nav        false: reachable by links only, not listed in the navigation
//   options    passed to render() as context.options
export const pages = [
  { path: '/', title: 'Home', module: () => import('./pages/home.js') },
  {
    // Not in the navigation: the header's "Log in" button is there on every page.
    path: '/login', title: 'Log in', nodes: ['cloud', 'cloudlet'], audience: 'anonymous', nav: false,
    module: () => import('./pages/login.js'),
  },
  {
    path: '/register/patient', title: 'Register as a patient', nodes: ['cloud'],
    audience: 'anonymous', module: () => import('./pages/register.js'),
    options: { kind: 'patient' },
  },
  {
    path: '/register/doctor', title: 'Register as a doctor', nodes: ['cloud'],
    audience: 'anonymous', module: () => import('./pages/register.js'),
    options: { kind: 'doctor' },
  },
  {
    path: '/account', title: 'My account', nodes: ['cloud'],
    audience: ['patient', 'doctor', 'operator', 'admin'],
    module: () => import('./pages/account.js'),
  },
  // --- admin pages (the cloud admin, docs/ui.md "Cloud admin"): one navigation entry, the
  // overview; each section is reached from the admin's own navigation on every admin page.
  {
    path: '/admin', title: 'Administration', nodes: ['cloud'], audience: ['admin'],
    module: () => import('./pages/admin-home.js'),
  },
  ...[
    ['/admin/registrations', 'Registrations', () => import('./pages/admin-registrations.js')],
    ['/admin/patients', 'Patients', () => import('./pages/admin-patients.js')],
    ['/admin/doctors', 'Doctors', () => import('./pages/admin-doctors.js')],
    ['/admin/audit', 'Audit log', () => import('./pages/admin-audit.js')],
    ['/admin/mesh', 'Cloudlets', () => import('./pages/admin-mesh.js')],
    ['/admin/keys', 'Keys', () => import('./pages/admin-keys.js')],
  ].map(([path, title, module]) => ({ path, title, module, nodes: ['cloud'], audience: ['admin'],
    nav: false })),
  // --- doctor pages
  {
    path: '/doctor/inbox', title: 'Inbox', nodes: ['cloud'], audience: ['doctor'],
    module: () => import('./pages/doctor-inbox.js'),
  },
  {
    // Opened from the inbox (the patient chosen there is kept in memory, not in the address).
    path: '/doctor/patient', title: 'Patient', nodes: ['cloud'], audience: ['doctor'], nav: false,
    module: () => import('./pages/doctor-patient.js'),
  },
  {
    path: '/doctor/prescriptions', title: 'Prescriptions', nodes: ['cloud'], audience: ['doctor'],
    module: () => import('./pages/doctor-prescriptions.js'),
  },
  // --- patient pages (docs/ui.md "Patient")
  ...[
    ['/patient/profile', 'My profile', () => import('./pages/patient-profile.js')],
    ['/patient/readings', 'My readings', () => import('./pages/patient-readings.js')],
    ['/patient/records', 'My records', () => import('./pages/patient-records.js')],
    ['/patient/answers', "Doctors' answers", () => import('./pages/patient-answers.js')],
    ['/patient/data', 'My data', () => import('./pages/patient-data.js')],
  ].map(([path, title, module]) => ({ path, title, module, nodes: ['cloud'], audience: ['patient'] })),
  // --- device pages
  {
    // At a cloudlet, for its operator (enrols) and its patients (their own devices).
    path: '/console', title: 'Device console', nodes: ['cloudlet'], audience: ['operator', 'patient'],
    module: () => import('./pages/device-console.js'),
  },
  // --- operator pages (docs/ui.md "Cloudlet operator"): at the cloud what lives there, at the
  // cloudlet the rest; each page links to the other side. The trust (issue 10) and IDS (issue
  // 11) pages go after these.
  ...[
    ['/operator/requests', 'Access requests', 'cloud', () => import('./pages/operator-requests.js')],
    ['/operator/charts', 'Charts', 'cloud', () => import('./pages/operator-charts.js')],
    ['/operator/restores', 'Restored records', 'cloud', () => import('./pages/operator-restores.js')],
    ['/operator/status', 'Status', 'cloudlet', () => import('./pages/operator-status.js')],
    ['/operator/stored', 'Stored data', 'cloudlet', () => import('./pages/operator-stored.js')],
    ['/operator/devices', 'Devices', 'cloudlet', () => import('./pages/operator-devices.js')],
    ['/operator/events', 'Security events', 'cloudlet', () => import('./pages/operator-events.js')],
  ].map(([path, title, node, module]) => ({ path, title, nodes: [node], audience: ['operator'], module })),
  // --- trust pages (issue 10, docs/trust_system.md): at the cloudlet that holds the readings
  {
    path: '/patient/trust', title: 'Similar patients', nodes: ['cloudlet'], audience: ['patient'],
    module: () => import('./pages/trust-patient.js'),
  },
  {
    path: '/operator/trust', title: 'Peer trust', nodes: ['cloudlet'], audience: ['operator'],
    module: () => import('./pages/trust-operator.js'),
  },
  // --- IDS pages (issue 11, docs/ids.md): the cloudlet's own detection, for its operator
  {
    path: '/operator/ids', title: 'Intrusion detection', nodes: ['cloudlet'], audience: ['operator'],
    module: () => import('./pages/ids-pages.js'),
  },
  // --- idspages pages (issue 11): the admin's mesh-wide IDS page, reached from the admin's own
  // navigation (admin-common.js SECTIONS); the same module as the operator's IDS page
  {
    path: '/admin/ids', title: 'Intrusion detection', nodes: ['cloud'], audience: ['admin'],
    nav: false, module: () => import('./pages/ids-pages.js'), options: { admin: true },
  },
];

// Where a login leads when no page asked for it: the first page of the person's work here.
const LANDING = {
  cloud: { admin: '/admin', doctor: '/doctor/inbox', patient: '/patient/profile',
    operator: '/operator/requests' },
  cloudlet: { operator: '/operator/status', patient: '/console' },
};

export function landingPage(node, session) {
  const path = LANDING[node.kind]?.[session?.role];
  const page = path ? findPage(path) : null;
  return page && servedHere(page, node) && allowed(page, session) ? path : '/';
}

export function findPage(path) {
  return pages.find((page) => page.path === path) ?? null;
}

export function servedHere(page, node) {
  return !page.nodes || page.nodes.includes(node.kind);
}

// Whether the person (session: null when logged out) may open the page.
export function allowed(page, session) {
  const audience = page.audience ?? 'anyone';
  if (audience === 'anyone') return true;
  if (audience === 'anonymous') return !session;
  return Boolean(session) && audience.includes(session.role);
}

// The navigation entries for this node and this person, in list order.
export function navigation(node, session) {
  return pages.filter((page) => page.nav !== false && servedHere(page, node) &&
    allowed(page, session));
}
