// The patient's own readings over time (GET /api/v1/me/readings): one kind at a time, a day, a
// week or a month up to a chosen end, moved earlier or later by that span. The API answers the
// readings themselves for short spans and per-period summaries (mean, lowest, highest) for long
// ones; the chart (readings-chart.js) draws either, with its caption and table of numbers.
import { api } from '../api.js';
import { formatTime, h, replace } from '../dom.js';
import { readingsChart } from '../readings-chart.js';
import { messageLine, portalNotice } from './patient-common.js';

const KINDS = [
  ['heart_rate', 'Heart rate'], ['spo2', 'Blood oxygen (SpO2)'],
  ['body_temperature', 'Body temperature'], ['systolic_bp', 'Blood pressure, systolic'],
  ['diastolic_bp', 'Blood pressure, diastolic'], ['respiratory_rate', 'Breathing rate'],
  ['glucose', 'Blood glucose'], ['steps', 'Steps'],
];
const DAY_MS = 86_400_000;
const ZOOMS = [['day', 'Day', DAY_MS], ['week', 'Week', 7 * DAY_MS], ['month', 'Month', 30 * DAY_MS]];
const POINTS = 300;

export async function render() {
  const state = { kind: 'heart_rate', zoom: 'day', end: Date.now() };
  const span = () => ZOOMS.find(([id]) => id === state.zoom)[2];
  const title = () => KINDS.find(([id]) => id === state.kind)[1];

  const message = messageLine();
  const period = h('p', { class: 'muted', id: 'readings-period' });
  const kindSelect = h('select', { id: 'readings-kind', onchange: () => { state.kind = kindSelect.value; load(); } },
    KINDS.map(([value, text]) => h('option', { value }, text)));
  const zoomButtons = ZOOMS.map(([id, text]) => h('button', {
    type: 'button', class: 'secondary', 'data-zoom': id, 'aria-pressed': String(id === state.zoom),
    onclick: () => { state.zoom = id; load(); },
  }, text));
  const earlier = h('button', { type: 'button', class: 'secondary', onclick: () => { state.end -= span(); load(); } },
    '← Earlier');
  const later = h('button', { type: 'button', class: 'secondary',
    onclick: () => { state.end = Math.min(Date.now(), state.end + span()); load(); } }, 'Later →');
  const chartArea = h('div', { class: 'chart-area' });
  let chart = null;
  let serial = 0;

  async function load() {
    const mine = ++serial;
    for (const button of zoomButtons) button.setAttribute('aria-pressed', String(button.dataset.zoom === state.zoom));
    later.disabled = state.end >= Date.now() - 60_000;
    const from = Math.max(0, state.end - span());
    replace(period, `From ${formatTime(from)} to ${formatTime(state.end)}`);
    message.say('Loading the readings…');
    chartArea.setAttribute('aria-busy', 'true');
    try {
      const series = await api.get(`/api/v1/me/readings?kind=${state.kind}&from=${from}` +
        `&to=${Math.round(state.end)}&points=${POINTS}`);
      if (mine !== serial) return;
      if (!chart) {
        chart = readingsChart(title());
        replace(chartArea, chart.element);
      }
      await chart.show(series, title());
      message.say(series.count === 0 ? 'No readings in this period.' : '');
    } catch (error) {
      if (mine !== serial) return;
      if (error.status === 403) {
        replace(chartArea, portalNotice(error));
        chart = null;
        message.say('');
      } else {
        message.say(`The readings could not be loaded: ${error.message}`, 'error');
      }
    } finally {
      if (mine === serial) chartArea.removeAttribute('aria-busy');
    }
  }

  const section = h('section', {},
    h('h1', {}, 'My readings'),
    h('p', { class: 'lead' }, 'What your wearable measured, decrypted for you alone. Long ' +
      'periods show the mean of each hour or day with its lowest and highest reading.'),
    h('div', { class: 'card chart-controls' },
      h('div', { class: 'field' }, h('label', { for: 'readings-kind' }, 'Reading'), kindSelect),
      h('div', { class: 'actions', role: 'group', 'aria-label': 'Zoom' }, zoomButtons),
      h('div', { class: 'actions', role: 'group', 'aria-label': 'Move in time' }, earlier, later)),
    period, message, chartArea);
  await load();
  return section;
}
