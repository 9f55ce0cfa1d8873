// Browser test of the trust pages (docs/ui.md "Trust", docs/trust_system.md), run by ctest as
// browser_trust_test: two fresh patients with similar conditions, each with a device at
// cloudlet-1 (the deployment's `enrol`: readings and a record); the first opts in through the
// page, finds the second among similar patients, messages them and asks for their vitals
// summary; the second, who rated earlier exchanges well (API), sees the request with the trust
// model's reasons and grants it in the page; the first then sees the shared vitals and rates an
// exchange. A third patient, at cloudlet-2 (the deployment's --partner: a configured peer, made a
// partner of cloudlet-1 by its operator's peer events), shows among the first's similar patients
// marked with their cloudlet; the first messages and asks them from the page, and cloudlet-2 holds
// the message and the request (docs/trust_system.md "Sharing across cloudlets"). An operator sees
// the peer cloudlets' trust and the relay choice. Every page at laptop and phone width (check()).
// Nothing printed names a person, an id or a password.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  VIEWPORTS, adminPassword, api, approve, check, close, command, logIn, newPage, open, urls,
  useDeployment,
} from './harness.mjs';

useDeployment('trust', { partner: true });

const PASSWORD = randomBytes(18).toString('base64url');
const PROFILE = {
  opted_in: true,
  conditions: ['I48', 'I10'],
  symptoms: ['palpitations'],
  consent: { vitals_summary: true, diagnoses: false, full_records: false },
};

let first;
let second;
let third;
let operator;

// A registered, approved patient with a device (readings and a record) at cloudlet-1 (or at
// `where`).
async function patient(n, where = '') {
  const email = `trust-${n}-${randomBytes(4).toString('hex')}@patients.test`;
  const registered = await api(urls.cloud, 'POST', '/api/v1/accounts/patients',
    { body: { email, password: PASSWORD, display_name: `Trust patient ${n}` } });
  assert.equal(registered.status, 201, 'the patient registers');
  await approve(email);
  const login = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password: PASSWORD } });
  assert.equal(login.status, 200);
  const token = login.json.token;
  const me = await api(urls.cloud, 'GET', '/api/v1/session', { token });
  assert.equal(await command(`enrol ${me.json.patient_id} trust-watch-${n} ${where}`.trim()), 'ok',
    'a device of the patient enrols at the cloudlet');
  return { email, token };
}

async function operatorOfCloudlet1() {
  const admin = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email: 'admin@hospital.test', password: adminPassword } });
  const email = `trust-op-${randomBytes(4).toString('hex')}@hospital.test`;
  const made = await api(urls.cloud, 'POST', '/api/v1/admin/operators', {
    token: admin.json.token,
    body: { email, password: PASSWORD, display_name: 'Trust operator', cloudlet_id: 'cloudlet-1' },
  });
  assert.equal(made.status, 201, 'the admin makes an operator of cloudlet-1');
  const login = await api(urls.cloud, 'POST', '/api/v1/session', { body: { email, password: PASSWORD } });
  return { email, token: login.json.token };
}

let preparing = null;
const ready = () => { preparing ??= prepare(); return preparing; };

async function prepare() {
  first = await patient(1);
  second = await patient(2);
  // The second patient shares already; the first opts in through the page.
  const saved = await api(urls.cloudlet, 'PUT', '/api/v1/trust/profile',
    { token: second.token, body: PROFILE });
  assert.equal(saved.status, 200, 'the second patient opts in');
  second.handle = saved.json.handle;
  operator = await operatorOfCloudlet1();
  for (const [peer, kind, good, times] of [['cloudlet-2', 'forward', true, 5],
    ['cloudlet-2', 'report', true, 2], ['cloudlet-2', 'shared_data', false, 1],
    ['cloudlet-3', 'forward', false, 1], ['cloudlet-3', 'forward', true, 1]]) {
    for (let i = 0; i < times; i += 1) {
      const recorded = await api(urls.cloudlet, 'POST', `/api/v1/trust/peers/${peer}/events`,
        { token: operator.token, body: { kind, good } });
      assert.equal(recorded.status, 201, 'a peer event is recorded');
    }
  }
}

describe('the trust pages', () => {
  test('a patient opts in, finds a similar patient, messages and asks; the owner grants', async () => {
    await ready();
    const page = await newPage();
    try {
      await logIn(page, first.email, PASSWORD);
      await open(page, urls.cloudlet, '/patient/trust');
      assert.ok((await page.locator('nav a').allTextContents()).includes('Similar patients'),
        'the navigation holds the page');
      assert.equal(await page.locator('#similar-patients').count(), 0, 'nothing before opting in');
      // Each category's label states the server's threshold exactly (0.65 is not "0.7").
      const profile = await api(urls.cloudlet, 'GET', '/api/v1/trust/profile', { token: first.token });
      assert.equal(profile.status, 200, 'the profile answers');
      for (const c of profile.json.categories) {
        const label = await page.locator(`label[for="trust-consent-${c.category}"]`).textContent();
        assert.ok(label.endsWith(`(needs trust ${c.threshold.toFixed(2)})`),
          `the ${c.category} label shows its threshold`);
      }

      await page.getByLabel('Share with similar patients at this cloudlet').check();
      await page.getByLabel('I48 Atrial fibrillation and flutter').check();
      await page.getByLabel('I10 Essential (primary) hypertension').check();
      await page.getByLabel('Symptoms (optional)').fill('palpitations, tiredness');
      await page.getByLabel(/^Vitals summary/).check();
      await page.getByRole('button', { name: 'Save sharing profile' }).click();
      await page.locator('#my-handle').waitFor();
      const myHandle = (await page.locator('#my-handle').textContent()).trim();
      const other = page.locator(`[data-handle="${second.handle}"]`);
      await other.waitFor();
      assert.match(await other.textContent(), /I48/, 'the shared condition explains the match');
      assert.equal((await page.locator('#trust-vitals tbody tr').count()) > 0, true,
        'the vitals profile comes from the readings held here');

      // A message, then a request for the vitals summary.
      await page.getByLabel('Message', { exact: true }).fill('Hello <b>there</b>, how do you cope?');
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('#trust-messages li').first().waitFor();
      assert.equal(await page.locator('#trust-messages .trust-text').first().textContent(),
        'Hello <b>there</b>, how do you cope?', 'the message shows as text');
      await other.getByRole('button', { name: 'Ask' }).click();
      await page.locator('#requests-out li').first().waitFor();
      for (const viewport of VIEWPORTS) {
        await page.setViewportSize({ width: viewport.width, height: viewport.height });
        await check(page, 'trust-patient', viewport);
      }

      // The second patient has rated earlier exchanges with the first well (API).
      for (let i = 0; i < 8; i += 1) {
        const sent = await api(urls.cloudlet, 'POST', '/api/v1/trust/messages',
          { token: first.token, body: { to: second.handle, text: `note ${i}` } });
        assert.equal(sent.status, 201);
        const rated = await api(urls.cloudlet, 'POST', '/api/v1/trust/ratings', {
          token: second.token, body: { interaction_id: sent.json.interaction_id, positive: true },
        });
        assert.equal(rated.status, 201, 'a rating tied to a logged exchange is taken');
      }
      const unbacked = await api(urls.cloudlet, 'POST', '/api/v1/trust/ratings', {
        token: second.token, body: { interaction_id: 'ix-0000000000000000', positive: false },
      });
      assert.equal(unbacked.status, 404, 'an unbacked rating is refused');

      // The owner answers in the page, seeing the model's reasons first.
      const owner = await newPage();
      try {
        await logIn(owner, second.email, PASSWORD);
        await open(owner, urls.cloudlet, '/patient/trust');
        const asked = owner.locator('#requests-in li').first();
        await asked.waitFor();
        assert.match(await asked.textContent(), new RegExp(myHandle), 'by handle');
        assert.equal(await asked.locator('.trust-reasons li').count() >= 4, true, 'the reasons show');
        await asked.getByRole('button', { name: 'Grant' }).click();
        await owner.locator('#requests-in li .badge-ok').first().waitFor();
        for (const viewport of VIEWPORTS) {
          await owner.setViewportSize({ width: viewport.width, height: viewport.height });
          await check(owner, 'trust-owner', viewport);
        }
      } finally {
        await close(owner);
      }

      // The first patient sees the shared vitals summary, and rates an exchange.
      await open(page, urls.cloudlet, '/patient/trust');
      const mine = page.locator('#requests-out li').first();
      await mine.getByRole('button', { name: 'View shared data' }).click();
      await mine.locator('table tbody tr').first().waitFor();
      assert.match(await mine.textContent(), /heart rate/, 'the vitals summary is shown');
      await page.getByRole('button', { name: /as helpful/ }).first().click();
      await page.locator('#trust-messages li', { hasText: 'Rated' }).first().waitFor();

      // Full records (API): the medical part of the records the cloudlet keeps, never the
      // identifiers; only once the owner consents and trusts enough (0.8: more good exchanges).
      const fuller = await api(urls.cloudlet, 'PUT', '/api/v1/trust/profile', { token: second.token,
        body: { ...PROFILE, consent: { vitals_summary: true, diagnoses: false, full_records: true } } });
      assert.equal(fuller.status, 200);
      for (let i = 0; i < 14; i += 1) {
        const sent = await api(urls.cloudlet, 'POST', '/api/v1/trust/messages',
          { token: first.token, body: { to: second.handle, text: `more ${i}` } });
        await api(urls.cloudlet, 'POST', '/api/v1/trust/ratings', {
          token: second.token, body: { interaction_id: sent.json.interaction_id, positive: true },
        });
      }
      const records = await api(urls.cloudlet, 'POST', '/api/v1/trust/requests',
        { token: first.token, body: { handle: second.handle, category: 'full_records' } });
      const granted = await api(urls.cloudlet, 'POST',
        `/api/v1/trust/requests/${records.json.request_id}/answer`,
        { token: second.token, body: { grant: true } });
      assert.equal(granted.json.status, 'granted', 'enough trust for full records');
      const shared = await api(urls.cloudlet, 'GET',
        `/api/v1/trust/requests/${records.json.request_id}/data`, { token: first.token });
      assert.equal(shared.status, 200);
      assert.equal(shared.json.records.length, 1, "the owner's record kept at the cloudlet");
      const text = JSON.stringify(shared.json);
      for (const identifier of ['Lovelace', '7946', 'James', 'QQ 12']) {
        assert.equal(text.includes(identifier), false, 'no identifier of the record is shared');
      }
      assert.ok(shared.json.records[0].pulse_bpm > 0, 'the medical part is');
      assert.equal('vitals' in shared.json, false, 'only the category asked for');
    } finally {
      await close(page);
    }
  });

  test('a similar patient of a partner cloudlet shows with their cloudlet; messages and requests reach them',
    async () => {
      await ready();
      third = await patient(3, 'cloudlet-2');
      const theirs = await api(urls.cloudlet2, 'PUT', '/api/v1/trust/profile',
        { token: third.token, body: PROFILE });
      assert.equal(theirs.status, 200, 'the third patient opts in at cloudlet-2');
      third.handle = theirs.json.handle;
      const mine = await api(urls.cloudlet, 'PUT', '/api/v1/trust/profile',
        { token: first.token, body: PROFILE });
      assert.equal(mine.status, 200);
      const address = `${third.handle}@cloudlet-2`;
      const page = await newPage();
      try {
        await logIn(page, first.email, PASSWORD);
        await open(page, urls.cloudlet, '/patient/trust');
        const remote = page.locator(`[data-handle="${address}"]`);
        await remote.waitFor();
        assert.equal(await remote.getAttribute('data-cloudlet'), 'cloudlet-2');
        assert.match(await remote.locator('.trust-cloudlet').textContent(), /at cloudlet-2/,
          'marked with its cloudlet');
        assert.match(await remote.textContent(), /I48/, 'their cloudlet explains the match');
        assert.match(await page.locator('#trust-partners').textContent(), /cloudlet-2 \(1 found\)/);

        await page.getByLabel('To', { exact: true }).selectOption(address);
        await page.getByLabel('Message', { exact: true }).fill('Hello from the other cloudlet');
        await page.getByRole('button', { name: 'Send' }).click();
        await page.locator('#trust-messages li', { hasText: `To ${address}` }).first().waitFor();
        await remote.getByRole('button', { name: 'Ask' }).click();
        await page.locator('#requests-out li', { hasText: address }).first().waitFor();
        for (const viewport of VIEWPORTS) {
          await page.setViewportSize({ width: viewport.width, height: viewport.height });
          await check(page, 'trust-remote', viewport);
        }
      } finally {
        await close(page);
      }

      // Cloudlet-2 holds both for its patient, from the first patient's address there.
      const from = `${mine.json.handle}@cloudlet-1`;
      const inbox = await api(urls.cloudlet2, 'GET', '/api/v1/trust/messages', { token: third.token });
      assert.equal(inbox.status, 200);
      assert.ok(inbox.json.messages.some((m) => m.with === from &&
        m.text === 'Hello from the other cloudlet'), 'the message is at cloudlet-2');
      const requests = await api(urls.cloudlet2, 'GET', '/api/v1/trust/requests',
        { token: third.token });
      assert.ok(requests.json.incoming.some((q) => q.with === from && q.status === 'pending'),
        'the request is at cloudlet-2, for its owner to answer');
    });

  test('the operator sees the peer cloudlets, their evidence, partners and relaying', async () => {
    await ready();
    // The shared-data evidence on cloudlet-2 is the prepared bad event plus every answer of
    // cloudlet-2 that verified during the partner test above: the page must show the API's count.
    const peers = await api(urls.cloudlet, 'GET', '/api/v1/trust/peers', { token: operator.token });
    assert.equal(peers.status, 200);
    const shared = peers.json.peers.find((p) => p.peer_id === 'cloudlet-2').evidence.shared_data;
    assert.equal(shared.bad, 1, 'the prepared bad event; every answer of the partner verified');
    for (const viewport of VIEWPORTS) {
      const page = await newPage(viewport);
      try {
        await logIn(page, operator.email, PASSWORD);
        await open(page, urls.cloudlet, '/operator/trust');
        assert.ok((await page.locator('nav a').allTextContents()).includes('Peer trust'));
        const rows = await page.locator('#trust-peers tbody tr').evaluateAll((trs) =>
          trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
        assert.equal(rows.length, 2, 'two peers');
        assert.equal(rows[0][0], 'cloudlet-2', 'the most trusted first');
        assert.deepEqual(rows[0].slice(3), ['5 good / 0 bad', `${shared.good} good / 1 bad`,
          '2 good / 0 bad', 'yes'], 'its evidence by kind; it is a partner');
        assert.deepEqual(rows[1].slice(3), ['1 good / 1 bad', '0 good / 0 bad', '0 good / 0 bad',
          'no']);
        assert.match(await page.locator('#trust-link').textContent(), /cloudlet-2/,
          'it is the relay');
        // The browser deployment's cloudlet reaches its cloud: no relaying, no relay round.
        assert.match(await page.locator('#trust-relaying').textContent(),
          /^Not relaying now\. No relay round since the cloudlet started\.$/);
        await check(page, 'trust-operator', viewport);
      } finally {
        await close(page);
      }
    }
  });
});
