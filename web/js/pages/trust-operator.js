// The operator's view of this cloudlet's trust in its peer cloudlets (GET /api/v1/trust/peers,
// docs/trust_system.md): each peer's one trust from what it did, with the evidence by kind
// (forwards confirmed by a cloud receipt or lost, shared data that verified or not, IDS reports
// confirmed or refuted), whether it is a partner, this cloudlet's own link to the cloud, the
// peer it would relay through while that link is down, whether it relays now and its last relay
// round (the peer actually used); and a form to record what a peer did
// (POST /api/v1/trust/peers/{peer_id}/events).
import { api } from '../api.js';
import { announce, h } from '../dom.js';
import { form, textField } from '../forms.js';
import { loading, mono, page, table, time } from './operator-shared.js';

const KINDS = [['forward', 'A forward through it'], ['shared_data', 'Data it shared'],
  ['report', 'A report it sent']];

const OUTCOMES = {
  delivered: 'delivered',
  failed: 'failed (the peer did not pass the cloud\'s answer on)',
  bad_receipt: 'refused: the peer acknowledged without a valid cloud receipt',
};

const evidence = (e) => `${e.good} good / ${e.bad} bad`;

function relayLine(answer) {
  const last = answer.last_relay;
  return h('p', { id: 'trust-relaying' },
    answer.relaying ? 'Relaying now. ' : 'Not relaying now. ',
    last ? ['Last relay round: through ', mono(last.peer_id), ` at ${time(last.time_ms)}, ` +
      `${last.sent} sent, ${last.failed} left queued, ${OUTCOMES[last.outcome] ?? last.outcome}.`]
      : 'No relay round since the cloudlet started.');
}

export function render(context) {
  const body = loading('the peer cloudlets');
  const summary = h('div');

  async function redraw() {
    try {
      const answer = await api.get('/api/v1/trust/peers');
      summary.replaceChildren(h('p', { id: 'trust-link' },
        `Own link to the cloud: ${answer.cloud_link}. `,
        answer.relay ? ['Relay while it is down: ', mono(answer.relay), '.']
          : 'No peer is trusted enough to relay through.',
        ` Partners need trust ${answer.partner_threshold.toFixed(2)} or more.`), relayLine(answer));
      body.show(table(`Peer cloudlets (${answer.peers.length})`,
        ['Peer', 'Trust', 'Confidence', 'Forwards', 'Shared data', 'Reports', 'Partner'],
        answer.peers.map((p) => [mono(p.peer_id), p.trust.toFixed(2), p.confidence.toFixed(2),
          evidence(p.evidence.forward), evidence(p.evidence.shared_data),
          evidence(p.evidence.report), p.partner ? 'yes' : 'no']), { id: 'trust-peers' }));
    } catch (error) {
      body.fail(error);
    }
  }

  const record = form({
    label: 'Record what a peer did',
    fields: [
      textField({ name: 'peer', label: 'Peer cloudlet', required: true, autocomplete: 'off',
        hint: 'Its id, for example cloudlet-2' }),
      textField({ name: 'kind', label: 'What', required: true, options: KINDS }),
      textField({ name: 'good', label: 'Outcome', required: true, options: [['true', 'confirmed / verified'],
        ['false', 'lost / failed / refuted']] }),
    ],
    submitLabel: 'Record',
    busyLabel: 'Recording…',
    async onSubmit(values) {
      await api.post(`/api/v1/trust/peers/${encodeURIComponent(values.peer.trim())}/events`,
        { kind: values.kind, good: values.good === 'true' });
      announce('Recorded.');
      await redraw();
    },
  });

  const content = page(context, 'Peer trust',
    'How far this cloudlet trusts each peer cloudlet: one trust from forwards it relayed, data ' +
    'it shared and IDS reports it sent; the most trusted partners are chosen for sharing and ' +
    'for relaying to the cloud when the own link is down.',
    summary, body.region, h('section', { class: 'card', 'aria-labelledby': 'trust-record' },
      h('h2', { id: 'trust-record' }, 'Record what a peer did'), record));
  return redraw().then(() => content);
}
