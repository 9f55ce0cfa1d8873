// A chart of one kind of reading over time, drawn from a ReadingSeries (GET /api/v1/me/readings,
// docs/openapi.yaml), with its text alternative: a caption that sums the series up and a table
// of the very numbers drawn.
//
//   const chart = readingsChart('Heart rate');
//   parent.append(chart.element);
//   await chart.show(series);   // draws or redraws (a new title may follow the series)
//
// Readings are drawn as they are; buckets as their mean, with lines for the lowest and highest
// reading of each bucket and the band between them filled. The x axis is linear in Unix ms,
// labelled in the browser's locale (Chart.js's time axis needs a date adapter we do not ship).
// The <figure> carries data-from-ms and data-to-ms (the range answered), for the browser tests.
import { loadChart } from './charts.js';
import { formatTime, h, replace } from './dom.js';

const UNITS = { '/min': '/min', Cel: '°C', '%': '%', 'mm[Hg]': 'mmHg', 'mmol/L': 'mmol/L' };
const BRAND = '#0b5cad';
const BAND = 'rgba(11, 92, 173, 0.15)';
const DAY_MS = 86_400_000;

export function unitText(unit) {
  return UNITS[unit] ?? unit;
}

function round(value) {
  return Math.round(value * 100) / 100;
}

// The tick labels: times of day for a day or less, day and time for a week, dates beyond.
function tickFormat(spanMs) {
  if (spanMs <= 2 * DAY_MS) return new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
  if (spanMs <= 8 * DAY_MS) {
    return new Intl.DateTimeFormat(undefined, { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  }
  return new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
}

// Round steps between ticks: 3 hours for a day, a day for a week, 5 days beyond.
function stepOf(spanMs) {
  if (spanMs <= 2 * DAY_MS) return spanMs <= DAY_MS / 4 ? 900_000 : 3 * 3_600_000;
  return spanMs <= 8 * DAY_MS ? DAY_MS : 5 * DAY_MS;
}

function rowsOf(series) {
  if (series.bucket_ms === null) {
    return series.readings.map((r) => [r.time_ms, round(r.value)]);
  }
  return series.buckets.map((b) => [b.start_ms, round(b.mean), round(b.min), round(b.max), b.count]);
}

function tableOf(series, title, rows) {
  const unit = unitText(series.unit);
  const heads = series.bucket_ms === null
    ? ['Time', `Value (${unit})`]
    : ['Period from', `Mean (${unit})`, 'Lowest', 'Highest', 'Readings'];
  return h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': `${title}: the numbers` },
    h('table', { class: 'data-table' },
      h('caption', { class: 'visually-hidden' }, `${title}, ${rows.length} rows`),
      h('thead', {}, h('tr', {}, heads.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, rows.map(([time, ...values]) =>
        h('tr', { 'data-time-ms': time }, h('th', { scope: 'row' }, formatTime(time)),
          values.map((value) => h('td', {}, String(value))))))));
}

// "3 hours", "1 day", "15 minutes": a bucket's length as people say it.
function periodText(ms) {
  const [size, name] = ms % DAY_MS === 0 ? [ms / DAY_MS, 'day']
    : ms % 3_600_000 === 0 ? [ms / 3_600_000, 'hour'] : [Math.round(ms / 60_000), 'minute'];
  return size === 1 ? name : `${size}-${name}`;
}

function plural(count, word) {
  return `${count.toLocaleString()} ${word}${count === 1 ? '' : 's'}`;
}

// The sentence says when the readings are (the first and the last), not the window asked for.
function summary(series, title) {
  const unit = unitText(series.unit);
  const bucketed = series.bucket_ms !== null;
  const values = bucketed
    ? series.buckets.flatMap((b) => [b.min, b.max])
    : series.readings.map((r) => r.value);
  if (values.length === 0) {
    return `${title}: no readings from ${formatTime(series.from_ms)} to ${formatTime(series.to_ms)}.`;
  }
  const times = bucketed ? series.buckets.map((b) => b.start_ms) : series.readings.map((r) => r.time_ms);
  const first = Math.min(...times);
  const last = bucketed ? Math.min(Math.max(...times) + series.bucket_ms, series.to_ms) : Math.max(...times);
  const span = first === last ? `at ${formatTime(first)}` : `from ${formatTime(first)} to ${formatTime(last)}`;
  const shape = bucketed
    ? `the mean of each ${periodText(series.bucket_ms)} period, with its lowest and highest`
    : 'each reading shown';
  return `${title}: ${plural(series.count, 'reading')} ${span}, between ${round(Math.min(...values))} ` +
    `and ${round(Math.max(...values))} ${unit} (${shape}).`;
}

export function readingsChart(initialTitle) {
  let title = initialTitle;
  const canvas = h('canvas', { role: 'img', 'aria-label': title });
  const box = h('div', { class: 'chart-box' }, canvas);
  const caption = h('figcaption', {});
  const numbers = h('details', { class: 'numbers' }, h('summary', {}, 'Show the numbers'));
  const element = h('figure', { class: 'chart' }, caption, box, numbers);
  let chart = null;

  async function show(series, newTitle) {
    if (newTitle) title = newTitle;
    const Chart = await loadChart();
    const rows = rowsOf(series);
    element.dataset.fromMs = String(series.from_ms);
    element.dataset.toMs = String(series.to_ms);
    replace(caption, summary(series, title));
    canvas.setAttribute('aria-label', summary(series, title));
    replace(numbers, h('summary', {}, `Show the numbers (${plural(rows.length, 'row')})`),
      tableOf(series, title, rows));
    box.hidden = rows.length === 0;
    numbers.hidden = rows.length === 0;
    const point = (index) => rows.map((row) => ({ x: row[0], y: row[index] }));
    const line = { borderColor: BRAND, backgroundColor: BRAND, borderWidth: 2, tension: 0.2,
      pointRadius: rows.length > 60 ? 0 : 3 };
    const datasets = series.bucket_ms === null
      ? [{ ...line, label: `${title} (${unitText(series.unit)})`, data: point(1) }]
      : [{ ...line, label: `Mean (${unitText(series.unit)})`, data: point(1) },
        { label: 'Highest', data: point(3), borderColor: BAND, backgroundColor: BAND, fill: 2,
          pointRadius: 0, borderWidth: 1 },
        { label: 'Lowest', data: point(2), borderColor: BAND, backgroundColor: BAND, fill: false,
          pointRadius: 0, borderWidth: 1 }];
    const format = tickFormat(series.to_ms - series.from_ms);
    chart?.destroy();
    chart = new Chart(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: { type: 'linear', min: series.from_ms, max: series.to_ms,
            ticks: { stepSize: stepOf(series.to_ms - series.from_ms), maxTicksLimit: 9,
              callback: (value) => format.format(new Date(value)) } },
          y: { title: { display: true, text: unitText(series.unit) } },
        },
        plugins: {
          tooltip: { callbacks: { title: (items) => formatTime(items[0].parsed.x) } },
        },
      },
    });
  }

  return { element, show, destroy: () => chart?.destroy() };
}
