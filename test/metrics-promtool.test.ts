// Every role's /metrics passes the real `promtool check metrics` (docs/lb.md, "Metrics"), after traffic that
// fills its labelled series: origin uploads and refusals, edge hits, misses and 404s, LB redirects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createOrigin } from '../origin/index.js';
import { createEdge } from '../edge/index.js';
import { createLb } from '../lb/index.js';
import { listen } from '../src/serve.js';
import { rawRequest } from './helpers/raw-http.js';

const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const PLAYLIST = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nseg0.ts\n#EXTINF:2.0,\nseg1.ts\n';

test('promtool check metrics passes on the origin, the edge and the LB', { skip: hasPromtool ? false : 'promtool not installed (apt-get install prometheus)' }, async () => {
  const origin = await createOrigin({ uploadToken: 't0ken' });
  const o = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  const edge = createEdge({ id: 'e1', origins: [o.url] });
  const e = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  const lb = createLb({ edges: [{ id: 'e1', url: e.url, weight: 100 }, { id: 'gone', url: 'http://127.0.0.1:1', weight: 50 }], health: { intervalMs: 0 } });
  const l = await listen(lb.app, { port: 0, host: '127.0.0.1' });
  try {
    const auth = { Authorization: 'Bearer t0ken' };
    for (const name of ['seg0.ts', 'seg1.ts']) assert.equal((await rawRequest(o.port, `/hls/demo/${name}`, { method: 'PUT', body: name.repeat(100), headers: auth })).status, 201);
    assert.equal((await rawRequest(o.port, '/hls/demo/index.m3u8', { method: 'PUT', body: PLAYLIST, headers: auth })).status, 204);
    assert.equal((await rawRequest(o.port, '/hls/demo/seg2.ts', { method: 'PUT', body: 'x' })).status, 401);
    assert.equal((await rawRequest(o.port, '/hls/demo/%2e%2e/x.ts', { method: 'PUT', body: 'x', headers: auth })).status, 400);

    for (const path of ['/hls/demo/index.m3u8', '/hls/demo/index.m3u8', '/hls/demo/seg0.ts', '/hls/demo/seg0.ts', '/hls/demo/missing.ts', '/hls/demo/./x.ts']) {
      await rawRequest(e.port, path);
    }
    await lb.checkHealth();
    for (let i = 0; i < 5; i++) assert.equal((await rawRequest(l.port, '/hls/demo/index.m3u8', { headers: { 'X-Forwarded-For': `192.0.2.${i}` } })).status, 302);
    assert.equal((await rawRequest(l.port, '/hls/demo/../x.ts')).status, 400);
    assert.equal((await rawRequest(l.port, '/hls/demo/x.ts', { method: 'DELETE' })).status, 405);

    for (const [role, port, expect] of [
      ['origin', o.port, /cascade_origin_uploads_total\{/],
      ['edge', e.port, /cascade_edge_requests_total\{[^}]*result="HIT"/],
      ['lb', l.port, /cascade_lb_redirects_total\{/],
    ] as const) {
      const res = await rawRequest(port, '/metrics');
      assert.equal(res.status, 200);
      assert.ok(expect.test(res.body), `${role} has the series of the traffic`);
      const check = promtool(res.body);
      assert.equal(check.status, 0, `promtool check metrics on the ${role}:\n${check.output}`);
    }
  } finally {
    await Promise.all([o.close(1000), e.close(1000), l.close(1000)]);
    await Promise.all([origin.close(), edge.close(), lb.close()]);
  }
});
