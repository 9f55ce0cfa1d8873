// What every browser test of the web UI shares (docs/ui.md "Browser tests"): the deployment
// (deployment_main.cc, a real cloud and cloudlet on loopback ports), the browser (playwright-core
// driving Debian's chromium, headless), and the checks every page must pass. A test file calls
// useDeployment('<name>') once at its top level, then uses the exports below; its screenshots and
// metrics-<name>.json go to the artifacts folder. ui.test.mjs is the foundation's file; each
// role's pages have their own file (patient.test.mjs, ...), each its own ctest.
//
// Every page is opened at laptop (1280 px) and phone (375 px) width and must: draw without a
// console error, a page error or a CSP violation; pass axe-core with no serious or critical
// violation; not scroll sideways. Flows: register (with a hostile name and a photo), approve,
// log in, change the password (first with a wrong one), log out; API errors appear next to the
// field that caused them and keep what was typed. Written to the artifacts folder
// ($MEDMESH_BROWSER_ARTIFACTS): a screenshot of every page at both widths, metrics.json
// (time to interactive per page, bytes loaded, the UI's own JS+CSS size against its budget).
// Times are measured and reported, never asserted (a busy machine is slow, not wrong); the
// byte budget is asserted.
//
// Environment: MEDMESH_BROWSER_DEPLOYMENT (the deployment binary), MEDMESH_WEB_DIR (web/),
// MEDMESH_BROWSER_ARTIFACTS, MEDMESH_CHROMIUM (default /usr/bin/chromium).
// No password, token or person's name is printed: assertions compare booleans and counts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium, AXE_SOURCE } = await (async () => {
  try {
    return {
      chromium: (await import('playwright-core')).chromium,
      AXE_SOURCE: fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'),
    };
  } catch (error) {
    throw new Error(`playwright-core or axe-core is missing (${error.message}): run tools/setup.sh`);
  }
})();

export const DEPLOYMENT = process.env.MEDMESH_BROWSER_DEPLOYMENT;
export const WEB_DIR = process.env.MEDMESH_WEB_DIR;
export const ARTIFACTS = process.env.MEDMESH_BROWSER_ARTIFACTS;
export const CHROMIUM = process.env.MEDMESH_CHROMIUM || '/usr/bin/chromium';

export const OWN_CODE_BUDGET_BYTES = 150 * 1024;
export const READY_BUDGET_MS = 300;
export const VIEWPORTS = [
  { name: 'laptop', width: 1280, height: 800 },
  { name: 'phone', width: 375, height: 740 },
];
// What a stored name could try: markup and script that must show as plain text.
export const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';
// A 1x1 PNG (a valid image for the photo upload).
export const PNG_1X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64');

for (const [name, value] of Object.entries({ DEPLOYMENT, WEB_DIR, ARTIFACTS })) {
  if (!value) throw new Error(`MEDMESH_BROWSER_${name} is not set: run through ctest`);
}

let deployment;
export let urls;
export let browser;
export const adminPassword = randomBytes(18).toString('base64url');
export const metrics = { pages: [], own_code: null, budget_bytes: OWN_CODE_BUDGET_BYTES,
  ready_budget_ms: READY_BUDGET_MS };

async function startDeployment(args) {
  const child = spawn(DEPLOYMENT, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${adminPassword}\n`);
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the deployment exited (${code})`)));
    lines.once('line', resolve);
  });
  try {
    return { child, lines, urls: JSON.parse(first) };
  } catch {
    // Not the URLs line (a crash message, say): after() knows no child to stop, so stop it here.
    // The line itself is not quoted: it is the deployment's output, not ours to print.
    child.kill();
    throw new Error("the deployment's first line is not its URLs as JSON");
  }
}

// The seeded people (useDeployment(name, { seed: true })): the accounts of apps/demo_seed.h's
// seed file (role, login, password, display_name, patient_id, device_id, doctor_login, ...).
export let seed = null;
let deploymentLines;

// Sends one command to the deployment (deployment_main.cc: `tamper <patient_id>`) and returns
// its one-line answer.
export async function command(line) {
  const answer = new Promise((resolve) => deploymentLines.once('line', resolve));
  deployment.stdin.write(`${line}\n`);
  return answer;
}

// The seeded account with this role for which `where(account)` holds (the first one).
export function seeded(role, where = () => true) {
  const account = seed?.accounts.find((a) => a.role === role && where(a));
  assert.ok(account, `a seeded ${role}: useDeployment(name, { seed: true })`);
  return account;
}

export function artifact(name) {
  return path.join(ARTIFACTS, name);
}

// A page that records what must never happen: console errors, uncaught errors, CSP violations.
export async function newPage(viewport = VIEWPORTS[0]) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.problems = [];
  page.allowedConsole = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (page.allowedConsole.some((pattern) => pattern.test(text))) return;
    page.problems.push(`console: ${text}`);
  });
  page.on('pageerror', (error) => page.problems.push(`page error: ${error.message}`));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  return page;
}

export async function close(page) {
  await page.context().close();
}

export function assertNoProblems(page, where) {
  assert.deepEqual(page.problems, [], `${where}: console errors, page errors or CSP violations`);
}

// Opens `hashPath` on `base` and waits until the app shell says the page is drawn.
export async function open(page, base, hashPath) {
  // From a blank page, so it is a full load (a change of the #/ part alone is not) and
  // data-ready-ms measures the time to interactive of this page.
  await page.goto('about:blank');
  await page.goto(`${base}/#${hashPath}`);
  await page.waitForFunction((p) => document.documentElement.dataset.page === p &&
    document.documentElement.dataset.readyMs !== undefined, hashPath);
}

export async function waitForPage(page, hashPath) {
  await page.waitForFunction((p) => document.documentElement.dataset.page === p, hashPath);
}

export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(AXE_SOURCE);
  }
  const results = await page.evaluate(() => window.axe.run(document, {
    resultTypes: ['violations'],
  }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function scrollsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

// Axe, sideways scrolling, a screenshot and the page's figures, at the page's current width.
export async function check(page, label, viewport) {
  assert.deepEqual(await axeViolations(page), [], `${label} at ${viewport.name}: axe-core`);
  assert.equal(await scrollsSideways(page), false, `${label} at ${viewport.name}: scrolls sideways`);
  await page.screenshot({ path: artifact(`${label}-${viewport.name}.png`), fullPage: true });
  const figures = await page.evaluate(() => {
    const resources = performance.getEntriesByType('resource');
    const sum = (filter) => resources.filter(filter)
      .reduce((total, r) => total + (r.decodedBodySize || 0), 0);
    const own = (r) => /\/ui\/(js|css)\//.test(new URL(r.name).pathname);
    const vendor = (r) => new URL(r.name).pathname.startsWith('/ui/vendor/');
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      ready_ms: Number(document.documentElement.dataset.readyMs),
      navigation: document.documentElement.dataset.navigation,
      dom_content_loaded_ms: nav ? Math.round(nav.domContentLoadedEventEnd) : null,
      own_bytes_loaded: sum(own) + (nav?.decodedBodySize || 0),
      vendor_bytes_loaded: sum(vendor),
      requests: resources.length + 1,
    };
  });
  metrics.pages.push({ page: label, viewport: viewport.name, ...figures,
    over_ready_budget: figures.ready_ms > READY_BUDGET_MS });
  assertNoProblems(page, `${label} at ${viewport.name}`);
}

export async function api(base, method, route, { body, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${base}${route}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
}

export async function approve(email) {
  const login = await api(urls.cloud, 'POST', '/api/v1/session',
    { body: { email: 'admin@hospital.test', password: adminPassword } });
  assert.equal(login.status, 200, 'the admin logs in');
  const token = login.json.token;
  const pending = await api(urls.cloud, 'GET', '/api/v1/admin/registrations', { token });
  assert.equal(pending.status, 200);
  const account = pending.json.registrations.find((r) => r.email === email);
  assert.ok(account, 'the registration is pending');
  const approval = await api(urls.cloud, 'POST',
    `/api/v1/admin/registrations/${account.account_id}/approval`, { token });
  assert.equal(approval.status, 200, 'the admin approves');
}

// Fills a form's fields by their labels.
export async function fill(page, values) {
  for (const [label, value] of Object.entries(values)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
}

export async function fieldError(page, label) {
  const id = await page.getByLabel(label, { exact: true }).getAttribute('aria-describedby');
  const errorId = id.split(' ').find((part) => part.endsWith('-error'));
  return page.locator(`[id="${errorId}"]`).textContent();
}

export async function logIn(page, email, password) {
  await open(page, urls.cloud, '/login');
  await fill(page, { 'E-mail': email, Password: password });
  await page.getByRole('button', { name: 'Log in' }).click();
  await waitForLanding(page);
}

// After a login: the first page of the person's work is drawn (pages.js landingPage).
export async function waitForLanding(page) {
  await page.waitForFunction(() => {
    const shown = document.documentElement.dataset.page;
    return shown !== undefined && shown !== '/login' &&
      document.querySelector('#session-area button') !== null;
  });
}

// Registers the hooks that start the deployment and the browser before the file's tests and
// stop them after; `name` names the file's metrics (metrics-<name>.json). `seed: true` starts the
// deployment with --seed (the demo's people and workflows, about 2 s) and fills `seed`;
// `partner: true` with --partner (a second cloudlet, cloudlet-2, peer of the first; its URL in
// `urls.cloudlet2`).
// `demoAttacks: true` with --demo-attacks (the cloudlet serves the red team, docs/attack.md).
export function useDeployment(name,
  { seed: withSeed = false, partner = false, demoAttacks = false } = {}) {
  before(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run tools/setup.sh (it installs Debian's chromium)`);
    }
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    // The browser starts while the deployment starts (and seeds): neither needs the other yet.
    // Both are kept even if the other fails, so that after() stops them.
    const [started, launched] = await Promise.allSettled([
      startDeployment([...(withSeed ? ['--seed'] : []), ...(partner ? ['--partner'] : []),
        ...(demoAttacks ? ['--demo-attacks'] : [])]),
      chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        // Chromium's sandbox refuses to run as root (CI containers).
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      }),
    ]);
    if (launched.status === 'fulfilled') browser = launched.value;
    if (started.status === 'fulfilled') {
      ({ child: deployment, lines: deploymentLines, urls } = started.value);
    }
    for (const outcome of [started, launched]) {
      if (outcome.status === 'rejected') throw outcome.reason;
    }
    if (withSeed) seed = JSON.parse(fs.readFileSync(urls.seed, 'utf8'));
  });

  after(async () => {
    fs.writeFileSync(artifact(`metrics-${name}.json`), `${JSON.stringify(metrics, null, 2)}\n`);
    // The figures in the test's output too (no names or ids in them).
    const ready = metrics.pages.map((p) => p.ready_ms);
    console.log(`own JS+CSS: ${metrics.own_code?.bytes} bytes served, ${metrics.own_code?.source_bytes} ` +
      `in the sources (budget ${OWN_CODE_BUDGET_BYTES} served); ` +
      `time to interactive: max ${Math.max(...ready)} ms, median ` +
      `${ready.sort((a, b) => a - b)[Math.floor(ready.length / 2)]} ms over ${ready.length} page loads ` +
      `(budget ${READY_BUDGET_MS} ms); artifacts: ${ARTIFACTS}`);
    await browser?.close();
    if (deployment) {
      const exited = new Promise((resolve) => deployment.once('exit', resolve));
      deployment.stdin.end();
      await exited;
    }
  });
}
