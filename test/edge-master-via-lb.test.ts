// The edge serving masters with their variant URIs through the LB (--lb, --master-via-lb): what every
// delivery path (miss, coalesced waiters, fast hit, hooked hit, HEAD, 304, 206) sends for the rewritten
// body, and what it must leave alone (media playlists, segments, cut bodies, the option off).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createEdge, type Edge, type EdgeConfig } from '../edge/index.js';
import { listen, type Listening } from '../src/serve.js';
import { clientAgent, get, rawGet } from './helpers/edge-client.js';
import { gate, startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const LB = 'http://lb.test:8080';
const MASTER = '#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=400000\n240p/index.m3u8\n';
const VIA_LB = `#EXTM3U\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n${LB}/hls/s/360p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=400000\n${LB}/hls/s/240p/index.m3u8\n`;
const MEDIA = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg1.ts\n';
const ORIGIN_HEADERS = { 'cache-control': 'max-age=5', etag: '"o-1"', 'last-modified': 'Tue, 01 Jul 2025 10:00:00 GMT' };

interface Harness { edge: Edge; server: Listening; url: string; stop(): Promise<void> }

async function startEdge(config: Partial<EdgeConfig> & { origins: string[] }): Promise<Harness> {
  const edge = createEdge({ id: 'edge-m', ...config });
  const server = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  return { edge, server, url: server.url, async stop() { await server.close(500); await edge.close(); } };
}

const agent = clientAgent(50);
after(() => agent.close());

describe('edge: masters through the LB', () => {
  let origin: FakeOrigin;
  let h: Harness;
  before(async () => {
    origin = await startFakeOrigin();
    origin.route('/hls/s/index.m3u8', { headers: ORIGIN_HEADERS, body: MASTER });
    origin.route('/hls/s/360p/index.m3u8', { headers: { 'cache-control': 'max-age=1' }, body: MEDIA });
    origin.route('/hls/s/360p/seg1.ts', { body: 'segment bytes' });
    h = await startEdge({ origins: [origin.url], lbUrl: LB });
  });
  after(async () => { await h.stop(); await origin.close(); });

  it('rewrites the master on a miss and on hits, with its own length and validator', async () => {
    const miss = await get(agent, `${h.url}/hls/s/index.m3u8`);
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(miss.body.toString(), VIA_LB);
    assert.equal(miss.headers['content-length'], String(Buffer.byteLength(VIA_LB)));
    assert.match(String(miss.headers.etag), /^"lb-/);
    assert.equal(miss.headers['last-modified'], ORIGIN_HEADERS['last-modified']);
    assert.equal(miss.headers['cache-control'], 'max-age=5');
    const hit = await rawGet(`${h.url}/hls/s/index.m3u8`);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.complete);
    assert.equal(hit.body.toString(), VIA_LB);
    assert.equal(hit.headers['content-length'], String(Buffer.byteLength(VIA_LB)));
    assert.equal(hit.headers.etag, miss.headers.etag);
    assert.equal(origin.count('/hls/s/index.m3u8'), 1);
  });

  it('answers conditionals, ranges and HEAD for the rewritten bytes', async () => {
    const { headers } = await get(agent, `${h.url}/hls/s/index.m3u8`);
    const etag = String(headers.etag);
    assert.equal((await get(agent, `${h.url}/hls/s/index.m3u8`, { 'if-none-match': etag })).status, 304);
    const stale = await get(agent, `${h.url}/hls/s/index.m3u8`, { 'if-none-match': ORIGIN_HEADERS.etag });
    assert.equal(stale.status, 200, "the origin's validator is not the rewritten body's");
    assert.equal(stale.body.toString(), VIA_LB);
    const range = await get(agent, `${h.url}/hls/s/index.m3u8`, { range: 'bytes=-40' });
    assert.equal(range.status, 206);
    assert.equal(range.body.toString(), VIA_LB.slice(-40));
    const total = Buffer.byteLength(VIA_LB);
    assert.equal(range.headers['content-range'], `bytes ${total - 40}-${total - 1}/${total}`);
    const ifRange = await get(agent, `${h.url}/hls/s/index.m3u8`, { range: 'bytes=0-6', 'if-range': etag });
    assert.equal(ifRange.body.toString(), '#EXTM3U');
    const head = await get(agent, `${h.url}/hls/s/index.m3u8`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(total));
    assert.equal(head.headers.etag, etag);
    assert.equal(head.body.length, 0);
  });

  it('carries the query the player sent on the master, from one cached copy', async () => {
    const before = origin.count('/hls/s/index.m3u8');
    const a = await get(agent, `${h.url}/hls/s/index.m3u8?token=abc`);
    const b = await get(agent, `${h.url}/hls/s/index.m3u8?token=xyz`);
    assert.match(a.body.toString(), new RegExp(`^${LB}/hls/s/360p/index\\.m3u8\\?token=abc$`, 'm'));
    assert.match(b.body.toString(), new RegExp(`^${LB}/hls/s/240p/index\\.m3u8\\?token=xyz$`, 'm'));
    assert.notEqual(a.headers.etag, b.headers.etag);
    assert.equal(origin.count('/hls/s/index.m3u8'), before, 'the token splits neither the cache nor reaches the origin');
  });

  it('leaves media playlists and segments as the origin sent them', async () => {
    const media = await get(agent, `${h.url}/hls/s/360p/index.m3u8`);
    assert.equal(media.body.toString(), MEDIA);
    assert.equal((await get(agent, `${h.url}/hls/s/360p/index.m3u8`)).body.toString(), MEDIA);
    assert.equal((await get(agent, `${h.url}/hls/s/360p/seg1.ts`)).body.toString(), 'segment bytes');
  });

  it('gives every coalesced waiter the rewritten master once the body is whole', async () => {
    const body = gate();
    origin.route('/hls/slow/index.m3u8', { body: MASTER.replaceAll('/hls/s/', '/hls/slow/'), splitAt: 30, bodyGate: body.promise, delayMs: 20 });
    const waiting = Array.from({ length: 5 }, () => rawGet(`${h.url}/hls/slow/index.m3u8`));
    setTimeout(body.open, 150);
    const results = await Promise.all(waiting);
    for (const r of results) {
      assert.ok(r.complete);
      assert.equal(r.body.toString(), VIA_LB.replaceAll('/hls/s/', '/hls/slow/'));
      assert.equal(r.headers['content-length'], String(r.body.length));
    }
    assert.equal(origin.count('/hls/slow/index.m3u8'), 1);
  });

  it('never rewrites, nor completes, a master the origin cut short', async () => {
    origin.route('/hls/cut/index.m3u8', { body: MASTER, abortAfter: 60 });
    const results = await Promise.all([rawGet(`${h.url}/hls/cut/index.m3u8`), rawGet(`${h.url}/hls/cut/index.m3u8`)]);
    for (const r of results) {
      assert.equal(r.complete, false, 'a cut master must not look complete');
      assert.ok(!r.body.toString().includes(LB));
      assert.ok(r.body.length <= 60);
    }
  });
});

describe('edge: masters as the origin wrote them', () => {
  let origin: FakeOrigin;
  before(async () => {
    origin = await startFakeOrigin();
    origin.route('/hls/s/index.m3u8', { headers: ORIGIN_HEADERS, body: MASTER });
  });
  after(() => origin.close());

  for (const [what, config] of [['--no-master-via-lb', { lbUrl: LB, masterViaLb: false }], ['no --lb', {}]] as const) {
    it(`with ${what}`, async () => {
      const h = await startEdge({ origins: [origin.url], ...config });
      try {
        for (const r of [await get(agent, `${h.url}/hls/s/index.m3u8`), await get(agent, `${h.url}/hls/s/index.m3u8`)]) {
          assert.equal(r.body.toString(), MASTER);
          assert.equal(r.headers.etag, ORIGIN_HEADERS.etag);
        }
      } finally {
        await h.stop();
      }
    });
  }

  it('through the hooked delivery path too (a response hook sees the rewritten headers)', async () => {
    const seen: string[] = [];
    const h = await startEdge({
      origins: [origin.url], lbUrl: LB,
      hooks: { response: ({ headers }) => { seen.push(headers.get('etag') ?? ''); headers.set('x-hooked', '1'); } },
    });
    try {
      const miss = await get(agent, `${h.url}/hls/s/index.m3u8`);
      const hit = await get(agent, `${h.url}/hls/s/index.m3u8`);
      assert.equal(hit.headers['x-cache'], 'HIT');
      for (const r of [miss, hit]) {
        assert.equal(r.body.toString(), VIA_LB);
        assert.equal(r.headers['x-hooked'], '1');
      }
      assert.deepEqual(seen, [miss.headers.etag, miss.headers.etag]);
    } finally {
      await h.stop();
    }
  });
});
