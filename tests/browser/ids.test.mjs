// Browser test of the intrusion detection pages (docs/ui.md "Intrusion detection"), run by ctest
// as browser_ids_test (no seeding): real decisions made by the nodes' own detectors from this
// test's attacks, sent from other loopback addresses (127.0.0.1 is never blocked): junk uploads
// to the cloudlet (device_batches blocks the source after 6) and broken HTTP heads to the cloud
// (slow_connections blocks after 10). The cloudlet's operator sees the alert and the decision
// appear while the page stays open (polling, no reload), revokes the decision in the page and
// sees it ended (the source is then served again), edits the allowlist (a note with markup
// shown as text), and the polling stops while the tab is hidden and once the page is left
// (Playwright's clock runs the timers). The admin reaches #/admin/ids from the admin's
// navigation and does the same at the cloud. The peers section lists the peers GET
// /api/v1/ids/peers lists; the admin's mesh section shows the cloudlet's report of its decision
// (one origin: alert only at the cloud) and of its revocation as GET /api/v1/ids/mesh gives
// them; both say "not available" where the routes answer 404 (a node without the mesh).
// Every page at laptop and phone width (check()). Nothing printed names a person or a password.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';

import {
  HOSTILE, VIEWPORTS, adminPassword, api, assertNoProblems, check, close, fieldError, fill, logIn,
  newPage,
  open, urls, useDeployment, waitForPage,
} from './harness.mjs';

useDeployment('ids');

const PASSWORD = randomBytes(18).toString('base64url');
const ADMIN = 'admin@hospital.test';
const POLL_MS = 3000;  // ids-pages.js POLL_MS
const NOT_AVAILABLE = 'The mesh is not available on this node.';

let adminToken;
let operator;

let preparing = null;
const ready = () => { preparing ??= prepare(); return preparing; };

async function prepare() {
  const login = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email: ADMIN, password: adminPassword } });
  assert.equal(login.status, 200, 'the admin logs in');
  adminToken = login.json.token;
  const email = `ids-op-${randomBytes(4).toString('hex')}@hospital.test`;
  const made = await api(urls.cloud, 'POST', '/api/v1/admin/operators', {
    token: adminToken,
    body: { email, password: PASSWORD, display_name: 'IDS operator', cloudlet_id: 'cloudlet-1' },
  });
  assert.equal(made.status, 201, 'the admin makes an operator of cloudlet-1');
  const session = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email, password: PASSWORD } });
  operator = { email, token: session.json.token };
}

// An upload that is no upload, from `source`: its status (or the connection's error code).
function junkUpload(source) {
  const body = Buffer.concat([Buffer.from('MMUP'), randomBytes(100)]);
  const { hostname, port } = new URL(urls.cloudlet);
  return new Promise((resolve) => {
    const request = http.request({ host: hostname, port, path: '/api/v1/ingest', method: 'POST',
      localAddress: source, agent: false,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } },
    (response) => { response.resume(); response.on('end', () => resolve(response.statusCode)); });
    request.on('error', (error) => resolve(error.code));
    request.end(body);
  });
}

// A connection from `source` that sends no HTTP at all (the cloud answers 400 and counts it).
function brokenHead(source) {
  const { hostname, port } = new URL(urls.cloud);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port), localAddress: source },
      () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
    socket.on('data', () => {});
    socket.on('close', resolve);
    socket.on('error', resolve);
  });
}

// Where the node has no mesh (or is no demo), the page's asks for those routes answer 404, which
// Chromium logs as a console error: allowed then, and only then.
async function allowMissingRoutes(page, base, token) {
  const missing = [];
  for (const route of ['/api/v1/ids/peers', '/api/v1/ids/mesh']) {
    if ((await api(base, 'GET', route, { token })).status === 404) missing.push(route);
  }
  // A cloudlet that is no demo's answers the red-team list (ids-pages.js) with 404.
  const probe = await api(base, 'GET', '/api/v1/attack/runs', { token });
  if (probe.status === 404) missing.push('/api/v1/attack/runs');
  if (missing.length) page.allowedConsole.push(/the server responded with a status of 404/);
}

// Waits until `condition()` holds (checked every 50 ms, for at most 20 s).
async function until(condition) {
  for (const end = Date.now() + 20_000; !(await condition());) {
    assert.ok(Date.now() < end, 'the condition held in time');
    await new Promise((resolve) => { setTimeout(resolve, 50); });
  }
}

const row = (page, table, text) => page.locator(`#${table} tbody tr`, { hasText: text });

// The text of a cell of the row of `table` that holds `text`, by the column's heading.
function cell(page, table, text, heading) {
  return row(page, table, text).locator(`td[data-label="${heading}"]`).textContent();
}

// The peers section against GET /api/v1/ids/peers: a row per peer the route lists (their set is
// the node's configuration; the figures move), or "not available" where it answers 404.
async function checkPeers(page, base, token) {
  const answer = await api(base, 'GET', '/api/v1/ids/peers', { token });
  const region = page.locator('#peers');
  await region.locator('[aria-busy]').waitFor({ state: 'detached' });
  if (answer.status === 404) {
    assert.equal(await region.getByText(NOT_AVAILABLE).count(), 1, 'peers: not available');
    return;
  }
  assert.equal(answer.status, 200);
  const shown = (await region.locator('td[data-label="Peer"]').allTextContents())
    .map((text) => text.replace(' (the cloud)', '')).sort();
  assert.deepEqual(shown, answer.json.peers.map((p) => p.id).sort(), 'a row per peer');
  for (const peer of answer.json.peers) {
    const reachable = await cell(page, 'peers-table', peer.id, 'Reachable');
    assert.equal(['yes', 'no', 'not tried yet'].includes(reachable), true);
  }
}

// Allowlists a value through the page's form (the note is markup, shown as text), then removes
// it again; both checked against the API.
async function allowAndRemove(page, base, token, kind, value) {
  await page.getByLabel('Kind').selectOption(kind);
  await fill(page, { Value: value, 'Note (optional)': HOSTILE });
  await page.getByRole('button', { name: 'Allowlist', exact: true }).click();
  await page.locator('#main').getByText('The source is allowlisted.').waitFor();
  await row(page, 'allowlist-table', HOSTILE).waitFor();
  assert.equal(await cell(page, 'allowlist-table', HOSTILE, 'Note') === HOSTILE, true,
    'the note is shown as typed');
  assert.equal(await page.evaluate(() => window.__pwned === undefined), true, 'no script ran');
  const listed = await api(base, 'GET', '/api/v1/ids/allowlist', { token });
  assert.equal(listed.json.allowlist.some((e) => e.note === HOSTILE), true, 'the API lists it');
  await row(page, 'allowlist-table', HOSTILE).getByRole('button', { name: 'Remove' }).click();
  await page.locator('#main').getByText('The entry is removed.').waitFor();
  await row(page, 'allowlist-table', HOSTILE).waitFor({ state: 'detached' });
  const after = await api(base, 'GET', '/api/v1/ids/allowlist', { token });
  assert.equal(after.json.allowlist.some((e) => e.note === HOSTILE), false, 'and removes it');
}

// The decision on `source` in the page: it appears (with its alert) while the page stays open,
// matches the API, is revoked through its button and then shows as revoked.
async function seeAndRevoke(page, base, token, source) {
  await row(page, 'alerts-table', source).waitFor();
  await row(page, 'decisions-table', source).waitFor();
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
  const listed = await api(base, 'GET', '/api/v1/ids/decisions?active=false&limit=100', { token });
  const decision = listed.json.decisions.find((d) => d.scope.value === source);
  assert.ok(decision, 'the API lists the decision');
  assert.equal(decision.active && decision.action === 'block', true);
  assert.equal(await cell(page, 'decisions-table', source, 'State'), 'in force');
  assert.equal(await cell(page, 'decisions-table', source, 'Reason'), decision.reason);
  assert.equal(await cell(page, 'decisions-table', source, 'Origin'), decision.origin);
  await row(page, 'decisions-table', source).getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#main').getByText('The decision is revoked.').waitFor();
  await page.waitForFunction((s) => [...document.querySelectorAll('#decisions-table tbody tr')]
    .some((tr) => tr.textContent.includes(s) &&
      tr.querySelector('td[data-label="State"]').textContent.startsWith('revoked')), source);
  assert.equal(await row(page, 'decisions-table', source).getByRole('button').count(), 0,
    'an ended decision has no Revoke');
  const ended = await api(base, 'GET', '/api/v1/ids/decisions?active=false&limit=100', { token });
  const now = ended.json.decisions.find((d) => d.id === decision.id);
  assert.equal(now.active === false && now.revoked_ms !== null, true, 'the API says it ended');
}

describe('the intrusion detection pages', () => {
  test("the operator's page: live alerts, a decision revoked, the allowlist, polling stops",
    async () => {
      await ready();
      const page = await newPage();
      const polls = [];
      page.on('request', (r) => {
        if (new URL(r.url()).pathname === '/api/v1/ids/alerts') polls.push(r.url());
      });
      try {
        await page.clock.install();
        await allowMissingRoutes(page, urls.cloudlet, operator.token);
        await logIn(page, operator.email, PASSWORD);
        await open(page, urls.cloudlet, '/operator/ids');
        assert.ok((await page.locator('#nav a').allTextContents()).includes('Intrusion detection'));
        assert.equal(await page.locator('#alerts').getAttribute('data-live'), 'on');
        assert.equal(await page.getByText('Decisions, newest first: none.').count(), 1);
        await page.evaluate(() => { window.__sameDocument = true; });

        // The attack: 6 junk uploads from 127.0.0.77; the source is refused from then on.
        const source = '127.0.0.77';
        const answers = [];
        for (let i = 0; i < 7; i += 1) answers.push(await junkUpload(source));
        assert.equal(answers.slice(0, 6).every((s) => s === 400), true, 'refused as malformed');
        assert.notEqual(answers[6], 400, 'then blocked');
        await page.clock.runFor(POLL_MS);
        await seeAndRevoke(page, urls.cloudlet, operator.token, source);
        assert.equal(await junkUpload(source), 400, 'served again once revoked');

        await allowAndRemove(page, urls.cloudlet, operator.token, 'ip', '192.0.2.7');
        await checkPeers(page, urls.cloudlet, operator.token);
        // The red-team buttons only at a demo's cloudlet (redteam.test.mjs): elsewhere the
        // routes answer 404.
        const demo = await api(urls.cloudlet, 'GET', '/api/v1/attack/runs',
          { token: operator.token });
        assert.equal(demo.status, 404, "the browser test's deployment is no demo");
        await page.locator('#attack[data-demo="false"]').waitFor({ state: 'attached' });
        assert.equal(await page.locator('#attack').isHidden(), true, 'no red-team section');

        // Hidden tab: no polling; visible again: polling again.
        await page.evaluate(() => {
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
          document.dispatchEvent(new Event('visibilitychange'));
        });
        assert.equal(await page.locator('#alerts').getAttribute('data-live'), 'off');
        const whileHidden = polls.length;
        await page.clock.runFor(POLL_MS * 3);
        assert.equal(polls.length, whileHidden, 'no polling while hidden');
        await page.evaluate(() => {
          Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
          document.dispatchEvent(new Event('visibilitychange'));
        });
        await page.waitForFunction(() => document.querySelector('#alerts').dataset.live === 'on');
        assert.ok(polls.length > whileHidden, 'visible again: it polls');

        // Leaving the page ends the polling.
        await page.evaluate(() => { window.location.hash = '#/operator/status'; });
        await waitForPage(page, '/operator/status');
        await page.clock.runFor(POLL_MS);
        const afterLeaving = polls.length;
        await page.clock.runFor(POLL_MS * 3);
        assert.equal(polls.length, afterLeaving, 'no polling after leaving the page');
        assertNoProblems(page, 'operator intrusion detection');
      } finally {
        await close(page);
      }
    });

  test("the admin's page: the cloud's alerts and decisions, revoke, allowlist, the mesh",
    async () => {
      await ready();
      // The cloudlet reports its decisions and revocations to the cloud (docs/ids_mesh.md): the
      // operator's test above made one on 127.0.0.77 and revoked it.
      const mesh = await api(urls.cloud, 'GET', '/api/v1/ids/mesh', { token: adminToken });
      const reported = (kind) => (answer) => answer.json.reports.find((r) => r.kind === kind &&
        r.origin === 'cloudlet-1');
      if (mesh.status === 200) {
        await until(async () => reported('revocation')(
          await api(urls.cloud, 'GET', '/api/v1/ids/mesh', { token: adminToken })));
      }
      const page = await newPage();
      try {
        await allowMissingRoutes(page, urls.cloud, adminToken);
        await logIn(page, ADMIN, adminPassword);
        await open(page, urls.cloud, '/admin');
        await page.locator('.subnav').getByRole('link', { name: 'Intrusion detection' }).click();
        await waitForPage(page, '/admin/ids');
        assert.equal(await page.locator('h1').textContent(), 'Intrusion detection — mesh');
        await page.evaluate(() => { window.__sameDocument = true; });

        const source = '127.0.0.78';
        for (let i = 0; i < 10; i += 1) await brokenHead(source);
        await seeAndRevoke(page, urls.cloud, adminToken, source);
        await allowAndRemove(page, urls.cloud, adminToken, 'range', '2001:db8:1:2::/64');
        await checkPeers(page, urls.cloud, adminToken);
        if (mesh.status === 404) {
          assert.equal(await page.locator('#mesh').getByText(NOT_AVAILABLE).count(), 1);
        } else {
          // The cloudlet's decision, one origin alone: an alert at the cloud, not a block.
          const now = await api(urls.cloud, 'GET', '/api/v1/ids/mesh', { token: adminToken });
          const decision = reported('decision')(now);
          assert.equal(decision.decision.scope.value, '127.0.0.77');
          const shown = row(page, 'mesh-table', '127.0.0.77').filter({
            has: page.locator('td[data-label="Kind"]', { hasText: /^decision$/ }) });
          assert.equal(await shown.locator('td[data-label="Verdict"]').textContent(),
            decision.verdict.replace('_', ' '));
          assert.equal(await shown.locator('td[data-label="Why"]').textContent(), decision.why);
          const revocation = row(page, 'mesh-table', reported('revocation')(now).revoked_id);
          assert.equal(await revocation.locator('td[data-label="Kind"]').textContent(),
            'revocation');
          assert.equal((await api(urls.cloud, 'GET', '/api/v1/ids/decisions?active=false',
            { token: adminToken })).json.decisions.some((d) => d.scope.value === '127.0.0.77'),
          decision.verdict === 'adopted', 'adopted at the cloud only if the verdict says so');
        }
        assertNoProblems(page, 'admin intrusion detection');
      } finally {
        await close(page);
      }
    });

  test('both pages at laptop and phone width', async () => {
    await ready();
    // Decisions in force beside the revoked ones, and an allowlist entry, for the screenshots.
    for (let i = 0; i < 6; i += 1) await junkUpload('127.0.0.79');
    for (let i = 0; i < 10; i += 1) await brokenHead('127.0.0.80');
    for (const [base, token] of [[urls.cloudlet, operator.token], [urls.cloud, adminToken]]) {
      await until(async () => (await api(base, 'GET', '/api/v1/ids/decisions', { token }))
        .json.decisions.length === 1);
      const added = await api(base, 'POST', '/api/v1/ids/allowlist',
        { token, body: { scope: 'ip', value: '192.0.2.7', note: "the ward's gateway" } });
      assert.equal(added.status, 201);
    }
    for (const viewport of VIEWPORTS) {
      for (const [label, base, path, who, password] of [
        ['ids-operator', urls.cloudlet, '/operator/ids', operator, PASSWORD],
        ['ids-admin', urls.cloud, '/admin/ids', { email: ADMIN, token: adminToken },
          adminPassword]]) {
        const page = await newPage(viewport);
        try {
          await allowMissingRoutes(page, base, who.token);
          await logIn(page, who.email, password);
          await open(page, base, path);
          await page.locator('#peers [aria-busy]').waitFor({ state: 'detached' });
          await check(page, label, viewport);
        } finally {
          await close(page);
        }
      }
    }
  });

  test("an operator's own decision: bad input answered with the server's words, then made, " +
    'listed and revoked', async () => {
    await ready();
    const token = operator.token;
    const target = '192.0.2.55';
    // What the server answers to each bad input (the page must show exactly this).
    const refusal = async (body) => {
      const answer = await api(urls.cloudlet, 'POST', '/api/v1/ids/decisions', { token, body });
      assert.equal(answer.status, 400);
      return answer.json.message;
    };
    const badIp = await refusal({ scope: 'ip', value: '300.1.2.3', action: 'block' });
    const zero = await refusal({ scope: 'ip', value: target, action: 'block',
      expires_in_minutes: 0 });
    const words = await refusal({ scope: 'ip', value: target, action: 'block',
      expires_in_minutes: 'soon' });
    const page = await newPage();
    try {
      await allowMissingRoutes(page, urls.cloudlet, token);
      page.allowedConsole.push(/the server responded with a status of 400/);  // the bad input
      await logIn(page, operator.email, PASSWORD);
      await open(page, urls.cloudlet, '/operator/ids');
      const decisionForm = page.getByRole('form', { name: 'Make a decision' });
      const submit = decisionForm.getByRole('button', { name: 'Make the decision' });
      const formError = decisionForm.locator('.form-error');

      await page.getByLabel('Scope', { exact: true }).selectOption('ip');
      await fill(page, { 'Scope value': '300.1.2.3', 'Expires in (minutes) (optional)': '30' });
      await submit.click();
      await formError.getByText(badIp, { exact: true }).waitFor();

      await fill(page, { 'Scope value': target, 'Expires in (minutes) (optional)': '0' });
      await submit.click();
      await page.waitForFunction(() => document.activeElement?.name === 'expires_in_minutes');
      assert.equal(await fieldError(page, 'Expires in (minutes) (optional)'), zero,
        "the server's message under the expiry");
      await fill(page, { 'Expires in (minutes) (optional)': 'soon' });
      await submit.click();
      await formError.getByText(words, { exact: true }).waitFor();
      const none = await api(urls.cloudlet, 'GET', '/api/v1/ids/decisions?active=false&limit=100',
        { token });
      assert.equal(none.json.decisions.some((d) => d.scope.value === target), false,
        'nothing was decided from bad input');

      await page.getByLabel('Action', { exact: true }).selectOption('throttle');
      await fill(page, { 'Expires in (minutes) (optional)': '45',
        'Reason (optional)': 'scanning our sister ward' });
      await submit.click();
      await page.locator('#main').getByText('The decision is made.').waitFor();
      await row(page, 'decisions-table', target).waitFor();
      assert.equal(await cell(page, 'decisions-table', target, 'State'), 'in force');
      assert.equal(await cell(page, 'decisions-table', target, 'Action'), 'throttle');
      assert.equal(await cell(page, 'decisions-table', target, 'Detector'), 'operator v1');
      assert.equal(await cell(page, 'decisions-table', target, 'Reason'),
        'scanning our sister ward');
      const listed = await api(urls.cloudlet, 'GET', '/api/v1/ids/decisions', { token });
      const made = listed.json.decisions.find((d) => d.scope.value === target);
      assert.ok(made, 'the API lists it as active');
      assert.equal(made.expires_ms - made.created_ms, 45 * 60 * 1000, 'for the 45 minutes asked');

      await row(page, 'decisions-table', target).getByRole('button', { name: 'Revoke' }).click();
      await page.locator('#main').getByText('The decision is revoked.').waitFor();
      await page.waitForFunction((s) => [...document.querySelectorAll('#decisions-table tbody tr')]
        .some((tr) => tr.textContent.includes(s) &&
          tr.querySelector('td[data-label="State"]').textContent.startsWith('revoked')), target);
      const ended = await api(urls.cloudlet, 'GET',
        '/api/v1/ids/decisions?active=false&limit=100', { token });
      const now = ended.json.decisions.find((d) => d.id === made.id);
      assert.equal(now.active === false && now.revoked_ms !== null, true, 'the API says it ended');
      assertNoProblems(page, 'operator decision form');
    } finally {
      await close(page);
    }
  });
});
