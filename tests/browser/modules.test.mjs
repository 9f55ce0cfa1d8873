// The UI's modules that need no browser, under node (ctest: web_modules_test): which pages
// the navigation lists for whom, and how an API message is tied to a form field.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fieldOf } from '../../web/js/api.js';
import { allowed, findPage, landingPage, navigation, pages, servedHere } from '../../web/js/pages.js';

const cloud = { kind: 'cloud' };
const cloudlet = { kind: 'cloudlet' };
const titles = (list) => list.map((page) => page.title);

test('the navigation lists only the pages this node serves to this person', () => {
  assert.deepEqual(titles(navigation(cloud, null)),
    ['Home', 'Register as a patient', 'Register as a doctor']);
  // Logged out, a cloudlet lists its home only: its login page is reached from the header.
  assert.deepEqual(titles(navigation(cloudlet, null)), ['Home']);
  // Each role's own pages follow (the patient's: docs/ui.md "Patient").
  const own = { patient: ['My profile', 'My readings', 'My records', "Doctors' answers", 'My data'] };
  for (const role of ['patient', 'doctor', 'operator', 'admin']) {
    // Besides each role's own pages (/<role> and /<role>/..., tested below per role).
    const shared = navigation(cloud, { role }).filter((page) =>
      page.path !== `/${role}` && !page.path.startsWith(`/${role}/`));
    assert.deepEqual(titles(shared), ['Home', 'My account'], role);
    const sharedHere = navigation(cloudlet, { role }).filter((page) =>
      !page.path.startsWith(`/${role}/`));
    // The device console is for the cloudlet's operator and its patients
    // (docs/device_console.md).
    assert.deepEqual(titles(sharedHere),
      ['operator', 'patient'].includes(role) ? ['Home', 'Device console'] : ['Home'], role);
  }
  assert.deepEqual(titles(navigation(cloud, { role: 'patient' })
    .filter((page) => page.path.startsWith('/patient/'))), own.patient);
  // --- operator pages: what lives at the cloud there, the cloudlet's own at the cloudlet.
  const operator = { role: 'operator' };
  assert.deepEqual(titles(navigation(cloud, operator)),
    ['Home', 'My account', 'Access requests', 'Charts', 'Restored records']);
  assert.deepEqual(titles(navigation(cloudlet, operator)),
    ['Home', 'Device console', 'Status', 'Stored data', 'Devices', 'Security events', 'Peer trust',
      'Intrusion detection']);
  // --- trust (issue 10): at the cloudlet that holds the readings.
  assert.deepEqual(titles(navigation(cloudlet, { role: 'patient' })
    .filter((page) => page.path.startsWith('/patient/'))), ['Similar patients']);
});

test('a login leads to the first page of the person\'s work at this node', () => {
  assert.equal(landingPage(cloud, { role: 'admin' }), '/admin');
  assert.equal(landingPage(cloud, { role: 'doctor' }), '/doctor/inbox');
  assert.equal(landingPage(cloud, { role: 'patient' }), '/patient/profile');
  assert.equal(landingPage(cloud, { role: 'operator' }), '/operator/requests');
  assert.equal(landingPage(cloudlet, { role: 'operator' }), '/operator/status');
  assert.equal(landingPage(cloudlet, { role: 'patient' }), '/console');
  // Nothing of theirs here: home.
  assert.equal(landingPage(cloudlet, { role: 'doctor' }), '/');
  assert.equal(landingPage(cloudlet, { role: 'admin' }), '/');
});

test('pages for the logged-out are closed to the logged-in, and the other way round', () => {
  assert.equal(allowed(findPage('/login'), null), true);
  assert.equal(allowed(findPage('/login'), { role: 'patient' }), false);
  assert.equal(allowed(findPage('/account'), null), false);
  assert.equal(allowed(findPage('/account'), { role: 'doctor' }), true);
  assert.equal(allowed(findPage('/'), null), true);
  assert.equal(allowed(findPage('/'), { role: 'admin' }), true);
  assert.equal(allowed({ audience: ['admin'] }, { role: 'patient' }), false);
  // A cloudlet relays logins to the cloud, so it has the login page; registering is at the cloud.
  assert.equal(servedHere(findPage('/login'), cloudlet), true);
  assert.equal(servedHere(findPage('/register/patient'), cloudlet), false);
  assert.equal(allowed(findPage('/admin/patients'), { role: 'doctor' }), false);
  assert.equal(allowed(findPage('/admin/patients'), { role: 'admin' }), true);
  assert.equal(servedHere(findPage('/admin/audit'), cloudlet), false);
  assert.equal(findPage('/nothing'), null);
});

test('every page has a unique path and a module that renders', async () => {
  assert.equal(new Set(pages.map((page) => page.path)).size, pages.length);
  for (const page of pages) {
    assert.match(page.path, /^\/[a-z/]*$/, page.path);
    const module = await page.module();
    assert.equal(typeof module.render, 'function', page.path);
  }
});

test('an API message is tied to the field it starts with, if the form has it', () => {
  const fields = ['email', 'password', 'photo'];
  assert.equal(fieldOf('password must be 12 to 1024 bytes', fields), 'password');
  assert.equal(fieldOf('photo.content_type must be image/png or image/jpeg', fields), 'photo');
  assert.equal(fieldOf('email must hold one \'@\'', fields), 'email');
  assert.equal(fieldOf('display_name is required', fields), null);
  assert.equal(fieldOf('invalid JSON body', fields), null);
  assert.equal(fieldOf('', fields), null);
  assert.equal(fieldOf(undefined, fields), null);
});

test("the doctor's pages are for doctors, at the cloud; the patient page is reached from the inbox", () => {
  assert.deepEqual(titles(navigation(cloud, { role: 'doctor' })),
    ['Home', 'My account', 'Inbox', 'Prescriptions']);
  for (const path of ['/doctor/inbox', '/doctor/patient', '/doctor/prescriptions']) {
    const page = findPage(path);
    assert.equal(allowed(page, { role: 'doctor' }), true, path);
    for (const role of ['patient', 'operator', 'admin']) assert.equal(allowed(page, { role }), false, path);
    assert.equal(allowed(page, null), false, path);
    assert.equal(servedHere(page, cloudlet), false, path);
  }
  assert.equal(findPage('/doctor/patient').nav, false);
});

test("the IDS pages: the operator's at a cloudlet, the admin's at the cloud under the admin's own navigation", () => {
  const admin = findPage('/admin/ids');
  assert.equal(servedHere(admin, cloud) && !servedHere(admin, cloudlet), true);
  assert.equal(allowed(admin, { role: 'admin' }), true);
  for (const who of [null, { role: 'operator' }, { role: 'doctor' }, { role: 'patient' }]) {
    assert.equal(allowed(admin, who), false, who?.role ?? 'logged out');
  }
  assert.equal(navigation(cloud, { role: 'admin' }).some((p) => p.path === '/admin/ids'), false,
    "reached from the admin's navigation, not the main one");
  assert.equal(admin.options.admin, true);
  const operator = findPage('/operator/ids');
  assert.equal(servedHere(operator, cloudlet) && !servedHere(operator, cloud), true);
  assert.equal(navigation(cloudlet, { role: 'operator' }).some((p) => p.path === '/operator/ids'), true);
  assert.equal(allowed(operator, { role: 'admin' }), false);
});
