// What the cloudlet operator's pages share (docs/ui.md "Cloudlet operator"): the table
// (js/table.js), the link to the operator's pages on the other node, and a status line for loading.
// An operator logs in at the cloud; the pages whose data lives at the cloud (requests, charts,
// restores) are served there, the cloudlet's own (status, stored data, devices, events) at the
// cloudlet, and each links to the other side.
import { formatTime, h, link, replace } from '../dom.js';

// The table is the UI's one data table (js/table.js), shared with the admin's pages.
export { table } from '../table.js';

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
