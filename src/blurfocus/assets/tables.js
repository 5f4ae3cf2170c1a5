/* Sortable report tables: click a header to sort by that column (numbers numerically); a text box
   above tables with class "filterable" hides the rows that do not contain its text. */
(function () {
  'use strict';
  const num = (s) => { const x = parseFloat(s); return /^\s*[-+]?(\d|\.\d)/.test(s) && !Number.isNaN(x) ? x : null; };
  for (const t of document.querySelectorAll('table.sortable')) {
    const head = t.tHead ? t.tHead.rows[0] : t.rows[0];
    const body = t.tBodies[0];
    Array.from(head.cells).forEach((th, j) => {
      th.title = 'sort by ' + th.textContent;
      th.addEventListener('click', () => {
        const asc = !th.classList.contains('asc');
        Array.from(head.cells).forEach((h) => h.classList.remove('asc', 'desc'));
        th.classList.add(asc ? 'asc' : 'desc');
        const rows = Array.from(body.rows);
        rows.sort((r1, r2) => {
          const a = r1.cells[j].textContent, b = r2.cells[j].textContent;
          const x = num(a), y = num(b);
          const c = x !== null && y !== null ? x - y : x !== null ? -1 : y !== null ? 1 : a.localeCompare(b);
          return asc ? c : -c;
        });
        body.append(...rows);
      });
    });
    if (t.classList.contains('filterable')) {
      const box = document.createElement('input');
      box.type = 'search'; box.placeholder = 'filter rows'; box.className = 'tfilter';
      box.addEventListener('input', () => {
        const q = box.value.toLowerCase();
        for (const r of body.rows) r.style.display = r.textContent.toLowerCase().includes(q) ? '' : 'none';
      });
      t.before(box);
    }
  }
})();
