// Browser test of the red team on the operator's intrusion detection page (docs/attack.md, docs/ui.md
// "Intrusion detection"), run by ctest as browser_redteam_test against a deployment whose
// cloudlet is a demo's (--demo-attacks): the page lists the scenarios that GET
// /api/v1/attack/runs gives; the operator clicks "brute-force"; the run's output and its verdict
// appear in the page, its row in the runs table matches the API, and the alert and the block the
// cloudlet's own credentials detector raised on the scenario's source address appear in the
// alerts and decisions tables. Laptop width (axe-core, no sideways scroll, screenshot).
// Nothing printed names a person or a password.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import {
  VIEWPORTS, adminPassword, api, assertNoProblems, check, close, logIn, newPage, open, urls,
  useDeployment,
} from './harness.mjs';

useDeployment('redteam', { demoAttacks: true });

const PASSWORD = randomBytes(18).toString('base64url');
const ADMIN = 'admin@hospital.test';
const SOURCE = '127.0.0.10';  // brute-force is the first scenario: first_source + 0

async function makeOperator() {
  const login = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email: ADMIN, password: adminPassword } });
  assert.equal(login.status, 200, 'the admin logs in');
  const email = `red-op-${randomBytes(4).toString('hex')}@hospital.test`;
  const made = await api(urls.cloud, 'POST', '/api/v1/admin/operators', {
    token: login.json.token,
    body: { email, password: PASSWORD, display_name: 'Red team operator', cloudlet_id: 'cloudlet-1' },
  });
  assert.equal(made.status, 201, 'the admin makes an operator of cloudlet-1');
  const session = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email, password: PASSWORD } });
  assert.equal(session.status, 200);
  return { email, token: session.json.token };
}

const row = (page, table, text) => page.locator(`#${table} tbody tr`, { hasText: text });

describe('the red team on the operator page', () => {
  test('a scenario launched from the page shows its verdict and the alert it caused',
    async () => {
      const operator = await makeOperator();
      const listed = await api(urls.cloudlet, 'GET', '/api/v1/attack/runs',
        { token: operator.token });
      assert.equal(listed.status, 200, 'a demo cloudlet lists its scenarios');
      assert.equal(listed.json.runs.length, 0, 'no run yet');
      const anonymous = await api(urls.cloudlet, 'GET', '/api/v1/attack/runs');
      assert.equal(anonymous.status, 401, 'the list is for operators');

      const page = await newPage();
      try {
        // The mesh routes may be absent on this deployment: their 404s are expected then.
        for (const route of ['/api/v1/ids/peers', '/api/v1/ids/mesh']) {
          if ((await api(urls.cloudlet, 'GET', route, { token: operator.token })).status === 404) {
            page.allowedConsole.push(/the server responded with a status of 404/);
          }
        }
        await logIn(page, operator.email, PASSWORD);
        await open(page, urls.cloudlet, '/operator/ids');
        await page.locator('#attack[data-demo="true"]').waitFor();
        assert.equal(await page.locator('#attack').isVisible(), true, 'the red-team section');
        const shown = await page.locator('#attack .actions button').allTextContents();
        assert.deepEqual(shown, ['all', ...listed.json.scenarios.map((s) => s.name)],
          'a button per scenario the route lists');
        assert.equal(await page.getByText('Runs, newest first: none.').count(), 1);
        assert.equal(await row(page, 'alerts-table', SOURCE).count(), 0, 'no alert before');

        await page.getByRole('button', { name: 'brute-force', exact: true }).click();
        // The run's verdict in the runs table once it is done (it polls every second).
        const verdict = row(page, 'runs-table', 'brute-force').locator('td[data-label="Verdicts"]');
        await page.waitForFunction(() => [...document.querySelectorAll('#runs-table tbody tr')]
          .some((tr) => tr.querySelector('td[data-label="State"]').textContent === 'done'),
        null, { timeout: 120_000 });
        assert.equal(await verdict.textContent(), 'brute-force: BLOCKED');
        assert.match(await page.locator('#attack pre').textContent(),
          /verdict: brute-force BLOCKED$/, 'the output ends with the verdict');
        // What the API says is what the page shows.
        const after = await api(urls.cloudlet, 'GET', '/api/v1/attack/runs',
          { token: operator.token });
        assert.equal(after.json.runs.length, 1);
        assert.deepEqual(after.json.runs[0].verdicts,
          [{ scenario: 'brute-force', verdict: 'BLOCKED' }]);
        assert.equal(await row(page, 'runs-table', 'brute-force')
          .locator('td[data-label="Run"]').textContent(), after.json.runs[0].id);

        // The alert and the decision the attack caused, shown without a reload.
        const alert = row(page, 'alerts-table', SOURCE).first();
        await alert.waitFor();
        assert.equal(await alert.locator('td[data-label="Detector"]').textContent(),
          'credentials');
        assert.equal(await alert.locator('td[data-label="Action"]').textContent(), 'block');
        const decision = row(page, 'decisions-table', SOURCE).first();
        await decision.waitFor();
        assert.equal(await decision.locator('td[data-label="State"]').textContent(), 'in force');
        const decisions = await api(urls.cloudlet, 'GET', '/api/v1/ids/decisions',
          { token: operator.token });
        assert.equal(decisions.json.decisions.some((d) => d.scope.value === SOURCE &&
          d.action === 'block' && d.detector === 'credentials'), true, 'the API agrees');
        await check(page, 'ids-redteam', VIEWPORTS[0]);
        assertNoProblems(page, 'operator red team');
      } finally {
        await close(page);
      }
    });
});
