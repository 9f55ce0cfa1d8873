// The cloudlet's state for its operator: whether it is ready, its link to the cloud, the forward
// queue, and what it stored (GET /readyz, GET /api/v1/stats, which adds the operator's counts
// for an operator session of this cloudlet). "Refresh" asks again without a reload.
import { api } from '../api.js';
import { h, link, replace } from '../dom.js';
import { page, time } from './operator-shared.js';

function row(term, value, id) {
  return [h('dt', {}, term), h('dd', { 'data-stat': id }, value)];
}

// What the cloud link (the forwarder's view; only in an operator's answer) and the forward queue
// say together, in words.
function linkState(stats) {
  const link = stats.cloud_link;
  if (link?.state === 'down') {
    return ['op-bad', `The cloud is not answering (since ${time(link.since_ms)}). What is ` +
      'stored here waits in the queue and goes out when it is back.'];
  }
  const waiting = stats.forward_queue_depth === 0 ? 'Nothing waits to be forwarded.'
    : `${stats.forward_queue_depth} item(s) wait to be forwarded.`;
  if (link?.state === 'up') return ['op-good', `The cloud answers (since ${time(link.since_ms)}). ${waiting}`];
  if (link?.state === 'unknown') return ['op-warn', `The cloud was not contacted yet. ${waiting}`];
  return [stats.forward_queue_depth === 0 ? 'op-good' : 'op-warn', waiting];
}

export function render(context) {
  const { node } = context;
  const out = h('div', { 'aria-live': 'polite' });
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');

  async function load() {
    refresh.disabled = true;
    out.setAttribute('aria-busy', 'true');
    let ready;
    try {
      ready = (await api.get('/readyz'))?.status === 'ready';
    } catch {
      ready = false;
    }
    try {
      const stats = await api.get('/api/v1/stats');
      const [tone, words] = linkState(stats);
      const cloud = node.cloud?.url ? context.safeUrl(node.cloud.url) : null;
      replace(out,
        h('p', { class: `op-state ${ready ? 'op-good' : 'op-bad'}`, id: 'ready-state' },
          ready ? 'This cloudlet is ready.' : 'This cloudlet is not ready (starting or stopping).'),
        h('div', { class: 'cards' },
          h('section', { class: 'card', 'aria-labelledby': 'link-heading' },
            h('h2', { id: 'link-heading' }, 'Cloud link'),
            h('p', { class: `op-state ${tone}`, id: 'link-state' }, words),
            h('dl', {},
              row('Cloud', cloud ? link(cloud, cloud) : 'none configured', 'cloud'),
              row('Waiting to forward', stats.forward_queue_depth, 'forward_queue_depth'),
              row('Forwarded', stats.forwarded, 'forwarded'),
              stats.cloud_link ? row('Last acknowledged forward',
                time(stats.cloud_link.last_forward_ms), 'last_forward') : null)),
          h('section', { class: 'card', 'aria-labelledby': 'stored-heading' },
            h('h2', { id: 'stored-heading' }, 'Stored here'),
            h('dl', {},
              row('Reading batches', stats.batches_stored, 'batches_stored'),
              row('Readings', stats.readings_stored, 'readings_stored'),
              row('Patient records', stats.records_stored, 'records_stored'),
              row('Duplicates (since start)', stats.duplicates, 'duplicates'),
              stats.rejected === undefined ? null
                : row('Refused requests (since start)', stats.rejected, 'rejected'),
              stats.ids_events === undefined ? null
                : row('Security events', stats.ids_events, 'ids_events')))),
        h('p', { class: 'muted' }, `As of ${time(Date.now())}.`));
    } catch (error) {
      replace(out, h('p', { class: 'form-error', role: 'alert' }, error.message));
    } finally {
      out.removeAttribute('aria-busy');
      refresh.disabled = false;
    }
  }

  refresh.addEventListener('click', load);
  const content = page(context, 'Cloudlet status',
    'Is this cloudlet ready, does it reach the cloud, and how much waits to be forwarded.',
    h('div', { class: 'actions' }, refresh), out);
  return load().then(() => content);
}
