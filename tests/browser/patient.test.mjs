// Browser tests of the patient's pages (docs/ui.md "Patient"), run by ctest as
// browser_patient_test on the seeded deployment: one flow through every page. A patient
// registers through the UI with a hostile name and a photo, the admin approves (API), the
// patient logs in; the deployment gives them a device with readings and a record whose symptoms
// are markup (stdin `enrol ... hostile`); they ask cloudlet-1 for portal access and its seeded
// operator approves (API); they read the record, its stored form and verdict, send it to a
// seeded doctor chosen from the list, who answers with a prescription (API); a seeded patient's
// charts zoomed to a day, a week and a month match the API's numbers, and their seeded answer
// shows its prescription; the record is verified, tampered with at the cloud (stdin `tamper`),
// found tampered, restored and verified; the FHIR export downloads one Bundle; the data is
// deleted after the typed confirmation and the login is refused afterwards. Every page is
// checked at laptop and phone width (harness.mjs check()).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import {
  HOSTILE, PNG_1X1, VIEWPORTS, api, approve, assertNoProblems, check, close, command, fieldError,
  fill, logIn, newPage, open, seeded, urls, useDeployment, waitForPage,
} from './harness.mjs';

useDeployment('patient', { seed: true });

const password = `patient ${randomBytes(9).toString('base64url')}`;
const email = `patient-${randomBytes(4).toString('hex')}@hospital.test`;
const DEVICE = { device_id: 'browser-device-1', record_id: 'rec-browser-device-1' };
// Filled in as the flow goes; never printed.
const state = { patientId: null, page: null };

async function token(account) {
  const login = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email: account.login, password: account.password } });
  assert.equal(login.status, 200, 'logs in through the API');
  return login.json.token;
}

const doctorLabel = (d) => `${d.display_name} (${d.speciality}, ${d.hospital})`;

// Both widths of the page the flow is on: the laptop page itself, and a phone-width copy of it
// (logged in as `who`, the new patient unless said).
async function checkBoth(page, label, hashPath, prepare = async () => {}, who = { login: email, password }) {
  await check(page, label, VIEWPORTS[0]);
  const phone = await newPage(VIEWPORTS[1]);
  try {
    await logIn(phone, who.login, who.password);
    await open(phone, urls.cloud, hashPath);
    await prepare(phone);
    await check(phone, label, VIEWPORTS[1]);
  } finally {
    await close(phone);
  }
}

function noScriptRan(page) {
  return page.evaluate(() => window.__pwned === undefined &&
    document.querySelector('main img[onerror], main script') === null);
}

describe('the patient', () => {
  test('registers through the UI, is approved, logs in; the pages wait for portal access', async () => {
    const page = await newPage();
    state.page = page;
    await open(page, urls.cloud, '/register/patient');
    await fill(page, { 'Name shown to others': HOSTILE, 'E-mail': email, Password: password,
      'Password again': password, 'Full name (optional)': HOSTILE });
    await page.getByLabel('Photo (optional)').setInputFiles({ name: 'me.png', mimeType: 'image/png',
      buffer: PNG_1X1 });
    await page.getByRole('button', { name: 'Register' }).click();
    await page.getByRole('heading', { name: 'Registration received' }).waitFor();
    await approve(email);
    await logIn(page, email, password);
    const nav = await page.locator('nav a').allTextContents();
    assert.deepEqual(nav, ['Home', 'My account', 'My profile', 'My readings', 'My records',
      "Doctors' answers", 'My data']);
    state.patientId = await page.evaluate(async () => (await (await fetch('/api/v1/session')).json()).patient_id);

    // Before an operator opens the portal, the medical pages say how to get access.
    page.allowedConsole.push(/status of 403/);
    for (const path of ['/patient/readings', '/patient/records', '/patient/answers']) {
      await open(page, urls.cloud, path);
      await page.locator('main .notice-wait').waitFor();
      assert.match(await page.locator('main .notice-wait').textContent(), /not open yet/, path);
    }
    page.allowedConsole.length = 0;
    assertNoProblems(page, 'before portal access');
  });

  test('asks cloudlet-1 for portal access on the profile page; the operator approves', async () => {
    const { page } = state;
    assert.equal(await command(`enrol ${state.patientId} ${DEVICE.device_id} hostile`), 'ok',
      'the deployment enrols a device with data for the patient');

    await open(page, urls.cloud, '/patient/profile');
    const shown = await page.locator('main dd').first().textContent();
    assert.equal(shown === HOSTILE, true, 'the hostile name is shown as text');
    assert.equal(await noScriptRan(page), true, 'no script ran');
    await page.locator('img.profile-photo').waitFor();
    assert.match(await page.locator('img.profile-photo').getAttribute('src'), /^blob:/);
    assert.equal(await page.locator('[data-list="activations"]').count(), 0, 'nothing asked yet');

    await page.getByLabel('Cloudlet', { exact: true }).selectOption('cloudlet-1');
    await page.getByRole('button', { name: 'Ask for access' }).click();
    await page.locator('[data-list="activations"] li[data-status="requested"]').waitFor();
    assert.match(await page.locator('[data-list="activations"] li').textContent(), /Waiting for the operator/);

    // A second request at the same cloudlet: refused next to the field, the choice kept.
    page.allowedConsole.push(/status of 409/);
    await page.getByRole('button', { name: 'Ask for access' }).click();
    await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
    assert.match(await fieldError(page, 'Cloudlet'), /asked this cloudlet already/);
    page.allowedConsole.length = 0;

    const op = await token(seeded('operator'));
    const pending = await api(urls.cloud, 'GET', '/api/v1/activations?status=requested', { token: op });
    assert.equal(pending.json.activations.length, 1, 'the operator sees the request');
    const decided = await api(urls.cloud, 'POST',
      `/api/v1/activations/${pending.json.activations[0].activation_id}/decision`,
      { token: op, body: { approve: true, reason: '<b>checked</b> at the desk' } });
    assert.equal(decided.status, 200, 'the operator approves');

    await open(page, urls.cloud, '/patient/profile');
    await page.locator('[data-list="activations"] li[data-status="approved"]').waitFor();
    assert.equal(await page.locator('[data-list="activations"] q').textContent(), '<b>checked</b> at the desk');
    await checkBoth(page, 'patient-profile', '/patient/profile',
      (p) => p.locator('[data-list="activations"] li[data-status="approved"]').waitFor());
  });

  test('sees the record as text, its stored form and verdict, and sends it to a doctor', async () => {
    const { page } = state;
    const device = DEVICE;
    const doctor = seeded('doctor', (d) => d.approved);
    await open(page, urls.cloud, '/patient/records');
    const item = page.locator(`li.record[data-record="${device.record_id}"]`);
    assert.match(await item.locator('.record-summary').textContent(), /<img src=x onerror=/);
    assert.equal(await noScriptRan(page), true, 'the symptoms stay text');
    assert.match(await page.locator('[data-list="devices"]').textContent(), new RegExp(device.device_id));

    await item.getByText('Stored form and integrity check').click();
    await item.locator('.verdict[data-ok="true"]').waitFor();
    for (const part of ['link', 'ei', 'qi', 'mi', 'digest', 'device_signature']) {
      assert.ok((await item.locator(`[data-stored="${part}"] code`).textContent()).length > 10, part);
    }
    await checkBoth(page, 'patient-records', '/patient/records', async (p) => {
      await p.getByText('Stored form and integrity check').click();
      await p.locator('.verdict[data-ok="true"]').waitFor();
    });

    // Nothing ticked: refused above the form, nothing sent.
    await page.getByLabel('Doctor', { exact: true }).selectOption({ label: doctorLabel(doctor) });
    await page.getByRole('button', { name: 'Send the chosen records' }).click();
    await page.locator('form .form-error', { hasText: 'Tick at least one record' }).waitFor();
    await item.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Send the chosen records' }).click();
    await page.locator('main .page-message', { hasText: `Sent 1 record to ${doctor.display_name}` }).waitFor();

    const consents = await page.evaluate(async () => (await (await fetch('/api/v1/consents')).json()).consents);
    assert.equal(consents.length, 1);
    assert.equal(consents[0].doctor_id === doctor.account_id, true, 'to the doctor chosen');
    const dr = await token(doctor);
    const answered = await api(urls.cloud, 'POST', `/api/v1/consents/${consents[0].consent_id}/answers`, {
      token: dr, body: { diagnosis: 'Viral infection.\nRest.', medication: HOSTILE,
        prescription: { drug: 'Paracetamol', dose: '500 mg', frequency: 'every 6 hours', duration: '5 days' } } });
    assert.equal(answered.status, 201, 'the doctor answers with a prescription');
    assertNoProblems(page, 'records');
  });

  test("sees the doctor's answer with the prescription, and revokes the grant", async () => {
    const { page } = state;
    const doctor = seeded('doctor', (d) => d.approved);
    await open(page, urls.cloud, '/patient/answers');
    const answer = page.locator('article.answer');
    assert.equal(await answer.count(), 1);
    assert.equal(await answer.locator('h2').textContent() === doctorLabel(doctor), true, 'the doctor, from the list');
    assert.equal(await answer.locator('dd.pre').first().textContent(), 'Viral infection.\nRest.');
    assert.equal(await answer.locator('dd.pre').nth(1).textContent() === HOSTILE, true, 'medication as text');
    assert.equal(await noScriptRan(page), true);
    const prescription = await answer.locator('.prescription dd').allTextContents();
    assert.deepEqual(prescription, ['Paracetamol', '500 mg', 'every 6 hours', '5 days']);
    await checkBoth(page, 'patient-answers', '/patient/answers');

    await page.getByRole('button', { name: /^Revoke what you sent to / }).click();
    await page.locator('main .page-message', { hasText: 'Revoked' }).waitFor();
    assert.match(await page.locator('li.grant').textContent(), /Revoked/);
    assertNoProblems(page, 'answers');
  });

  test("a seeded patient's charts, zoomed to a day, a week and a month, match the API; their answer shows", async () => {
    const who = seeded('patient', (p) => p.answered && p.prescription && !p.revoked);
    const page = await newPage();
    try {
      await logIn(page, who.login, who.password);
      const series = page.waitForResponse((r) => r.url().includes('/api/v1/me/readings?'));
      await open(page, urls.cloud, '/patient/readings');
      let answer = await (await series).json();
      let width = 0;
      for (const zoom of ['day', 'week', 'month']) {
        if (zoom !== 'day') {
          const next = page.waitForResponse((r) => r.url().includes('/api/v1/me/readings?'));
          await page.locator(`button[data-zoom="${zoom}"]`).click();
          answer = await (await next).json();
        }
        await page.waitForFunction((from) => document.querySelector('figure.chart')?.dataset.fromMs === String(from),
          answer.from_ms);
        assert.equal(await page.locator(`button[data-zoom="${zoom}"]`).getAttribute('aria-pressed'), 'true');
        // 35 days of seeded readings: every span is full, summarised in wider periods as it grows.
        assert.ok(answer.count > 0, zoom);
        assert.ok((answer.bucket_ms ?? 0) > width, `${zoom}: wider periods`);
        width = answer.bucket_ms ?? 0;
        const expected = answer.bucket_ms === null
          ? answer.readings.map((r) => [r.time_ms, r.value])
          : answer.buckets.map((b) => [b.start_ms, b.mean]);
        assert.ok(expected.length > 1, zoom);
        const table = await page.locator('figure.chart tbody tr').evaluateAll((rows) => rows.map((row) =>
          [Number(row.dataset.timeMs), Number(row.querySelector('td').textContent)]));
        const round = (v) => Math.round(v * 100) / 100;
        assert.deepEqual(table, expected.map(([t, v]) => [t, round(v)]), `${zoom}: the table`);
        const drawn = await page.evaluate(() => globalThis.Chart.getChart(document.querySelector('figure.chart canvas'))
          .data.datasets[0].data.map((p) => [p.x, p.y]));
        assert.deepEqual(drawn, table, `${zoom}: the chart's points`);
        assert.match(await page.locator('figure.chart figcaption').textContent(), 
          new RegExp(`(${answer.count}|${answer.count.toLocaleString('en-US')}) readings?`));
        if (zoom === 'day') {
          await checkBoth(page, 'patient-readings', '/patient/readings',
            (p) => p.locator('figure.chart tbody tr').first().waitFor({ state: 'attached' }), who);
        }
      }
      // Earlier moves back by the span shown (a month).
      const earlier = page.waitForResponse((r) => r.url().includes('/api/v1/me/readings?'));
      await page.getByRole('button', { name: '← Earlier' }).click();
      const before = await (await earlier).json();
      assert.ok(before.to_ms <= answer.from_ms + (answer.bucket_ms ?? 0), 'the month before');

      // The seeded answer, with its prescription, as the API gives it.
      const { answers } = (await api(urls.cloud, 'GET', '/api/v1/answers', { token: await token(who) })).json;
      const last = answers[answers.length - 1];
      assert.ok(last.prescription, 'seeded with a prescription');
      await open(page, urls.cloud, '/patient/answers');
      const card = page.locator('article.answer').first();
      assert.equal(await card.locator('dd.pre').first().textContent() === last.diagnosis, true);
      assert.deepEqual(await card.locator('.prescription dd').allTextContents(),
        [last.prescription.drug, last.prescription.dose, last.prescription.frequency, last.prescription.duration]);
      assertNoProblems(page, 'seeded patient');
    } finally {
      await close(page);
    }
  });

  test('verifies the record, finds it tampered with, restores it and verifies it again', async () => {
    const { page } = state;
    await open(page, urls.cloud, '/patient/records');
    const item = page.locator(`li.record[data-record="${DEVICE.record_id}"]`);
    await item.getByText('Stored form and integrity check').click();
    await item.locator('.verdict[data-ok="true"]').waitFor();
    await item.getByRole('button', { name: 'Verify now' }).click();
    await item.locator('.page-message', { hasText: 'the record verifies' }).waitFor();

    assert.equal(await command(`tamper ${state.patientId}`), 'ok');
    await item.getByRole('button', { name: 'Verify now' }).click();
    await item.locator('.verdict[data-ok="false"]').waitFor();
    assert.match(await item.locator('.verdict').textContent(), /Tampered/);
    const restore = item.getByRole('button', { name: "Restore from the cloudlet's copy" });
    assert.equal(await restore.isVisible(), true);
    await page.screenshot({ path: `${process.env.MEDMESH_BROWSER_ARTIFACTS}/patient-records-tampered-laptop.png`, fullPage: true });
    await restore.click();
    await item.locator('.page-message', { hasText: 'Restored from cloudlet cloudlet-1' }).waitFor();
    await item.locator('.verdict[data-ok="true"]').waitFor();
    assert.equal(await restore.isVisible(), false);
    await item.getByRole('button', { name: 'Verify now' }).click();
    await item.locator('.page-message', { hasText: 'the record verifies' }).waitFor();
    assertNoProblems(page, 'verify and restore');
  });

  test('exports FHIR as one Bundle file, sees who saw the data, and deletes it', async () => {
    const { page } = state;
    await open(page, urls.cloud, '/patient/data');
    await page.locator('main tbody tr').first().waitFor();
    assert.ok(await page.locator('main tbody tr th', { hasText: 'You' }).count() > 0, 'the audit lists the patient');
    await checkBoth(page, 'patient-data', '/patient/data', (p) => p.locator('main tbody tr').first().waitFor());

    await page.getByRole('button', { name: 'Prepare my FHIR export' }).click();
    const save = page.getByRole('link', { name: /^Save the file/ });
    await save.waitFor();
    assert.match(await save.getAttribute('href'), /^blob:/, 'no token or data in a URL');
    const [download] = await Promise.all([page.waitForEvent('download'), save.click()]);
    const bundle = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'collection');
    const types = bundle.entry.map((e) => e.resource.resourceType);
    assert.equal(types[0], 'Patient');
    assert.equal(types.filter((t) => t === 'Patient').length, 1, 'the Patient once, though on every page');
    assert.ok(types.filter((t) => t === 'Observation').length >= 20, 'every reading');
    assert.ok(types.includes('MedicationRequest'), 'the prescription');

    // The confirmation: a wrong phrase is refused next to the field, nothing deleted.
    await fill(page, { 'Type “delete my data” to confirm': 'delete' });
    await page.getByRole('button', { name: 'Delete my data for good' }).click();
    assert.match(await fieldError(page, 'Type “delete my data” to confirm'), /Type exactly/);
    await fill(page, { 'Type “delete my data” to confirm': 'delete my data' });
    await page.getByRole('button', { name: 'Delete my data for good' }).click();
    await waitForPage(page, '/login');
    assert.match(await page.locator('.notice').textContent(), /data was deleted/);
    assert.equal(await page.evaluate(() => document.cookie.includes('mm_csrf=')), false, 'logged out');
    // The account is closed with the data: logging in again is refused.
    page.allowedConsole.push(/status of 403/);
    await fill(page, { 'E-mail': email, Password: password });
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('form .form-error', { hasText: /disabled|closed/ }).waitFor();
    const again = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password } });
    assert.equal(again.status, 403);
    assert.equal(again.json.reason, 'account_disabled');
    assertNoProblems(page, 'export and delete');
    await close(page);
  });
});
