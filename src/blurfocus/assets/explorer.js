/* blurfocus map explorer: runs from file://, no network. Data: <script id="bx-data" type="application/json">
   (built by blurfocus.explorer). Coordinates are pixels of the model input (row, col); maps are 8-bit
   |map| / max|map|. Deep link: #explore:img=<id>&a=<model>,<variant>,<draw>&b=...&op=..&clip=..&sort=.. */
(function () {
  'use strict';
  const root = document.getElementById('bx');
  const dataEl = document.getElementById('bx-data');
  if (!root || !dataEl) return;
  const D = JSON.parse(dataEl.textContent);
  const S = D.size;
  const conds = D.conditions;
  const images = D.images;
  const hasMasks = Array.isArray(D.masks);
  const key = (c) => c.model + ',' + c.variant + ',' + c.draw;
  const condIndex = new Map(conds.map((c, i) => [key(c), i]));
  const uniq = (xs) => Array.from(new Set(xs));
  const models = uniq(conds.map((c) => c.model));
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k);
    return e;
  };
  const fmt = (v, d) => (v === null || v === undefined || Number.isNaN(v) ? '–' : Number(v).toFixed(d));
  const pct = (v) => (v === null || v === undefined ? '–' : Math.round(100 * v) + '%');

  // ------------------------------------------------------------------ state
  const first = conds[0] || { model: '', variant: 'clear', draw: 0 };
  const firstRole = (role) => (conds.find((c) => c.role === role) || first).model;
  const blur = D.variants.find((v) => v !== 'clear') || 'clear';
  const defaults = {
    img: images.length ? images[0].id : '',
    a: firstRole('naive') + ',clear,0',
    b: firstRole('naive') + ',' + blur + ',0',
    op: Number(D.settings.opacity ?? 0.6),
    clip: Number(D.settings.clip ?? 99),
    topk: true, masks: false,
    sort: 'shift', desc: true,
    cls: 'all', ca: 'any', cb: 'any', cue: 'any',
  };
  const state = Object.assign({}, defaults);
  const validCond = (k) => condIndex.has(k);

  // ------------------------------------------------------------------ skeleton
  const opt = (value, label) => el('option', { value: value, text: label ?? value });
  const paneControls = (p) => {
    const m = el('select', { id: 'bx-' + p + '-model', 'aria-label': 'pane ' + p + ' model' }, ...models.map((x) => opt(x)));
    const v = el('select', { id: 'bx-' + p + '-variant', 'aria-label': 'pane ' + p + ' variant' }, ...D.variants.map((x) => opt(x)));
    const d = el('select', { id: 'bx-' + p + '-draw', 'aria-label': 'pane ' + p + ' draw' });
    return el('fieldset', { class: 'bx-pane-ctl' }, el('legend', { text: 'Pane ' + p.toUpperCase() }),
      'model ', m, ' images ', v, ' draw ', d);
  };
  const range = (id, min, max, step, label) => el('label', {}, label + ' ',
    el('input', { type: 'range', id: id, min: min, max: max, step: step }), el('output', { id: id + '-value' }));
  const check = (id, label) => el('label', {}, el('input', { type: 'checkbox', id: id }), ' ' + label);
  const btn = (id, label, title) => el('button', { type: 'button', id: id, title: title || '' , text: label });
  const controls = el('div', { class: 'bx-controls' },
    paneControls('a'), paneControls('b'),
    el('div', { class: 'bx-row' }, 'Layout: ',
      btn('bx-layout-models', 'naive vs expert', 'same images and draw, the two arms'),
      btn('bx-layout-blur', 'clear vs blur', 'same model and draw, clear and blurred images'),
      btn('bx-layout-draws', 'draw 0 vs draw 1', 'same model and images, two SmoothGrad draws (noise floor)'),
      btn('bx-swap', 'swap A/B')),
    el('div', { class: 'bx-row' }, range('bx-opacity', 0, 1, 0.05, 'overlay opacity'),
      range('bx-clip', 50, 100, 0.5, 'clip at percentile'), check('bx-topk', 'top-k ranks'),
      hasMasks ? check('bx-masks', 'cue masks (texture cyan, shape green)') : ''));
  const pane = (p) => el('figure', { class: 'bx-pane', id: 'bx-pane-' + p },
    el('canvas', { width: 10, height: 10 }), el('figcaption', {}));
  const metrics = el('div', { class: 'bx-metrics', id: 'bx-metrics' });
  const sortSel = el('select', { id: 'bx-sort', 'aria-label': 'sort' },
    opt('shift', 'focus shift A↔B (mean rank distance)'), opt('iou', 'top-k IoU A↔B'), opt('com', 'center-of-mass shift A↔B'),
    opt('id', 'image id'), opt('cls', 'class'),
    ...(hasMasks ? [opt('texA', 'A: top-k on texture cue'), opt('shapeA', 'A: top-k on shape cue'),
      opt('texB', 'B: top-k on texture cue'), opt('shapeB', 'B: top-k on shape cue')] : []));
  const classSel = el('select', { id: 'bx-class', 'aria-label': 'class filter' }, opt('all', 'all classes'),
    ...D.classes.map((c) => opt(c)));
  const corrSel = (p) => el('select', { id: 'bx-correct-' + p, 'aria-label': 'pane ' + p + ' correctness filter' },
    opt('any', p.toUpperCase() + ': right or wrong'), opt('right', p.toUpperCase() + ' right'), opt('wrong', p.toUpperCase() + ' wrong'));
  const cueSel = el('select', { id: 'bx-cue', 'aria-label': 'cue filter' }, opt('any', 'any cue'),
    opt('texA', 'A: ≥ half of top-k on texture'), opt('shapeA', 'A: ≥ half on shape'),
    opt('texB', 'B: ≥ half on texture'), opt('shapeB', 'B: ≥ half on shape'), opt('tex2shape', 'A on texture, B on shape'));
  const listCtl = el('div', { class: 'bx-row bx-listctl' }, 'sort ', sortSel,
    check('bx-desc', 'descending'), ' filter ', classSel, corrSel('a'), corrSel('b'),
    hasMasks ? cueSel : '', el('span', { id: 'bx-count', class: 'small' }),
    el('a', { id: 'bx-permalink', href: '#' }, 'link to this view'));
  const head = ['image', 'class', 'A pred', 'B pred', 'shift (px)', 'IoU', 'CoM shift (px)']
    .concat(hasMasks ? ['A texture', 'A shape', 'B texture', 'B shape'] : []);
  const table = el('table', { id: 'bx-table', class: 'bx-table' }, el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { text: h })))),
    el('tbody', {}));
  const included = el('p', { class: 'small', id: 'bx-included' });
  root.append(controls, el('div', { class: 'bx-main' }, pane('a'), pane('b'), metrics), listCtl,
    el('div', { class: 'bx-list' }, table), included);
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ metrics (pixels of the model input)
  const cond = (k) => conds[condIndex.get(k)];
  function pairMetrics(ka, kb, i) {
    const A = cond(ka), B = cond(kb);
    if (!A || !B) return null;
    const ta = A.topk[i], tb = B.topk[i];
    if (!ta || !tb) return null;
    const k = Math.min(ta.length, tb.length) / 2;
    const ranks = [];
    for (let r = 0; r < k; r++) ranks.push(Math.hypot(ta[2 * r] - tb[2 * r], ta[2 * r + 1] - tb[2 * r + 1]));
    const setB = new Set();
    for (let r = 0; r < tb.length / 2; r++) setB.add(tb[2 * r] * 100003 + tb[2 * r + 1]);
    let inter = 0;
    for (let r = 0; r < ta.length / 2; r++) if (setB.has(ta[2 * r] * 100003 + ta[2 * r + 1])) inter++;
    const union = ta.length / 2 + tb.length / 2 - inter;
    const ca = A.com[i], cb = B.com[i];
    return {
      ranks: ranks,
      shift: ranks.length ? ranks.reduce((s, x) => s + x, 0) / ranks.length : NaN,
      iou: union > 0 ? inter / union : NaN,
      com: ca && cb ? Math.hypot(ca[0] - cb[0], ca[1] - cb[1]) : NaN,
    };
  }
  const right = (k, i) => { const c = cond(k); return c && c.pred[i] !== null ? c.pred[i] === images[i].label : null; };
  const cue = (k, i, which) => { const c = cond(k); return c && c.cue ? c.cue[which][i] : null; };

  function rows() {
    const out = [];
    for (let i = 0; i < images.length; i++) {
      const m = pairMetrics(state.a, state.b, i);
      if (!m) continue;
      const r = {
        i: i, id: images[i].id, cls: images[i].cls, m: m, ra: right(state.a, i), rb: right(state.b, i),
        texA: cue(state.a, i, 'texture'), shapeA: cue(state.a, i, 'shape'),
        texB: cue(state.b, i, 'texture'), shapeB: cue(state.b, i, 'shape'),
      };
      if (state.cls !== 'all' && r.cls !== state.cls) continue;
      if (state.ca !== 'any' && r.ra !== (state.ca === 'right')) continue;
      if (state.cb !== 'any' && r.rb !== (state.cb === 'right')) continue;
      if (hasMasks && state.cue !== 'any') {
        const ok = { texA: r.texA >= 0.5, shapeA: r.shapeA >= 0.5, texB: r.texB >= 0.5, shapeB: r.shapeB >= 0.5,
          tex2shape: r.texA >= 0.5 && r.shapeB >= 0.5 }[state.cue];
        if (!ok) continue;
      }
      out.push(r);
    }
    const val = (r) => ({ shift: r.m.shift, iou: r.m.iou, com: r.m.com, id: r.id, cls: r.cls + '\u0000' + r.id,
      texA: r.texA, shapeA: r.shapeA, texB: r.texB, shapeB: r.shapeB }[state.sort]);
    const dir = state.desc ? -1 : 1;
    out.sort((x, y) => {
      const a = val(x), b = val(y);
      if (typeof a === 'string') return dir * a.localeCompare(b);
      const na = a === null || Number.isNaN(a), nb = b === null || Number.isNaN(b);
      if (na || nb) return na - nb || x.i - y.i;
      return dir * (a - b) || x.i - y.i;
    });
    return out;
  }

  // ------------------------------------------------------------------ decoding (cached, lazy)
  const cache = new Map();
  function decode(src) {
    if (!cache.has(src)) {
      cache.set(src, new Promise((resolve, reject) => {
        const im = new Image();
        im.onload = () => resolve(im);
        im.onerror = () => reject(new Error('cannot decode an embedded image'));
        im.src = 'data:image/png;base64,' + src;
      }));
    }
    return cache.get(src);
  }
  const gray = new Map();
  async function grayPixels(src) {
    if (!gray.has(src)) {
      const im = await decode(src);
      const c = document.createElement('canvas');
      c.width = im.width; c.height = im.height;
      const g = c.getContext('2d');
      g.drawImage(im, 0, 0);
      const rgba = g.getImageData(0, 0, c.width, c.height).data;
      const v = new Uint8Array(c.width * c.height);
      for (let p = 0; p < v.length; p++) v[p] = rgba[4 * p];
      gray.set(src, v);
    }
    return gray.get(src);
  }
  function percentileValue(v, p) {
    const hist = new Uint32Array(256);
    for (let q = 0; q < v.length; q++) hist[v[q]]++;
    const need = Math.ceil((p / 100) * v.length);
    let acc = 0;
    for (let x = 0; x < 256; x++) { acc += hist[x]; if (acc >= need) return Math.max(x, 1); }
    return 255;
  }

  // ------------------------------------------------------------------ drawing
  const scale = Math.max(1, Math.floor(300 / S));
  const imgIndex = () => Math.max(0, images.findIndex((x) => x.id === state.img));
  async function drawPane(p) {
    const fig = $('bx-pane-' + p);
    const k = state[p];
    const c = cond(k);
    const i = imgIndex();
    const canvas = fig.querySelector('canvas');
    const cap = fig.querySelector('figcaption');
    const stamp = [k, state.img, state.op, state.clip, state.topk, state.masks].join('|');
    fig.dataset.rendering = stamp;
    canvas.width = S * scale; canvas.height = S * scale;
    const g = canvas.getContext('2d');
    g.imageSmoothingEnabled = false;
    if (!c || !c.png[i]) {
      g.clearRect(0, 0, canvas.width, canvas.height);
      cap.textContent = p.toUpperCase() + ': no map for this image in ' + k;
      fig.dataset.rendered = stamp;
      return;
    }
    const pic = await decode(D.pictures[c.variant][i]);
    const v = await grayPixels(c.png[i]);
    if (fig.dataset.rendering !== stamp) return; // a newer render started
    g.drawImage(pic, 0, 0, canvas.width, canvas.height);
    const top = percentileValue(v, state.clip);
    const over = document.createElement('canvas');
    over.width = S; over.height = S;
    const og = over.getContext('2d');
    const id = og.createImageData(S, S);
    const alpha = Math.round(255 * state.op);
    for (let q = 0; q < v.length; q++) {
      const t = Math.min(255, Math.round((255 * v[q]) / top));
      id.data[4 * q] = D.lut[3 * t]; id.data[4 * q + 1] = D.lut[3 * t + 1]; id.data[4 * q + 2] = D.lut[3 * t + 2];
      id.data[4 * q + 3] = alpha;
    }
    og.putImageData(id, 0, 0);
    g.drawImage(over, 0, 0, canvas.width, canvas.height);
    if (state.masks && hasMasks) {
      const mv = await grayPixels(D.masks[i]);
      for (let r = 0; r < S; r++) for (let cc = 0; cc < S; cc++) {
        const m = mv[r * S + cc];
        if (!m) continue;
        const edge = r === 0 || cc === 0 || r === S - 1 || cc === S - 1 || mv[(r - 1) * S + cc] !== m ||
          mv[(r + 1) * S + cc] !== m || mv[r * S + cc - 1] !== m || mv[r * S + cc + 1] !== m;
        if (!edge) continue;
        g.fillStyle = m === 1 ? '#00e5ff' : '#76ff03';
        g.fillRect(cc * scale, r * scale, scale, scale);
      }
    }
    if (state.topk) {
      const t = c.topk[i];
      g.lineWidth = 1.5;
      g.font = 'bold ' + Math.max(9, Math.round(scale * 2.2)) + 'px sans-serif';
      for (let r = t.length / 2 - 1; r >= 0; r--) {
        const y = (t[2 * r] + 0.5) * scale, x = (t[2 * r + 1] + 0.5) * scale;
        g.strokeStyle = '#00e5ff';
        g.beginPath(); g.arc(x, y, scale * 1.1 + 2, 0, 2 * Math.PI); g.stroke();
        g.fillStyle = '#ffffff'; g.strokeStyle = '#000000'; g.lineWidth = 2.5;
        g.strokeText(String(r + 1), x + scale + 2, y - 2); g.fillText(String(r + 1), x + scale + 2, y - 2);
        g.lineWidth = 1.5;
      }
    }
    const im = images[i];
    const pred = c.pred[i];
    const ok = pred === im.label;
    cap.innerHTML = '';
    cap.append(el('b', { text: p.toUpperCase() + ': ' + c.model }), ' · ' + c.variant + ' images · draw ' + c.draw,
      el('br'), 'predicts ' + (D.classes[pred] ?? pred) + ' ', el('span', { class: ok ? 'bx-ok' : 'bx-bad', text: ok ? '✓ right' : '✗ wrong' }),
      ' · map max ' + Number(c.scale[i]).toPrecision(3) + ', clipped at ' + state.clip + 'th pct',
      ...(c.cue ? [el('br'), 'top-k on texture cue ' + pct(c.cue.texture[i]) + ', on shape cue ' + pct(c.cue.shape[i])] : []));
    fig.dataset.rendered = stamp;
  }

  function drawMetrics() {
    const i = imgIndex();
    const m = pairMetrics(state.a, state.b, i);
    metrics.innerHTML = '';
    const im = images[i];
    if (!im) return;
    metrics.append(el('h4', { text: im.id + ' (' + im.cls + ')' }));
    if (!m) { metrics.append(el('p', { text: 'no maps for this image in one of the panes' })); return; }
    const t = el('table', { class: 'bx-mt' });
    const row = (k, v, id) => t.append(el('tr', {}, el('th', { class: 'l', text: k }), el('td', id ? { id: id, text: v } : { text: v })));
    row('mean focus distance over ranks (px)', fmt(m.shift, 3), 'bx-m-shift');
    row('top-k IoU', fmt(m.iou, 3), 'bx-m-iou');
    row('center-of-mass shift (px)', fmt(m.com, 2), 'bx-m-com');
    metrics.append(el('p', { class: 'small', text: 'A vs B, computed here from the embedded top-' + D.topk +
      ' pixels and centers of mass. Per rank (px): ' + m.ranks.map((x) => x.toFixed(1)).join(' ') }), t);
    const pre = D.precomputed.filter((c) => c.mean[i] !== null && c.mean[i] !== undefined);
    if (pre.length) {
      const pt = el('table', { class: 'bx-mt', id: 'bx-precomputed' });
      for (const c of pre) {
        const ka = c.a.join(','), kb = c.b.join(',');
        const same = (ka === state.a && kb === state.b) || (ka === state.b && kb === state.a);
        const tr = el('tr', same ? { class: 'bx-same' } : {},
          el('th', { class: 'l' }, el('a', { href: '#explore:' + linkParams({ a: ka, b: kb }), text: c.name })),
          el('td', { 'data-name': c.name, text: fmt(c.mean[i], 3) }));
        pt.append(tr);
      }
      metrics.append(el('p', { class: 'small', text: 'The study\'s comparisons for this image (mean focus distance over ranks, px, ' +
        'from results/stats/distances.parquet; click one to show its panes):' }), pt);
    }
  }

  function drawList() {
    const rs = rows();
    const tbody = table.tBodies[0];
    tbody.innerHTML = '';
    const frag = document.createDocumentFragment();
    const yes = (x) => (x === null ? '–' : x ? '✓' : '✗');
    for (const r of rs) {
      const tr = el('tr', { 'data-id': r.id, 'data-shift': String(r.m.shift), 'data-cls': r.cls,
        class: r.id === state.img ? 'bx-sel' : '' },
      el('td', { class: 'l', text: r.id }), el('td', { class: 'l', text: r.cls }),
      el('td', { text: yes(r.ra) }), el('td', { text: yes(r.rb) }),
      el('td', { text: fmt(r.m.shift, 2) }), el('td', { text: fmt(r.m.iou, 2) }), el('td', { text: fmt(r.m.com, 2) }),
      ...(hasMasks ? [pct(r.texA), pct(r.shapeA), pct(r.texB), pct(r.shapeB)].map((x) => el('td', { text: x })) : []));
      frag.append(tr);
    }
    tbody.append(frag);
    $('bx-count').textContent = ' ' + rs.length + ' of ' + images.length + ' images ';
    return rs;
  }

  // ------------------------------------------------------------------ deep links
  function linkParams(over) {
    const s = Object.assign({}, state, over || {});
    const q = new URLSearchParams();
    q.set('img', s.img); q.set('a', s.a); q.set('b', s.b);
    q.set('op', String(s.op)); q.set('clip', String(s.clip));
    q.set('sort', s.sort); q.set('desc', s.desc ? '1' : '0');
    for (const k of ['cls', 'ca', 'cb', 'cue']) if (s[k] !== 'any' && s[k] !== 'all') q.set(k, s[k]);
    if (!s.topk) q.set('topk', '0');
    if (s.masks) q.set('masks', '1');
    return q.toString();
  }
  function applyHash(hash) {
    if (!hash.startsWith('#explore:')) return false;
    const q = new URLSearchParams(hash.slice('#explore:'.length));
    const num = (k, lo, hi) => { const x = Number(q.get(k)); return q.has(k) && x >= lo && x <= hi ? x : null; };
    if (q.has('img') && images.some((x) => x.id === q.get('img'))) state.img = q.get('img');
    for (const p of ['a', 'b']) if (q.has(p) && validCond(q.get(p))) state[p] = q.get(p);
    const op = num('op', 0, 1); if (op !== null) state.op = op;
    const clip = num('clip', 50, 100); if (clip !== null) state.clip = clip;
    if (q.has('sort') && Array.from(sortSel.options).some((o) => o.value === q.get('sort'))) state.sort = q.get('sort');
    if (q.has('desc')) state.desc = q.get('desc') !== '0';
    state.cls = q.get('cls') || 'all'; state.ca = q.get('ca') || 'any'; state.cb = q.get('cb') || 'any';
    state.cue = q.get('cue') || 'any';
    state.topk = q.get('topk') !== '0'; state.masks = q.get('masks') === '1';
    return true;
  }

  // ------------------------------------------------------------------ wiring
  function syncControls() {
    for (const p of ['a', 'b']) {
      const [m, v, d] = state[p].split(',');
      $('bx-' + p + '-model').value = m;
      $('bx-' + p + '-variant').value = v;
      const draws = uniq(conds.filter((c) => c.model === m && c.variant === v).map((c) => c.draw));
      const ds = $('bx-' + p + '-draw');
      ds.innerHTML = '';
      for (const x of draws) ds.append(opt(String(x)));
      ds.value = d;
    }
    $('bx-opacity').value = state.op; $('bx-opacity-value').textContent = ' ' + Number(state.op).toFixed(2);
    $('bx-clip').value = state.clip; $('bx-clip-value').textContent = ' ' + state.clip;
    $('bx-topk').checked = state.topk;
    if (hasMasks) { $('bx-masks').checked = state.masks; cueSel.value = state.cue; }
    sortSel.value = state.sort; $('bx-desc').checked = state.desc;
    classSel.value = state.cls; $('bx-correct-a').value = state.ca; $('bx-correct-b').value = state.cb;
  }
  let pending = Promise.resolve();
  function update(opts) {
    opts = opts || {};
    syncControls();
    const rs = drawList();
    if (opts.follow && rs.length && !rs.some((r) => r.id === state.img)) state.img = rs[0].id;
    Array.from(table.tBodies[0].rows).forEach((tr) => tr.classList.toggle('bx-sel', tr.dataset.id === state.img));
    drawMetrics();
    const link = '#explore:' + linkParams();
    $('bx-permalink').setAttribute('href', link);
    if (!opts.fromHash && !opts.init && location.hash !== link) history.replaceState(null, '', link);
    root.dataset.ready = '0';
    pending = Promise.all([drawPane('a'), drawPane('b')]).then(() => {
      if (!root.dataset.firstDrawnMs) root.dataset.firstDrawnMs = performance.now().toFixed(1);
      root.dataset.ready = '1';
    })
      .catch((e) => { root.dataset.ready = 'error'; console.error(e); });
    return pending;
  }
  function setCond(p, m, v, d) {
    let k = [m, v, d].join(',');
    if (!validCond(k)) {
      const alt = conds.find((c) => c.model === m && c.variant === v) || conds.find((c) => c.model === m) || conds[0];
      k = key(alt);
    }
    state[p] = k;
  }
  for (const p of ['a', 'b']) {
    for (const part of ['model', 'variant', 'draw']) {
      $('bx-' + p + '-' + part).addEventListener('change', () => {
        setCond(p, $('bx-' + p + '-model').value, $('bx-' + p + '-variant').value, $('bx-' + p + '-draw').value);
        update({ follow: true });
      });
    }
  }
  const other = (role) => (role === 'naive' ? 'expert' : 'naive');
  $('bx-layout-models').addEventListener('click', () => {
    const A = cond(state.a);
    const partner = conds.find((c) => c.role === other(A.role) && c.seed === A.seed && c.variant === A.variant && c.draw === A.draw) ||
      conds.find((c) => c.role === other(A.role) && c.variant === A.variant);
    if (partner) state.b = key(partner);
    update({ follow: true });
  });
  $('bx-layout-blur').addEventListener('click', () => {
    const A = cond(state.a);
    setCond('a', A.model, 'clear', A.draw);
    setCond('b', A.model, blur, A.draw);
    update({ follow: true });
  });
  $('bx-layout-draws').addEventListener('click', () => {
    const A = cond(state.a);
    setCond('a', A.model, A.variant, 0);
    setCond('b', A.model, A.variant, 1);
    update({ follow: true });
  });
  $('bx-swap').addEventListener('click', () => { [state.a, state.b] = [state.b, state.a]; update(); });
  $('bx-opacity').addEventListener('input', (e) => { state.op = Number(e.target.value); update(); });
  $('bx-clip').addEventListener('input', (e) => { state.clip = Number(e.target.value); update(); });
  $('bx-topk').addEventListener('change', (e) => { state.topk = e.target.checked; update(); });
  if (hasMasks) {
    $('bx-masks').addEventListener('change', (e) => { state.masks = e.target.checked; update(); });
    cueSel.addEventListener('change', () => { state.cue = cueSel.value; update({ follow: true }); });
  }
  sortSel.addEventListener('change', () => { state.sort = sortSel.value; update({ follow: true }); });
  $('bx-desc').addEventListener('change', (e) => { state.desc = e.target.checked; update(); });
  classSel.addEventListener('change', () => { state.cls = classSel.value; update({ follow: true }); });
  for (const p of ['a', 'b']) {
    $('bx-correct-' + p).addEventListener('change', (e) => { state['c' + p] = e.target.value; update({ follow: true }); });
  }
  table.addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-id]');
    if (tr) { state.img = tr.dataset.id; update(); }
  });
  const listBox = table.parentElement;
  listBox.tabIndex = 0;
  listBox.title = 'arrow keys: previous / next image';
  listBox.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const ids = Array.from(table.tBodies[0].rows).map((tr) => tr.dataset.id);
    const at = ids.indexOf(state.img);
    const next = ids[Math.min(ids.length - 1, Math.max(0, at + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next && next !== state.img) {
      state.img = next;
      update();
      const tr = table.querySelector('tr.bx-sel');
      if (tr) tr.scrollIntoView({ block: 'nearest' });
    }
    e.preventDefault();
  });
  window.addEventListener('hashchange', () => {
    if (applyHash(location.hash)) { update({ fromHash: true }); root.scrollIntoView(); }
  });

  const n = conds.length;
  included.textContent = 'Embedded: ' + images.length + ' test images, ' + n + ' map sets (model × images × draw) of ' +
    models.length + ' models. ' + (D.left_out.length ? 'Left out to keep the page small: ' + D.left_out.join('; ') +
    ' (settings under report.explorer in the config).' : 'Nothing was left out.');
  const fromLink = applyHash(location.hash);
  if (!validCond(state.a) || !validCond(state.b)) { state.a = key(first); state.b = key(first); }
  if (!fromLink) { const rs = rows(); if (rs.length) state.img = rs[0].id; }
  window.blurfocusExplorer = { state: state, pairMetrics: pairMetrics, update: update, rows: rows, ready: () => pending };
  update({ fromHash: fromLink, init: true });
  if (fromLink) root.scrollIntoView();
})();
