// Building DOM safely. Every page builds its elements with h(): text always goes in as text
// nodes (textContent), never as HTML, so a name like "<script>…</script>" shows as those
// characters. The CSP's Trusted Types rule makes every HTML-parsing sink throw anyway.

// h('p', {class: 'muted'}, 'Hello ', h('strong', {}, name))
//   attrs: 'class', 'for', 'id', aria-*, data-*, any attribute (set with setAttribute);
//   on<Event>: a listener (onclick, onsubmit, ...); a boolean true sets an empty attribute,
//   false/null/undefined leaves it out. Children: nodes, strings/numbers (as text), arrays;
//   null, undefined and false are skipped.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'value' && 'value' in element) {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

// Appends children to `parent` under the rules of h().
export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

// Replaces all children of `parent`.
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

// A link to a page of the UI ("#/login") or elsewhere.
export function link(href, text, attrs = {}) {
  return h('a', { href, ...attrs }, text);
}

// Says `message` to screen readers through the page's polite live region.
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A new text node after a tick, so the same message twice is announced twice.
  setTimeout(() => { region.textContent = message; }, 50);
}

// "12 Mar 2027, 14:05" in the browser's locale, from Unix milliseconds.
export function formatTime(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
