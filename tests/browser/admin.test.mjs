// Browser tests of the cloud admin's pages (docs/ui.md "Cloud admin"), run by ctest as
// browser_admin_test, on the seeded deployment. A patient and two doctors register; the admin
// logs in, rejects one doctor (a reason is required: the field error comes first) and approves
// the others, sees the patients partitioned, reveals one identity with a reason and finds that
// reason in the verified audit log, lists the doctors and the cloudlets, creates an operator and
// looks at the keys. Names are hostile markup and must show as text. Every page passes check()
// at both widths.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  HOSTILE, PNG_1X1, VIEWPORTS, adminPassword, api, approve, artifact, assertNoProblems, check,
  close, fieldError, fill, logIn, newPage, open, urls, useDeployment, waitForPage,
} from './harness.mjs';

// Seeded (the demo's patients with records and readings, doctors, a pending patient and doctor),
// so the partitioned view and the audit log hold what a hospital's would.
useDeployment('admin', { seed: true });

const ADMIN = 'admin@hospital.test';
const tag = () => randomBytes(4).toString('hex');
const password = `pw ${randomBytes(9).toString('base64url')}`;
const patient = { email: `patient-${tag()}@hospital.test`, display_name: HOSTILE,
  full_name: `Ada ${tag()} Lovelace`, birth_date: '1980-02-03', sex: 'female' };
const rejected = { email: `doctor-${tag()}@hospital.test`, display_name: `Dr ${HOSTILE}`,
  licence_number: 'GMC-404', speciality: 'cardiology', hospital: 'St Elsewhere' };
const accepted = { email: `doctor-${tag()}@hospital.test`, display_name: 'Dr Jane Approved',
  licence_number: 'GMC-200', speciality: 'neurology', hospital: 'St Elsewhere' };
const REJECTION = 'The licence number <b>does not</b> exist';
const REASON = `Court order ${tag()} <script>x</script>`;
// Pages checked at both widths: label, path.
const PAGES = [
  ['admin-overview', '/admin'], ['admin-registrations', '/admin/registrations'],
  ['admin-patients', '/admin/patients'], ['admin-doctors', '/admin/doctors'],
  ['admin-audit', '/admin/audit'], ['admin-mesh', '/admin/mesh'], ['admin-keys', '/admin/keys'],
];

async function noScriptRan(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  assert.equal(await page.locator('main img[onerror], main script').count(), 0);
}

describe('the cloud admin', () => {
  let page;

  test('people register; the admin logs in and finds the administration', async () => {
    const registered = await api(urls.cloud, 'POST', '/api/v1/accounts/patients', { body: {
      ...patient, password, photo: { content_type: 'image/png', data: PNG_1X1.toString('base64') } } });
    assert.equal(registered.status, 201, 'the patient registers');
    for (const doctor of [rejected, accepted]) {
      const answer = await api(urls.cloud, 'POST', '/api/v1/accounts/doctors',
        { body: { ...doctor, password } });
      assert.equal(answer.status, 201, 'a doctor registers');
    }
    await approve(accepted.email);

    page = await newPage(VIEWPORTS[0]);
    await logIn(page, ADMIN, adminPassword);
    assert.deepEqual(await page.locator('#nav a').allTextContents(),
      ['Home', 'My account', 'Administration']);
    await page.locator('#nav').getByRole('link', { name: 'Administration' }).click();
    await waitForPage(page, '/admin');
    assert.equal(await page.locator('h1').count(), 1);
    // The place of the trust page: named, not a link (the IDS page is built: ids.test.mjs).
    const coming = page.locator('.subnav .coming');
    assert.deepEqual(await coming.allTextContents(),
      ['Trust (not built yet: issue 10)']);
    assert.equal(await page.locator('.subnav .coming a, .coming-card a').count(), 0);
    const waiting = page.locator('.figure', { hasText: 'registrations waiting' }).locator('.figure-value');
    assert.ok(Number(await waiting.textContent()) >= 3, 'the seeded and the new registrations');
    assert.ok(Number(await page.locator('.figure', { hasText: 'records stored' })
      .locator('.figure-value').textContent()) > 0, 'the seeded records');
    await check(page, 'admin-overview', VIEWPORTS[0]);
  });

  test('a rejection needs a reason; one registration is rejected, the other approved', async () => {
    await open(page, urls.cloud, '/admin/registrations');
    // By the heading each card is labelled with: a decided card no longer shows the e-mail.
    const card = async (email) => page.locator(`li[aria-labelledby="${
      await page.locator('li.card', { hasText: email }).getAttribute('aria-labelledby')}"]`);
    const doctorCard = await card(rejected.email);
    const patientCard = await card(patient.email);
    assert.equal(await doctorCard.locator('h2').textContent() === `${rejected.display_name} doctor`,
      true, 'the hostile name is shown as text');
    assert.equal(await patientCard.locator('h2').textContent() === `${HOSTILE} patient`, true);
    // The patient's photo, on request: from a blob: URL, decoded.
    await patientCard.getByRole('button', { name: 'Show photo' }).click();
    const photo = patientCard.locator('.registration-photo img');
    await photo.waitFor();
    assert.match(await photo.getAttribute('src'), /^blob:/);
    await page.waitForFunction(() => document.querySelector('.registration-photo img')?.naturalWidth === 1);
    assert.equal(await doctorCard.getByRole('button', { name: 'Show photo' }).count(), 0);
    await noScriptRan(page);
    await check(page, 'admin-registrations', VIEWPORTS[0]);

    // No reason: the browser's check, under the field; then a blank one: ours. Nothing is sent.
    const reason = doctorCard.getByLabel('Reason for rejecting');
    await doctorCard.getByRole('button', { name: 'Reject' }).click();
    assert.notEqual(await fieldError(doctorCard, 'Reason for rejecting'), '');
    assert.equal(await reason.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.name), 'reason', 'focus on the field');
    await reason.fill('   ');
    await doctorCard.getByRole('button', { name: 'Reject' }).click();
    assert.match(await fieldError(doctorCard, 'Reason for rejecting'), /Say why/);
    await reason.fill(REJECTION);
    await doctorCard.getByRole('button', { name: 'Reject' }).click();
    await doctorCard.locator('.notice', { hasText: 'Rejected' }).waitFor();

    await patientCard.getByRole('button', { name: 'Approve' }).click();
    await patientCard.locator('.notice', { hasText: 'Approved' }).waitFor();
    assert.equal(await patientCard.locator('.notice').textContent() ===
      `Approved: ${HOSTILE} can log in now.`, true);
    await noScriptRan(page);

    const patientLogin = await api(urls.cloud, 'POST', '/api/v1/session',
      { body: { email: patient.email, password } });
    assert.equal(patientLogin.status, 200, 'the approved patient logs in');
    const doctorLogin = await api(urls.cloud, 'POST', '/api/v1/session',
      { body: { email: rejected.email, password } });
    assert.equal(doctorLogin.json.reason, 'account_rejected');
    await open(page, urls.cloud, '/admin/registrations');
    assert.equal(await page.locator('li.card', { hasText: rejected.email }).count(), 0, 'decided: gone');
    assertNoProblems(page, 'registrations');
  });

  test('patients are partitioned; an identity needs a reason and a confirmation', async () => {
    await open(page, urls.cloud, '/admin/patients');
    const main = page.locator('main');
    const text = await main.textContent();
    assert.equal(text.includes(patient.email) || text.includes(patient.full_name) ||
      text.includes(HOSTILE), false, 'no identity in the partitioned view');
    // The patient registered here has an approved account and no stored record.
    const rows = main.locator('tbody tr').filter({ has: page.locator('.badge-approved') })
      .filter({ has: page.locator('td[data-label="Records"]', { hasText: /^0$/ }) });
    assert.equal(await rows.count(), 1, 'the new patient is one row');
    const pseudonym = await rows.locator('td[data-label="Pseudonym"] code').getAttribute('title');
    assert.match(pseudonym, /^[0-9a-f]{64}$/);
    await rows.getByRole('button', { name: /^Reveal identity of/ }).click();
    const panel = page.locator('section.reveal');
    await panel.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'reveal-heading');
    await check(page, 'admin-patients', VIEWPORTS[0]);

    await panel.getByRole('button', { name: 'Reveal identity' }).click();
    assert.notEqual(await fieldError(panel, 'Reason'), '', 'the reason comes first');
    await panel.getByLabel('Reason', { exact: true }).fill(REASON);
    await panel.getByRole('button', { name: 'Reveal identity' }).click();
    assert.notEqual(await fieldError(panel, 'I need this identity for the reason above.'), '',
      'then the confirmation');
    await panel.getByLabel('I need this identity for the reason above.').check();
    await panel.getByRole('button', { name: 'Reveal identity' }).click();
    await panel.locator('.notice', { hasText: 'Identity shown' }).waitFor();
    const shown = await panel.locator('dl').last().locator('dd').allTextContents();
    assert.equal(shown.includes(HOSTILE), true, 'the name shown as text');
    assert.equal(shown.includes(patient.full_name), true, 'the registered full name');
    assert.equal(shown.includes(patient.email), true);
    await noScriptRan(page);
    await page.screenshot({ path: artifact('admin-patients-identity-laptop.png'), fullPage: true });

    // Straight to the audit log, filtered by this patient: the reading, with the reason.
    await panel.getByRole('button', { name: 'See in the audit log' }).click();
    await waitForPage(page, '/admin/audit');
    assert.equal(await page.getByLabel('Patient pseudonym').inputValue(), pseudonym);
    await page.locator('.verified').waitFor();
    assert.match(await page.locator('.verified').textContent(), /^Verified\. All \d+ entries are intact/);
    const entry = page.locator('tbody tr',
      { has: page.locator('code', { hasText: 'patient.identity.read' }) });
    assert.equal(await entry.count(), 1);
    assert.equal(await entry.locator('td[data-label="Reason"]').textContent() === REASON, true,
      'the reason, verbatim and as text');
    const who = entry.locator('td[data-label="Who"]');
    assert.equal(await who.locator('.badge').textContent(), 'admin');
    assert.match(await who.locator('code').getAttribute('title'), /^acc_[a-z2-7]{26}$/);
    await noScriptRan(page);
    assertNoProblems(page, 'identity');
  });

  test('the audit log is verified, filters and pages', async () => {
    await open(page, urls.cloud, '/admin/audit');
    await page.locator('.verified').waitFor();
    assert.ok(await page.locator('tbody tr').count() > 0);
    await check(page, 'admin-audit', VIEWPORTS[0]);
    // The top of the (long) page, for docs/ui.md.
    await page.screenshot({ path: artifact('admin-audit-top-laptop.png'), fullPage: true,
      clip: { x: 0, y: 0, width: VIEWPORTS[0].width, height: 1400 } });
    // Older entries, 50 at a time, appended: newest first, no entry twice.
    assert.equal(await page.locator('tbody tr').count(), 50, 'a page of 50 (the seed logs more)');
    await page.getByRole('button', { name: 'Show older entries' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody tr').length > 50);
    const seqs = (await page.locator('td[data-label="When"] .sub').allTextContents())
      .map((text) => Number(text.replace('entry ', '')));
    assert.equal(seqs.every((seq, i) => i === 0 || seq < seqs[i - 1]), true, 'newest first, no repeats');
    // A filter by event: only those entries.
    await page.locator('summary', { hasText: 'Filter' }).click();
    await fill(page, { 'Event (optional)': 'account.reject' });
    await page.getByRole('button', { name: 'Show entries' }).click();
    await page.waitForFunction(() => [...document.querySelectorAll('td[data-label="Event"] code')]
      .every((cell) => cell.textContent === 'account.reject'));
    const reasons = await page.locator('td[data-label="Reason"]').allTextContents();
    assert.equal(reasons.includes(REJECTION), true, 'the rejection, its reason as text');
    // An unknown pseudonym: said under its field.
    page.allowedConsole.push(/status of 404/);
    await fill(page, { 'Event (optional)': '', 'Patient pseudonym (optional)': 'a'.repeat(64) });
    await page.getByRole('button', { name: 'Show entries' }).click();
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
    assert.match(await fieldError(page, 'Patient pseudonym (optional)'), /No patient/);
    assertNoProblems(page, 'audit');
  });

  test('doctors, with their status and the reason of a rejection', async () => {
    await open(page, urls.cloud, '/admin/doctors');
    const row = page.locator('tbody tr', { hasText: rejected.email });
    assert.equal(await row.locator('td[data-label="Name"]').textContent() === rejected.display_name, true);
    assert.equal(await row.locator('.badge').textContent(), 'rejected');
    assert.equal(await row.locator('.reason').textContent() === REJECTION, true);
    assert.equal(await page.locator('tbody tr', { hasText: accepted.email }).locator('.badge')
      .textContent(), 'approved');
    await noScriptRan(page);
    await check(page, 'admin-doctors', VIEWPORTS[0]);
  });

  test('the cloudlets of the mesh, and a new operator for one', async () => {
    await open(page, urls.cloud, '/admin/mesh');
    const row = page.locator('tbody tr', { hasText: 'cloudlet-1' });
    assert.equal(await row.getByRole('link').getAttribute('href'), `${urls.cloudlet}/#/`);
    await check(page, 'admin-mesh', VIEWPORTS[0]);
    const operator = { email: `op-${tag()}@hospital.test`,
      password: `op ${randomBytes(9).toString('base64url')}` };
    await fill(page, { 'Name shown to others': 'Olive Operator', 'E-mail': operator.email,
      'First password': 'short' });
    await page.getByRole('button', { name: 'Create operator' }).click();
    assert.notEqual(await fieldError(page, 'First password'), '');
    await fill(page, { 'First password': operator.password });
    await page.getByRole('button', { name: 'Create operator' }).click();
    await page.locator('.notice', { hasText: 'Olive Operator can now log in for cloudlet-1' }).waitFor();
    const login = await api(urls.cloud, 'POST', '/api/v1/session', { body: operator });
    assert.equal(login.status, 200);
    assert.equal(login.json.cloudlet_id, 'cloudlet-1');
    assertNoProblems(page, 'mesh');
  });

  test('the key of each part, and a rotation started from the page', async () => {
    await open(page, urls.cloud, '/admin/keys');
    assert.equal(await page.locator('main h2').count(), 3);
    await check(page, 'admin-keys', VIEWPORTS[0]);
    page.allowedConsole.push(/status of 409/);
    const ei = page.locator('section.card', { has: page.locator('h2', { hasText: '(EI)' }) });
    await ei.getByRole('button', { name: 'Rotate the EI key' }).click();
    // The deployment's cloud has no KEK files: the page says why it cannot rotate, or rotates.
    await page.waitForFunction(() => {
      const card = document.getElementById('kek-ei').closest('section');
      return card.querySelector('.form-error') !== null ||
        card.querySelector('.badge-ok') !== null;
    });
    assertNoProblems(page, 'keys');
  });

  test('every admin page at phone width', async () => {
    await page.setViewportSize({ width: VIEWPORTS[1].width, height: VIEWPORTS[1].height });
    for (const [label, path] of PAGES) {
      await open(page, urls.cloud, path);
      assert.equal(await page.locator('h1').count(), 1, label);
      await check(page, label, VIEWPORTS[1]);
    }
    await close(page);
  });

  test('the admin pages are for admins only', async () => {
    const other = await newPage();
    try {
      await logIn(other, accepted.email, password);
      assert.equal(await other.locator('#nav a', { hasText: 'Administration' }).count(), 0);
      await other.goto('about:blank');
      await other.goto(`${urls.cloud}/#/admin/patients`);
      await waitForPage(other, '/');
      other.allowedConsole.push(/status of 403/);
      const listed = await other.evaluate(async () => (await fetch('/api/v1/admin/patients')).status);
      assert.equal(listed, 403);
      assertNoProblems(other, 'not an admin');
    } finally {
      await close(other);
    }
  });
});
