// What the cloudlet operator's pages share (docs/ui.md "Cloudlet operator"): a table with a
// caption, the link to the operator's pages on the other node, and a status line for loading.
// An operator logs in at the cloud; the pages whose data lives at the cloud (requests, charts,
// restores) are served there, the cloudlet's own (status, stored data, devices, events) at the
// cloudlet, and each links to the other side.
import { formatTime, h, link, replace } from '../dom.js';

// A table: caption, column headings, rows of cells (strings, numbers or nodes); without rows, a
// line saying so. At phone width each row becomes a card whose cells carry their heading.
export function table(caption, headings, rows, attrs = {}) {
  if (rows.length === 0) return h('p', { class: 'muted' }, `${caption}: none.`);
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, rows.map((cells) => h('tr', {},
        cells.map((cell, i) => h('td', { 'data-label': headings[i] }, cell)))))));
}

export const time = (ms) => (ms === null || ms === undefined ? '—' : formatTime(ms));
export const mono = (text) => h('span', { class: 'mono' }, text);

// "Your cloudlet" from the cloud, "The cloud" from a cloudlet: a link to the operator's pages
// there (null when the node does not know where that is).
export function otherSide(context) {
  const { node, session } = context;
  let url = null;
  let text;
  if (node.kind === 'cloud') {
    const mine = (node.cloudlets ?? []).find((c) => c.id === session.cloudlet_id);
    url = mine?.url;
    text = `Your cloudlet's pages (${session.cloudlet_id ?? 'cloudlet'}): status, stored data, ` +
      'devices, security events';
  } else {
    url = node.cloud?.url;
    text = 'Pages at the cloud: access requests, charts, restored records';
  }
  const safe = url ? context.safeUrl(url) : null;
  if (!safe) return null;
  const target = new URL(node.kind === 'cloud' ? '/#/operator/status' : '/#/operator/requests', safe);
  return h('p', { class: 'op-other' }, link(target.href, text));
}

// A section that loads its content: a busy note first, then the content or the error.
export function loading(label) {
  const region = h('div', { 'aria-busy': 'true' }, h('p', { class: 'muted' }, `Loading ${label}…`));
  return {
    region,
    show(...children) {
      region.removeAttribute('aria-busy');
      replace(region, ...children);
    },
    fail(error) {
      region.removeAttribute('aria-busy');
      replace(region, h('p', { class: 'form-error', role: 'alert' }, error.message));
    },
  };
}

// The page frame: one h1, a lead paragraph, the link to the other side, then the content.
export function page(context, title, lead, ...content) {
  return h('section', { class: 'op-page' },
    h('h1', {}, title), h('p', { class: 'lead' }, lead), otherSide(context), content);
}
