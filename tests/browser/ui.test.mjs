// Browser tests of the web UI's foundation (docs/ui.md "Browser tests"), run by ctest as
// browser_ui_test: the served assets and their headers, every page of the foundation at laptop
// and phone width, and the people flows (register, approve, log in, password, log out).
// The shared parts (deployment, browser, checks) are in harness.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';

import {
  HOSTILE, OWN_CODE_BUDGET_BYTES, PNG_1X1, VIEWPORTS, WEB_DIR, api, approve,
  artifact, assertNoProblems, browser, check, close, fieldError, fill, logIn, metrics, newPage,
  open, urls, useDeployment, waitForLanding, waitForPage,
} from './harness.mjs';

useDeployment('ui');

describe('served assets', () => {
  test('the page and its assets carry the CSP and the security headers, with ETag and 304', async () => {
    for (const route of ['/', '/ui/js/app.js', '/ui/css/app.css', '/ui/vendor/chart.umd.js']) {
      const first = await fetch(`${urls.cloud}${route}`);
      assert.equal(first.status, 200, route);
      const csp = first.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/, route);
      assert.match(csp, /frame-ancestors 'none'/, route);
      assert.doesNotMatch(csp, /unsafe/, route);
      assert.equal(first.headers.get('x-content-type-options'), 'nosniff', route);
      assert.equal(first.headers.get('referrer-policy'), 'no-referrer', route);
      assert.equal(first.headers.get('cache-control'), 'no-cache', route);
      const etag = first.headers.get('etag');
      assert.match(etag ?? '', /^"[0-9a-f]{32}"$/, route);
      const again = await fetch(`${urls.cloudlet}${route}`, { headers: { 'If-None-Match': etag } });
      assert.equal(again.status, 304, `${route}: the cloudlet serves the same bytes`);
    }
    assert.equal((await fetch(`${urls.cloud}/ui/js/none.js`)).status, 404);
  });

  test('GET /api/v1/node names each node, its roles and its mesh', async () => {
    const cloud = await api(urls.cloud, 'GET', '/api/v1/node');
    assert.equal(cloud.status, 200);
    assert.equal(cloud.json.kind, 'cloud');
    assert.deepEqual(cloud.json.roles, ['patient', 'doctor', 'admin']);
    assert.deepEqual(cloud.json.cloudlets.map((c) => c.url), [urls.cloudlet]);
    const cloudlet = await api(urls.cloudlet, 'GET', '/api/v1/node');
    assert.equal(cloudlet.json.kind, 'cloudlet');
    assert.deepEqual(cloudlet.json.roles, ['device', 'operator', 'patient']);
    assert.equal(cloudlet.json.cloud.url, urls.cloud);
  });

  // Every .js and .css file under web/ as the cloud serves it (minified at build time by
  // esbuild), against the budget; the sources' size is recorded beside it.
  test("the UI's own JavaScript and CSS stay within the budget", async () => {
    let bytes = 0;
    let sourceBytes = 0;
    const files = [];
    const walk = (dir) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name === 'node_modules') continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (/\.(js|css)$/.test(entry.name)) files.push(path.relative(WEB_DIR, full));
      }
    };
    walk(WEB_DIR);
    const sizes = [];
    for (const file of files) {
      const response = await fetch(`${urls.cloud}/ui/${file.split(path.sep).join('/')}`);
      assert.equal(response.status, 200, file);
      const served = (await response.arrayBuffer()).byteLength;
      const source = fs.statSync(path.join(WEB_DIR, file)).size;
      bytes += served;
      sourceBytes += source;
      sizes.push({ file, bytes: served, source_bytes: source });
    }
    metrics.own_code = { bytes, source_bytes: sourceBytes, files: sizes };
    assert.ok(bytes > 0 && bytes <= OWN_CODE_BUDGET_BYTES, `${bytes} bytes of own JS+CSS served`);
  });
});

describe('every page, at laptop and phone width', () => {
  const anonymousPages = [
    ['cloud-home', 'cloud', '/'],
    ['cloud-login', 'cloud', '/login'],
    ['cloud-register-patient', 'cloud', '/register/patient'],
    ['cloud-register-doctor', 'cloud', '/register/doctor'],
    ['cloud-not-found', 'cloud', '/no/such/page'],
    ['cloudlet-home', 'cloudlet', '/'],
  ];
  for (const viewport of VIEWPORTS) {
    for (const [label, node, hashPath] of anonymousPages) {
      test(`${label} at ${viewport.name}`, async () => {
        const page = await newPage(viewport);
        try {
          if (label === 'cloud-not-found') {
            await page.goto(`${urls[node]}/#${hashPath}`);
            await page.waitForFunction(() => document.documentElement.dataset.readyMs !== undefined);
            assert.equal(await page.locator('h1').textContent(), 'Page not found');
          } else {
            await open(page, urls[node], hashPath);
          }
          assert.equal(await page.locator('h1').count(), 1, 'one h1');
          await check(page, label, viewport);
        } finally {
          await close(page);
        }
      });
    }
  }

  test('the home pages show the roles, the mesh and how to log in', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/');
      const main = page.locator('main');
      for (const text of ['Patients', 'Doctors', 'The cloud admin', 'Cloudlet cloudlet-1']) {
        assert.equal(await main.getByText(text, { exact: true }).count(), 1, text);
      }
      assert.equal(await main.getByRole('link', { name: 'Log in' }).count(), 1);
      assert.equal(await page.getByRole('link', { name: 'Cloudlet cloudlet-1' }).getAttribute('href'),
        `${urls.cloudlet}/`);
      const nav = await page.locator('nav a').allTextContents();
      assert.deepEqual(nav, ['Home', 'Register as a patient', 'Register as a doctor']);

      await open(page, urls.cloudlet, '/');
      for (const text of ['Wearable devices', 'The cloudlet operator', 'Patients']) {
        assert.equal(await page.locator('main').getByText(text, { exact: true }).count(), 1, text);
      }
      assert.equal(await page.getByRole('link', { name: 'the cloud', exact: true }).getAttribute('href'),
        `${urls.cloud}/`);
      assert.deepEqual(await page.locator('nav a').allTextContents(), ['Home']);
      // The cloudlet has its own login page (it relays the login to the cloud).
      assert.equal(await page.locator('#session-area').getByRole('link', { name: 'Log in' })
        .getAttribute('href'), '#/login');
      assert.equal(await page.getByRole('link', { name: 'Register at the cloud' }).getAttribute('href'),
        `${urls.cloud}/`);
      assertNoProblems(page, 'home pages');
    } finally {
      await close(page);
    }
  });

  test('the keyboard reaches everything, and focus is visible', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/login');
      await page.keyboard.press('Tab');
      const first = await page.evaluate(() => document.activeElement.textContent);
      assert.equal(first, 'Skip to content', 'the skip link comes first');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(outline, 'none', 'focus is visible');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
      // From the content: Tab to the e-mail field, type, Tab to the password, Enter submits.
      for (let i = 0; i < 10; i += 1) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(() => document.activeElement.name === 'email')) break;
      }
      assert.equal(await page.evaluate(() => document.activeElement.name), 'email');
      await page.keyboard.type('nobody@hospital.test');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.name), 'password');
      await page.keyboard.press('Enter');
      // Empty password: the browser's check, shown under the field, focus on it.
      await page.waitForFunction(() => document.activeElement?.getAttribute('aria-invalid') === 'true');
      assert.equal(await page.evaluate(() => document.activeElement.name), 'password');
      assert.notEqual(await fieldError(page, 'Password'), '');
      assertNoProblems(page, 'keyboard');
    } finally {
      await close(page);
    }
  });

  test('the CSP refuses inline style and HTML sinks, and the test notices violations', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/');
      const sinkThrows = await page.evaluate(() => {
        try {
          document.querySelector('main').innerHTML = '<b>not parsed</b>';
          return false;
        } catch (error) {
          return error instanceof TypeError;
        }
      });
      assert.equal(sinkThrows, true, 'Trusted Types refuse innerHTML');
      assert.equal(await page.locator('main b').count(), 0);
      const reported = page.waitForEvent('console',
        { predicate: (message) => message.text().startsWith('CSP violation: style-src') });
      await page.evaluate(() => {
        const style = document.createElement('style');
        style.textContent = 'body { background: red; }';
        document.head.append(style);
      });
      await reported;
      assert.notEqual(await page.evaluate(() => getComputedStyle(document.body).backgroundColor),
        'rgb(255, 0, 0)', 'the inline style was not applied');
      assert.equal(page.problems.some((p) => p.startsWith('console: CSP violation: style-src')),
        true, 'the violation is among the problems every other test fails on');
    } finally {
      await close(page);
    }
  });

  test('Chart.js draws under the CSP (for the pages with charts)', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/');
      const drawn = await page.evaluate(async () => {
        const { loadChart } = await import('/ui/js/charts.js');
        const Chart = await loadChart();
        const canvas = document.createElement('canvas');
        document.querySelector('main').append(canvas);
        const chart = new Chart(canvas, {
          type: 'bar',
          data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'n', data: [3, 1, 2] }] },
          options: { animation: false },
        });
        const pixels = canvas.getContext('2d')
          .getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted += 1;
        const points = chart.data.datasets[0].data.length;
        chart.destroy();
        canvas.remove();
        return { points, painted };
      });
      assert.equal(drawn.points, 3);
      assert.ok(drawn.painted > 0, 'the canvas has painted pixels');
      assertNoProblems(page, 'Chart.js');
    } finally {
      await close(page);
    }
  });
});

describe('people and forms', () => {
  const email = `patient-${randomBytes(4).toString('hex')}@hospital.test`;
  const password = `first ${randomBytes(9).toString('base64url')}`;
  const newPassword = `second ${randomBytes(9).toString('base64url')}`;

  test('a patient registers with a hostile name and a photo; it stays text everywhere', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/register/patient');
      await fill(page, {
        'Name shown to others': HOSTILE,
        'E-mail': email,
        Password: password,
        'Password again': password,
        'Full name (optional)': HOSTILE,
        'Address (optional)': 'Flat 2, "Quotes" & <Brackets> Road',
      });
      await page.getByLabel('Sex (optional)').selectOption('female');
      await page.getByLabel('Photo (optional)').setInputFiles({
        name: 'me.png', mimeType: 'image/png', buffer: PNG_1X1,
      });
      // The local preview appears once the browser has decoded the chosen image.
      await page.locator('img.photo-preview').waitFor({ state: 'visible' });
      assert.match(await page.locator('img.photo-preview').getAttribute('src'), /^blob:/);
      await page.getByRole('button', { name: 'Register' }).click();
      await page.getByRole('heading', { name: 'Registration received' }).waitFor();
      assertNoProblems(page, 'registration');
    } finally {
      await close(page);
    }
    await approve(email);

    for (const viewport of VIEWPORTS) {
      const session = await newPage(viewport);
      try {
        await logIn(session, email, password);
        const shown = await session.locator('#session-area .who').textContent();
        assert.equal(shown === HOSTILE, true, 'the header shows the name as typed, as text');
        await open(session, urls.cloud, '/account');
        const name = await session.locator('dd').first().textContent();
        assert.equal(name === HOSTILE, true, 'the account page shows the name as text');
        assert.equal(await session.evaluate(() => window.__pwned), undefined, 'no script ran');
        assert.equal(await session.locator('img[onerror], main script').count(), 0);
        assert.deepEqual((await session.locator('nav a').allTextContents()).slice(0, 2), ['Home', 'My account']);
        await check(session, 'cloud-account', viewport);
      } finally {
        await close(session);
      }
    }
  });

  test('API errors appear next to the field that caused them and keep what was typed', async () => {
    const page = await newPage();
    try {
      // The server refuses an e-mail the browser lets through (no dot in its domain): shown
      // under the e-mail field. (A taken e-mail is answered as a new registration: the answer
      // must not tell a stranger that an e-mail has an account; docs/accounts.md.)
      await open(page, urls.cloud, '/register/doctor');
      page.allowedConsole.push(/status of 400/);
      await fill(page, {
        'Name shown to others': 'Dr Who', 'E-mail': 'dr.who@hospital', Password: password,
        'Password again': password, 'Licence number': 'GMC-1', Speciality: 'cardiology',
        Hospital: 'St Elsewhere',
      });
      await page.getByRole('button', { name: 'Register' }).click();
      await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
      assert.match(await fieldError(page, 'E-mail'), /domain/);
      assert.equal(await page.getByLabel('E-mail', { exact: true }).getAttribute('aria-invalid'), 'true');
      assert.equal(await page.getByLabel('Hospital', { exact: true }).inputValue(), 'St Elsewhere');
      assert.equal(await page.getByLabel('Password', { exact: true }).inputValue() === password, true);
      assert.equal(await page.evaluate(() => document.activeElement?.name), 'email', 'focus moves there');
      await page.screenshot({ path: artifact('cloud-register-doctor-error-laptop.png'), fullPage: true });

      // Another e-mail, and the same form goes through: the doctor is registered.
      await fill(page, { 'E-mail': `doctor-${randomBytes(4).toString('hex')}@hospital.test` });
      await page.getByRole('button', { name: 'Register' }).click();
      await page.getByRole('heading', { name: 'Registration received' }).waitFor();

      // The browser's own check: a short password, under the password field, nothing sent.
      await open(page, urls.cloud, '/register/doctor');
      await fill(page, {
        'Name shown to others': 'Dr No', 'E-mail': 'no@hospital.test', Password: 'short',
        'Password again': 'short', 'Licence number': 'GMC-2', Speciality: 'surgery',
        Hospital: 'St Elsewhere',
      });
      await page.getByRole('button', { name: 'Register' }).click();
      assert.notEqual(await fieldError(page, 'Password'), '');
      assert.equal(await fieldError(page, 'E-mail'), '');
      assert.equal(await page.evaluate(() => document.activeElement?.name), 'password');

      // A photo over 512 KiB is refused before anything is sent, under the photo field.
      await open(page, urls.cloud, '/register/patient');
      await fill(page, { 'Name shown to others': 'P', 'E-mail': 'p@hospital.test',
        Password: password, 'Password again': password });
      await page.getByLabel('Photo (optional)').setInputFiles({
        name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(600 * 1024, 1),
      });
      await page.getByRole('button', { name: 'Register' }).click();
      assert.match(await fieldError(page, 'Photo (optional)'), /512 KiB/);
      assert.equal(await page.evaluate(() => document.activeElement?.name), 'photo');

      // A wrong password at login: above the form, the e-mail kept.
      await open(page, urls.cloud, '/login');
      page.allowedConsole.push(/status of 401/);
      await fill(page, { 'E-mail': email, Password: 'not the password at all' });
      await page.getByRole('button', { name: 'Log in' }).click();
      const alert = page.locator('form .form-error');
      await alert.filter({ hasText: 'wrong' }).waitFor();
      assert.equal(await page.getByLabel('E-mail', { exact: true }).inputValue() === email, true);
      assertNoProblems(page, 'form errors');
    } finally {
      await close(page);
    }
  });

  test('a patient changes the password (a wrong current one first), logs in again, logs out', async () => {
    const page = await newPage();
    try {
      await logIn(page, email, password);
      await open(page, urls.cloud, '/account');
      page.allowedConsole.push(/status of 401/);
      await fill(page, {
        'Current password': 'this is not it at all', 'New password': newPassword,
        'New password again': newPassword,
      });
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForFunction(() => document.querySelector('[aria-invalid="true"]') !== null);
      assert.match(await fieldError(page, 'Current password'), /wrong/);
      assert.equal(await page.getByLabel('New password', { exact: true }).inputValue() === newPassword,
        true, 'what was typed is kept');

      await fill(page, { 'Current password': password });
      await page.getByRole('button', { name: 'Change password' }).click();
      await waitForPage(page, '/login');
      assert.match(await page.locator('.notice').textContent(), /password was changed/);
      assert.equal(await page.evaluate(() => document.cookie.includes('mm_csrf=')), false);

      await fill(page, { 'E-mail': email, Password: newPassword });
      await page.getByRole('button', { name: 'Log in' }).click();
      await waitForLanding(page);
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.locator('.notice', { hasText: 'logged out' }).waitFor();
      assert.equal(await page.locator('#session-area').getByRole('link', { name: 'Log in' }).count(), 1);
      // No token ever reaches a URL or web storage.
      const storage = await page.evaluate(() => localStorage.length + sessionStorage.length);
      assert.equal(storage, 0);
      assert.equal(page.url().includes('mm1.'), false);
      assertNoProblems(page, 'password change');
    } finally {
      await close(page);
    }
  });

  test('a session ended elsewhere sends the page to the login page at its next request', async () => {
    const page = await newPage();
    try {
      await logIn(page, email, newPassword);
      await open(page, urls.cloud, '/account');
      // Logged out in another tab: the session is revoked and the cookies are gone.
      const status = await page.evaluate(async () => {
        const csrf = document.cookie.split('; ').find((c) => c.startsWith('mm_csrf='))?.slice(8);
        const response = await fetch('/api/v1/session',
          { method: 'DELETE', headers: { 'X-CSRF-Token': csrf } });
        return response.status;
      });
      assert.equal(status, 204);
      page.allowedConsole.push(/status of 401/);
      await fill(page, { 'Current password': newPassword, 'New password': password,
        'New password again': password });
      await page.getByRole('button', { name: 'Change password' }).click();
      await waitForPage(page, '/login');
      assert.match(await page.locator('.notice').textContent(), /session has ended/);
      assert.equal(await page.locator('#session-area').getByRole('link', { name: 'Log in' }).count(), 1);
      assertNoProblems(page, 'session ended');
    } finally {
      await close(page);
    }
  });

  test('pages that need a login send a logged-out visitor to the login page, then back', async () => {
    const page = await newPage();
    try {
      await open(page, urls.cloud, '/login');
      await page.goto(`${urls.cloud}/#/account`);
      await waitForPage(page, '/login');
      assert.match(await page.locator('.notice').textContent(), /Log in to see that page/);
      await fill(page, { 'E-mail': email, Password: newPassword });
      await page.getByRole('button', { name: 'Log in' }).click();
      await waitForPage(page, '/account');
      assertNoProblems(page, 'login redirect');
    } finally {
      await close(page);
    }
  });
});
