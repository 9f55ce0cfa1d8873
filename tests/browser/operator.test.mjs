// Browser test of the cloudlet operator's pages (docs/ui.md "Cloudlet operator"), run by ctest
// as browser_operator_test against a seeded deployment (deployment_main.cc --seed): the seeded
// operator of cloudlet-1 logs in at the cloud; every operator page at laptop and phone width;
// two fresh patients' portal-access requests, one approved and one denied through the UI; the
// charts' numbers read from their tables against the API; the devices with their last contact
// and a withdrawal; the stored data in encrypted form against the API; security events caused
// by the test's own forged requests; a record restored after tampering at the cloud.
// Nothing printed names a person, an id or a password: assertions compare booleans and counts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  VIEWPORTS, api, approve, assertNoProblems, check, close, command, fieldError, logIn, newPage,
  open, seed, seeded, urls, useDeployment,
} from './harness.mjs';

useDeployment('operator', { seed: true });

const PASSWORD = randomBytes(18).toString('base64url');
const CLOUD_PAGES = [['requests', '/operator/requests'], ['charts', '/operator/charts'],
  ['restores', '/operator/restores']];
const CLOUDLET_PAGES = [['status', '/operator/status'], ['stored', '/operator/stored'],
  ['devices', '/operator/devices'], ['events', '/operator/events']];
// The intrusion detection page (#/operator/ids) has its own test: ids.test.mjs.

let operator;
let operatorToken;
// Two fresh patients with a device at cloudlet-1, each with a pending portal-access request.
const fresh = [];

async function sessionToken(email, password) {
  const login = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password } });
  assert.equal(login.status, 200, 'a login through the API');
  return login.json.token;
}

// Registers and approves a patient, has the deployment enrol a device for them at cloudlet-1
// (with a record and readings), and asks for portal access there.
async function patientWithRequest(n) {
  const email = `fresh-${n}-${randomBytes(4).toString('hex')}@patients.test`;
  const registered = await api(urls.cloud, 'POST', '/api/v1/accounts/patients',
    { body: { email, password: PASSWORD, display_name: `Fresh patient ${n}` } });
  assert.equal(registered.status, 201, 'the patient registers');
  await approve(email);
  const token = await sessionToken(email, PASSWORD);
  const me = await api(urls.cloud, 'GET', '/api/v1/session', { token });
  const deviceId = `op-watch-${n}`;
  assert.equal(await command(`enrol ${me.json.patient_id} ${deviceId}`), 'ok',
    'the deployment enrols a device for the patient');
  const asked = await api(urls.cloud, 'POST', '/api/v1/activations',
    { token, body: { cloudlet_id: 'cloudlet-1' } });
  assert.equal(asked.status, 201, 'the patient asks for portal access');
  return { token, patientId: me.json.patient_id, deviceId, activationId: asked.json.activation_id };
}

// What every test needs, made once, on first use (inside a test: the harness's before hook has
// started the deployment by then).
let preparing = null;
const ready = () => { preparing ??= prepare(); return preparing; };

async function prepare() {
  operator = seeded('operator', (a) => a.cloudlet_id === 'cloudlet-1');
  operatorToken = await sessionToken(operator.login, operator.password);
  fresh.push(await patientWithRequest(1), await patientWithRequest(2));
  // Requests the cloudlet's intrusion detection must notice: a forged session token, and an
  // upload that is no upload at all.
  const forged = await fetch(`${urls.cloudlet}/api/v1/ids/events`,
    { headers: { Authorization: 'Bearer mm1.forged.token' } });
  assert.equal(forged.status, 401);
  const junk = await fetch(`${urls.cloudlet}/api/v1/ingest`, {
    method: 'POST', headers: { 'Content-Type': 'application/octet-stream' },
    body: Buffer.concat([Buffer.from('MMUP'), randomBytes(200)]),
  });
  assert.ok(junk.status >= 400 && junk.status < 500, 'the junk upload is refused');
  // A seeded record tampered with at the cloud, then restored by its patient: the restores page
  // lists it.
  const patient = seeded('patient', (a) => a.device_id && a.patient_id);
  assert.equal(await command(`tamper ${patient.patient_id}`), 'ok', 'a record is tampered with');
  const token = await sessionToken(patient.login, patient.password);
  const restored = await api(urls.cloud, 'POST',
    `/api/v1/integrity/records/${patient.device_id}/rec-${patient.device_id}/restore`, { token });
  assert.equal(restored.status, 200, 'the patient restores the record');
  // The seed's patient who shares nothing sends a record to the first patient's doctor, so one
  // doctor has two patients: the doctor chart (k = 2 in this deployment) has a bar to name.
  const first = seeded('patient', (a) => a.device_id !== '' && a.doctor_login !== '');
  const doctor = seeded('doctor', (a) => a.login === first.doctor_login);
  const sharer = seeded('patient', (a) => a.device_id !== '' && a.doctor_login === '' && a.patient_id !== '');
  const sharerToken = await sessionToken(sharer.login, sharer.password);
  const records = await api(urls.cloud, 'GET', '/api/v1/me/records', { token: sharerToken });
  assert.equal(records.status, 200);
  const { device_id: deviceId, record_id: recordId } = records.json.records[0];
  const grant = await api(urls.cloud, 'POST', '/api/v1/consents', { token: sharerToken,
    body: { doctor_id: doctor.account_id, records: [{ device_id: deviceId, record_id: recordId }] } });
  assert.equal(grant.status, 201, 'the grant is made');
}

// The text of every cell of a table, row by row.
async function tableCells(page, id) {
  return page.locator(`#${id} tbody tr`).evaluateAll((rows) =>
    rows.map((row) => [...row.cells].map((cell) => cell.textContent.trim())));
}

describe('the operator pages', () => {
  for (const viewport of VIEWPORTS) {
    test(`every page at ${viewport.name}`, async () => {
      await ready();
      const page = await newPage(viewport);
      try {
        await logIn(page, operator.login, operator.password);
        const nav = await page.locator('nav a').allTextContents();
        assert.deepEqual(nav, ['Home', 'My account', 'Access requests', 'Charts', 'Restored records']);
        for (const [node, list] of [['cloud', CLOUD_PAGES], ['cloudlet', CLOUDLET_PAGES]]) {
          for (const [name, hashPath] of list) {
            await open(page, urls[node], hashPath);
            assert.equal(await page.locator('h1').count(), 1, `${name}: one h1`);
            assert.equal(await page.locator('main [role="alert"]:not(:empty)').count(), 0,
              `${name}: no error shown`);
            await check(page, `operator-${name}`, viewport);
          }
        }
        // At the cloudlet, the navigation holds the cloudlet's operator pages.
        assert.deepEqual(await page.locator('nav a').allTextContents(),
          ['Home', 'Device console', 'Status', 'Stored data', 'Devices', 'Security events',
            'Peer trust', 'Intrusion detection']);
      } finally {
        await close(page);
      }
    });
  }

  test('a pending request is approved and another denied through the page', async () => {
    await ready();
    const page = await newPage();
    try {
      await logIn(page, operator.login, operator.password);
      await open(page, urls.cloud, '/operator/requests');
      const [first, second] = fresh;
      const card = (f) => page.locator(`[data-activation="${f.activationId}"]`);
      assert.equal(await card(first).count(), 1, 'the first request waits');
      assert.equal(await card(second).count(), 1, 'the second request waits');

      await card(first).getByRole('button', { name: 'Approve' }).click();
      await card(first).waitFor({ state: 'detached' });
      // Denying needs a reason: the field says so, next to it.
      await card(second).getByRole('button', { name: 'Deny' }).click();
      const reasonField = card(second).getByLabel('Reason for denying');
      assert.equal(await reasonField.getAttribute('aria-invalid'), 'true', 'the reason is required');
      assert.notEqual((await fieldError(card(second), 'Reason for denying')).trim(), '');
      await reasonField.fill('No device of yours was seen here <b>this</b> month.');
      await card(second).getByRole('button', { name: 'Deny' }).click();
      await card(second).waitFor({ state: 'detached' });

      const decided = await tableCells(page, 'decided-requests');
      const rowOf = (f) => decided.find((cells) => cells[0] === f.patientId);
      assert.equal(rowOf(first)?.[1], 'approved', 'the table shows the approval');
      assert.equal(rowOf(second)?.[1], 'denied', 'the table shows the denial');
      assert.equal(rowOf(second)?.[2], 'No device of yours was seen here <b>this</b> month.',
        'the reason shows as text');
      // The patients see the answers.
      for (const [f, status] of [[first, 'approved'], [second, 'denied']]) {
        const mine = await api(urls.cloud, 'GET', '/api/v1/activations', { token: f.token });
        assert.equal(mine.json.activations.find((a) => a.activation_id === f.activationId)?.status,
          status);
      }
      await check(page, 'operator-requests-decided', VIEWPORTS[0]);
    } finally {
      await close(page);
    }
  });

  test("the charts' tables hold the cloud's numbers, and Chart.js drew them", async () => {
    await ready();
    const page = await newPage();
    try {
      await logIn(page, operator.login, operator.password);
      await open(page, urls.cloud, '/operator/charts');
      const charts = await api(urls.cloud, 'GET', '/api/v1/statistics/charts',
        { token: operatorToken });
      assert.equal(charts.status, 200);
      const { symptoms, doctors } = charts.json;
      assert.ok(symptoms.length > 0 && doctors.length > 0, 'both charts show a bar');
      assert.deepEqual(await tableCells(page, 'symptoms-table'),
        symptoms.map((s) => [s.symptom, String(s.patients)]));
      // Doctors by name and speciality, from the directory of approved doctors.
      const directory = await api(urls.cloud, 'GET', '/api/v1/doctors', { token: operatorToken });
      assert.equal(directory.status, 200);
      const named = new Map(directory.json.doctors.map((d) => [d.account_id,
        `${d.display_name} (${d.speciality})`]));
      assert.deepEqual(await tableCells(page, 'doctors-table'),
        doctors.map((d) => [named.get(d.doctor_id), String(d.patients)]));
      // A chart for each list with bars, drawn by Chart.js from the same numbers.
      const expected = [symptoms.map((s) => s.patients), doctors.map((d) => d.patients)]
        .filter((counts) => counts.length > 0);
      await page.waitForFunction((n) => document.querySelectorAll('canvas').length === n &&
        [...document.querySelectorAll('canvas')].every((c) => globalThis.Chart?.getChart(c)),
      expected.length);
      const drawn = await page.evaluate(() => [...document.querySelectorAll('canvas')]
        .map((c) => globalThis.Chart.getChart(c).data.datasets[0].data));
      assert.deepEqual(drawn, expected);
    } finally {
      await close(page);
    }
  });

  test('restores, security events, stored data and status show what happened', async () => {
    await ready();
    const page = await newPage();
    try {
      await logIn(page, operator.login, operator.password);
      await open(page, urls.cloud, '/operator/restores');
      const restores = await tableCells(page, 'restores');
      assert.ok(restores.some((cells) => cells[1] === 'record' && cells[4] !== ''),
        'the tampered record is listed as restored, with the check it failed');

      await open(page, urls.cloudlet, '/operator/events');
      const kinds = await page.locator('#events [data-kind]').evaluateAll((cells) =>
        cells.map((cell) => cell.dataset.kind));
      assert.ok(kinds.includes('auth_failure'), 'the forged token is listed');
      assert.ok(kinds.includes('malformed'), 'the junk upload is listed');

      await open(page, urls.cloudlet, '/operator/stored');
      const [first] = fresh;
      await page.getByLabel('Patient', { exact: true }).selectOption(first.patientId);
      await page.getByRole('button', { name: 'Show stored data' }).click();
      await page.locator('#stored-records tbody tr').first().waitFor();
      const stored = await api(urls.cloudlet, 'GET',
        `/api/v1/patients/${first.patientId}/stored?limit=50`, { token: operatorToken });
      assert.equal(stored.status, 200);
      const records = await tableCells(page, 'stored-records');
      assert.equal(records.length, stored.json.records.length);
      assert.equal(records[0][2], stored.json.records[0].record_id);
      assert.equal(records[0][4].replace(/[ …]/g, ''), stored.json.records[0].ciphertext_head,
        'the excerpt is the stored ciphertext');
      assert.equal((await tableCells(page, 'stored-batches')).length,
        stored.json.reading_batches.length);

      await open(page, urls.cloudlet, '/operator/status');
      const stats = await api(urls.cloudlet, 'GET', '/api/v1/stats', { token: operatorToken });
      assert.equal(await page.locator('[data-stat="records_stored"]').textContent(),
        String(stats.json.records_stored));
      assert.equal(await page.locator('#ready-state').textContent(), 'This cloudlet is ready.');
    } finally {
      await close(page);
    }
  });

  test('devices with their last contact; withdrawing one needs its id typed', async () => {
    await ready();
    const page = await newPage();
    try {
      await logIn(page, operator.login, operator.password);
      await open(page, urls.cloudlet, '/operator/devices');
      const rows = await tableCells(page, 'devices');
      const seededDevices = seed.accounts.filter((a) => a.device_id).map((a) => a.device_id);
      for (const id of [...seededDevices, ...fresh.map((f) => f.deviceId)]) {
        const row = rows.find((cells) => cells[0] === id);
        assert.ok(row, 'each device is listed');
        assert.notEqual(row[3], 'never', 'each device has sent something');
        assert.equal(row[4], 'enrolled');
      }
      const target = fresh[1].deviceId;
      await page.getByRole('button', { name: `Withdraw ${target}` }).click();
      const confirmField = page.getByLabel('Type the device id to confirm');
      await confirmField.fill('not-this-one');
      await page.getByRole('button', { name: 'Withdraw the device' }).click();
      assert.equal(await confirmField.getAttribute('aria-invalid'), 'true');
      const still = await api(urls.cloudlet, 'GET', '/api/v1/devices', { token: operatorToken });
      assert.equal(still.json.devices.find((d) => d.device_id === target).status, 'enrolled',
        'a wrong id withdraws nothing');
      await confirmField.fill(target);
      await page.getByRole('button', { name: 'Withdraw the device' }).click();
      await page.getByText(`Device ${target} is withdrawn.`).waitFor();
      const after = await tableCells(page, 'devices');
      assert.equal(after.find((cells) => cells[0] === target)[4], 'withdrawn');
      const listed = await api(urls.cloudlet, 'GET', '/api/v1/devices', { token: operatorToken });
      assert.equal(listed.json.devices.find((d) => d.device_id === target).status, 'withdrawn');
      await check(page, 'operator-devices-withdrawn', VIEWPORTS[0]);
    } finally {
      await close(page);
    }
  });
});
