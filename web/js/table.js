// The one data table of the UI (the admin's, the operator's and the IDS pages): a caption,
// column headings, one row per item; without rows, a line saying so. Below 48rem each row
// becomes a card whose cells carry their heading (data-label, shown by CSS: table.data in
// app.css); a table wider than the page scrolls inside its focusable region, so the page itself
// never scrolls sideways.
//
//   table('Doctors', [['Name', (d) => d.name], ['E-mail', (d) => d.email]], doctors)
//   table('Devices', ['Device', 'Status'], devices.map((d) => [d.id, d.status]), { id: 'x' })
// columns: [label, row => cell] pairs with rows of items, or plain labels with rows of cells.
// Cells are strings, numbers, nodes or arrays of them (text goes in as text, dom.js h()).
import { h } from './dom.js';

export function table(caption, columns, rows, attrs = {}) {
  if (rows.length === 0) return h('p', { class: 'muted' }, `${caption}: none.`);
  const label = (column) => (Array.isArray(column) ? column[0] : column);
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', { class: 'data', ...attrs },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, label(c))))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c, i) =>
        // One element per cell: on a phone the cell is a grid of its label and its content.
        h('td', { 'data-label': label(c) },
          h('div', {}, Array.isArray(c) ? c[1](row) : row[i]))))))));
}
