// Intrusion events this cloudlet recorded so far (GET /api/v1/ids/events): forged signatures,
// replays, bad tokens, malformed or oversized uploads, ... newest first. Repeats of one kind from
// one source are one row with a count. "Refresh" asks again without a reload.
import { api } from '../api.js';
import { h } from '../dom.js';
import { loading, mono, page, table, time } from './operator-shared.js';

const KINDS = {
  forged_signature: 'Forged signature', bad_certificate: 'Bad certificate', replay: 'Replay',
  malformed: 'Malformed request', oversized: 'Oversized upload',
  decompression_bomb: 'Decompression bomb', out_of_range: 'Implausible readings',
  unknown_device: 'Unknown device', decrypt_failure: 'Did not decrypt',
  auth_failure: 'Bad token or session', rate_limited: 'Rate limited',
  enrolment_conflict: 'Enrolment conflict', other: 'Other',
};

export function render(context) {
  const body = loading('the events');
  const refresh = h('button', { type: 'button', class: 'secondary' }, 'Refresh');

  async function load() {
    refresh.disabled = true;
    try {
      const events = (await api.get('/api/v1/ids/events')).reverse();
      const total = events.reduce((sum, e) => sum + e.count, 0);
      body.show(events.length === 0 ? h('p', { class: 'notice' }, 'No security event so far.')
        : table(`Security events (${total} in ${events.length} rows, newest first)`,
          ['First seen', 'Last seen', 'Kind', 'Count', 'Source', 'Device (claimed)', 'Detail'],
          events.map((e) => [time(e.time_ms), time(e.last_time_ms),
            h('span', { 'data-kind': e.kind }, KINDS[e.kind] ?? e.kind), e.count,
            mono(e.source_ip), e.device_id ? mono(e.device_id) : '—', e.detail]),
          { id: 'events' }));
    } catch (error) {
      body.fail(error);
    } finally {
      refresh.disabled = false;
    }
  }

  refresh.addEventListener('click', load);
  const content = page(context, 'Security events',
    'Everything this cloudlet refused as a possible attack, as its intrusion detection ' +
    'recorded it. The device id is the one the request claimed.',
    h('div', { class: 'actions' }, refresh), body.region);
  return load().then(() => content);
}
