// Browser tests of the doctor's pages (docs/ui.md "Doctor"), run by ctest as browser_doctor_test:
// a doctor registers through the UI (with a hostile name), an admin approves (API), the doctor
// logs in and sees the profile; then a seeded doctor who holds grants reads the inbox, opens a
// patient (records, and readings charts checked against the API's numbers through the charts'
// text alternative), answers a grant (first with a blank diagnosis: the error under the field,
// the rest kept), and finds the answer in the answered list and among the prescriptions; the
// patient reads it through the API; the doctor vouches for the patient for sharing between
// patients on the patient's page (the cloud passes it on to the patient's cloudlet, which records
// it), which a doctor without a grant from the patient cannot. Every page at laptop and phone
// width through check().
// No name, e-mail, id or password is printed: assertions compare booleans and counts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  HOSTILE, VIEWPORTS, api, approve, artifact, assertNoProblems, check, close, fieldError, fill,
  logIn, newPage, open, seeded,
  urls, useDeployment, waitForPage,
} from './harness.mjs';

useDeployment('doctor', { seed: true });

async function token(email, password) {
  const login = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password } });
  assert.equal(login.status, 200, 'logs in through the API');
  return login.json.token;
}

// No script smuggled into stored text ran, and no markup from it became an element.
async function assertInert(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
  assert.equal(await page.locator('main img[onerror], main script').count(), 0);
}

describe('a new doctor', () => {
  const email = `doctor-${randomBytes(4).toString('hex')}@hospital.test`;
  const password = `doctor ${randomBytes(9).toString('base64url')}`;
  const licence = `GMC-${randomBytes(3).toString('hex')}`;

  test('registers through the UI, is approved, logs in and sees the profile', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/register/doctor');
      await fill(page, {
        'Name shown to others': HOSTILE, 'E-mail': email, Password: password,
        'Password again': password, 'Licence number': licence, Speciality: 'cardiology',
        Hospital: 'St Elsewhere & <Sons>',
      });
      await check(page, 'doctor-register', VIEWPORTS[0]);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.getByRole('heading', { name: 'Registration received' }).waitFor();
    } finally {
      await close(page);
    }
    await approve(email);

    for (const viewport of VIEWPORTS) {
      const session = await newPage(viewport);
      try {
        await logIn(session, email, password);
        assert.deepEqual(await session.locator('nav a').allTextContents(),
          ['Home', 'My account', 'Inbox', 'Prescriptions']);
        await open(session, urls.cloud, '/account');
        const terms = await session.locator('main dt').allTextContents();
        const values = await session.locator('main dd').allTextContents();
        const shown = Object.fromEntries(terms.map((t, i) => [t, values[i]]));
        assert.equal(shown.Name === HOSTILE, true, 'the name is shown as text');
        assert.equal(shown['Licence number'] === licence, true, 'the licence is shown');
        assert.equal(shown.Speciality, 'cardiology');
        assert.equal(shown.Hospital, 'St Elsewhere & <Sons>');
        await assertInert(session);
        await check(session, 'doctor-account', viewport);

        await open(session, urls.cloud, '/doctor/inbox');
        assert.equal(await session.locator('.inbox-summary').textContent(),
          'No patient has sent you a record yet.');
        await open(session, urls.cloud, '/doctor/prescriptions');
        assert.equal(await session.locator('main').getByText('You have not written a prescription yet.').count(), 1);
        assert.equal(await session.locator('#advice-heading').textContent(),
          'Answers without a prescription (0)');
        // Without a patient chosen on the inbox page, the patient page offers none to choose.
        await open(session, urls.cloud, '/doctor/patient');
        assert.equal(await session.locator('main h1').textContent(), 'Patient');
      } finally {
        await close(session);
      }
    }
  });
});

describe('a seeded doctor with grants', () => {
  // The seed's last patient shares nothing: in the test they send their record to the
  // cardiologist (the doctor of the seed's first patient), whose other grants are all answered.
  let doctor;
  let patient;
  let patientToken;
  let inbox;  // the doctor's inbox through the API, after the new grant
  const diagnosis = `Paroxysmal atrial fibrillation ${HOSTILE}`;
  const medication = 'Keep "taking" <b>bisoprolol</b> & report dizziness.\nNo alcohol.';
  const prescription = { drug: 'Apixaban', dose: '5 mg', frequency: 'twice daily', duration: '3 months' };

  test('a patient sends a record to the doctor (API)', async () => {
    const first = seeded('patient', (a) => a.device_id !== '' && a.doctor_login !== '');
    doctor = seeded('doctor', (a) => a.login === first.doctor_login);
    patient = seeded('patient', (a) => a.device_id !== '' && a.doctor_login === '' && a.patient_id !== '');
    patientToken = await token(patient.login, patient.password);
    const records = await api(urls.cloud, 'GET', '/api/v1/me/records', { token: patientToken });
    assert.equal(records.status, 200);
    assert.ok(records.json.records.length > 0, 'the patient has a record');
    const { device_id, record_id } = records.json.records[0];
    const grant = await api(urls.cloud, 'POST', '/api/v1/consents', { token: patientToken,
      body: { doctor_id: doctor.account_id, records: [{ device_id, record_id }] } });
    assert.equal(grant.status, 201, 'the grant is made');
    const doctorToken = await token(doctor.login, doctor.password);
    inbox = (await api(urls.cloud, 'GET', '/api/v1/inbox', { token: doctorToken })).json;
    assert.ok(inbox.patients.length >= 2, 'the doctor has several patients');
  });

  test('the inbox lists the new grant as waiting and the others as answered', async () => {
    for (const viewport of VIEWPORTS) {
      const page = await newPage(viewport);
      try {
        await logIn(page, doctor.login, doctor.password);
        await open(page, urls.cloud, '/doctor/inbox');
        const waiting = page.locator('[aria-labelledby="waiting-heading"] li');
        const answered = page.locator('[aria-labelledby="answered-heading"] li');
        assert.equal(await waiting.count(), 1, 'one grant waits');
        const grants = inbox.patients.reduce((n, p) => n + p.grants.length, 0);
        assert.equal(await answered.count(), grants - 1, 'the other grants are answered');
        const mine = inbox.patients.find((p) => p.patient_id === patient.patient_id);
        assert.equal(await waiting.locator('.patient-name').textContent() === mine.grants[0].records[0].name,
          true, 'the waiting grant is the new one, named by its record');
        assert.match(await page.locator('.inbox-summary').textContent(),
          new RegExp(`^${inbox.patients.length} patients, ${grants} shared record sets, 1 waiting`));
        await check(page, 'doctor-inbox', viewport);
      } finally {
        await close(page);
      }
    }
  });

  test("a patient's page: the records and the readings charts, whose numbers match the API", async () => {
    const mine = inbox.patients.find((p) => p.patient_id === patient.patient_id);
    const doctorToken = await token(doctor.login, doctor.password);
    // The heart-rate values of the patient's recent readings (the last 24 hours) as the API gives
    // them now.
    const heartNow = async () => (await api(urls.cloud, 'GET', '/api/v1/inbox',
      { token: doctorToken })).json.patients.find((p) => p.patient_id === patient.patient_id)
      .recent_readings.filter((r) => r.kind === 'heart_rate').map((r) => r.value);
    for (const viewport of VIEWPORTS) {
      const page = await newPage(viewport);
      try {
        const heartBefore = await heartNow();
        await logIn(page, doctor.login, doctor.password);
        await open(page, urls.cloud, '/doctor/inbox');
        await page.locator('[aria-labelledby="waiting-heading"]')
          .getByRole('button', { name: /^Open and answer/ }).click();
        await waitForPage(page, '/doctor/patient');
        assert.equal(await page.locator('main h1').textContent() === mine.grants[0].records[0].name,
          true, 'the heading names the patient');
        const record = mine.grants[0].records[0];
        const symptoms = await page.locator('.grant dt', { hasText: 'Symptoms' }).locator('+ dd').textContent();
        assert.equal(symptoms, record.symptoms.join(', ') || 'none given');

        // One chart per kind of reading the API gave, each drawn, its text matching the API.
        const kinds = [...new Set(mine.recent_readings.map((r) => r.kind))];
        assert.ok(kinds.includes('heart_rate'), 'the patient has heart-rate readings');
        assert.equal(await page.locator('figure.readings-chart').count(), kinds.length);
        await page.waitForFunction((n) =>
          document.querySelectorAll('figure.readings-chart[data-drawn="true"]').length === n, kinds.length);
        // As the page writes a value: whole numbers as they are, others to one decimal.
        const number = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
        const bpm = (v) => `${number(v)} /min`;
        const figure = page.locator('figure[data-kind="heart_rate"]');
        const summary = await figure.locator('.chart-summary').textContent();
        // The 24-hour window slides while the page loads (the seeded readings reach back to its
        // start), so the page shows what the API said just before it or just after it.
        const heartAfter = await heartNow();
        const shown = Number(/^(\d+) readings from /.exec(summary)?.[1]);
        const heart = [heartBefore, heartAfter].find((h) => h.length === shown);
        assert.ok(heart, `the page's ${shown} readings are the API's ${heartBefore.length} ` +
          `(before) or ${heartAfter.length} (after)`);
        assert.equal(summary.endsWith(`lowest ${bpm(Math.min(...heart))}, highest ${bpm(Math.max(...heart))}.`),
          true, 'the sentence gives the lowest and highest');
        // The table behind the chart: per hour when there are many, each reading when few.
        await figure.locator('summary').click();
        const headers = await figure.locator('thead th').allTextContents();
        const cells = await figure.locator('tbody tr').evaluateAll((rows) =>
          rows.map((row) => [...row.cells].map((c) => c.textContent)));
        if (headers[1] === 'Readings') {
          assert.equal(cells.reduce((n, row) => n + Number(row[1]), 0), heart.length,
            'the hourly counts add up to the readings');
          // The lowest of the hours' lowest is the API's lowest, as the page writes it. Two hours
          // can tie once rounded (62 and 62.02 are "62" and "62.0"), so the cells are not sorted
          // for it: one of them is the API's lowest written out, and none is below it (rounding to
          // one decimal keeps the order). The same for the highest.
          const lowest = number(Math.min(...heart));
          const highest = number(Math.max(...heart));
          const lows = cells.map((row) => row[2]);
          const highs = cells.map((row) => row[4]);
          assert.ok(lows.includes(lowest), 'an hour\'s lowest is the lowest of the API');
          assert.ok(lows.every((c) => parseFloat(c) >= parseFloat(lowest)), 'no hour is lower');
          assert.ok(highs.includes(highest), 'an hour\'s highest is the highest of the API');
          assert.ok(highs.every((c) => parseFloat(c) <= parseFloat(highest)), 'no hour is higher');
        } else {
          assert.deepEqual(cells.map((row) => row[1]).sort(), heart.map(number).sort());
        }
        // The canvas holds the same points.
        const drawnPoints = await figure.locator('canvas').evaluate((canvas) =>
          globalThis.Chart.getChart(canvas).data.datasets[0].data.length);
        assert.equal(drawnPoints, heart.length);
        await check(page, 'doctor-patient', viewport);
      } finally {
        await close(page);
      }
    }
  });

  test('answers the grant: a blank diagnosis is refused under its field, the rest is kept', async () => {
    const page = await newPage();
    try {
      await logIn(page, doctor.login, doctor.password);
      await open(page, urls.cloud, '/doctor/inbox');
      await page.getByRole('button', { name: /^Open and answer/ }).click();
      await waitForPage(page, '/doctor/patient');
      const waiting = page.locator('section.grant', { has: page.locator('.status.waiting') });
      // The same section after it is answered (it stops matching "waiting").
      const grant = page.locator(
        `section.grant[aria-labelledby="${await waiting.getAttribute('aria-labelledby')}"]`);
      const form = grant.locator('form');
      page.allowedConsole.push(/status of 400/);
      // Spaces pass the browser's "required" check; the server refuses them.
      await form.getByLabel('Diagnosis', { exact: true }).fill('   ');
      await form.getByLabel('Medication (optional)').fill(medication);
      await form.getByLabel('Drug (optional)').fill(prescription.drug);
      await form.getByLabel('Dose (optional)').fill(prescription.dose);
      await form.getByLabel('Frequency (optional)').fill(prescription.frequency);
      await form.getByRole('button', { name: 'Send the answer' }).click();
      await page.waitForFunction(() => document.querySelector('textarea[aria-invalid="true"]') !== null ||
        document.querySelector('input[aria-invalid="true"]') !== null);
      // The prescription is incomplete: refused before anything is sent, under its field.
      assert.match(await fieldError(form, 'Duration (optional)'), /needs its duration/);
      await form.getByLabel('Duration (optional)').fill(prescription.duration);
      await form.getByRole('button', { name: 'Send the answer' }).click();
      await page.waitForFunction(() => document.querySelector('textarea[aria-invalid="true"]') !== null);
      assert.match(await fieldError(form, 'Diagnosis'), /diagnosis/i);
      assert.equal(await page.evaluate(() => document.activeElement?.name), 'diagnosis', 'focus moves there');
      assert.equal(await form.getByLabel('Medication (optional)').inputValue() === medication, true,
        'what was typed is kept');
      assert.equal(await form.getByLabel('Duration (optional)').inputValue(), prescription.duration);
      await page.screenshot({ path: artifact('doctor-answer-error-laptop.png'), fullPage: true });

      await form.getByLabel('Diagnosis', { exact: true }).fill(diagnosis);
      await form.getByRole('button', { name: 'Send the answer' }).click();
      const sent = grant.locator('.notice', { hasText: 'Your answer was sent' });
      await sent.waitFor();
      assert.equal(await grant.locator('.status').textContent(), 'Answered (1)');
      const shown = await grant.locator('dl.answer dd').allTextContents();
      assert.equal(shown.includes(diagnosis), true, 'the diagnosis is shown as typed, as text');
      assert.equal(shown.includes(medication), true, 'the medication is shown as typed');
      assert.equal(shown.includes('Apixaban 5 mg, twice daily, for 3 months'), true);
      await assertInert(page);
      await page.screenshot({ path: artifact('doctor-answer-sent-laptop.png'), fullPage: true });

      // The answered list now holds every grant.
      await open(page, urls.cloud, '/doctor/inbox');
      assert.equal(await page.locator('[aria-labelledby="waiting-heading"] li').count(), 0);
      assert.equal(await page.locator('[aria-labelledby="waiting-heading"]').getByText('Nothing is waiting for you.').count(), 1);
      assertNoProblems(page, 'answer');
    } finally {
      await close(page);
    }
  });

  test('the prescription is listed, and the patient reads the answer (API)', async () => {
    for (const viewport of VIEWPORTS) {
      const page = await newPage(viewport);
      try {
        await logIn(page, doctor.login, doctor.password);
        await open(page, urls.cloud, '/doctor/prescriptions');
        const newest = page.locator('.prescription-list > li').first();
        assert.equal(await newest.locator('h2').textContent(), 'Apixaban 5 mg, twice daily, for 3 months');
        const values = await newest.locator('dd').allTextContents();
        assert.equal(values.includes(diagnosis), true, 'the hostile diagnosis is text');
        // Advice without a prescription is listed apart, as many as the API says.
        const written = await api(urls.cloud, 'GET', '/api/v1/answers',
          { token: await token(doctor.login, doctor.password) });
        const advice = written.json.answers.filter((a) => !a.prescription).length;
        assert.equal(await page.locator('#advice-heading').textContent(),
          `Answers without a prescription (${advice})`);
        assert.equal(await page.locator('.advice-list > li').count(), advice);
        await assertInert(page);
        await check(page, 'doctor-prescriptions', viewport);
      } finally {
        await close(page);
      }
    }
    const answers = await api(urls.cloud, 'GET', '/api/v1/answers', { token: patientToken });
    assert.equal(answers.status, 200);
    const answer = answers.json.answers.find((a) => a.diagnosis === diagnosis);
    assert.ok(answer, 'the patient sees the answer');
    assert.equal(answer.medication === medication, true);
    assert.deepEqual(answer.prescription, prescription);
  });

  test("vouches for the patient on the patient's page; the patient's cloudlet records it", async () => {
    // The chooser lists the inbox's patients in its order; seeded records may share a name.
    const index = inbox.patients.findIndex((p) => p.patient_id === patient.patient_id);
    assert.ok(index >= 0);
    const page = await newPage();
    try {
      await logIn(page, doctor.login, doctor.password);
      await open(page, urls.cloud, '/doctor/patient');
      await page.locator('main .plain-list button').nth(index).click();
      await page.locator('#attestation').waitFor();
      await page.getByLabel('Your attestation').selectOption('known_in_care');
      await page.getByRole('button', { name: 'Record the attestation' }).click();
      const notice = page.locator('#attestation-result .notice');
      await notice.waitFor();
      assert.equal(await notice.textContent(), 'Vouched for this patient at cloudlet-1.');
      for (const viewport of VIEWPORTS) {
        await page.setViewportSize({ width: viewport.width, height: viewport.height });
        await check(page, 'doctor-attestation', viewport);
      }
    } finally {
      await close(page);
    }
    // Through the API: the cloudlet answered 201; a reason that does not fit the verdict is 400;
    // a doctor the patient granted nothing is answered as for an unknown patient.
    const doctorToken = await token(doctor.login, doctor.password);
    const path = `/api/v1/patients/${patient.patient_id}/attestations`;
    const again = await api(urls.cloud, 'POST', path,
      { token: doctorToken, body: { positive: false, reason: 'misuse_concern' } });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json.cloudlets.map((c) => c.status), [201]);
    const mismatched = await api(urls.cloud, 'POST', path,
      { token: doctorToken, body: { positive: true, reason: 'misuse_concern' } });
    assert.equal(mismatched.status, 400);
    const other = seeded('doctor', (a) => a.login !== doctor.login && a.approved);
    const foreign = await api(urls.cloud, 'POST', path, {
      token: await token(other.login, other.password),
      body: { positive: true, reason: 'known_in_care' },
    });
    assert.equal(foreign.status, 404, 'no grant from the patient: not found');
    const byPatient = await api(urls.cloud, 'POST', path,
      { token: patientToken, body: { positive: true, reason: 'known_in_care' } });
    assert.equal(byPatient.status, 403);
  });
});
