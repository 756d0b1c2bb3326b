// The edge's hook phases with the shipped examples and inline hooks: request, cacheKey, selectOrigin,
// ttl, response, and a failing hook failing only its own request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEdge, type EdgeConfig } from '../edge/index.js';
import { listen } from '../src/serve.js';
import type { EdgeHooks } from '../edge/hooks.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const agent = clientAgent(20);
let origin: FakeOrigin;
let other: FakeOrigin;
before(async () => {
  origin = await startFakeOrigin();
  other = await startFakeOrigin();
  origin.route('/hls/h/a.m3u8', { body: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nx.ts\n' });
  origin.route('/hls/archive-1/a.m3u8', { body: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nx.ts\n' });
  origin.route('/hls/h/x.ts', { body: 'from first' });
  other.route('/hls/h/x.ts', { body: 'from second' });
});
after(async () => { await agent.close(); await origin.close(); await other.close(); });

async function withEdge(hooks: EdgeHooks, fn: (url: string, clock: { now: number }) => Promise<void>, extra: Partial<EdgeConfig> = {}) {
  const clock = { now: 1_000 };
  const edge = createEdge({ id: 'e-hooks', origins: [origin.url, other.url], hooks, hookTimeoutMs: 200, now: () => clock.now, ...extra });
  const server = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  try { await fn(server.url, clock); } finally { await server.close(200); await edge.close(); }
}

const load = async (name: string) => ((await import(new URL(`../examples/${name}`, import.meta.url).href)) as { default: { hooks: EdgeHooks } }).default.hooks;

describe('edge hooks', () => {
  it('request: examples/edge-token.mjs denies without the token, and the token stays out of the cache key', async () => {
    await withEdge(await load('edge-token.mjs'), async (url) => {
      assert.equal((await get(agent, url + '/hls/h/a.m3u8')).status, 403);
      assert.equal((await get(agent, url + '/hls/h/a.m3u8?token=let-me-in')).status, 200);
      assert.equal((await get(agent, url + '/hls/h/a.m3u8', { 'x-token': 'let-me-in' })).headers['x-cache'], 'HIT');
    });
  });

  it('cacheKey: examples/cache-key.mjs splits playlists by ?lang=', async () => {
    await withEdge(await load('cache-key.mjs'), async (url) => {
      const before = origin.count('/hls/h/a.m3u8');
      await get(agent, url + '/hls/h/a.m3u8?lang=de');
      assert.equal((await get(agent, url + '/hls/h/a.m3u8?lang=en')).headers['x-cache'], 'MISS');
      assert.equal((await get(agent, url + '/hls/h/a.m3u8?lang=de')).headers['x-cache'], 'HIT');
      assert.equal(origin.count('/hls/h/a.m3u8'), before + 2, 'the language never goes upstream');
    });
  });

  it('ttl and response: examples/stream-ttl.mjs keeps archive playlists for an hour and adds a header', async () => {
    await withEdge(await load('stream-ttl.mjs'), async (url, clock) => {
      await get(agent, url + '/hls/archive-1/a.m3u8');
      await get(agent, url + '/hls/h/a.m3u8');
      clock.now += 60_000;
      const archived = await get(agent, url + '/hls/archive-1/a.m3u8');
      assert.equal(archived.headers['x-cache'], 'HIT');
      assert.equal(archived.headers['x-cache-detail'], 'HIT');
      assert.equal((await get(agent, url + '/hls/h/a.m3u8')).headers['x-cache'], 'MISS');
    });
  });

  it('selectOrigin: tries origins in the order returned', async () => {
    await withEdge({ selectOrigin: ({ origins }) => origins.map((o) => o.url).reverse() }, async (url) => {
      assert.equal((await get(agent, url + '/hls/h/x.ts')).body.toString(), 'from second');
    });
  });

  it('a hook that throws, times out or returns nonsense fails its request with a 500, and nothing else', async () => {
    await withEdge({
      cacheKey: ({ path }) => {
        if (path === 'x.ts') throw new Error('boom');
        if (path === 'slow.ts') return new Promise((r) => setTimeout(() => r(undefined), 1_000));
        return path === 'odd.ts' ? (42 as unknown as string) : undefined;
      },
    }, async (url) => {
      for (const p of ['x.ts', 'slow.ts', 'odd.ts']) {
        const r = await get(agent, `${url}/hls/h/${p}`);
        assert.equal(r.status, 500, p);
        assert.equal(r.headers['access-control-allow-origin'], '*');
      }
      assert.equal((await get(agent, url + '/hls/h/a.m3u8')).status, 200);
      const metrics = (await get(agent, url + '/metrics')).body.toString();
      assert.match(metrics, /cascade_hook_failures_total\{role="edge",hook="cacheKey",reason="threw"[^}]*\} 1/);
    });
  });
});
