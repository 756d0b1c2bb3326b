// `GET /` on the LB: the live dashboard of the pipeline (issue 15), stream -> ingest -> transcoder ->
// origin renditions -> edges, with alarms in red. One self-contained page (no outside CDN; LBs often run
// where that is blocked) that polls /api/status (edges, their load reports, the balance) and /api/streams
// (the origin's summary with the viewers the edges report) every second. Every value from the network is
// put in with textContent, never as markup.
import { Hono } from 'hono';

const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cascade</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
  h1 { margin: 0 0 .3rem; } h2 { margin: 1.4rem 0 .5rem; font-size: 1.1rem; } h3 { margin: 0 0 .4rem; font-size: 1rem; }
  table { border-collapse: collapse; }
  th, td { padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .up, .live { color: #137333; } .unknown, .off { color: #777; } .ended { color: #555; }
  .down, .stalled, .over { color: #b3261e; font-weight: 600; }
  tr.down, tr.stalled { background: #fce8e6; }
  .bar { background: #d2e3fc; height: .8rem; display: inline-block; vertical-align: middle; margin-left: .3rem; }
  #meta span { margin-right: 1.5rem; }
  #alarms { list-style: none; padding: 0; margin: 0; }
  #alarms li { background: #fce8e6; color: #b3261e; font-weight: 600; padding: .3rem .6rem; margin: .2rem 0; border-left: 4px solid #b3261e; }
  #no-alarms { color: #137333; margin: 0; }
  .stream { border: 1px solid #ddd; border-radius: 6px; padding: .7rem 1rem; margin: .6rem 0; }
  .stream[data-state="stalled"] { border-color: #b3261e; }
  .flow { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem; margin: .3rem 0 .6rem; }
  .flow .stage { border: 1px solid #ccc; border-radius: 4px; padding: .15rem .5rem; background: #f6f8fa; }
  .flow .stage.stalled { border-color: #b3261e; background: #fce8e6; }
  .flow .arrow { color: #999; }
</style>
</head>
<body>
<h1>cascade</h1>
<p id="meta"><span>control plane: <b id="redis">?</b></span><span>origin: <b id="origin">?</b></span><span>config version: <b id="version">?</b></span><span>hash: <b id="hash">?</b></span><span>balance factor: <b id="balance-factor">?</b></span><span id="updated"></span></p>
<h2>Alarms</h2>
<ul id="alarms"></ul>
<p id="no-alarms">none</p>
<h2>Streams</h2>
<div id="streams"><p class="unknown">no stream information (the LB needs --origin)</p></div>
<h2>Edges</h2>
<table>
  <thead><tr><th>edge</th><th>url</th><th>weight</th><th>health</th><th>drain</th><th>share</th><th>viewers</th><th>bytes/s</th><th>hit ratio</th><th>load share</th><th>bound</th><th>passed on</th><th>CPU</th><th>loop lag</th><th>redirects/s</th><th>redirects</th></tr></thead>
  <tbody id="edges"></tbody>
</table>
<script>
const $ = (id) => document.getElementById(id);
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const cell = (tr, text, cls) => { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; };
const pct = (x) => (x * 100).toFixed(1) + '%';
const bytes = (n) => n >= 1e9 ? (n / 1e9).toFixed(2) + ' GB' : n >= 1e6 ? (n / 1e6).toFixed(1) + ' MB' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' kB' : n + ' B';
const bits = (n) => n === null ? '-' : n >= 1e6 ? (n / 1e6).toFixed(2) + ' Mb/s' : Math.round(n / 1e3) + ' kb/s';
const age = (s) => s < 60 ? s.toFixed(1) + ' s' : Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';

function renderAlarms(alarms) {
  const list = $('alarms');
  list.replaceChildren(...alarms.map(([kind, text]) => { const li = el('li', text, 'alarm'); li.dataset.kind = kind; return li; }));
  $('no-alarms').hidden = alarms.length > 0;
}

function renderEdges(status, alarms) {
  const body = $('edges');
  body.replaceChildren();
  for (const e of status.edges) {
    const tr = body.insertRow();
    tr.id = 'edge-' + e.id;
    if (e.health === 'down') { tr.className = 'down'; alarms.push(['edge', 'edge ' + e.id + ' down']); }
    const load = e.load, b = e.balance;
    cell(tr, e.id);
    cell(tr, e.url);
    cell(tr, e.weight, 'num');
    cell(tr, e.health, e.health);
    cell(tr, e.drain ? 'drained' : '');
    const share = cell(tr, pct(e.share), 'num');
    const bar = el('span', undefined, 'bar');
    bar.style.width = (e.share * 8) + 'rem';
    share.append(bar);
    cell(tr, load ? load.viewers : '-', 'num');
    cell(tr, load ? bytes(load.bytesPerSecond) + '/s' : '-', 'num');
    cell(tr, load && load.hitRatio !== null ? pct(load.hitRatio) : '-', 'num');
    cell(tr, b ? pct(b.loadShare) : '-', 'num' + (b && b.over ? ' over' : ''));
    cell(tr, b ? pct(b.bound) : '-', 'num');
    cell(tr, b && b.spill > 0 ? pct(b.spill) : '', 'num');
    cell(tr, load ? pct(load.cpu) : '-', 'num');
    cell(tr, load ? load.loopLagMs.toFixed(1) + ' ms' : '-', 'num');
    cell(tr, e.redirectsPerSecond.toFixed(1), 'num');
    cell(tr, e.redirects, 'num');
  }
  for (const e of status.lostEdges) {
    const since = new Date(e.lostAt).toLocaleTimeString();
    const tr = body.insertRow();
    tr.id = 'edge-' + e.id;
    tr.className = 'down lost';
    cell(tr, e.id);
    cell(tr, e.url);
    cell(tr, '-', 'num');
    cell(tr, 'down', 'down');
    cell(tr, 'gone since ' + since);
    alarms.push(['edge', 'edge ' + e.id + ' down (gone from the control plane since ' + since + ')']);
  }
}

function renderStreams(view, status, alarms) {
  const box = $('streams');
  $('origin').textContent = view.origin;
  $('origin').className = view.origin;
  if (view.origin === 'down') alarms.push(['origin', 'origin unreachable' + (view.readAt ? ' (list from ' + new Date(view.readAt).toLocaleTimeString() + ')' : '')]);
  if (view.origin === 'off') return;
  const byEdge = (name) => status.edges.filter((e) => e.load && e.load.streams[name]).map((e) => e.id + ' ' + e.load.streams[name]);
  box.replaceChildren(...(view.streams.length ? [] : [el('p', 'no streams at the origin', 'unknown')]));
  for (const s of view.streams) {
    const section = el('section', undefined, 'stream');
    section.id = 'stream-' + s.name;
    section.dataset.state = s.state;
    const title = el('h3', s.name + ' ');
    title.append(el('span', s.state, 'state ' + s.state));
    section.append(title);
    const newest = Math.min(...s.renditions.map((r) => r.ageSeconds));
    const flow = el('div', undefined, 'flow');
    const stage = (text, cls) => flow.append(el('span', text, 'stage ' + (cls || '')));
    const arrow = () => flow.append(el('span', '\\u2192', 'arrow'));
    stage('ingest: ' + (s.state === 'live' ? 'receiving' : s.state === 'ended' ? 'ended' : 'silent'), s.state);
    arrow();
    stage('transcoder: ' + (s.state === 'stalled' ? 'stalled' : s.state) + ', ' + s.restarts + ' restart' + (s.restarts === 1 ? '' : 's'), s.state);
    arrow();
    stage('origin: ' + s.renditions.length + ' rendition' + (s.renditions.length === 1 ? '' : 's') + (Number.isFinite(newest) ? ', last segment ' + age(newest) + ' ago' : ''));
    arrow();
    const edges = byEdge(s.name);
    stage('edges: ' + (s.viewers === null ? 'no reports' : s.viewers + ' viewer' + (s.viewers === 1 ? '' : 's') + (edges.length ? ' (' + edges.join(', ') + ')' : '')));
    section.append(flow);
    const table = el('table', undefined, 'renditions');
    const head = table.createTHead().insertRow();
    for (const h of ['rendition', 'state', 'media sequence', 'last segment', 'target', 'bitrate (peak)', 'bitrate (average)', 'LL-HLS']) head.append(el('th', h));
    const body = table.createTBody();
    for (const r of s.renditions) {
      const tr = body.insertRow();
      tr.className = 'rendition ' + r.state;
      tr.dataset.path = r.path;
      cell(tr, r.path);
      cell(tr, r.state, r.state);
      cell(tr, r.mediaSequence, 'num');
      cell(tr, age(r.ageSeconds) + ' ago', 'num');
      cell(tr, r.targetDuration + ' s', 'num');
      cell(tr, bits(r.bandwidth), 'num');
      cell(tr, bits(r.averageBandwidth), 'num');
      cell(tr, r.lowLatency ? 'yes' : '');
      if (r.state === 'stalled') alarms.push(['rendition', 'stream ' + s.name + ': rendition ' + r.path + ' stalled, last segment ' + age(r.ageSeconds) + ' ago']);
    }
    section.append(table);
    box.append(section);
  }
}

async function refresh() {
  const alarms = [];
  try {
    const [status, view] = await Promise.all(['/api/status', '/api/streams'].map((u) => fetch(u, { cache: 'no-store' }).then((r) => r.json())));
    $('redis').textContent = status.redis;
    $('redis').className = status.redis;
    if (status.redis === 'down') alarms.push(['redis', 'control plane (Redis) down: the LB routes with what it last knew']);
    $('version').textContent = status.configVersion;
    $('hash').textContent = status.hash;
    $('balance-factor').textContent = status.balanceFactor > 0 ? status.balanceFactor : 'off';
    renderStreams(view, status, alarms);
    renderEdges(status, alarms);
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    alarms.push(['lb', 'LB unreachable: ' + err.message]);
  }
  renderAlarms(alarms);
}
// The next poll a second after the last answer: a slow LB is not asked twice at once.
(async function poll() { await refresh(); setTimeout(poll, 1000); })();
</script>
</body>
</html>
`;

export function statusPageRoutes(): Hono {
  const routes = new Hono();
  routes.get('/', (c) => c.html(STATUS_PAGE, 200, { 'Cache-Control': 'no-store' }));
  return routes;
}
