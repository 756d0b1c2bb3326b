// What a client gets from the edge besides coalescing: cut bodies stay cut, failover, stale bounds,
// LRU bounds, ranges, conditionals, methods, paths and the cache key.
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { clientAgent, get, rawGet } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';
import { startTestEdge as startEdge, type EdgeHarness as Harness } from './helpers/edge-harness.js';
import { freePort } from './helpers/process.js';

const agent = clientAgent(100);
after(() => agent.close());

describe('edge: upstream bodies that end early', () => {
  let origin: FakeOrigin;
  let h: Harness;
  before(async () => { origin = await startFakeOrigin(); h = await startEdge({ origins: [origin.url] }); });
  after(async () => { await h.stop(); await origin.close(); });

  for (const chunked of [false, true]) {
    it(`is never cached and never looks complete to anyone streaming it (${chunked ? 'chunked' : 'Content-Length'})`, async () => {
      const path = `/hls/cut/seg-${chunked ? 'c' : 'l'}.ts`;
      const entries = h.edge.cache.entries;
      origin.route(path, { body: randomBytes(200_000), abortAfter: 50_000, chunked, delayMs: 50 });
      const results = await Promise.all(Array.from({ length: 10 }, () => rawGet(h.url + path)));
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.equal(r.complete, false, 'a cut body must not be framed as complete');
        assert.ok(r.body.length < 200_000);
      }
      assert.equal(origin.count(path), 1);
      assert.equal(h.edge.cache.entries, entries);
      origin.route(path, { body: 'whole' });
      const again = await get(agent, h.url + path);
      assert.equal(again.headers['x-cache'], 'MISS');
      assert.equal(again.body.toString(), 'whole');
      assert.equal(origin.count(path), 2);
    });
  }
});

describe('edge: origin failover', () => {
  let a: FakeOrigin;
  let b: FakeOrigin;
  let h: Harness;
  beforeEach(async () => {
    a = await startFakeOrigin();
    b = await startFakeOrigin();
    h = await startEdge({ origins: [a.url, b.url], originRetryMs: 5_000 });
  });
  afterEach(async () => { await h.stop(); await a.close(); await b.close(); });

  it('moves to the next origin on 5xx, skips the failing one for a while, then probes it again', async () => {
    a.route('/hls/f/1.ts', { status: 503, body: 'down' });
    b.route('/hls/f/1.ts', { body: 'from b' });
    const r1 = await get(agent, h.url + '/hls/f/1.ts');
    assert.equal(r1.body.toString(), 'from b');
    assert.equal(a.count('/hls/f/1.ts'), 1);
    b.route('/hls/f/2.ts', { body: 'two from b' });
    a.route('/hls/f/2.ts', { body: 'two from a' });
    assert.equal((await get(agent, h.url + '/hls/f/2.ts')).body.toString(), 'two from b', 'a is benched');
    assert.equal(a.count('/hls/f/2.ts'), 0);
    h.clock.now += 5_001;
    a.route('/hls/f/3.ts', { body: 'three from a' });
    assert.equal((await get(agent, h.url + '/hls/f/3.ts')).body.toString(), 'three from a', 'a is probed again and back');
  });

  it('moves on when an origin refuses connections or times out', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const slow = await startFakeOrigin();
    slow.route('/hls/f/t.ts', { body: 'late', delayMs: 2_000 });
    b.route('/hls/f/t.ts', { body: 'from b' });
    const edge = await startEdge({ origins: [dead, slow.url, b.url], upstreamTimeoutMs: 300 });
    const r = await get(agent, edge.url + '/hls/f/t.ts');
    assert.equal(r.body.toString(), 'from b');
    assert.equal(r.headers['x-cache'], 'MISS');
    await edge.stop();
    await slow.close();
  });

  it('answers 502 when no origin answers and nothing is cached', async () => {
    const edge = await startEdge({ origins: [`http://127.0.0.1:${await freePort()}`] });
    const r = await get(agent, edge.url + '/hls/f/none.ts');
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-cache'], 'ERROR');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    await edge.stop();
  });
});

describe('edge: stale on origin failure', () => {
  let origin: FakeOrigin;
  let h: Harness;
  before(async () => { origin = await startFakeOrigin(); h = await startEdge({ origins: [origin.url], freshness: { segmentStaleMs: 60_000 } }); });
  after(async () => { await h.stop(); await origin.close(); });

  it('serves an expired segment marked STALE within its bound, and not after', async () => {
    origin.route('/hls/st/a.ts', { body: 'segment', headers: { 'cache-control': 'max-age=10' } });
    assert.equal((await get(agent, h.url + '/hls/st/a.ts')).headers['x-cache'], 'MISS');
    origin.route('/hls/st/a.ts', { status: 500, body: 'broken' });
    h.clock.now += 10_000 + 59_000;
    const stale = await get(agent, h.url + '/hls/st/a.ts');
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body.toString(), 'segment');
    h.clock.now += 2_000;
    const gone = await get(agent, h.url + '/hls/st/a.ts');
    assert.equal(gone.status, 500);
    assert.equal(gone.headers['x-cache'], 'ERROR');
  });

  it('serves an expired media playlist for at most one target duration', async () => {
    const text = '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:4,\na.ts\n';
    origin.route('/hls/st/live.m3u8', { body: text });
    await get(agent, h.url + '/hls/st/live.m3u8');
    origin.route('/hls/st/live.m3u8', { status: 502, body: 'bad gateway' });
    // Fresh for half the target duration (2 s), then stale for one target duration (4 s).
    h.clock.now += 2_000 + 3_900;
    const stale = await get(agent, h.url + '/hls/st/live.m3u8');
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body.toString(), text);
    h.clock.now += 200;
    assert.equal((await get(agent, h.url + '/hls/st/live.m3u8')).status, 502);
  });
});

describe('edge: cache bounds', () => {
  let origin: FakeOrigin;
  before(async () => { origin = await startFakeOrigin(); });
  after(() => origin.close());

  it('stays within the cache size under churn, evicting least recently used', async () => {
    const h = await startEdge({ origins: [origin.url], cacheSize: 256 * 1024 });
    for (let i = 0; i < 200; i++) origin.route(`/hls/lru/${i}.ts`, { body: randomBytes(20_000) });
    for (let i = 0; i < 200; i++) {
      // Keep segment 0 hot: it must survive the churn.
      await get(agent, `${h.url}/hls/lru/${i}.ts`);
      assert.equal((await get(agent, `${h.url}/hls/lru/0.ts`)).status, 200);
      assert.ok(h.edge.cache.bytes <= 256 * 1024, `cache holds ${h.edge.cache.bytes} bytes`);
    }
    assert.ok(h.edge.cache.entries >= 10 && h.edge.cache.entries <= 13, `${h.edge.cache.entries} entries`);
    assert.equal(origin.count('/hls/lru/0.ts'), 1);
    assert.equal((await get(agent, `${h.url}/hls/lru/1.ts`)).headers['x-cache'], 'MISS');
    await h.stop();
  });

  it('streams objects above the size limit through without storing them', async () => {
    const h = await startEdge({ origins: [origin.url], maxObjectSize: 10_000 });
    origin.route('/hls/big/x.ts', { body: randomBytes(50_000) });
    for (let i = 1; i <= 2; i++) {
      const r = await get(agent, h.url + '/hls/big/x.ts');
      assert.equal(r.headers['x-cache'], 'PASS');
      assert.equal(r.body.length, 50_000);
      assert.equal(origin.count('/hls/big/x.ts'), i);
    }
    await h.stop();
  });
});

describe('edge: HTTP semantics', () => {
  let origin: FakeOrigin;
  let h: Harness;
  const body = randomBytes(1000);
  before(async () => {
    origin = await startFakeOrigin();
    h = await startEdge({ origins: [origin.url] });
    origin.route('/hls/h/seg.ts', { body, headers: { etag: '"v1"', 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT', 'content-type': 'video/mp2t' } });
    await get(agent, h.url + '/hls/h/seg.ts');
  });
  after(async () => { await h.stop(); await origin.close(); });

  it('adds X-Cache, X-Served-By, Age and CORS', async () => {
    h.clock.now += 3_000;
    const r = await get(agent, h.url + '/hls/h/seg.ts');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(r.headers['x-served-by'], 'edge-d');
    assert.equal(r.headers.age, '3');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['content-type'], 'video/mp2t');
    assert.equal(r.headers['content-length'], '1000');
  });

  it('answers ranges from the cache with 206, and 416 when unsatisfiable', async () => {
    const r = await get(agent, h.url + '/hls/h/seg.ts', { range: 'bytes=100-199' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 100-199/1000');
    assert.ok(r.body.equals(body.subarray(100, 200)));
    const suffix = await get(agent, h.url + '/hls/h/seg.ts', { range: 'bytes=-10' });
    assert.ok(suffix.body.equals(body.subarray(990)));
    const bad = await get(agent, h.url + '/hls/h/seg.ts', { range: 'bytes=5000-' });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */1000');
    assert.equal(origin.count('/hls/h/seg.ts'), 1);
  });

  it('answers conditional requests with 304', async () => {
    assert.equal((await get(agent, h.url + '/hls/h/seg.ts', { 'if-none-match': '"v1"' })).status, 304);
    assert.equal((await get(agent, h.url + '/hls/h/seg.ts', { 'if-none-match': '"v0"' })).status, 200);
    assert.equal((await get(agent, h.url + '/hls/h/seg.ts', { 'if-modified-since': 'Tue, 01 Sep 2026 10:00:00 GMT' })).status, 304);
    assert.equal((await get(agent, h.url + '/hls/h/seg.ts', { 'if-modified-since': 'Mon, 31 Aug 2026 10:00:00 GMT' })).status, 200);
  });

  it('answers HEAD with the headers only', async () => {
    const r = await get(agent, h.url + '/hls/h/seg.ts', {}, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '1000');
    assert.equal(r.body.length, 0);
  });

  it('answers preflight, refuses other methods, other paths and traversal', async () => {
    const { request } = await import('undici');
    const pre = await request(h.url + '/hls/h/seg.ts', { method: 'OPTIONS', headers: { origin: 'http://player', 'access-control-request-method': 'GET' }, dispatcher: agent });
    await pre.body.dump();
    assert.equal(pre.statusCode, 204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    const post = await request(h.url + '/hls/h/seg.ts', { method: 'POST', body: 'x', dispatcher: agent });
    await post.body.dump();
    assert.equal(post.statusCode, 405);
    assert.equal((await get(agent, h.url + '/other/seg.ts')).status, 404);
    for (const target of ['/hls/h/../../etc/passwd', '/hls/h/%2e%2e/seg.ts', '/hls/h//seg.ts', '/hls/a%20b/seg.ts', '/hls/h/']) {
      assert.equal((await rawGet(h.url + '/', {}, target)).status, 400, target);
    }
  });

  it('is not an open proxy: an absolute request target still goes to the configured origin', async () => {
    const other = await startFakeOrigin();
    other.route('/hls/h/seg.ts', { body: 'elsewhere' });
    const r = await rawGet(h.url + '/', {}, `${other.url}/hls/h/seg.ts`);
    assert.ok(r.body.equals(body));
    assert.equal(other.total(), 0);
    await other.close();
  });

  it('keys on the path and LL-HLS parameters only; other query parameters never go upstream', async () => {
    origin.route('/hls/q/live.m3u8', { body: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n' });
    await get(agent, h.url + '/hls/q/live.m3u8?token=a');
    const second = await get(agent, h.url + '/hls/q/live.m3u8?token=b&x=1');
    assert.equal(second.headers['x-cache'], 'HIT');
    await get(agent, h.url + '/hls/q/live.m3u8?_HLS_part=1&token=c&_HLS_msn=7');
    const reordered = await get(agent, h.url + '/hls/q/live.m3u8?_HLS_msn=7&_HLS_part=1');
    assert.equal(reordered.headers['x-cache'], 'HIT');
    assert.deepEqual(origin.seen.filter((p) => p.startsWith('/hls/q/')), ['/hls/q/live.m3u8', '/hls/q/live.m3u8?_HLS_msn=7&_HLS_part=1']);
  });
});

describe('edge: viewer series', () => {
  let origin: FakeOrigin;
  let h: Harness;
  before(async () => { origin = await startFakeOrigin(); h = await startEdge({ origins: [origin.url] }); });
  after(async () => { await h.stop(); await origin.close(); });

  it('counts only streams whose playlist was served with 2xx: 2,000 made-up names create no series', async () => {
    origin.route('/hls/real/index.m3u8', { body: '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n' });
    assert.equal((await get(agent, h.url + '/hls/real/index.m3u8')).status, 200);
    assert.equal((await get(agent, h.url + '/hls/real/index.m3u8')).headers['x-cache'], 'HIT');
    for (let i = 0; i < 2_000; i += 100) {
      const batch = await Promise.all(Array.from({ length: 100 }, (_, j) => get(agent, `${h.url}/hls/madeup${i + j}/x.m3u8`)));
      assert.ok(batch.every((r) => r.status === 404));
    }
    const text = (await get(agent, h.url + '/metrics')).body.toString();
    const series = text.split('\n').filter((l) => l.startsWith('cascade_edge_viewers{'));
    assert.deepEqual(series.map((l) => /stream="([^"]+)"/.exec(l)?.[1]), ['real']);
  });
});
