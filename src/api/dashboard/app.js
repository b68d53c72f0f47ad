// stagewise dashboard: a single page, no framework, no download at run time.
// Every value from the server reaches the page through textContent (never
// innerHTML), so nothing an applicant typed can run here.
'use strict';

const state = { who: null, timer: null, attribute: 'gender', graphUrl: null };

// ---- helpers -----------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'width') el.style.width = v;  // CSSOM: the page's policy forbids style attributes
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined)
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const enc = encodeURIComponent;
const pct = x => (x === null || x === undefined) ? '–' : (100 * x).toFixed(1) + ' %';
const num = x => (x === null || x === undefined) ? '–' : String(x);
function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 3600) return Math.round(seconds / 60) + ' min';
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + ' h';
  return (seconds / 86400).toFixed(1) + ' d';
}
function when(t) { return t ? t.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '–'; }

function token() { return sessionStorage.getItem('token') || ''; }
class HttpError extends Error { constructor(status, msg) { super(msg); this.status = status; } }
async function api(path, as) {
  const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token() } });
  if (r.status === 401) { showSignin('Your token was refused; sign in again.'); throw new HttpError(401, 'sign in'); }
  if (!r.ok) {
    let msg = r.status + '';
    try { msg = (await r.json()).error.message; } catch (e) { /* not JSON */ }
    throw new HttpError(r.status, msg);
  }
  return as === 'blob' ? r.blob() : as === 'text' ? r.text() : r.json();
}
function status(text) { document.getElementById('status').textContent = text; }
function main() { return document.getElementById('main'); }
function replace(el, ...children) { el.replaceChildren(...children.flat()); return el; }
function table(head, rows, attrs) {
  return h('div', { class: 'scroll' }, h('table', attrs || {},
    h('thead', {}, h('tr', {}, head.map(c => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label || c)))),
    h('tbody', {}, rows)));
}

// ---- sign-in -----------------------------------------------------------
function showSignin(message) {
  const form = document.getElementById('signin');
  form.hidden = false;
  document.getElementById('signin-error').textContent = message || '';
  replace(main());
  document.getElementById('token').focus();
}
document.getElementById('signin').addEventListener('submit', e => {
  e.preventDefault();
  sessionStorage.setItem('token', document.getElementById('token').value.trim());
  document.getElementById('signin').hidden = true;
  start();
});

// ---- programs overview ---------------------------------------------------
async function overview() {
  const wf = await api('/v1/workflows');
  const cards = [];
  for (const p of wf.workflows) {
    try {
      const f = await api('/v1/programs/' + enc(p.program) + '/reports/funnel');
      cards.push({ p, f });
    } catch (e) { if (e.status !== 403 && e.status !== 404) throw e; }
  }
  cards.sort((a, b) => b.f.total - a.f.total || a.p.program.localeCompare(b.p.program));
  const total = cards.reduce((n, c) => n + c.f.total, 0);
  return [h('h1', { text: 'Programs' }),
    h('p', { class: 'muted', id: 'overview-total' }, total + ' applications in ' + cards.length + ' programs'),
    h('div', { class: 'cards' }, cards.map(({ p, f }) => h('section', { class: 'card', 'data-program': p.program },
      h('h2', {}, h('a', { href: '#/p/' + enc(p.program) }, p.title || p.program)),
      h('div', { class: 'muted' }, p.program),
      h('dl', { class: 'figures' },
        [['total', f.total], ['active', f.active], ['decided', f.decided], ['overdue', f.overdue]].map(([k, v]) =>
          h('div', {}, h('dt', { text: k }), h('dd', { 'data-figure': k, text: num(v) })))))))];
}

// ---- a program -----------------------------------------------------------
function funnelTable(f) {
  const max = Math.max(1, ...f.stages.map(s => s.reached));
  return table(['stage', 'now', 'ever reached', { label: 'conversion', num: true }, { label: 'of all', num: true }, ''],
    f.stages.map(s => h('tr', { 'data-stage': s.stage, class: s.terminal ? 'terminal' : null },
      h('td', {}, s.title && s.title !== s.stage ? h('span', { title: s.stage }, s.title) : s.stage),
      h('td', { class: 'num', 'data-col': 'now', text: num(s.now) }),
      h('td', { class: 'num', 'data-col': 'reached', text: num(s.reached) }),
      h('td', { class: 'num', text: pct(s.conversion) }),
      h('td', { class: 'num', text: pct(s.overall) }),
      h('td', { 'aria-hidden': 'true' }, h('div', { class: 'bar' },
        h('span', { width: (100 * s.reached / max) + '%' }),
        h('span', { class: 'now', width: (100 * s.now / max) + '%' }))))),
    { id: 'funnel', 'aria-label': 'Funnel: applications now and ever in each stage' });
}

function timeTable(t) {
  return table(['stage', { label: 'finished p50', num: true }, { label: 'p90', num: true }, { label: 'max', num: true },
    { label: 'waiting', num: true }, { label: 'waiting p50', num: true }, { label: 'max', num: true },
    { label: 'over ' + duration(t.threshold_seconds), num: true }],
  t.stages.filter(s => !s.terminal).map(s => h('tr', { 'data-stage': s.stage },
    h('td', { text: s.stage }),
    h('td', { class: 'num', text: duration(s.finished.p50) }), h('td', { class: 'num', text: duration(s.finished.p90) }),
    h('td', { class: 'num', text: duration(s.finished.max) }), h('td', { class: 'num', text: num(s.waiting.count) }),
    h('td', { class: 'num', text: duration(s.waiting.p50) }), h('td', { class: 'num', text: duration(s.waiting.max) }),
    h('td', { class: 'num' + (s.waiting.over_threshold ? ' flag' : ''), text: num(s.waiting.over_threshold) }))),
  { id: 'time-in-stage', 'aria-label': 'Time in stage' });
}

function fairnessTable(r) {
  const head = ['stage', ...r.groups.map(g => g.suppressed ? g.group + ' (suppressed)' : g.group + ' (n=' + g.n + ')')];
  const rows = r.stages.map(s => h('tr', { 'data-stage': s.stage }, h('td', { text: s.stage }),
    s.groups.map(g => g.suppressed
      ? h('td', { class: 'suppressed', 'data-group': g.group, text: 'suppressed' })
      : h('td', { class: g.flag ? 'flag' : null, 'data-group': g.group,
        title: g.reached + ' of the group reached it; impact ratio ' + (g.impact_ratio === null ? '–' : g.impact_ratio.toFixed(2)) },
      pct(g.rate) + (g.impact_ratio === null ? '' : ' · ' + g.impact_ratio.toFixed(2)) + (g.flag ? ' ⚑ below 4/5' : '')))));
  return [h('p', { class: 'muted' }, 'Share of each group that reached each stage, and its ratio to the best group. ',
    'Flagged (⚑) under 0.8, the four-fifths rule. Groups under ' + r.min_cell +
    ' applications are suppressed, and so is any group that would reveal them.'),
  table(head, rows, { id: 'fairness', 'aria-label': 'Fairness by stage for ' + r.attribute })];
}

async function fairnessSection(program, region) {
  try {
    const r = await api('/v1/programs/' + enc(program) + '/fairness?attribute=' + enc(state.attribute));
    replace(region, fairnessTable(r));
  } catch (e) { replace(region, h('p', { class: 'muted', text: 'Fairness: ' + e.message })); }
}

async function graphSection(program, region) {
  const blob = await api('/v1/workflows/' + enc(program) + '/graph?format=svg', 'blob');
  const text = await api('/v1/workflows/' + enc(program) + '/graph?format=mermaid', 'text');
  if (state.graphUrl) URL.revokeObjectURL(state.graphUrl);  // the last page's drawing
  state.graphUrl = URL.createObjectURL(blob);
  replace(region, h('img', { src: state.graphUrl, alt: 'The workflow of ' + program + ' drawn as a graph; its text follows.' }),
    h('details', {}, h('summary', { text: 'The workflow as text (Mermaid)' }), h('pre', { text: text })));
}

function deadlinesTable(d) {
  return table(['due', 'application', 'stage', 'kind'], d.deadlines.slice(0, 50).map(t => h('tr', {},
    h('td', { text: when(t.due) }), h('td', {}, h('a', { href: '#/a/' + enc(t.application) }, t.application)),
    h('td', { text: t.stage }), h('td', { text: t.kind || '' }))), { id: 'deadlines', 'aria-label': 'Upcoming deadlines' });
}

async function search(program, q, region) {
  q = q.trim();
  if (!q) return;
  try {
    await api('/v1/applications/' + enc(q));
    location.hash = '#/a/' + enc(q);
    return;
  } catch (e) { if (e.status !== 404) throw e; }
  const list = await api('/v1/programs/' + enc(program) + '/applications?limit=10000');
  const found = list.applications.filter(a => a.id.toLowerCase().includes(q.toLowerCase())).slice(0, 50);
  replace(region, found.length ? h('ul', { id: 'results' }, found.map(a => h('li', {},
    h('a', { href: '#/a/' + enc(a.id) }, a.id), ' — ' + a.stage)))
    : h('p', { id: 'results', text: 'No application matches "' + q + '".' }));
}

async function program(name) {
  const base = '/v1/programs/' + enc(name);
  const [f, t] = await Promise.all([api(base + '/reports/funnel'), api(base + '/reports/time-in-stage')]);
  const results = h('div', { 'aria-live': 'polite' });
  const fairness = h('div', { id: 'fairness-region' });
  const graph = h('div', { class: 'graph' });
  const deadlines = h('div', {});
  const attr = h('input', { id: 'attribute', list: 'attributes', value: state.attribute, size: 18 });
  const page = [
    h('h1', {}, name),
    h('p', { class: 'muted', id: 'program-total' }, f.total + ' applications · ' + f.active + ' active · ' + f.decided +
      ' decided · ' + f.overdue + ' overdue'),
    h('form', { class: 'inline', role: 'search', onsubmit: e => { e.preventDefault(); search(name, e.target.q.value, results); } },
      h('div', {}, h('label', { for: 'q', text: 'Find an application (id)' }), h('input', { id: 'q', name: 'q', type: 'search' })),
      h('button', { type: 'submit', text: 'Find' })),
    results,
    h('div', { class: 'grid2' },
      h('section', { 'aria-labelledby': 'h-funnel' }, h('h2', { id: 'h-funnel', text: 'Funnel' }), funnelTable(f)),
      h('section', { 'aria-labelledby': 'h-time' }, h('h2', { id: 'h-time', text: 'Time in stage' }), timeTable(t))),
    h('section', { 'aria-labelledby': 'h-fair' }, h('h2', { id: 'h-fair', text: 'Fairness by stage' }),
      h('form', { class: 'inline', onsubmit: e => { e.preventDefault(); state.attribute = attr.value.trim(); fairnessSection(name, fairness); } },
        h('div', {}, h('label', { for: 'attribute', text: 'Self-identification attribute' }), attr,
          h('datalist', { id: 'attributes' }, ['gender', 'race_ethnicity', 'first_generation', 'disability'].map(a => h('option', { value: a })))),
        h('button', { type: 'submit', text: 'Show' })),
      fairness),
    h('div', { class: 'grid2' },
      h('section', { 'aria-labelledby': 'h-graph' }, h('h2', { id: 'h-graph', text: 'Workflow' }), graph),
      h('section', { 'aria-labelledby': 'h-deadlines' }, h('h2', { id: 'h-deadlines', text: 'Upcoming deadlines (7 days)' }), deadlines))];
  fairnessSection(name, fairness);
  graphSection(name, graph).catch(e => replace(graph, h('p', { class: 'muted', text: e.message })));
  api(base + '/deadlines').then(d => replace(deadlines, deadlinesTable(d)))
    .catch(e => replace(deadlines, h('p', { class: 'muted', text: e.message })));
  return page;
}

// Live figures without a reload: the tables of the page shown are redrawn.
async function refreshProgram(name, stillShown) {
  const base = '/v1/programs/' + enc(name);
  const [f, t] = await Promise.all([api(base + '/reports/funnel'), api(base + '/reports/time-in-stage')]);
  if (!stillShown()) return;  // the user went on to another page meanwhile
  const funnel = document.getElementById('funnel');
  if (funnel) funnel.parentElement.replaceWith(funnelTable(f));
  const time = document.getElementById('time-in-stage');
  if (time) time.parentElement.replaceWith(timeTable(t));
  const total = document.getElementById('program-total');
  if (total) total.textContent = f.total + ' applications · ' + f.active + ' active · ' + f.decided + ' decided · ' + f.overdue + ' overdue';
  const region = document.getElementById('fairness-region');
  if (region && document.activeElement?.id !== 'attribute' && stillShown()) await fairnessSection(name, region);
}

// ---- an application --------------------------------------------------------
function actor(e) {
  const who = e.actorid ? e.actorid + (e.actorrole ? ' (' + e.actorrole + ')' : '') : (e.actorrole || '');
  return who ? ' · by ' + who : '';
}
async function application(id) {
  const a = await api('/v1/applications/' + enc(id));
  const hist = await api('/v1/applications/' + enc(id) + '/history');
  // An erased application's personal fields read "erased" (DESIGN.md §14).
  const erased = typeof a.profile === 'string';
  const profile = erased ? {} : (a.profile || {});
  const docs = a.documents || [];
  const reviews = a.reviews || [];
  return [h('h1', {}, id),
    h('p', {}, h('a', { href: '#/p/' + enc(a.program) }, a.program), ' · stage ', h('strong', { id: 'app-stage', text: a.stage }),
      ' since ' + when(a.stage_entered_at)),
    h('div', { class: 'grid2' },
      h('section', { 'aria-labelledby': 'h-timeline' }, h('h2', { id: 'h-timeline', text: 'Timeline' }),
        h('ol', { class: 'timeline', id: 'timeline' }, hist.events.map(e => h('li', { class: e.from !== e.to ? 'moved' : null },
          h('div', {}, h('strong', { text: e.type }), ' ', e.from === null || e.from === undefined ? 'created in ' + e.to
            : e.from === e.to ? 'stayed in ' + e.to : e.from + ' → ' + e.to),
          h('div', { class: 'muted' }, when(e.time) + actor(e) + (e.note ? ' · ' + e.note : '')))))),
      h('section', {},
        h('h2', { text: 'Profile' }),
        Object.keys(profile).length ? h('dl', { id: 'profile' }, Object.entries(profile).map(([k, v]) =>
          [h('dt', { text: k }), h('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) })]))
          : h('p', { class: 'muted', id: erased ? 'erased' : null, text: erased
            ? 'Erased' + (a.erased && a.erased.time ? ' on ' + when(a.erased.time) : '') + ': the personal data is gone.'
            : 'Nothing you may see.' }),
        h('h2', { text: 'Documents' }),
        docs.length ? h('ul', {}, docs.map(d => h('li', { text: d.kind + (d.name ? ': ' + d.name : '') + (d.time ? ' · ' + when(d.time) : '') })))
          : h('p', { class: 'muted', text: 'None.' }),
        h('h2', { text: 'Reviews' }),
        reviews.length ? table(['reviewer', 'scores', 'recommendation'], reviews.map(r => h('tr', {},
          h('td', { text: r.reviewer || '(another reviewer)' }), h('td', { text: JSON.stringify(r.scores || {}) }),
          h('td', { text: r.recommendation || '' }))), { id: 'reviews' })
          : h('p', { class: 'muted', text: 'None you may see.' })))];
}

// ---- dead letters ---------------------------------------------------------
async function deadletters() {
  const d = await api('/v1/deadletters?limit=100');
  return [h('h1', { text: 'Dead letters' }),
    h('p', { class: 'muted', text: 'Events the processor refused, newest first, with why.' }),
    table(['when', 'reason', 'message', 'event', 'application'], d.deadletters.map(x => h('tr', {},
      h('td', { text: when(x.time) }), h('td', { text: x.reason }), h('td', { text: x.message }),
      h('td', { text: x.event_id || '–' }), h('td', { text: x.application || '–' }))), { id: 'deadletter-table' })];
}

// ---- routing --------------------------------------------------------------
// A page still loading when another is asked for is dropped, so a slow
// answer never replaces the page the user went on to.
let shown = 0, refreshing = false;
async function render(refresh) {
  if (refresh && refreshing) return;  // one refresh at a time
  const [, kind, arg] = (location.hash.match(/^#\/(p|a|deadletters)?\/?(.*)$/) || []);
  const mine = refresh ? shown : ++shown;
  refreshing = refresh;
  try {
    const name = arg ? decodeURIComponent(arg) : '';
    if (refresh && kind === 'p') await refreshProgram(name, () => mine === shown);
    else if (!refresh) {
      const page = kind === 'p' ? await program(name) : kind === 'a' ? await application(name)
        : kind === 'deadletters' ? await deadletters() : await overview();
      if (mine !== shown) return;
      replace(main(), page);
      main().focus();
    }
    status('updated ' + new Date().toLocaleTimeString());
  } catch (e) {
    if (e.status === 401) { clearInterval(state.timer); return; }
    if (!refresh) replace(main(), h('h1', { text: 'Cannot show this page' }), h('p', { class: 'error', text: e.message }));
    status('update failed: ' + e.message);
  } finally {
    if (refresh) refreshing = false;
  }
}

async function start() {
  try {
    const info = await api('/v1/info');
    state.who = info.you;
    document.getElementById('who').textContent = 'signed in as ' + info.you.sub + ' (' + info.you.role + ')';
    document.getElementById('nav-deadletters').hidden = info.you.role !== 'admin';
  } catch (e) { return; }
  await render(false);
  clearInterval(state.timer);
  state.timer = setInterval(() => render(true), 5000);
}

// A link may carry the token (and the program to open) in its fragment,
// which browsers never send to the server.
const link = new URLSearchParams(location.hash.slice(1));
if (link.get('token')) {
  sessionStorage.setItem('token', link.get('token'));
  history.replaceState(null, '', link.get('program') ? '/#/p/' + enc(link.get('program')) : '/#/');
}
window.addEventListener('hashchange', () => render(false));
if (token()) start(); else showSignin();
