// Records and reading batches of the operator's cloudlet that the cloud restored from the
// cloudlet's copy after a failed check (GET /api/v1/integrity/restores, newest first).
import { api } from '../api.js';
import { h } from '../dom.js';
import { loading, mono, page, table, time } from './operator-shared.js';

const CHECKS = {
  missing: 'missing', decrypt: 'did not decrypt', digest: 'digest differed',
  signature: 'signature failed', chain: 'hash chain broken',
};

export async function render(context) {
  const body = loading('the restores');
  const content = page(context, 'Restored records',
    'When a stored record or batch fails its check (tampered with or lost at the cloud), the ' +
    'patient or you restore it from your cloudlet\'s signed copy. Each restore is listed here.',
    body.region);
  try {
    const { restores } = await api.get('/api/v1/integrity/restores?limit=200');
    body.show(restores.length === 0
      ? h('p', { class: 'notice' }, 'Nothing was restored so far.')
      : table(`Restores (${restores.length}, newest first)`,
        ['When', 'What', 'Device', 'Item', 'Failed check', 'By'],
        restores.map((r) => [time(r.restored_ms), r.kind, mono(r.device_id), mono(r.item_id),
          CHECKS[r.failed_check] ?? r.failed_check, r.actor_role]), { id: 'restores' }));
  } catch (error) {
    body.fail(error);
  }
  return content;
}
