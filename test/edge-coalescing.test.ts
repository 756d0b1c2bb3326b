// Coalescing with read-while-write: one upstream request per key however many clients ask, and every
// waiter gets headers and bytes as the leader does — for a cold miss, an expired playlist and a 404.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createEdge, type Edge } from '../edge/index.js';
import { listen, type Listening } from '../src/serve.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startChild } from './helpers/process.js';
import { gate, startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const CLIENTS = 500;
/**
 * Bound on the spread of first-byte times across all clients, leader included. Writing 500 responses
 * is serial work on one event loop (measured 15–60 ms here, with the clients on the same 2 cores);
 * nginx's cache lock re-checks every 500 ms, which puts its waiters 300–500 ms behind the leader.
 */
const TTFB_SPREAD_MS = 150;

interface BurstResult { status: number; cache: string; sha: string; length: number; complete: boolean; headersAt: number }

describe('edge coalescing', () => {
  let origin: FakeOrigin;
  let edge: Edge;
  let server: Listening;
  let clock = 1_000_000;
  const agent = clientAgent(CLIENTS + 50);
  let arrived = 0;
  let onArrival: (() => void) | undefined;

  before(async () => {
    origin = await startFakeOrigin();
    edge = createEdge({ id: 'edge-t', origins: [origin.url], now: () => clock });
    server = await listen(edge.app, { port: 0, host: '127.0.0.1' });
    server.server.on('request', () => { arrived++; onArrival?.(); });
  });
  after(async () => {
    await agent.close();
    await server.close(1000);
    await edge.close();
    await origin.close();
  });

  /**
   * CLIENTS GETs from a child process (its parsing must not queue behind the edge's work here); the
   * origin answers only once all of them reached the edge (an event, not a sleep).
   */
  async function burst(path: string, originGate: { open: () => void }): Promise<BurstResult[]> {
    arrived = 0;
    const allArrived = new Promise<void>((resolve) => {
      onArrival = () => { if (arrived === CLIENTS) resolve(); };
    });
    const child = startChild(process.execPath, ['--import', 'tsx', new URL('./helpers/edge-burst.ts', import.meta.url).pathname, server.url + path, String(CLIENTS)]);
    await allArrived;
    onArrival = undefined;
    originGate.open();
    const [line] = await child.waitFor(/^\[.*\]$/m, 60_000);
    await child.exited;
    return JSON.parse(line) as BurstResult[];
  }

  function assertCoalesced(t: TestContext, results: BurstResult[], status: number) {
    const outcomes = new Map<string, number>();
    for (const r of results) outcomes.set(r.cache, (outcomes.get(r.cache) ?? 0) + 1);
    assert.equal(outcomes.get('MISS'), 1, `one leader: ${JSON.stringify([...outcomes])}`);
    assert.equal(outcomes.get('COALESCED'), CLIENTS - 1);
    for (const r of results) {
      assert.equal(r.status, status);
      assert.ok(r.complete);
      assert.equal(r.sha, results[0]!.sha, 'byte-identical bodies');
    }
    const times = results.map((r) => r.headersAt);
    const spread = Math.max(...times) - Math.min(...times);
    t.diagnostic(`first-byte spread over ${CLIENTS} clients: ${spread.toFixed(1)} ms`);
    assert.ok(spread < TTFB_SPREAD_MS, `every client's headers within ${TTFB_SPREAD_MS} ms of each other (spread ${spread.toFixed(1)} ms)`);
  }

  it(`${CLIENTS} concurrent GETs of an uncached segment: one upstream request, identical bodies, waiters as fast as the leader`, async (t) => {
    const body = randomBytes(1024 * 1024);
    const g = gate();
    origin.route('/hls/s1/seg1.ts', { body, gate: g.promise, headers: { 'content-type': 'video/mp2t' } });
    const results = await burst('/hls/s1/seg1.ts', g);
    assert.equal(origin.count('/hls/s1/seg1.ts'), 1);
    assertCoalesced(t, results, 200);
    assert.equal(results[0]!.length, body.length);
    assert.equal(results[0]!.sha, createHash('sha256').update(body).digest('hex'));
    const again = await get(agent, server.url + '/hls/s1/seg1.ts');
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.equal(origin.count('/hls/s1/seg1.ts'), 1);
  });

  it('waiters receive body bytes as they arrive, before the upstream body completes', async () => {
    const body = randomBytes(256 * 1024);
    const rest = gate();
    origin.route('/hls/s1/slow.ts', { body, splitAt: 1000, bodyGate: rest.promise });
    const { request } = await import('undici');
    const clients = await Promise.all(Array.from({ length: 20 }, () => request(server.url + '/hls/s1/slow.ts', { dispatcher: agent })));
    // Every client gets the first kilobyte while the origin still holds the rest.
    const firsts = await Promise.all(clients.map(async (c) => {
      const it = c.body[Symbol.asyncIterator]();
      const first = await it.next();
      return { first: first.value as Buffer, it };
    }));
    for (const f of firsts) assert.ok(f.first.length > 0 && f.first.length <= 1000);
    rest.open();
    for (const f of firsts) {
      const chunks = [f.first];
      for (let n = await f.it.next(); !n.done; n = await f.it.next()) chunks.push(n.value as Buffer);
      assert.ok(Buffer.concat(chunks).equals(body));
    }
    assert.equal(origin.count('/hls/s1/slow.ts'), 1);
  });

  it(`an expired playlist is refreshed with one upstream request for ${CLIENTS} clients`, async (t) => {
    let version = 0;
    let g = gate();
    const playlist = () => `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${version}\n#EXTINF:2,\nseg${version}.ts\n`;
    origin.route('/hls/s2/index.m3u8', (_req, res) => {
      version++;
      const text = playlist();
      void g.promise.then(() => res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'content-length': String(Buffer.byteLength(text)) }).end(text));
    });
    g.open();
    const first = await get(agent, server.url + '/hls/s2/index.m3u8');
    assert.equal(first.headers['x-cache'], 'MISS');
    // Default TTL of a media playlist is half its target duration: 1000 ms here.
    clock += 999;
    assert.equal((await get(agent, server.url + '/hls/s2/index.m3u8')).headers['x-cache'], 'HIT');
    clock += 2;
    g = gate();
    const results = await burst('/hls/s2/index.m3u8', g);
    assert.equal(origin.count('/hls/s2/index.m3u8'), 2);
    assertCoalesced(t, results, 200);
    assert.match((await get(agent, server.url + '/hls/s2/index.m3u8')).body.toString(), /MEDIA-SEQUENCE:2/);
  });

  it(`a 404 is coalesced and cached for a second (${CLIENTS} clients, one upstream request)`, async (t) => {
    const g = gate();
    origin.route('/hls/s3/missing.ts', { status: 404, body: 'not here\n', gate: g.promise });
    const results = await burst('/hls/s3/missing.ts', g);
    assert.equal(origin.count('/hls/s3/missing.ts'), 1);
    assertCoalesced(t, results, 404);
    clock += 900;
    assert.equal((await get(agent, server.url + '/hls/s3/missing.ts')).headers['x-cache'], 'HIT');
    clock += 200;
    assert.equal((await get(agent, server.url + '/hls/s3/missing.ts')).headers['x-cache'], 'MISS');
    assert.equal(origin.count('/hls/s3/missing.ts'), 2);
  });
});
