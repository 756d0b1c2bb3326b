// The fast hit path (edge/fresh-hit.ts, before Hono) and serveStream classify with the same
// RequestClassifier: an edge that takes the fast path and one that cannot (operator middleware turns it
// off) must answer every sequence of requests alike — drain redirects, cache keys, hits and their
// master views, conditionals and ranges — while the clock moves entries from fresh to expired. The fast
// edge listens with its raw-socket fast path too (src/fast-http.ts), as `cascade edge` runs it, behind
// --trust-proxy: viewers (who counts, by X-Forwarded-For) and request counts must come out the same.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEdge } from '../edge/index.js';
import { listen } from '../src/serve.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const agent = clientAgent(8);
let origin: FakeOrigin;
before(async () => {
  origin = await startFakeOrigin();
  origin.route('/hls/s/index.m3u8', { body: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.ts\n', headers: { 'cache-control': 'max-age=2' } });
  origin.route('/hls/s/master.m3u8', { body: '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n', headers: { 'cache-control': 'max-age=2' } });
  origin.route('/hls/s/seg1.ts', { body: 'segment-one', headers: { etag: '"v1"', 'cache-control': 'max-age=5' } });
});
after(async () => { await agent.close(); await origin.close(); });

it('the fast hit path and serveStream answer alike (fast-check over requests, clock steps and drain)', async () => {
  const step = fc.oneof(
    fc.record({
      path: fc.constantFrom('index.m3u8', 'master.m3u8', 'seg1.ts', 'gone.ts'),
      query: fc.constantFrom('', '?token=a', '?_HLS_msn=4&token=b', '?_HLS_msn=4', '?_HLS_skip=YES&_HLS_msn=4'),
      headers: fc.record({
        range: fc.constantFrom('bytes=0-3', 'bytes=99-'), 'if-none-match': fc.constantFrom('"v1"', '"v0"'),
        'x-forwarded-for': fc.constantFrom('192.0.2.1', '192.0.2.2', '10.0.0.1, 192.0.2.3'),
        // A new connection: the raw path answers its hits (a kept-alive one is Node's after its first miss).
        connection: fc.constant('close'),
      }, { requiredKeys: [] }),
    }),
    fc.record({ advanceMs: fc.integer({ min: 0, max: 6_000 }) }),
    // SIGTERM: playlists already cached must now be redirected, on both paths.
    fc.constant({ drain: true as const }),
  );
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
    const clock = { now: 1_000_000 };
    const config = { id: 'twin', origins: [origin.url], lbUrl: 'http://lb.example', now: () => clock.now, trustProxyHops: 1 };
    const fast = createEdge(config);
    const slow = createEdge({ ...config, use: [async (_c, next) => { await next(); }] });
    assert.ok(fast.fastPath && !slow.fastPath);
    const servers = await Promise.all([fast, slow].map((e) => listen(e.app, { port: 0, host: '127.0.0.1', ...(e.fastPath ? { fastPath: e.fastPath } : {}) })));
    try {
      for (const s of steps) {
        if ('advanceMs' in s) {
          clock.now += s.advanceMs;
          continue;
        }
        if ('drain' in s) {
          await Promise.all([fast.beginShutdown!(), slow.beginShutdown!()]);
          continue;
        }
        const target = `/hls/s/${s.path}${s.query}`;
        const [a, b] = await Promise.all(servers.map((server) => get(agent, server.url + target, s.headers)));
        const what = `${target} ${JSON.stringify(s.headers)}`;
        for (const name of ['x-cache', 'location', 'etag', 'content-range', 'content-length']) assert.equal(a!.headers[name], b!.headers[name], `${name}: ${what}`);
        assert.equal(a!.status, b!.status, what);
        assert.deepEqual(a!.body, b!.body, what);
      }
      assert.deepEqual(fast.cache.entries, slow.cache.entries);
      const counted = async (e: typeof fast) => (await e.metrics.registry.metrics()).split('\n').filter((l) => /^cascade_edge_(viewers|requests_total)\{/.test(l)).sort();
      assert.deepEqual(await counted(fast), await counted(slow));
    } finally {
      await Promise.all(servers.map((server) => server.close(200)));
      await Promise.all([fast.close(), slow.close()]);
    }
  }), { numRuns: 150 });
});

it('the raw-socket fast path only for an edge whose access phase counts and refuses nothing', () => {
  const base = { id: 'gate', origins: [origin.url] };
  const open = [createEdge(base), createEdge({ ...base, trustProxyHops: 1 })];
  const guarded = [
    createEdge({ ...base, access: { playbackSecrets: ['0123456789abcdef0123'] } }),
    createEdge({ ...base, access: { rate: { limit: 50, windowMs: 1000 } } }),
    createEdge({ ...base, use: [async (_c, next) => { await next(); }] }),
    createEdge({ ...base, hooks: { request: () => undefined } }),
  ];
  try {
    assert.ok(open.every((e) => e.fastPath !== undefined));
    assert.deepEqual(guarded.map((e) => e.fastPath), guarded.map(() => undefined));
  } finally {
    for (const e of [...open, ...guarded]) void e.close();
  }
});

it('a playlist hit answered on the raw socket counts its viewer (X-Forwarded-For behind --trust-proxy) and its request as the Hono road does', async () => {
  const edge = createEdge({ id: 'raw-viewers', origins: [origin.url], trustProxyHops: 1 });
  const fastPath = edge.fastPath!;
  let raw = 0;
  const server = await listen(edge.app, { port: 0, host: '127.0.0.1', fastPath: (req) => fastPath(req) && ++raw > 0 });
  try {
    for (const xff of [undefined, '192.0.2.1', '10.0.0.1, 192.0.2.2', '192.0.2.1']) {
      // A new connection each: the first request on one is the raw path's to answer.
      const r = await get(agent, `${server.url}/hls/s/index.m3u8`, { connection: 'close', ...(xff ? { 'x-forwarded-for': xff } : {}) });
      assert.equal(r.status, 200);
    }
    assert.equal(raw, 3, 'the three hits went out on the raw socket');
    const page = await edge.metrics.registry.metrics();
    assert.match(page, /cascade_edge_viewers\{stream="s"[^}]*\} 3\n/, 'the socket address and two forwarded clients');
    assert.match(page, /cascade_edge_requests_total\{result="HIT"[^}]*\} 3\n/);
  } finally {
    await server.close(200);
    await edge.close();
  }
});

it('a request repeated byte for byte on one connection is redirected once the edge drains, though its hits were answered from what the raw path kept of it', async () => {
  const edge = createEdge({ id: 'raw-repeat', origins: [origin.url], lbUrl: 'http://lb.example' });
  const fastPath = edge.fastPath!;
  let raw = 0;
  const server = await listen(edge.app, { port: 0, host: '127.0.0.1', fastPath: (req) => fastPath(req) && ++raw > 0 });
  const one = clientAgent(1);
  try {
    const statuses: number[] = [];
    // A miss (Node's road), then hits on the raw socket: the second is the same head again, answered
    // from what the raw path kept of the first.
    for (let i = 0; i < 3; i++) statuses.push((await get(one, `${server.url}/hls/s/index.m3u8`)).status);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(raw, 2);
    await edge.beginShutdown!();
    const drained = await get(one, `${server.url}/hls/s/index.m3u8`);
    assert.equal(drained.status, 302);
    assert.equal(drained.headers.location, 'http://lb.example/hls/s/index.m3u8');
    assert.equal(raw, 2, 'the drain redirect is not a raw hit');
    // Segments are not redirected by a draining edge: still a hit, on the raw socket.
    for (let i = 0; i < 3; i++) assert.equal((await get(one, `${server.url}/hls/s/seg1.ts`)).status, 200);
    assert.equal(raw, 4);
  } finally {
    await one.close();
    await server.close(200);
    await edge.close();
  }
});
