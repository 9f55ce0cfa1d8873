// The app shell: finds out which node this is and who is logged in, draws the header and the
// navigation, and shows the page named by the address's "#/..." part without reloading.
//
// After each page is drawn, <html> carries data-page (the page's path) and data-ready-ms
// (milliseconds from the start of navigation to the page being usable): the browser tests
// wait for and measure these.
import { api, SESSION_ENDED_EVENT } from './api.js';
import { announce, h, link, replace } from './dom.js';
import { allowed, findPage, landingPage, navigation, servedHere } from './pages.js';
import { loadSession, logOut } from './session.js';

const state = {
  node: null,
  session: null,
  // A message for the next page shown (after a login, a logout, a password change).
  flash: null,
  // Where to go after logging in, when a page needed a login.
  next: null,
  expiryTimer: null,
  firstRoute: true,
};

const main = () => document.getElementById('main');

function currentPath() {
  const hash = window.location.hash;
  if (hash === '' || hash === '#' || hash === '#/') return '/';
  return hash.startsWith('#/') ? hash.slice(1) : null;
}

export function navigate(path) {
  if (currentPath() === path) {
    route();
  } else {
    window.location.hash = `#${path}`;
  }
}

function setSession(session) {
  state.session = session;
  clearTimeout(state.expiryTimer);
  if (session?.expires_ms) {
    // Sessions last 15 minutes and are not renewed (docs/accounts.md): say so when it ends.
    const left = Math.max(0, session.expires_ms - Date.now());
    state.expiryTimer = setTimeout(() => {
      setSession(null);
      state.flash = 'Your session has ended. Log in again to continue.';
      drawChrome();
      route();
    }, left);
  }
}

function safeUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}

function drawChrome() {
  const { node, session } = state;
  const path = currentPath();
  const kind = node?.kind === 'cloud' ? 'Cloud' : 'Cloudlet';
  replace(document.getElementById('node-badge'),
    !node ? '' : node.id.toLowerCase() === node.kind ? kind : `${kind} ${node.id}`);

  replace(document.getElementById('nav'), node ? navigation(node, session).map((page) =>
    h('li', {}, h('a', { href: `#${page.path}`, 'aria-current': page.path === path ? 'page' : null },
      page.title))) : []);

  const area = document.getElementById('session-area');
  if (session) {
    replace(area,
      h('span', {}, h('span', { class: 'visually-hidden' }, 'Logged in as '),
        h('strong', { class: 'who', title: session.display_name }, session.display_name),
        h('span', { class: 'muted' }, ` (${session.role})`)),
      h('button', { type: 'button', class: 'secondary', onclick: onLogOut }, 'Log out'));
  } else if (node) {
    // Every node has the login page: a cloudlet relays the login to the cloud.
    replace(area, link('#/login', 'Log in', { class: 'button secondary' }));
  } else {
    replace(area);
  }
}

async function onLogOut(event) {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await logOut();
    setSession(null);
    state.flash = 'You are logged out.';
    drawChrome();
    navigate('/');
  } catch (error) {
    button.disabled = false;
    state.flash = `Logging out failed: ${error.message}`;
    route();
  }
}

function notFound() {
  return h('section', {},
    h('h1', { tabindex: '-1' }, 'Page not found'),
    h('p', {}, 'There is no such page on this node. ', link('#/', 'Go to the home page'), '.'));
}

function failure(message) {
  return h('section', {},
    h('h1', { tabindex: '-1' }, 'This page could not be shown'),
    h('p', { class: 'form-error', role: 'alert' }, message),
    h('p', {}, link('#/', 'Go to the home page')));
}

// The context a page's render() receives.
function context(page) {
  return {
    node: state.node,
    session: state.session,
    options: page.options ?? {},
    navigate,
    safeUrl,
    // After a login: remember the session, redraw the header, go where the person was going.
    loggedIn(session, flash) {
      setSession(session);
      state.flash = flash ?? null;
      drawChrome();
      const next = state.next ?? landingPage(state.node, session);
      state.next = null;
      navigate(next);
    },
    // After the session was ended by the server (password change): back to the login page.
    loggedOut(flash) {
      setSession(null);
      state.flash = flash ?? null;
      drawChrome();
      navigate('/login');
    },
  };
}

let routeSerial = 0;

async function route() {
  const path = currentPath();
  if (path === null) return;  // an in-page anchor such as #main
  const serial = ++routeSerial;
  main().setAttribute('aria-busy', 'true');
  // Until this page is drawn, no page is: a test (or anything else) waiting for data-page to
  // name a page cannot mistake the previous page, or a redraw of the same one, for it.
  delete document.documentElement.dataset.page;
  const page = findPage(path);
  let content;
  let title = 'Page not found';
  if (!page || !servedHere(page, state.node)) {
    content = notFound();
  } else if (!allowed(page, state.session)) {
    if (state.session) {
      // Logged in, and the page is for the logged-out (log in, register): go home.
      navigate('/');
      return;
    }
    state.next = path;
    state.flash = 'Log in to see that page.';
    navigate('/login');
    return;
  } else {
    title = page.title;
    try {
      const module = await page.module();
      content = await module.render(context(page));
    } catch (error) {
      content = failure(error?.message ?? 'Something went wrong.');
    }
  }
  if (serial !== routeSerial) return;  // a newer navigation started meanwhile
  main().removeAttribute('aria-busy');
  const flash = state.flash;
  state.flash = null;
  replace(main(), flash ? h('p', { class: 'notice', role: 'status' }, flash) : null, content);
  document.title = `${title} · MedMesh`;
  drawChrome();
  if (!state.firstRoute) {
    const heading = main().querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
    announce(title);
  }
  state.firstRoute = false;
  document.documentElement.dataset.page = page ? path : '';
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
}

async function boot() {
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main().focus();
  });
  try {
    state.node = await api.get('/api/v1/node');
    setSession(await loadSession(state.node));
  } catch (error) {
    replace(main(), failure(error.message));
    return;
  }
  window.addEventListener('hashchange', route);
  window.addEventListener(SESSION_ENDED_EVENT, () => {
    if (!state.session) return;
    setSession(null);
    state.next = currentPath();
    state.flash = 'Your session has ended. Log in again to continue.';
    drawChrome();
    navigate('/login');
  });
  drawChrome();
  await route();
}

boot();
