// Chart.js for the pages that draw charts. Its UMD build (/ui/vendor/chart.umd.js, copied from
// npm at build time) is loaded on first use with a dynamic import, which the CSP allows (same
// origin) and which needs no <script> element (Trusted Types forbid setting a script's src
// from a string). The UMD build then defines globalThis.Chart.
//
//   const Chart = await loadChart();
//   new Chart(canvas, { type: 'line', data, options });
//
// Give every chart a text alternative (a caption and a table of the same numbers, or an
// aria-label on the canvas): a canvas says nothing to a screen reader.
let loading = null;

export function loadChart() {
  loading ??= import('/ui/vendor/chart.umd.js').then(() => {
    if (typeof globalThis.Chart !== 'function') throw new Error('Chart.js did not load.');
    return globalThis.Chart;
  });
  return loading;
}
