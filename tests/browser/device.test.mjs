// Browser test of the wearable device console at a cloudlet (docs/device_console.md, run by ctest
// as browser_device_test) on the seeded deployment: the cloudlet's operator enrols a console
// device for a seeded patient, sends a patient report with a hostile name, a photo and a
// symptoms document, sees it listed as sent with its signature verifying, starts the live
// stream, sees readings arrive (waiting on their count) in the chart and the table, and stops
// it; the patient then sees their console device's uploads, read-only. Every state is checked
// at laptop and phone width (axe, no sideways scrolling, no console error or CSP violation).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  HOSTILE, PNG_1X1, VIEWPORTS, api, approve, assertNoProblems, browser, check, close, fill, logIn,
  newPage, open, seeded, urls, useDeployment, waitForPage,
} from './harness.mjs';

useDeployment('device', { seed: true });

const [LAPTOP, PHONE] = VIEWPORTS;
const REPORT = 'form[aria-label="Add a patient report"]';

// The operator of the deployment's cloudlet, and a patient of its ward.
const operator = () => seeded('operator', (a) => a.cloudlet_id === 'cloudlet-1');
const patient = () => seeded('patient', (a) => a.cloudlet_id === 'cloudlet-1' && a.patient_id);

async function openConsole(page) {
  await open(page, urls.cloudlet, '/console');
}

// Waits until the stream's readings counter says at least `count` (the page polls every 2 s).
async function waitForReadings(page, count) {
  await page.waitForFunction((n) => {
    const counter = document.querySelector('.stream-count');
    return counter && Number(counter.dataset.readings ?? 0) >= n;
  }, count, { timeout: 60_000 });
}

describe('device console', () => {
  test('logged out: the console leads to the cloudlet\'s own login, and back', async () => {
    const op = operator();
    const page = await newPage(LAPTOP);
    // Under another host name than the cloud's, so no cookie of the cloud's can reach the
    // cloudlet (cookies ignore ports): the session is the one the cloudlet's login sets.
    const cloudlet = urls.cloudlet.replace('127.0.0.1', 'localhost');
    await page.goto(`${cloudlet}/#/console`);
    await waitForPage(page, '/login');
    await page.getByText('Log in to see that page.').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Register as a patient' }).getAttribute('href'),
      `${urls.cloud}/#/register/patient`);
    await check(page, 'cloudlet-login', LAPTOP);

    // A wrong password: the cloud's refusal, relayed, above the form; the e-mail kept.
    page.allowedConsole.push(/status of 401/);
    await fill(page, { 'E-mail': op.login, Password: 'not the password' });
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#main').getByText('The e-mail or the password is wrong.').waitFor();
    assert.equal(await page.getByLabel('E-mail', { exact: true }).inputValue() === op.login, true,
      'the form keeps what was typed');
    page.allowedConsole.pop();

    await fill(page, { Password: op.password });
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitForPage(page, '/console');
    await page.getByRole('button', { name: 'Enrol device' }).waitFor();
    const cookies = await page.context().cookies();
    assert.ok(cookies.some((c) => c.name === 'mm_session' && c.domain === 'localhost'),
      'the cloudlet set the session cookie for its own origin');
    assert.ok(cookies.every((c) => c.domain === 'localhost'), 'no cookie from elsewhere');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#session-area').getByRole('link', { name: 'Log in' }).waitFor();
    assert.equal((await page.context().cookies()).some((c) => c.name === 'mm_session' && c.value),
      false, 'logging out clears the session cookie');
    assertNoProblems(page, 'cloudlet login');
    await close(page);
  });

  test('the operator enrols, reports, sees what was sent, streams and stops', async () => {
    const op = operator();
    const owner = patient();
    const page = await newPage(LAPTOP);
    await logIn(page, op.login, op.password);
    await openConsole(page);

    // Enrol: the patients with a device here are offered.
    const select = page.getByLabel('Patient', { exact: true });
    await select.selectOption(owner.patient_id);
    await page.getByLabel('Simulated condition').selectOption('atrial_fibrillation');
    await page.getByRole('button', { name: 'Enrol device' }).click();
    await page.locator('#device-heading').waitFor();
    const deviceId = (await page.locator('#device-heading .mono').textContent()).trim();
    assert.match(deviceId, /^console-[0-9a-f]{16}$/);

    // A report with a hostile name, a photo and a symptoms document.
    const report = page.locator(REPORT);
    await report.locator('[name=name]').fill(`${HOSTILE} Ada`);
    await report.locator('[name=phone]').fill('+44 20 7946 0958');
    await report.locator('[name=address]').fill('12 St James\'s Square');
    await report.locator('[name=symptoms]').fill('palpitations, short of breath');
    await report.locator('[name=pulse_bpm]').fill('112');
    await report.locator('[name=ecg_summary]').fill('atrial fibrillation, 112/min');
    // First an oversized photo: refused next to its field, nothing typed is lost.
    await report.locator('[name=photo]').setInputFiles({
      name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(1024 * 1024 + 1, 0x42) });
    await page.getByRole('button', { name: 'Seal and send report' }).click();
    await page.locator('#main').getByText('The photo is larger than 1 MiB.').waitFor();
    assert.equal(await report.locator('[name=pulse_bpm]').inputValue(), '112');
    await report.locator('[name=photo]').setInputFiles({
      name: 'face.png', mimeType: 'image/png', buffer: PNG_1X1 });
    await report.locator('[name=symptoms_document]').setInputFiles({
      name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('worse at night') });
    await page.getByRole('button', { name: 'Seal and send report' }).click();
    const notice = page.locator(`${REPORT} >> xpath=.. >> .notice`);
    await notice.waitFor();
    // The hostile name is shown as text and ran nothing.
    assert.ok((await notice.textContent()).includes(HOSTILE), 'the name shows as typed');
    assert.match(await notice.textContent(), /sealed, signed and stored/);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);

    // What the device sent: the report, its signature verifying, stored here.
    const record = page.locator('li.upload[data-kind="patient_record"]');
    await record.waitFor();
    assert.match(await record.textContent(), /signature verifies/);
    assert.match(await record.locator('dd .mono').nth(3).textContent(), /^[0-9a-f]{128}$/);
    assert.doesNotMatch(await page.locator('.uploads').textContent(), /Ada/);
    await check(page, 'device-console', LAPTOP);

    // The live stream: readings arrive, in the chart and the table; then it stops.
    assert.equal(await page.getByRole('button', { name: 'Stop stream' }).isVisible(), false);
    await page.getByRole('button', { name: 'Start stream' }).click();
    await waitForReadings(page, 20);  // a few batches: a line in the chart
    assert.equal(await page.getByRole('button', { name: 'Start stream' }).isVisible(), false);
    assert.ok(await page.locator('table.readings tbody tr').count() > 0, 'readings in the table');
    const charted = await page.evaluate(() => {
      const chart = globalThis.Chart?.getChart(document.querySelector('.chart-box canvas'));
      return chart ? chart.data.datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0) : 0;
    });
    assert.ok(charted > 0, 'the chart draws the readings');
    await check(page, 'device-stream', LAPTOP);
    await page.getByRole('button', { name: 'Stop stream' }).click();
    await page.waitForFunction(() =>
      document.querySelector('.stream-count')?.dataset.running === 'false');
    await page.getByRole('button', { name: 'Start stream' }).waitFor();
    // The batches it sent are listed as verifying uploads too.
    await page.locator('li.upload[data-kind="readings_batch"]').first().waitFor();
    assert.match(await page.locator('li.upload[data-kind="readings_batch"]').first().textContent(),
      /signature verifies/);
    await close(page);

    // At phone width.
    const phone = await newPage(PHONE);
    await logIn(phone, op.login, op.password);
    await openConsole(phone);
    await phone.locator('li.upload').first().waitFor();
    await check(phone, 'device-console', PHONE);
    await phone.getByRole('button', { name: 'Start stream' }).click();
    await waitForReadings(phone, 1);
    await check(phone, 'device-stream', PHONE);
    await phone.getByRole('button', { name: 'Stop stream' }).click();
    await phone.waitForFunction(() =>
      document.querySelector('.stream-count')?.dataset.running === 'false');
    await close(phone);
  });

  test("the patient sees their console device's uploads and may drive it, never pick a patient", async () => {
    const owner = patient();
    for (const viewport of VIEWPORTS) {
      const page = await newPage(viewport);
      await logIn(page, owner.login, owner.password);
      await openConsole(page);
      await page.locator('li.upload').first().waitFor();
      await page.locator('.stream-count[data-running]').waitFor();
      // Their own enrolment form: no choice of patient.
      assert.equal(await page.locator('form[aria-label="Enrol a console device"]').count(), 1);
      assert.equal(await page.getByLabel('Patient', { exact: true }).count(), 0);
      assert.equal(await page.locator(REPORT).count(), 1);
      assert.equal(await page.getByRole('button', { name: 'Start stream' }).isVisible(), true);
      await check(page, 'device-patient', viewport);
      await close(page);
    }
  });

  test('a newly registered patient enrols a device for themselves, then may ask for access', async () => {
    const email = `newcomer-${Date.now()}@example.test`;
    const password = 'a long enough password 42';
    const registered = await api(urls.cloud, 'POST', '/api/v1/accounts/patients',
      { body: { email, password, display_name: 'New Comer' } });
    assert.equal(registered.status, 201, 'the patient registers');
    await approve(email);
    const page = await newPage(LAPTOP);
    // Logged in at the cloudlet (its own login), the console offers them their own enrolment.
    await page.goto(`${urls.cloudlet}/#/console`);
    await waitForPage(page, '/login');
    await fill(page, { 'E-mail': email, Password: password });
    await page.getByRole('button', { name: 'Log in' }).click();
    await waitForPage(page, '/console');
    await page.getByText('No console device yet.').waitFor();
    await page.getByLabel('Simulated condition').selectOption('hypertension');
    await page.getByRole('button', { name: 'Enrol a device for me' }).click();
    await page.locator('#device-heading').waitFor();
    assert.match(await page.locator('.device-detail > p.muted').first().textContent(), /^Your device, enrolled /);
    const report = page.locator(REPORT);
    await report.locator('[name=name]').fill('New Comer');
    await report.locator('[name=symptoms]').fill('headache');
    await report.getByRole('button', { name: 'Seal and send report' }).click();
    await page.getByText(/^Report for New Comer sealed, signed and /).waitFor();
    await check(page, 'device-newcomer', LAPTOP);
    await close(page);

    // At the cloud, the cloudlet now holds their data: asking it for portal access works.
    const session = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password } });
    assert.equal(session.status, 200);
    // (404 until the cloudlet's forwarder has told the cloud of the enrolment.)
    let asked;
    for (const until = Date.now() + 60_000; Date.now() < until;) {
      asked = await api(urls.cloud, 'POST', '/api/v1/activations',
        { token: session.json.token, body: { cloudlet_id: 'cloudlet-1' } });
      if (asked.status !== 404) break;
      await new Promise((resolve) => { setTimeout(resolve, 200); });
    }
    assert.equal(asked.status, 201, 'the patient asks cloudlet-1 for portal access');
  });
});

// The cloudlet's login page at phone width as well (where a logged-out visit leads).
test('the cloudlet\'s login at phone width', async () => {
  assert.ok(browser);
  const page = await newPage(PHONE);
  await page.goto(`${urls.cloudlet}/#/console`);
  await waitForPage(page, '/login');
  await check(page, 'cloudlet-login', PHONE);
  await close(page);
});
