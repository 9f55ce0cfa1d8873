// A patient's readings over time, one vital sign per chart, with a text alternative: a
// sentence (how many readings, from when to when, the latest, the lowest and the highest) and
// a table of the numbers (each reading when there are few, else one row per hour with its
// count, lowest, mean and highest), so the chart says the same to a screen reader.
//
//   const figure = readingsChart({ kind: 'heart_rate', unit: '/min', readings });
//   // readings: [{time_ms, value}] in any order; kind and unit as the API names them.
//
// The figure is returned at once; Chart.js is loaded and draws into its canvas afterwards
// (figure.dataset.drawn = 'true' then). destroyCharts() frees the charts of a page left.
import { loadChart } from './charts.js';
import { h } from './dom.js';

const KINDS = {
  heart_rate: 'Heart rate', spo2: 'Oxygen saturation', body_temperature: 'Body temperature',
  systolic_bp: 'Systolic blood pressure', diastolic_bp: 'Diastolic blood pressure',
  respiratory_rate: 'Respiratory rate', glucose: 'Glucose', steps: 'Steps',
  ecg_rhythm: 'ECG rhythm',
};
// UCUM units as people write them.
const UNITS = { '/min': '/min', '%': '%', Cel: '°C', 'mm[Hg]': 'mmHg', 'mg/dL': 'mg/dL',
  '{steps}': 'steps', '{code}': '' };
const RHYTHMS = ['sinus', 'sinus tachycardia', 'sinus bradycardia', 'atrial fibrillation',
  'other'];
const HOUR_MS = 3600 * 1000;
const FEW = 30;

export function kindLabel(kind) {
  return KINDS[kind] ?? kind;
}

// "72 /min", "36.8 °C", "atrial fibrillation".
export function formatValue(kind, unit, value) {
  if (kind === 'ecg_rhythm') return RHYTHMS[value] ?? String(value);
  const shown = UNITS[unit] ?? unit;
  return shown ? `${plain(value)} ${shown}` : plain(value);
}

function plain(value) {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function clock(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

// "Sun 3:05 PM" (the table's rows: within a day or two the weekday is enough, and short).
function short(ms, minutes = true) {
  return new Date(ms).toLocaleString(undefined,
    { weekday: 'short', hour: 'numeric', minute: minutes ? '2-digit' : undefined });
}

function hourly(points) {
  const hours = new Map();
  for (const p of points) {
    const start = Math.floor(p.time_ms / HOUR_MS) * HOUR_MS;
    const row = hours.get(start) ?? { start, count: 0, sum: 0, min: p.value, max: p.value };
    row.count += 1;
    row.sum += p.value;
    row.min = Math.min(row.min, p.value);
    row.max = Math.max(row.max, p.value);
    hours.set(start, row);
  }
  return [...hours.values()];
}

// The cells hold numbers only (the unit is in the caption), so five columns fit at 375 px.
function table(kind, unit, points) {
  const shown = UNITS[unit] ?? unit;
  const value = (v) => (kind === 'ecg_rhythm' ? formatValue(kind, unit, v) : plain(v));
  const th = (text) => h('th', { scope: 'col' }, text);
  const few = points.length <= FEW || kind === 'ecg_rhythm';
  const caption = h('caption', {}, few ? 'Each reading' : 'Per hour',
    shown ? `, in ${shown}` : '');
  if (few) {
    return h('table', { class: 'numbers' }, caption,
      h('thead', {}, h('tr', {}, th('Time'), th(kindLabel(kind)))),
      h('tbody', {}, points.map((p) => h('tr', {}, h('td', {}, short(p.time_ms)),
        h('td', {}, value(p.value))))));
  }
  return h('table', { class: 'numbers' }, caption,
    h('thead', {}, h('tr', {}, th('Hour from'), th('Readings'), th('Lowest'), th('Mean'),
      th('Highest'))),
    h('tbody', {}, hourly(points).map((r) => h('tr', {}, h('td', {}, short(r.start, false)),
      h('td', {}, String(r.count)), h('td', {}, value(r.min)),
      h('td', {}, value(r.sum / r.count)), h('td', {}, value(r.max))))));
}

// "from 6 Dec, 14:05 to 15:00" (the end's date only when it is another day).
function range(from, to) {
  const sameDay = new Date(from).toDateString() === new Date(to).toDateString();
  const end = sameDay ? new Date(to).toLocaleTimeString(undefined, { timeStyle: 'short' }) : clock(to);
  return `from ${clock(from)} to ${end}`;
}

function summary(kind, unit, points) {
  const value = (v) => formatValue(kind, unit, v);
  const last = points[points.length - 1];
  const text = `${points.length} reading${points.length === 1 ? '' : 's'} ` +
    `${range(points[0].time_ms, last.time_ms)}; latest ${value(last.value)}`;
  if (kind === 'ecg_rhythm') return `${text}.`;
  const values = points.map((p) => p.value);
  return `${text}; lowest ${value(Math.min(...values))}, highest ${value(Math.max(...values))}.`;
}

const live = new Set();

export function destroyCharts() {
  for (const chart of live) chart.destroy();
  live.clear();
}

async function draw(figure, canvas, kind, unit, points) {
  const Chart = await loadChart();
  if (!canvas.isConnected) return;
  const style = getComputedStyle(document.documentElement);
  const colour = style.getPropertyValue('--brand').trim() || '#0b5cad';
  const shown = UNITS[unit] ?? unit;
  live.add(new Chart(canvas, {
    type: 'line',
    data: {
      datasets: [{
        label: shown ? `${kindLabel(kind)} (${shown})` : kindLabel(kind),
        data: points.map((p) => ({ x: p.time_ms, y: p.value })),
        borderColor: colour, backgroundColor: colour, borderWidth: points.length > 200 ? 1.5 : 2,
        pointRadius: points.length > 60 ? 0 : 3, stepped: kind === 'ecg_rhythm',
      }],
    },
    options: {
      animation: false, maintainAspectRatio: false, normalized: true, parsing: false,
      plugins: { legend: { display: false }, tooltip: { callbacks: {
        title: (items) => clock(items[0].parsed.x),
        label: (item) => formatValue(kind, unit, item.parsed.y),
      } } },
      scales: {
        // A lone reading gets half an hour each side, or the chart would have no width.
        x: { type: 'linear', min: points[0].time_ms - (points.length === 1 ? HOUR_MS / 2 : 0),
          max: points[points.length - 1].time_ms + (points.length === 1 ? HOUR_MS / 2 : 0),
          ticks: { maxTicksLimit: 6, callback: (ms) =>
            new Date(ms).toLocaleTimeString(undefined, { timeStyle: 'short' }) } },
        y: kind === 'ecg_rhythm'
          ? { min: 0, max: 4, ticks: { stepSize: 1, callback: (v) => RHYTHMS[v] ?? '' } }
          : { title: { display: Boolean(shown), text: shown } },
      },
    },
  }));
  figure.dataset.drawn = 'true';
}

// A <figure> with its heading, the sentence, the canvas and the table; headingLevel 'h3' by
// default.
export function readingsChart({ kind, unit, readings, headingLevel = 'h3' }) {
  const points = [...readings].sort((a, b) => a.time_ms - b.time_ms);
  const figure = h('figure', { class: 'card readings-chart', 'data-kind': kind });
  const caption = h('figcaption', {}, h(headingLevel, {}, kindLabel(kind)),
    h('p', { class: 'muted chart-summary' },
      points.length ? summary(kind, unit, points) : 'No readings.'));
  figure.append(caption);
  if (!points.length) return figure;
  const canvas = h('canvas', { role: 'img',
    'aria-label': `${kindLabel(kind)} over time: ${summary(kind, unit, points)}` });
  figure.append(h('div', { class: 'chart-box' }, canvas),
    h('details', {}, h('summary', {}, 'The numbers'), table(kind, unit, points)));
  draw(figure, canvas, kind, unit, points).catch(() => {
    figure.append(h('p', { class: 'muted' }, 'The chart could not be drawn: see the numbers.'));
  });
  return figure;
}
