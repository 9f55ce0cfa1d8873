// The patient's sharing page at their cloudlet (docs/ui.md "Trust", docs/trust_system.md): the
// sharing profile and consent (PUT /api/v1/trust/profile), similar patients with what made them
// similar and the trust in them (GET /api/v1/trust/similar), messages (encrypted at rest; each
// one a logged interaction that either side may rate), and access requests out and in: the owner
// sees the trust model's assessment with every reason before answering, and the decision after.
// Patients of partner cloudlets appear with their cloudlet's name (handle@cloudlet); messages and
// requests to them go through this cloudlet, their own cloudlet decides, and data they share is
// shown only after its signature verified here (docs/trust_system.md "Sharing across cloudlets").
// Nothing here names a patient: other patients appear by their pseudonymous handle only.
import { api } from '../api.js';
import { announce, formatTime, h, replace } from '../dom.js';
import { form, textField } from '../forms.js';
import { badge, card, messageLine } from './patient-common.js';

const CATEGORY_LABELS = {
  vitals_summary: 'Vitals summary',
  diagnoses: 'Diagnoses',
  full_records: 'Full records',
};
const percent = (x) => `${Math.round(x * 100)}%`;

// A decision's reasons as a list: each met or not, with the library's sentence.
function reasonList(decision) {
  return h('ul', { class: 'trust-reasons' }, decision.reasons.map((r) => h('li', {},
    badge(r.met ? 'ok' : 'bad', r.met ? 'met' : 'not met'), ' ', h('strong', {}, r.kind), ': ',
    r.text)));
}

function decisionBlock(decision, title) {
  return h('div', { class: 'trust-decision' },
    h('p', {}, h('strong', {}, title), ' ',
      badge(decision.allowed ? 'ok' : 'bad', decision.allowed ? 'allowed' : 'not allowed'),
      ` — trust ${decision.trust.toFixed(2)} of ${decision.threshold.toFixed(2)} needed, ` +
      `similarity ${decision.similarity.toFixed(2)}, reputation ${decision.reputation.toFixed(2)}`),
    reasonList(decision));
}

function checkbox(name, label, checked, attrs = {}) {
  const id = `trust-${name}`;
  return h('div', { class: 'check' },
    h('input', { type: 'checkbox', id, name, checked, ...attrs }),
    h('label', { for: id }, label));
}

export function render() {
  const status = messageLine();
  const profileCard = h('div');
  const similarCard = h('div');
  const messagesCard = h('div');
  const requestsCard = h('div');
  let similar = [];

  function profileForm(profile) {
    const conditions = h('fieldset', { class: 'trust-conditions' },
      h('legend', {}, 'Conditions (ICD-10)'),
      profile.condition_choices.map((c) => checkbox(`condition-${c.code}`, `${c.code} ${c.name}`,
        profile.conditions.some((mine) => mine.code === c.code), { 'data-code': c.code })));
    const consent = h('fieldset', {},
      h('legend', {}, 'What others may ask to see'),
      profile.categories.map((c) => checkbox(`consent-${c.category}`,
        `${CATEGORY_LABELS[c.category]} (needs trust ${c.threshold.toFixed(2)})`,
        profile.consent[c.category])));
    const symptoms = textField({ name: 'symptoms', label: 'Symptoms', maxlength: 400,
      hint: 'Separated by commas, for example: palpitations, tiredness' });
    const f = form({
      label: 'Sharing profile',
      fields: [checkbox('opted_in', 'Share with similar patients at this cloudlet', profile.opted_in),
        conditions, symptoms, consent],
      submitLabel: 'Save sharing profile',
      busyLabel: 'Saving…',
      async onSubmit(values, element) {
        const body = {
          opted_in: element.elements.namedItem('opted_in').checked,
          conditions: [...conditions.querySelectorAll('input:checked')].map((i) => i.dataset.code),
          symptoms: values.symptoms.split(',').map((s) => s.trim()).filter(Boolean),
          consent: Object.fromEntries(profile.categories.map((c) => [c.category,
            element.elements.namedItem(`consent-${c.category}`).checked])),
        };
        await api.put('/api/v1/trust/profile', body);
        status.say('Your sharing profile is saved.', 'ok');
        announce('Sharing profile saved.');
        await redraw();
      },
    });
    f.elements.namedItem('symptoms').value = profile.symptoms.join(', ');
    return f;
  }

  function vitalsTable(vitals) {
    if (vitals.length === 0) return h('p', { class: 'muted' }, 'No readings here in the last 30 days.');
    return h('div', { class: 'table-wrap' }, h('table', { id: 'trust-vitals' },
      h('caption', {}, 'Your vitals profile (last 30 days, from the readings at this cloudlet)'),
      h('thead', {}, h('tr', {}, ['Vital', 'Mean', 'Spread', 'Readings']
        .map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, vitals.map((v) => h('tr', {},
        h('td', { 'data-label': 'Vital' }, v.kind.replaceAll('_', ' ')),
        h('td', { 'data-label': 'Mean' }, `${v.mean} ${v.unit}`),
        h('td', { 'data-label': 'Spread' }, `± ${v.sd}`),
        h('td', { 'data-label': 'Readings' }, String(v.count)))))));
  }

  function requestForm(handle) {
    const id = `ask-${handle}`;
    const select = h('select', { id, name: 'category' },
      Object.entries(CATEGORY_LABELS).map(([value, text]) => h('option', { value }, text)));
    const button = h('button', { type: 'button', class: 'secondary' }, 'Ask');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await api.post('/api/v1/trust/requests', { handle, category: select.value });
        status.say(`Asked ${handle} for their ${CATEGORY_LABELS[select.value].toLowerCase()}.`, 'ok');
        await drawRequests();
      } catch (error) {
        status.say(error.message, 'error');
      } finally {
        button.disabled = false;
      }
    });
    return h('div', { class: 'trust-ask' }, h('label', { for: id }, `Ask ${handle} for`), select,
      button);
  }

  async function drawSimilar(fetched) {
    const answer = fetched ?? await api.get('/api/v1/trust/similar');
    similar = answer.patients;
    replace(similarCard, card('Similar patients',
      !answer.opted_in ? h('p', { class: 'muted' }, 'Opt in above to see similar patients.')
        : similar.length === 0 ? h('p', { class: 'muted' }, 'Nobody else shares here yet.')
          : h('ul', { class: 'trust-similar', id: 'similar-patients' }, similar.map((p) => h('li',
            { class: 'trust-person', 'data-handle': p.address, 'data-cloudlet': p.cloudlet ?? '' },
            h('h3', {}, p.handle, p.cloudlet
              ? h('span', { class: 'badge trust-cloudlet', title: 'A patient of a partner cloudlet' },
                `at ${p.cloudlet}`) : null),
            h('p', {}, `Similarity ${percent(p.similarity)}, trust ${p.trust.toFixed(2)} ` +
              `(confidence ${percent(p.confidence)})`),
            h('p', { class: 'muted' }, 'Shared: ',
              [...p.shared_conditions.map((c) => `${c.code} ${c.name}`), ...p.shared_symptoms]
                .join('; ') || 'no condition or symptom in common'),
            h('p', { class: 'muted' }, 'What made you similar: ',
              p.explanation.slice(0, 4).map((e) => `${e.term} (${e.kind}, ${e.contribution.toFixed(2)})`)
                .join(', ') || '—'),
            requestForm(p.address))))),
      partnerNote(answer.cloudlets ?? []));
  }

  // Which partner cloudlets were asked, and whether their signed answer verified.
  function partnerNote(cloudlets) {
    if (cloudlets.length === 0) return null;
    return h('p', { class: 'muted', id: 'trust-partners' }, 'Also asked the partner cloudlets ',
      cloudlets.map((c) => `${c.cloudlet_id} (${c.answered ? `${c.patients} found` : 'no verified answer'})`)
        .join(', '), '.');
  }

  async function rate(interactionId, positive) {
    try {
      await api.post('/api/v1/trust/ratings', { interaction_id: interactionId, positive });
      status.say('Thank you: your rating is recorded.', 'ok');
      await drawMessages();
    } catch (error) {
      status.say(error.message, 'error');
    }
  }

  async function drawMessages(fetched) {
    const { messages } = fetched ?? await api.get('/api/v1/trust/messages');
    const handles = similar.map((p) => p.address);
    const compose = handles.length === 0 ? null : form({
      label: 'New message',
      fields: [textField({ name: 'to', label: 'To', required: true, options: handles.map((x) => [x, x]) }),
        textField({ name: 'text', label: 'Message', required: true, maxlength: 4000 })],
      submitLabel: 'Send',
      busyLabel: 'Sending…',
      async onSubmit(values, element) {
        await api.post('/api/v1/trust/messages', { to: values.to, text: values.text });
        element.elements.namedItem('text').value = '';
        status.say(`Message sent to ${values.to}.`, 'ok');
        await drawMessages();
      },
    });
    replace(messagesCard, card('Messages', compose,
      messages.length === 0 ? h('p', { class: 'muted' }, 'No messages yet.')
        : h('ul', { class: 'trust-messages', id: 'trust-messages' }, messages.map((m) => {
          const actions = m.rated ? h('span', { class: 'muted' }, 'Rated')
            : h('span', { class: 'trust-rate' },
              h('button', { type: 'button', class: 'secondary', onclick: () => rate(m.interaction_id, true),
                'aria-label': `Rate the exchange with ${m.with} as helpful` }, 'Helpful'),
              h('button', { type: 'button', class: 'secondary', onclick: () => rate(m.interaction_id, false),
                'aria-label': `Rate the exchange with ${m.with} as not helpful` }, 'Not helpful'));
          return h('li', { 'data-message': m.message_id },
            h('p', { class: 'muted' }, `${m.direction === 'sent' ? 'To' : 'From'} ${m.with}, ` +
              formatTime(m.sent_ms)),
            h('p', { class: 'trust-text' }, m.text), actions);
        }))));
  }

  async function answer(requestId, grant) {
    try {
      const result = await api.post(`/api/v1/trust/requests/${encodeURIComponent(requestId)}/answer`,
        { grant });
      status.say(result.status === 'granted' ? 'Granted: they can see it now.'
        : 'Refused. The reasons are listed with the request.', result.status === 'granted' ? 'ok' : 'info');
      await drawRequests();
    } catch (error) {
      status.say(error.message, 'error');
    }
  }

  function sharedData(data) {
    // Data of a partner cloudlet's patient arrives signed by that cloudlet and verified here.
    const origin = data.cloudlet
      ? h('p', { class: 'muted trust-verified' }, `Signed by ${data.cloudlet}, signature verified.`) : null;
    let content;
    if (data.vitals) {
      content = vitalsTable(data.vitals);
    } else if (data.conditions) {
      content = h('p', {}, 'Conditions: ', data.conditions.map((c) => `${c.code} ${c.name}`).join(', ') ||
        'none', '. Symptoms: ', data.symptoms.join(', ') || 'none', '.');
    } else {
      content = h('ul', {}, data.records.map((r) => h('li', {}, `${formatTime(r.created_ms)}: ` +
        `${r.symptoms.join(', ') || 'no symptoms'}${r.pulse_bpm ? `, pulse ${r.pulse_bpm}/min` : ''}` +
        `${r.ecg_summary ? `, ${r.ecg_summary}` : ''}`)));
    }
    return origin ? h('div', {}, origin, content) : content;
  }

  async function drawRequests(fetched) {
    const { incoming, outgoing } = fetched ?? await api.get('/api/v1/trust/requests');
    const incomingItems = incoming.map((q) => h('li', { 'data-request': q.request_id },
      h('p', {}, h('strong', {}, q.with), ` asks for your ${CATEGORY_LABELS[q.category].toLowerCase()} `,
        badge(q.status === 'granted' ? 'ok' : q.status === 'refused' ? 'bad' : 'wait', q.status)),
      q.status === 'pending' ? [decisionBlock(q.assessment, 'If you grant:'),
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => answer(q.request_id, true) }, 'Grant'),
          h('button', { type: 'button', class: 'secondary', onclick: () => answer(q.request_id, false) },
            'Refuse'))]
        : decisionBlock(q.decision, 'Decision:')));
    const outgoingItems = outgoing.map((q) => {
      const shown = h('div', { class: 'trust-shared' });
      let view = null;
      if (q.status === 'granted') {
        view = h('button', { type: 'button', class: 'secondary' }, 'View shared data');
        view.addEventListener('click', async () => {
          try {
            const data = await api.get(`/api/v1/trust/requests/${encodeURIComponent(q.request_id)}/data`);
            replace(shown, sharedData(data));
          } catch (error) {
            replace(shown, h('p', { class: 'form-error', role: 'alert' }, error.message));
          }
        });
      }
      return h('li', { 'data-request': q.request_id },
        h('p', {}, `Your request for the ${CATEGORY_LABELS[q.category].toLowerCase()} of `,
          h('strong', {}, q.with), ' ',
          badge(q.status === 'granted' ? 'ok' : q.status === 'refused' ? 'bad' : 'wait', q.status)),
        q.decision ? reasonList(q.decision) : null, view, shown);
    });
    replace(requestsCard, card('Access requests',
      h('h3', {}, 'Asked of you'),
      incomingItems.length ? h('ul', { class: 'trust-requests', id: 'requests-in' }, incomingItems)
        : h('p', { class: 'muted' }, 'Nobody has asked you for data.'),
      h('h3', {}, 'Asked by you'),
      outgoingItems.length ? h('ul', { class: 'trust-requests', id: 'requests-out' }, outgoingItems)
        : h('p', { class: 'muted' }, 'You have not asked anyone.')));
  }

  async function redraw() {
    // The four reads at once: the page is ready after the slowest, not after their sum.
    const [profile, similarAnswer, messages, requests] = await Promise.all([
      api.get('/api/v1/trust/profile'), api.get('/api/v1/trust/similar'),
      api.get('/api/v1/trust/messages'), api.get('/api/v1/trust/requests')]);
    replace(profileCard, card('Your sharing profile',
      h('p', {}, profile.handle ? ['Others see you as ', h('strong', { id: 'my-handle' }, profile.handle),
        '. They never see your name.'] : 'You get a pseudonymous handle when you first save.'),
      profileForm(profile), vitalsTable(profile.vitals)));
    await drawSimilar(similarAnswer);
    await drawMessages(messages);
    await drawRequests(requests);
  }

  const content = h('section', { class: 'trust-page' },
    h('h1', {}, 'Sharing with similar patients'),
    h('p', { class: 'lead' }, 'Find patients at this cloudlet with conditions like yours, talk to ' +
      'them, and share what you choose. Whether a share may go ahead depends on your consent and ' +
      'on trust, built from how your exchanges were rated; every decision shows its reasons.'),
    status, profileCard, similarCard, messagesCard, requestsCard);
  return redraw().then(() => content, (error) => {
    replace(profileCard, h('p', { class: 'form-error', role: 'alert' }, error.message));
    return content;
  });
}
