// Browser tests of the doctor's pages (docs/ui.md "Doctor"), run by ctest as browser_doctor_test:
// a doctor registers through the UI (with a hostile name), an admin approves (API), the doctor
// logs in and sees the profile; then a seeded doctor who holds grants reads the inbox, opens a
// patient (records, and readings charts checked against the API's numbers through the charts'
// text alternative), answers a grant (first with a blank diagnosis: the error under the field,
// the rest kept), and finds the answer in the answered list and among the prescriptions; the
// patient reads it through the API. Every page at laptop and phone width through check().
// No name, e-mail, id or password is printed: assertions compare booleans and counts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  HOSTILE, VIEWPORTS, api, approve, check, close, fieldError, fill, logIn, newPage, open, urls,
  useDeployment, waitForPage,
} from './harness.mjs';

useDeployment('doctor');

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
        // Without a patient chosen on the inbox page, the patient page offers none to choose.
        await open(session, urls.cloud, '/doctor/patient');
        assert.equal(await session.locator('main h1').textContent(), 'Patient');
      } finally {
        await close(session);
      }
    }
  });
});
