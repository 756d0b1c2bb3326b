// The edge's access phase over HTTP (docs/access.md): signed URLs checked before anything is cached or
// fetched, the token never part of the cache key nor sent upstream (N tokens -> one upstream fetch),
// viewers counted by session behind one address, and the fast road and the Hono road agreeing on every
// verdict and counting each request once against the rate limit.
import { after, before, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createEdge, type EdgeConfig } from '../edge/index.js';
import { signPlayback } from '../src/playback-token.js';
import { listen } from '../src/serve.js';
import { newSession } from '../src/session-token.js';
import { formatUrlToken, type UrlToken } from '../src/url-token.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';
import { startTestEdge } from './helpers/edge-harness.js';

const SECRET = 'edge-access-secret-0123456789';
const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n';
const MEDIA = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.ts\n';
const agent = clientAgent(16);
let origin: FakeOrigin;
before(async () => {
  origin = await startFakeOrigin();
  origin.route('/hls/demo/index.m3u8', { body: MASTER, headers: { 'cache-control': 'max-age=5' } });
  origin.route('/hls/demo/low.m3u8', { body: MEDIA, headers: { 'cache-control': 'max-age=1' } });
  origin.route('/hls/demo/seg1.ts', { body: 'segment-one', headers: { 'cache-control': 'max-age=60' } });
});
after(async () => { await agent.close(); await origin.close(); });

const token = (nowMs: number, fields: Partial<UrlToken> = {}, ttlSeconds = 60, secret = SECRET, scope?: string) =>
  formatUrlToken({ ...signPlayback(secret, { stream: 'demo', expiresAt: nowMs / 1000 + ttlSeconds, ...(scope ? { scope } : {}) }), ...fields });
const sample = (metrics: string, line: RegExp) => Number(metrics.split('\n').find((l) => line.test(l))?.split(' ').at(-1) ?? 0);

it('one cached copy serves every token: many signed players, one upstream fetch per object, no token upstream', async () => {
  const seenBefore = origin.total();
  const e = await startTestEdge({ origins: [origin.url], lbUrl: 'http://lb.example', access: { playbackSecrets: [SECRET] } });
  try {
    const players = Array.from({ length: 20 }, (_, i) => token(e.clock.now, { s: newSession([SECRET]) }, 60 + i));
    for (const p of players) {
      const master = await get(agent, `${e.url}/hls/demo/${p}/index.m3u8`);
      assert.equal(master.status, 200);
      // The master's variants lead back through the LB with this player's token.
      assert.equal(master.body.toString().split('\n')[2], `http://lb.example/hls/demo/${p}/low.m3u8`);
      assert.equal((await get(agent, `${e.url}/hls/demo/${p}/low.m3u8`)).status, 200);
      const seg = await get(agent, `${e.url}/hls/demo/${p}/seg1.ts`);
      assert.equal(seg.body.toString(), 'segment-one');
    }
    assert.equal(origin.count('/hls/demo/index.m3u8'), 1);
    assert.equal(origin.count('/hls/demo/low.m3u8'), 1);
    assert.equal(origin.count('/hls/demo/seg1.ts'), 1);
    assert.deepEqual(origin.seen.slice(seenBefore).filter((p) => p.includes('~')), [], 'no token went upstream');
    assert.equal(e.edge.cache.entries, 3);
    // Twenty sessions behind one address are twenty viewers.
    assert.equal(sample(await (await get(agent, `${e.url}/metrics`)).body.toString(), /^cascade_edge_viewers\{stream="demo"/), 20);
  } finally {
    await e.stop();
  }
});

it('missing, expired, forged and out-of-scope URLs: 403 with the reason, before anything is fetched or cached; counted', async () => {
  const seenBefore = origin.total();
  const e = await startTestEdge({ origins: [origin.url], access: { playbackSecrets: [SECRET] } });
  try {
    const now = e.clock.now;
    const cases: [string, string][] = [
      ['/hls/demo/seg1.ts', 'missing'],
      [`/hls/demo/${token(now, {}, -5)}/seg1.ts`, 'expired'],
      [`/hls/demo/${token(now, {}, 60, 'another-secret-0123456789')}/seg1.ts`, 'bad-signature'],
      [`/hls/demo/${token(now, {}, 60, SECRET, '203.0.113.0/24')}/seg1.ts`, 'scope'],
      ['/hls/demo/~e1~kshort/seg1.ts', 'malformed'],
    ];
    for (const [target, reason] of cases) {
      for (const method of ['GET', 'HEAD'] as const) {
        const res = await get(agent, e.url + target, {}, method);
        assert.equal(res.status, 403, `${method} ${target}`);
        assert.equal(res.headers['x-cascade-denied'], reason);
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers['access-control-allow-origin'], '*');
      }
    }
    assert.equal(origin.total(), seenBefore, 'nothing was fetched');
    assert.equal(e.edge.cache.entries, 0, 'nothing was cached');
    // The token expires while the player holds it: refused from then on, though the segment is cached.
    const p = token(now, {}, 10);
    assert.equal((await get(agent, `${e.url}/hls/demo/${p}/seg1.ts`)).status, 200);
    assert.equal((await get(agent, `${e.url}/hls/demo/${p}/seg1.ts`)).headers['x-cache'], 'HIT');
    e.clock.now += 10_000;
    assert.equal((await get(agent, `${e.url}/hls/demo/${p}/seg1.ts`)).headers['x-cascade-denied'], 'expired');
    const metrics = (await get(agent, `${e.url}/metrics`)).body.toString();
    assert.equal(sample(metrics, /^cascade_access_denied_total\{reason="expired"/), 3);
    assert.equal(sample(metrics, /^cascade_access_denied_total\{reason="missing"/), 2);
  } finally {
    await e.stop();
  }
});

it('rotation: URLs signed with either configured secret play', async () => {
  const e = await startTestEdge({ origins: [origin.url], access: { playbackSecrets: ['new-secret-0123456789', SECRET] } });
  try {
    for (const secret of ['new-secret-0123456789', SECRET]) {
      assert.equal((await get(agent, `${e.url}/hls/demo/${token(e.clock.now, {}, 60, secret)}/seg1.ts`)).status, 200, secret);
    }
  } finally {
    await e.stop();
  }
});

it('without signed URLs a token is only stripped: sessions count viewers, the address counts the rest', async () => {
  const e = await startTestEdge({ origins: [origin.url] });
  try {
    for (const s of ['AAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBB', 'BBBBBBBBBBBBBBBB']) {
      assert.equal((await get(agent, `${e.url}/hls/demo/~s${s}/low.m3u8`)).status, 200);
    }
    await get(agent, `${e.url}/hls/demo/low.m3u8`);
    await get(agent, `${e.url}/hls/demo/low.m3u8`);
    const metrics = (await get(agent, `${e.url}/metrics`)).body.toString();
    assert.equal(sample(metrics, /^cascade_edge_viewers\{stream="demo"/), 3, 'two sessions and one address');
  } finally {
    await e.stop();
  }
});

it('the fast road and the Hono road give every request the same verdict, and count it once against the rate limit', async () => {
  const step = fc.record({
    path: fc.constantFrom('low.m3u8', 'seg1.ts', 'index.m3u8'),
    token: fc.constantFrom('none', 'good', 'expired', 'forged', 'session'),
    advanceMs: fc.constantFrom(0, 0, 0, 400, 1500),
  });
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), fc.integer({ min: 2, max: 6 }), async (steps, limit) => {
    const clock = { now: 2_000_000_000 };
    const config: EdgeConfig = {
      id: 'twin', origins: [origin.url], now: () => clock.now,
      access: { playbackSecrets: [SECRET], rate: { limit, windowMs: 1000 } },
    };
    const fast = createEdge(config);
    const slow = createEdge({ ...config, use: [async (_c, next) => { await next(); }] });
    const servers = await Promise.all([fast, slow].map((edge) => listen(edge.app, { port: 0, host: '127.0.0.1' })));
    try {
      for (const s of steps) {
        clock.now += s.advanceMs;
        const t = s.token === 'none' ? '' : s.token === 'good' ? `${token(clock.now)}/` : s.token === 'expired' ? `${token(clock.now, {}, -1)}/`
          : s.token === 'forged' ? `${token(clock.now, {}, 60, 'forger-secret-0123456789')}/` : `${token(clock.now, { s: newSession([SECRET]) })}/`;
        const target = `/hls/demo/${t}${s.path}`;
        const [a, b] = await Promise.all(servers.map((server) => get(agent, server.url + target)));
        assert.equal(a!.status, b!.status, target);
        for (const name of ['x-cascade-denied', 'retry-after', 'x-cache']) assert.equal(a!.headers[name], b!.headers[name], `${name}: ${target}`);
        assert.ok([200, 403, 429].includes(a!.status), `${a!.status} ${target}`);
      }
      const metrics = await Promise.all(servers.map(async (server) => (await get(agent, `${server.url}/metrics`)).body.toString()));
      assert.equal(sample(metrics[0]!, /^cascade_access_denied_total\{reason="rate"/), sample(metrics[1]!, /^cascade_access_denied_total\{reason="rate"/));
    } finally {
      await Promise.all(servers.map((server) => server.close(200)));
      await Promise.all([fast.close(), slow.close()]);
    }
  }), { numRuns: 25 });
});
