// `GET /` on the LB: one self-contained page (no outside CDN; LBs often run where that is blocked)
// that polls /api/status every second.
import { Hono } from 'hono';

const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cascade lb</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
  table { border-collapse: collapse; min-width: 60rem; }
  th, td { padding: .35rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .up { color: #137333; } .down { color: #b3261e; font-weight: 600; } .unknown { color: #777; }
  .bar { background: #d2e3fc; height: .8rem; display: inline-block; vertical-align: middle; }
  #meta span { margin-right: 1.5rem; }
</style>
</head>
<body>
<h1>cascade lb</h1>
<p id="meta"><span>control plane: <b id="redis">?</b></span><span>config version: <b id="version">?</b></span><span>hash: <b id="hash">?</b></span><span>balance factor: <b id="balance-factor">?</b></span><span id="updated"></span></p>
<table>
  <thead><tr><th>edge</th><th>url</th><th>weight</th><th>health</th><th>drain</th><th>share</th><th>viewers</th><th>load share</th><th>bound</th><th>passed on</th><th>redirects/s</th><th>redirects</th></tr></thead>
  <tbody id="edges"></tbody>
</table>
<script>
const cell = (tr, text, cls) => { const td = tr.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; };
async function refresh() {
  try {
    const res = await fetch('/api/status', { cache: 'no-store' });
    const s = await res.json();
    document.getElementById('redis').textContent = s.redis;
    document.getElementById('version').textContent = s.configVersion;
    document.getElementById('hash').textContent = s.hash;
    document.getElementById('balance-factor').textContent = s.balanceFactor > 0 ? s.balanceFactor : 'off';
    const body = document.getElementById('edges');
    body.replaceChildren();
    for (const e of s.edges) {
      const tr = body.insertRow();
      tr.id = 'edge-' + e.id;
      cell(tr, e.id);
      cell(tr, e.url);
      cell(tr, e.weight, 'num');
      cell(tr, e.health, e.health);
      cell(tr, e.drain ? 'drained' : '');
      const share = cell(tr, (e.share * 100).toFixed(1) + '% ', 'num');
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.style.width = (e.share * 8) + 'rem';
      share.append(bar);
      const pct = (x) => (x * 100).toFixed(1) + '%';
      cell(tr, e.load ? e.load.viewers : '-', 'num');
      cell(tr, e.balance ? pct(e.balance.loadShare) : '-', 'num' + (e.balance && e.balance.over ? ' down' : ''));
      cell(tr, e.balance ? pct(e.balance.bound) : '-', 'num');
      cell(tr, e.balance && e.balance.spill > 0 ? pct(e.balance.spill) : '', 'num');
      cell(tr, e.redirectsPerSecond.toFixed(1), 'num');
      cell(tr, e.redirects, 'num');
    }
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById('updated').textContent = 'LB unreachable: ' + err.message;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;

export function statusPageRoutes(): Hono {
  const routes = new Hono();
  routes.get('/', (c) => c.html(STATUS_PAGE, 200, { 'Cache-Control': 'no-store' }));
  return routes;
}
