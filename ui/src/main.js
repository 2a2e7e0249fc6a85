// Squall's web UI: the cluster overview, a topology's page (its graph laid
// out with dagre, throughput and latency charts drawn with uPlot,
// components, watermarks, checkpoints, errors, workers, actions), a
// component's page (one row per task) and a worker's log. Everything comes
// from the JSON routes of crates/squall-cluster/src/ui_api.rs with the
// bearer token; pages are addressed by the URL's hash (#/topology/NAME).
import dagre from '@dagrejs/dagre';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';

const REFRESH_MS = 2000;
const HISTORY_S = 300;

// ---- token ---------------------------------------------------------------

const TOKEN_KEY = 'squall.token';

function takeTokenFromUrl() {
  const m = location.hash.match(/[#&]token=([^&#]*)/);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    const rest = location.hash.replace(/[#&]?token=[^&#]*/, '');
    history.replaceState(null, '', location.pathname + (rest && rest !== '#' ? rest : '#/'));
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (res.status === 401) throw new Unauthorized(json?.error || 'unauthorized');
  if (!res.ok) throw new Error(json?.error || `HTTP ${res.status}: ${text.slice(0, 200)}`);
  return json;
}

// ---- small helpers -------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const enc = encodeURIComponent;
const num = (n) => (n === undefined || n === null ? '–' : Math.round(n).toLocaleString('en-US'));
function rate(r) {
  if (!r) return '0';
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)} M`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)} k`;
  return r.toFixed(r < 10 ? 1 : 0);
}
function bytes(b) {
  if (b >= 1 << 30) return `${(b / (1 << 30)).toFixed(2)} GB`;
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} kB`;
  return `${b} B`;
}
function duration(s) {
  if (s === null || s === undefined) return '–';
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
const ms = (us) => (us === undefined || us === null ? '–' : `${(us / 1000).toFixed(us < 10000 ? 2 : 1)} ms`);
const time = (t) => (t ? new Date(t).toLocaleTimeString('en-GB') : '–');
const stamp = (t) => (t ? new Date(t).toISOString().replace('T', ' ').slice(0, 19) : '–');
function watermark(w) {
  if (w === null || w === undefined) return '–';
  if (w > 9e15) return 'end of input';
  return stamp(w);
}
const pct = (f) => `${Math.round((f || 0) * 100)}%`;

function badge(state) {
  return h('span', { class: `badge state-${state}`, 'data-testid': 'state' }, state);
}

function crumbs(...parts) {
  const nav = $('#crumbs');
  nav.replaceChildren(...parts.flatMap((p, i) => [i ? h('span', { class: 'sep' }, '›') : null,
    p.href ? h('a', { href: p.href }, p.text) : h('span', {}, p.text)]).filter(Boolean));
}

function table(headers, rows, attrs = {}) {
  return h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: headers.length, class: 'muted' }, 'none'))));
}

function section(title, ...body) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}

// ---- banner and confirmation ---------------------------------------------

function showResult(ok, text) {
  const b = $('#banner');
  b.hidden = false;
  b.className = ok ? 'ok' : 'err';
  b.dataset.ok = ok ? 'true' : 'false';
  b.replaceChildren(h('span', {}, text), h('button', { class: 'link', onclick: () => { b.hidden = true; } }, '×'));
}

// Asks for confirmation; resolves to the fields' values, or null.
function confirmAction(title, text, fields = []) {
  const dlg = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-fields').replaceChildren(...fields.map((f) => h('label', {}, f.label,
    h('input', { name: f.name, type: f.type || 'text', value: f.value ?? '', min: f.min, checked: f.checked, 'data-field': f.name }))));
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      if (dlg.returnValue !== 'ok') return resolve(null);
      const values = {};
      for (const f of fields) {
        const input = $(`[data-field="${f.name}"]`, dlg);
        values[f.name] = f.type === 'checkbox' ? input.checked : input.value;
      }
      resolve(values);
    }, { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

// ---- router --------------------------------------------------------------

let timers = [];
let charts = [];
function stopPage() {
  timers.forEach(clearInterval);
  timers = [];
  charts.forEach((c) => c.destroy());
  charts = [];
}

function every(ms, fn) {
  fn();
  timers.push(setInterval(fn, ms));
}

async function route() {
  stopPage();
  const app = $('#app');
  const path = location.hash.replace(/^#/, '') || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (!token()) return tokenPage(app);
  try {
    if (parts[0] === 'topology' && parts[2] === 'component') return await componentPage(app, parts[1], parts[3]);
    if (parts[0] === 'topology' && parts[2] === 'worker') return await logPage(app, parts[1], parts[3]);
    if (parts[0] === 'topology') return await topologyPage(app, parts[1]);
    return await overviewPage(app);
  } catch (e) {
    if (e instanceof Unauthorized) return tokenPage(app, e.message);
    app.replaceChildren(h('p', { class: 'error' }, String(e.message || e)));
  }
}

// Runs a page's refresh, turning a refused token into the token page.
function refresher(app, fn) {
  return async () => {
    try {
      await fn();
    } catch (e) {
      if (e instanceof Unauthorized) { stopPage(); tokenPage(app, e.message); } else console.warn(e);
    }
  };
}

function tokenPage(app, why) {
  crumbs({ text: 'API token' });
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', 'data-testid': 'token-input', placeholder: 'the cluster’s api_token' });
  app.replaceChildren(section('API token',
    h('p', {}, 'The pages read the REST API, which needs its bearer token: the cluster’s ',
      h('code', {}, 'api_token'), ' (', h('code', {}, 'SQUALL__API_TOKEN'), '), or the token in the URL ',
      h('code', {}, 'squall run --ui'), ' printed. It stays in this tab only.'),
    why ? h('p', { class: 'error' }, why) : null,
    h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); sessionStorage.setItem(TOKEN_KEY, input.value.trim()); route(); } },
      input, h('button', { class: 'primary', type: 'submit' }, 'Open'))));
}

// ---- overview ------------------------------------------------------------

async function overviewPage(app) {
  crumbs({ text: 'Cluster' });
  const body = h('div');
  app.replaceChildren(body);
  every(REFRESH_MS, refresher(app, async () => {
    const c = await api('GET', '/api/v1/cluster');
    $('#mode').textContent = c.mode === 'local' ? 'local mode (squall run --ui)' : 'cluster';
    const parts = [];
    if (c.mode === 'cluster') {
      const slots = c.supervisors.reduce((a, s) => a + s.slots, 0);
      const used = c.supervisors.reduce((a, s) => a + s.used, 0);
      parts.push(h('div', { class: 'stats' },
        stat('Nimbus leader', c.nimbuses.find((n) => n.leader)?.url || 'none'),
        stat('Standbys', c.nimbuses.filter((n) => !n.leader).length),
        stat('Supervisors', c.supervisors.length),
        stat('Slots used / total', `${used} / ${slots}`),
        stat('Topologies running', c.topologies.filter((t) => !['finished', 'failed', 'killed'].includes(t.state)).length)));
      parts.push(section('Nimbus', table(['URL', 'role'], c.nimbuses.map((n) =>
        h('tr', {}, h('td', {}, n.url), h('td', {}, n.leader ? badge('leader') : 'standby'))))));
      parts.push(section('Supervisors', table(['id', 'slots', 'used', 'free', 'logs'], c.supervisors.map((s) =>
        h('tr', { 'data-testid': 'supervisor-row' }, h('td', {}, s.id), h('td', { class: 'n' }, s.slots), h('td', { class: 'n' }, s.used),
          h('td', { class: 'n' }, s.free), h('td', {}, s.serves_logs ? 'yes' : 'no'))))));
    }
    parts.push(section('Topologies', table(['name', 'state', 'active', 'uptime', 'workers', 'tasks', 'emitted', 'emitted/s', 'restarts', 'message'],
      c.topologies.map((t) => h('tr', { 'data-testid': 'topology-row', 'data-name': t.name },
        h('td', {}, h('a', { href: `#/topology/${enc(t.name)}` }, t.name)), h('td', {}, badge(t.state)),
        h('td', {}, t.active ? 'yes' : 'no'), h('td', {}, duration(t.uptime_s)), h('td', { class: 'n' }, t.workers),
        h('td', { class: 'n' }, t.tasks), h('td', { class: 'n' }, num(t.emitted)), h('td', { class: 'n' }, rate(t.emitted_rate)),
        h('td', { class: 'n' }, t.restarts), h('td', { class: 'msg' }, t.message || ''))))));
    body.replaceChildren(...parts);
  }));
}

function stat(label, value) {
  return h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
}

// ---- topology ------------------------------------------------------------

const OVER = ['finished', 'failed', 'killed'];

async function topologyPage(app, name) {
  crumbs({ text: 'Cluster', href: '#/' }, { text: name });
  const head = h('div', { class: 'head' });
  const graph = h('div', { class: 'graph', 'data-testid': 'graph' });
  const throughput = h('div', { class: 'chart', 'data-testid': 'throughput-chart' });
  const latency = h('div', { class: 'chart', 'data-testid': 'latency-chart' });
  const execute = h('div', { class: 'chart', 'data-testid': 'execute-chart' });
  const comps = h('div');
  const users = h('div');
  const marks = h('div');
  const cps = h('div');
  const errs = h('div');
  const workers = h('div');
  app.replaceChildren(head,
    section('Graph', graph,
      h('p', { class: 'legend' }, 'Backpressure (time blocked on full output channels): ', legendItem('bp-none', 'none'),
        legendItem('bp-low', 'some'), legendItem('bp-high', 'over 30% of the time'), 'Click a component for its tasks.')),
    h('div', { class: 'grid2' }, section('Throughput (tuples/s, last 5 minutes)', throughput), section('Complete latency (ms, p50 and p99)', latency)),
    h('div', { class: 'grid2' }, section('Execute latency (ms per tuple, p99 of each bolt)', execute), section('Watermarks', marks)),
    section('Components', comps), section('Checkpoints', cps),
    section('Last errors', errs), section('Workers', workers), section('Component metrics', users));
  let lastGraph = '';
  const tp = chart(throughput, 'tuples/s', 'No data yet.');
  const lt = chart(latency, 'ms', 'No complete latency measured: it needs guarantee at_least_once, and acked spout tuples.');
  const ex = chart(execute, 'ms', 'No execute latency sampled yet.');
  const cpu = new Map();
  every(REFRESH_MS, refresher(app, async () => {
    const v = await api('GET', `/api/v1/topologies/${enc(name)}/view`);
    renderHead(head, v);
    const key = JSON.stringify(v.graph);
    if (key !== lastGraph) { lastGraph = key; drawGraph(graph, v); }
    updateGraph(graph, v);
    comps.replaceChildren(componentTables(v));
    marks.replaceChildren(watermarkTable(v));
    cps.replaceChildren(checkpointTable(v));
    errs.replaceChildren(errorTable(v.errors, true));
    workers.replaceChildren(workerTable(v, cpu));
    users.replaceChildren(userMetricTable(v));
  }));
  every(REFRESH_MS * 2.5, refresher(app, async () => {
    const hs = await api('GET', `/api/v1/topologies/${enc(name)}/history?seconds=${HISTORY_S}`);
    tp.set(hs, (c) => (c.emitted.some((x) => x > 0) ? [[`${c.id} emitted`, c.emitted]] : [[`${c.id} executed`, c.executed]]));
    lt.set(hs, (c) => (c.latency_p50_ms.some((x) => x !== null)
      ? [[`${c.id} p50`, c.latency_p50_ms], [`${c.id} p99`, c.latency_p99_ms]] : []));
    ex.set(hs, (c) => (c.execute_p99_ms.some((x) => x !== null) ? [[`${c.id} p99`, c.execute_p99_ms]] : []));
  }));
}

function legendItem(cls, text) {
  return h('span', { class: 'item' }, h('span', { class: `swatch ${cls}` }), text);
}

function renderHead(head, v) {
  const over = OVER.includes(v.state);
  const act = (label, action, cls, disabled) => h('button', { class: cls, 'data-action': action, disabled: disabled || over, onclick: () => runAction(v, action) }, label);
  head.replaceChildren(...[
    h('div', { class: 'title' }, h('h1', {}, v.name), badge(v.state),
      h('span', { class: `badge ${v.active ? 'on' : 'off'}`, 'data-testid': 'active' }, v.active ? 'active' : 'inactive')),
    h('div', { class: 'stats' },
      stat('Uptime', duration(v.uptime_s)), stat('Guarantee', v.guarantee || '–'),
      stat('Checkpoints', v.checkpoint_interval_ms ? `every ${v.checkpoint_interval_ms} ms` : 'off'),
      stat('Workers', v.workers.length), stat('Tasks', v.components.reduce((a, c) => a + c.parallelism, 0)),
      stat('Epoch', v.epoch)),
    v.message ? h('p', { class: over && v.state === 'failed' ? 'error' : 'muted' }, v.message) : null,
    h('div', { class: 'actions' },
      act('Activate', 'activate', '', v.active),
      act('Deactivate', 'deactivate', '', !v.active),
      act('Rebalance…', 'rebalance', ''),
      act('Savepoint', 'savepoint', '', !v.checkpoint_interval_ms),
      act('Kill…', 'kill', 'danger'))].filter(Boolean));
}

async function runAction(v, action) {
  const name = v.name;
  const base = `/api/v1/topologies/${enc(name)}`;
  let call;
  if (action === 'activate' || action === 'deactivate') {
    const ok = await confirmAction(`${action === 'activate' ? 'Activate' : 'Deactivate'} ${name}?`,
      action === 'activate' ? 'Its spouts start emitting again.' : 'Its spouts stop emitting; tuples in flight complete.');
    if (!ok) return;
    call = () => api('POST', `${base}/${action}`).then((s) => `${name}: spouts ${action}d (state ${s.state})`);
  } else if (action === 'kill') {
    const f = await confirmAction(`Kill ${name}?`, 'Its spouts are deactivated, and after the wait it is killed: sinks leave no uncommitted result.',
      [{ name: 'wait', label: 'Wait (seconds) ', type: 'number', value: 0, min: 0 }]);
    if (!f) return;
    const wait = Math.max(0, parseInt(f.wait, 10) || 0);
    call = () => api('DELETE', `${base}?wait_s=${wait}`).then((s) => (wait ? `${name}: deactivated, killed in ${wait} s`
      : `${name}: ${s.state === 'killed' ? 'killed' : 'being killed'}`));
  } else if (action === 'savepoint') {
    const f = await confirmAction(`Savepoint of ${name}?`, 'A checkpoint is taken now and copied where retention does not delete it.',
      [{ name: 'stop', label: 'then stop it (Flink’s stop-with-savepoint)', type: 'checkbox', checked: false }]);
    if (!f) return;
    const stop = f.stop === true;
    showResult(true, `${name}: taking a savepoint…`);
    call = () => api('POST', `${base}/savepoint`, { stop }).then((s) => `${name}: savepoint ${s.location}${s.stopped ? ' (stopped)' : ''}`);
  } else if (action === 'rebalance') {
    const fields = v.components.map((c) => ({ name: `p:${c.id}`, label: `${c.id} `, type: 'number', value: c.parallelism, min: 1 }));
    fields.push({ name: 'workers', label: 'workers ', type: 'number', value: v.workers.length || 1, min: 1 });
    const f = await confirmAction(`Rebalance ${name}?`, 'New parallelisms and workers; it restarts from a savepoint or its latest checkpoint.', fields);
    if (!f) return;
    const parallelism = {};
    for (const c of v.components) {
      const n = parseInt(f[`p:${c.id}`], 10);
      if (n && n !== c.parallelism) parallelism[c.id] = n;
    }
    const w = parseInt(f.workers, 10);
    const body = { parallelism };
    if (w && w !== v.workers.length) body.workers = w;
    call = () => api('POST', `${base}/rebalance`, body).then((s) => `${name}: rebalancing (state ${s.state})`);
  }
  try {
    showResult(true, await call());
  } catch (e) {
    showResult(false, `${action} refused: ${e.message}`);
  }
}

function bpClass(c, over) {
  if (over) return 'bp-over';
  if (c.backpressure >= 0.3) return 'bp-high';
  if (c.backpressure >= 0.02) return 'bp-low';
  return 'bp-none';
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  children.forEach((c) => el.append(c instanceof Node ? c : document.createTextNode(String(c))));
  return el;
}

function drawGraph(el, v) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const c of v.graph.components) g.setNode(c.id, { width: 150, height: 64 });
  v.graph.edges.forEach((e, i) => {
    const label = e.grouping + (e.fields.length ? ` (${e.fields.join(', ')})` : '') + (e.stream !== 'default' ? ` [${e.stream}]` : '');
    g.setEdge(e.from, e.to, { label, width: label.length * 6.5, height: 14, labelpos: 'c' }, `e${i}`);
  });
  dagre.layout(g);
  const { width, height } = g.graph();
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width: Math.min(width * 1.15, 1400), height: Math.max(120, height * 1.15), class: 'dag' });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#7a8699' }))));
  for (const id of g.edges()) {
    const e = g.edge(id);
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x},${p.y}`).join(' ');
    svg.append(s('path', { d, class: 'edge', 'marker-end': 'url(#arrow)' }));
    svg.append(s('text', { x: e.x, y: e.y + 4, class: 'edge-label', 'text-anchor': 'middle', 'data-testid': 'edge-label' }, e.label));
  }
  for (const c of v.graph.components) {
    const n = g.node(c.id);
    const node = s('g', { class: 'node', 'data-id': c.id, transform: `translate(${n.x - n.width / 2},${n.y - n.height / 2})` },
      s('rect', { width: n.width, height: n.height, rx: 8 }),
      s('text', { x: 10, y: 20, class: 'node-title' }, `${c.id}`),
      s('text', { x: n.width - 10, y: 20, class: 'node-kind', 'text-anchor': 'end' }, `${c.kind} ×${c.parallelism}`),
      s('text', { x: 10, y: 40, class: 'node-rate' }, ''),
      s('text', { x: 10, y: 56, class: 'node-bp' }, ''));
    node.addEventListener('click', () => { location.hash = `#/topology/${enc(v.name)}/component/${enc(c.id)}`; });
    svg.append(node);
  }
  el.replaceChildren(svg);
}

function updateGraph(el, v) {
  const over = OVER.includes(v.state);
  for (const c of v.components) {
    const node = el.querySelector(`g.node[data-id="${CSS.escape(c.id)}"]`);
    if (!node) continue;
    node.setAttribute('class', `node ${bpClass(c, over)}`);
    const r = c.kind === 'spout' ? c.emitted_rate : c.executed_rate;
    node.dataset.rate = String(r);
    node.querySelector('.node-rate').textContent = `${rate(r)}/s ${c.kind === 'spout' ? 'emitted' : 'executed'}`;
    node.querySelector('.node-kind').textContent = `${c.kind} ×${c.parallelism}`;
    node.querySelector('.node-bp').textContent = `backpressure ${pct(c.backpressure)}${c.last_error ? ' · error' : ''}`;
  }
}

// Latency quantiles (µs) as cells, each with its value for tests.
function latencyCells(l, kind) {
  return ['p50', 'p99', 'p999'].map((q) => h('td', { class: `n ${kind}-${q}`, 'data-value': l ? l[`${q}_us`] : '' }, ms(l?.[`${q}_us`])));
}

function lastError(c) {
  return h('td', { class: 'msg' }, c.last_error ? `${time(c.last_error.at_ms)} task ${c.last_error.task}: ${c.last_error.message}` : '');
}

// Storm UI's two tables: spouts with their complete latency, bolts with
// their execute latency.
function componentTables(v) {
  const link = (c) => h('td', {}, h('a', { href: `#/topology/${enc(v.name)}/component/${enc(c.id)}` }, c.id));
  const row = (c, ...cells) => h('tr', { 'data-testid': 'component-row', 'data-id': c.id }, link(c), h('td', { class: 'n' }, c.parallelism), ...cells);
  const spouts = v.components.filter((c) => c.kind === 'spout').map((c) => row(c,
    h('td', { class: 'n emitted', 'data-value': c.emitted }, num(c.emitted)),
    h('td', { class: 'n rate', 'data-value': c.emitted_rate }, rate(c.emitted_rate)),
    h('td', { class: 'n' }, num(c.acked)), h('td', { class: 'n' }, num(c.failed)), h('td', { class: 'n' }, num(c.replayed)),
    h('td', { class: 'n' }, pct(c.backpressure)), ...latencyCells(c.complete_latency, 'complete'),
    h('td', { class: 'n' }, num(c.error_records)), h('td', { class: 'n' }, c.restarts), lastError(c)));
  const bolts = v.components.filter((c) => c.kind !== 'spout').map((c) => row(c,
    h('td', { class: 'n executed', 'data-value': c.executed }, num(c.executed)),
    h('td', { class: 'n rate', 'data-value': c.executed_rate }, rate(c.executed_rate)),
    h('td', { class: 'n emitted', 'data-value': c.emitted }, num(c.emitted)),
    h('td', { class: 'n' }, num(c.acked)), h('td', { class: 'n' }, num(c.failed)),
    h('td', { class: 'n' }, pct(c.input_queue_fill)), h('td', { class: 'n' }, pct(c.backpressure)),
    ...latencyCells(c.execute_latency, 'execute'),
    h('td', { class: 'n' }, num(c.error_records)), h('td', { class: 'n' }, c.restarts), lastError(c)));
  return h('div', {},
    h('h3', {}, 'Spouts'),
    table(['spout', 'tasks', 'emitted', 'emitted/s', 'acked', 'failed', 'replayed', 'backpressure', 'complete latency p50', 'p99', 'p99.9', 'error records', 'restarts', 'last error'], spouts),
    h('h3', {}, 'Bolts'),
    table(['bolt', 'tasks', 'executed', 'executed/s', 'emitted', 'acked', 'failed', 'input queue', 'backpressure', 'execute latency p50', 'p99', 'p99.9', 'error records', 'restarts', 'last error'], bolts));
}

function userMetricTable(v) {
  if (!v.user_metrics.length) return h('p', { class: 'muted' }, 'No component registered metrics of its own (context.metrics(): counters, gauges, histograms).');
  const labels = (m) => Object.entries(m.labels).map(([k, x]) => `${k}=${x}`).join(', ');
  const value = (x) => (x === null || x === undefined ? '–' : Number.isInteger(x) ? num(x) : x.toFixed(3));
  return table(['component', 'task', 'metric', 'labels', 'kind', 'value (summaries: count)', 'p50', 'p99'], v.user_metrics.map((m) => h('tr', { 'data-testid': 'user-metric-row', 'data-name': m.name, 'data-value': m.value },
    h('td', {}, m.component), h('td', { class: 'n' }, m.task ?? '–'), h('td', {}, m.name), h('td', {}, labels(m)), h('td', {}, m.kind),
    h('td', { class: 'n' }, value(m.value)), h('td', { class: 'n' }, value(m.p50)), h('td', { class: 'n' }, value(m.p99)))));
}

function watermarkTable(v) {
  const rows = v.components.map((c) => h('tr', {}, h('td', {}, c.id), h('td', {}, watermark(c.watermark_ms)),
    h('td', { class: 'n' }, c.watermark_lag_ms === null || c.watermark_lag_ms === undefined ? '–' : duration(Math.round(c.watermark_lag_ms / 1000)))));
  const none = v.components.every((c) => c.watermark_ms === null || c.watermark_ms === undefined);
  return h('div', {}, none ? h('p', { class: 'muted' }, 'No event time: its spouts emit no watermarks.') : null,
    table(['component', 'watermark (lowest task)', 'behind the clock'], rows));
}

function checkpointTable(v) {
  if (!v.checkpoint_interval_ms) return h('p', { class: 'muted' }, 'Checkpoints are off (config.checkpoint_interval_ms).');
  const rows = v.checkpoints.slice(0, 15).map((c) => h('tr', { 'data-testid': 'checkpoint-row', 'data-status': c.status },
    h('td', { class: 'n' }, c.id), h('td', {}, h('span', { class: `badge cp-${c.status}` }, c.status), c.savepoint ? ' savepoint' : ''),
    h('td', {}, time(c.at_ms)), h('td', { class: 'n' }, c.status === 'completed' ? `${c.duration_ms} ms` : '–'),
    h('td', { class: 'n' }, c.status === 'completed' ? bytes(c.state_bytes) : '–'),
    h('td', { class: 'n' }, c.status === 'completed' ? bytes(c.uploaded_bytes) : '–'),
    h('td', { class: 'n alignment', 'data-value': c.status === 'completed' ? c.alignment_us : '' }, c.status === 'completed' ? ms(c.alignment_us) : '–'),
    h('td', { class: 'msg' }, c.reason || '')));
  return table(['id', 'status', 'time', 'duration', 'state size', 'written', 'alignment (longest)', 'reason'], rows);
}

function errorTable(errors, withComponent) {
  return table([...(withComponent ? ['component'] : []), 'task', 'worker', 'time', 'error'], errors.map((e) => h('tr', { 'data-testid': 'error-row' },
    withComponent ? h('td', {}, e.component) : null, h('td', { class: 'n' }, e.task), h('td', {}, e.worker || ''),
    h('td', {}, stamp(e.at_ms)), h('td', { class: 'msg' }, e.message))));
}

// `cpu` keeps each worker's CPU times of the last 30 s, for the share of a
// core it used over them (the exporter counts whole seconds).
const CPU_WINDOW_MS = 30000;
function workerTable(v, cpu) {
  const usage = (w) => {
    if (!w.process) return null;
    const seen = (cpu.get(w.id) || []).filter((x) => x.at < w.at_ms && x.at >= w.at_ms - CPU_WINDOW_MS);
    seen.push({ s: w.process.cpu_seconds, at: w.at_ms });
    cpu.set(w.id, seen);
    const [first, last] = [seen[0], seen[seen.length - 1]];
    return last.at - first.at >= 5000 ? (last.s - first.s) / ((last.at - first.at) / 1000) : null;
  };
  return table(['worker', 'supervisor', 'slot', 'pid', 'tasks', 'memory (RSS)', 'CPU (cores, last 30 s)', 'CPU time', 'last report', 'log'], v.workers.map((w) => {
    const share = usage(w);
    return h('tr', { 'data-testid': 'worker-row', 'data-id': w.id },
      h('td', {}, w.id), h('td', {}, w.supervisor || '–'), h('td', { class: 'n' }, w.slot ?? '–'), h('td', { class: 'n' }, w.pid ?? '–'),
      h('td', {}, w.tasks.join(', ')),
      h('td', { class: 'n rss', 'data-value': w.process?.rss_bytes ?? '' }, w.process ? bytes(w.process.rss_bytes) : '–'),
      h('td', { class: 'n cpu' }, share === null ? '–' : share.toFixed(2)),
      h('td', { class: 'n cpu-time', 'data-value': w.process?.cpu_seconds ?? '' }, w.process ? `${w.process.cpu_seconds.toFixed(1)} s` : '–'),
      h('td', {}, time(w.at_ms)),
      h('td', {}, w.supervisor ? h('a', { href: `#/topology/${enc(v.name)}/worker/${enc(w.id)}` }, 'tail') : 'the terminal of squall run'));
  }));
}

// A uPlot line chart that takes History series.
function chart(el, unit, empty) {
  let plot = null;
  let shape = '';
  const c = {
    set(hs, pick) {
      const series = hs.components.flatMap((comp) => pick(comp));
      const data = [hs.t_ms.map((t) => t / 1000), ...series.map(([, ys]) => ys)];
      const key = series.map(([n]) => n).join('|');
      if (!series.length) {
        if (plot) { plot.destroy(); plot = null; shape = ''; }
        el.replaceChildren(h('p', { class: 'muted' }, empty));
        return;
      }
      if (key !== shape || !plot) {
        if (plot) plot.destroy();
        el.replaceChildren();
        shape = key;
        const opts = {
          width: Math.max(300, el.clientWidth || 500), height: 200,
          series: [{}, ...series.map(([n], i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
          axes: [{}, { label: unit, size: 60 }],
          legend: { live: false },
        };
        plot = new uPlot(opts, data, el);
        charts.push(c);
      } else {
        plot.setData(data);
      }
    },
    destroy() { if (plot) plot.destroy(); plot = null; },
  };
  return c;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

// ---- component -----------------------------------------------------------

async function componentPage(app, name, id) {
  crumbs({ text: 'Cluster', href: '#/' }, { text: name, href: `#/topology/${enc(name)}` }, { text: id });
  const body = h('div');
  app.replaceChildren(body);
  every(REFRESH_MS, refresher(app, async () => {
    const d = await api('GET', `/api/v1/topologies/${enc(name)}/components/${enc(id)}`);
    const c = d.component;
    const errors = d.tasks.flatMap((t) => t.errors.map((e) => ({ ...e, task: t.task, worker: t.worker, component: t.component })))
      .sort((a, b) => b.at_ms - a.at_ms);
    body.replaceChildren(
      h('div', { class: 'title' }, h('h1', {}, `${id}`), h('span', { class: 'muted' }, ` ${c.kind} of ${name}`), badge(d.state)),
      h('div', { class: 'stats' }, stat('Tasks', c.parallelism), stat('Emitted', num(c.emitted)), stat('Executed', num(c.executed)),
        stat('Rate/s', rate(c.kind === 'spout' ? c.emitted_rate : c.executed_rate)), stat('Acked', num(c.acked)), stat('Failed', num(c.failed)),
        stat('Backpressure', pct(c.backpressure)), stat('Watermark', watermark(c.watermark_ms)),
        c.kind === 'spout' ? stat('Complete latency p99', ms(c.complete_latency?.p99_us)) : stat('Execute latency p99', ms(c.execute_latency?.p99_us))),
      section('Inputs and outputs', table(['from', 'to', 'stream', 'grouping'], d.edges.map((e) => h('tr', {},
        h('td', {}, e.from), h('td', {}, e.to), h('td', {}, e.stream), h('td', {}, e.grouping + (e.fields.length ? ` (${e.fields.join(', ')})` : '')))))),
      section('Tasks', table(['task', 'worker', 'emitted', 'executed', 'acked', 'failed', 'timed out', 'replayed', 'emitted/s', 'executed/s', 'backpressure', 'input queue', 'watermark',
        `${c.kind === 'spout' ? 'complete' : 'execute'} latency p50`, 'p99', 'p99.9', 'error records', 'restarts', 'last error'],
        d.tasks.map((t) => h('tr', { 'data-testid': 'task-row', 'data-task': t.task },
          h('td', { class: 'n' }, t.task), h('td', {}, t.worker || ''), h('td', { class: 'n' }, num(t.emitted)), h('td', { class: 'n' }, num(t.executed)),
          h('td', { class: 'n' }, num(t.acked)), h('td', { class: 'n' }, num(t.failed)), h('td', { class: 'n' }, num(t.timed_out)),
          h('td', { class: 'n' }, num(t.replayed)), h('td', { class: 'n' }, rate(t.emitted_rate)), h('td', { class: 'n' }, rate(t.executed_rate)),
          h('td', { class: 'n' }, pct(t.backpressure)), h('td', { class: 'n' }, pct(t.input_queue_fill)), h('td', {}, watermark(t.watermark_ms)),
          ...latencyCells(c.kind === 'spout' ? t.recent_complete_latency : t.recent_execute_latency, 'task-latency'),
          h('td', { class: 'n' }, num(t.error_records)), h('td', { class: 'n' }, t.restarts), h('td', { class: 'msg' }, t.errors.length ? t.errors[t.errors.length - 1].message : ''))),
        { 'data-testid': 'task-table' })),
      section('Last errors', errorTable(errors, false)));
  }));
}

// ---- worker log ----------------------------------------------------------

async function logPage(app, name, worker) {
  crumbs({ text: 'Cluster', href: '#/' }, { text: name, href: `#/topology/${enc(name)}` }, { text: `log of ${worker}` });
  const pre = h('pre', { class: 'log', 'data-testid': 'log' }, 'loading…');
  const where = h('p', { class: 'muted' });
  app.replaceChildren(section(`Worker ${worker}`, where, pre));
  every(REFRESH_MS * 1.5, refresher(app, async () => {
    try {
      const t = await api('GET', `/api/v1/topologies/${enc(name)}/workers/${enc(worker)}/log?lines=300`);
      where.textContent = `${t.path} (last 300 lines, through its supervisor)`;
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
      pre.textContent = t.text || '(empty)';
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      if (e instanceof Unauthorized) throw e;
      pre.textContent = e.message;
    }
  }));
}

// ---- start ---------------------------------------------------------------

takeTokenFromUrl();
$('#logout').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); route(); });
window.addEventListener('hashchange', () => { takeTokenFromUrl(); route(); });
route();
