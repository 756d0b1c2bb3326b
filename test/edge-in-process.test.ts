// The edge answers in-process (`app.request`, no socket) with a plain web Response: the same status,
// headers and bytes a player gets over a socket, for hits, misses, 304, 206, 416, HEAD, redirects and
// bad targets, and a cut body stays cut.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createEdge, type Edge } from '../edge/index.js';
import { listen, type Listening } from '../src/serve.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2,\nseg1.ts\n';
const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n';
const SEGMENT = randomBytes(50_000);
const ETAG = '"seg-v1"';

let origin: FakeOrigin;
before(async () => {
  origin = await startFakeOrigin();
  origin.route('/hls/s/index.m3u8', { body: PLAYLIST, headers: { 'content-type': 'application/vnd.apple.mpegurl' } });
  origin.route('/hls/s/master.m3u8', { body: MASTER, headers: { 'content-type': 'application/vnd.apple.mpegurl' } });
  origin.route('/hls/s/seg1.ts', { body: SEGMENT, headers: { etag: ETAG, 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT', 'cache-control': 'max-age=600' } });
  origin.route('/hls/s/slow.ts', { body: SEGMENT, delayMs: 20, splitAt: 1_000, bodyGate: new Promise((r) => setTimeout(r, 50)) });
  origin.route('/hls/s/cookie.ts', { body: 'c', headers: { 'set-cookie': ['a=1', 'b=2'] } });
});
after(async () => { await origin.close(); });

describe('edge in-process (app.request)', () => {
  let edge: Edge;
  const clock = { now: 1_000_000 };
  before(() => { edge = createEdge({ id: 'e-in', origins: [origin.url], now: () => clock.now, lbUrl: 'http://lb.example' }); });
  after(async () => { await edge.close(); });

  it('a miss, then a hit, with the body and the edge headers', async () => {
    const miss = await edge.app.request('/hls/s/seg1.ts');
    assert.equal(miss.status, 200);
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    assert.equal(miss.headers.get('x-served-by'), 'e-in');
    assert.equal(miss.headers.get('access-control-allow-origin'), '*');
    assert.match(miss.headers.get('access-control-expose-headers') ?? '', /X-Cache/);
    assert.equal(miss.headers.get('content-length'), String(SEGMENT.length));
    assert.deepEqual(Buffer.from(await miss.arrayBuffer()), SEGMENT);
    const hit = await edge.app.request('/hls/s/seg1.ts');
    assert.equal(hit.status, 200);
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.deepEqual(Buffer.from(await hit.arrayBuffer()), SEGMENT);
  });

  it('a body still arriving is streamed to the Response as it comes', async () => {
    const res = await edge.app.request('/hls/s/slow.ts');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cache'), 'MISS');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), SEGMENT);
  });

  it('a body the origin cuts short errors the Response body: never a complete-looking short body', async () => {
    origin.route('/hls/s/cut.ts', { body: randomBytes(100_000), abortAfter: 10_000, delayMs: 10 });
    const res = await edge.app.request('/hls/s/cut.ts');
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
  });

  it('If-None-Match -> 304 without a body; Range -> 206; an unsatisfiable range -> 416', async () => {
    const notModified = await edge.app.request('/hls/s/seg1.ts', { headers: { 'if-none-match': ETAG } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.get('etag'), ETAG);
    assert.equal((await notModified.arrayBuffer()).byteLength, 0);
    const partial = await edge.app.request('/hls/s/seg1.ts', { headers: { range: 'bytes=10-19' } });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers.get('content-range'), `bytes 10-19/${SEGMENT.length}`);
    assert.deepEqual(Buffer.from(await partial.arrayBuffer()), SEGMENT.subarray(10, 20));
    const unsatisfiable = await edge.app.request('/hls/s/seg1.ts', { headers: { range: `bytes=${SEGMENT.length + 5}-` } });
    assert.equal(unsatisfiable.status, 416);
  });

  it('HEAD: the headers of the GET, no body', async () => {
    const res = await edge.app.request('/hls/s/seg1.ts', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(SEGMENT.length));
    assert.equal(res.headers.get('x-cache'), 'HIT');
    assert.equal(res.body, null);
  });

  it('a bad path is a 400, another method a 405, and the Set-Cookie lines reach the fetching request only', async () => {
    for (const target of ['/hls/s/../x/seg1.ts', '/hls/s/%2e%2e/seg1.ts', '/hls/bad name/a.ts']) {
      const res = await edge.app.request(target);
      assert.equal(res.status, 400, target);
    }
    assert.equal((await edge.app.request('/hls/s/seg1.ts', { method: 'PUT', body: 'x' })).status, 405);
    const first = await edge.app.request('/hls/s/cookie.ts');
    assert.deepEqual(first.headers.getSetCookie(), ['a=1', 'b=2']);
    const second = await edge.app.request('/hls/s/cookie.ts');
    assert.deepEqual(second.headers.getSetCookie(), []);
  });

  it('a master goes out through the LB; while draining a playlist is redirected there', async () => {
    const master = await edge.app.request('/hls/s/master.m3u8?token=t');
    assert.equal(master.status, 200);
    assert.match(await master.text(), /^http:\/\/lb\.example\/hls\/s\/low\.m3u8\?token=t$/m);
    await edge.beginShutdown!();
    const redirected = await edge.app.request('/hls/s/index.m3u8?token=t');
    assert.equal(redirected.status, 302);
    assert.equal(redirected.headers.get('location'), 'http://lb.example/hls/s/index.m3u8?token=t');
    assert.equal(redirected.headers.get('x-cache'), 'REDIRECT');
    assert.equal((await edge.app.request('/hls/s/seg1.ts')).status, 200, 'segments are still served while draining');
  });
});

describe('edge in-process vs over a socket', () => {
  const agent = clientAgent(8);
  let inProcess: Edge;
  let socketEdge: Edge;
  let server: Listening;
  /** The same edge behind the raw-socket fast path (src/fast-http.ts), as `cascade edge` runs it. */
  let fastEdge: Edge;
  let fastServer: Listening;
  let fastTwin: Edge;
  before(async () => {
    inProcess = createEdge({ id: 'twin', origins: [origin.url] });
    fastTwin = createEdge({ id: 'twin', origins: [origin.url] });
    socketEdge = createEdge({ id: 'twin', origins: [origin.url] });
    server = await listen(socketEdge.app, { port: 0, host: '127.0.0.1' });
    fastEdge = createEdge({ id: 'twin', origins: [origin.url] });
    assert.ok(fastEdge.fastPath);
    fastServer = await listen(fastEdge.app, { port: 0, host: '127.0.0.1', fastPath: fastEdge.fastPath });
  });
  after(async () => {
    await agent.close();
    await server.close(200);
    await fastServer.close(200);
    await inProcess.close();
    await socketEdge.close();
    await fastEdge.close();
    await fastTwin.close();
  });

  /** What both must agree on: everything but the connection's own fields and the clocks. */
  const comparable = (headers: [string, string][]): Record<string, string> =>
    Object.fromEntries(headers.filter(([name]) => !['date', 'age', 'connection', 'keep-alive', 'transfer-encoding'].includes(name)));
  const entriesOf = (headers: Headers) => {
    const out: [string, string][] = [];
    headers.forEach((value, name) => out.push([name, value]));
    return out;
  };

  async function assertAlike(base: string, twin: Edge, path: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<void> {
    const viaSocket = await get(agent, base + path, headers, method);
    const viaApp = await twin.app.request(path, { method, headers });
    const what = `${method} ${path} ${JSON.stringify(headers)}`;
    assert.equal(viaApp.status, viaSocket.status, what);
    const body = Buffer.from(await viaApp.arrayBuffer());
    const appHeaders = comparable(entriesOf(viaApp.headers));
    const socketHeaders = comparable(Object.entries(viaSocket.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)] as [string, string]));
    // A web Response's length is its body's; @hono/node-server writes it as Content-Length on the socket.
    if (appHeaders['content-length'] === undefined && socketHeaders['content-length'] !== undefined && method === 'GET') appHeaders['content-length'] = String(body.length);
    assert.deepEqual(appHeaders, socketHeaders, what);
    assert.deepEqual(body, viaSocket.body, what);
  }

  it('plain GETs, misses then fresh hits (the fast paths), alike on every path', async () => {
    for (const path of ['/hls/s/seg1.ts', '/hls/s/index.m3u8', '/hls/s/master.m3u8', '/hls/s/none.ts', '/hls/s/seg1.ts?x=1&_HLS_msn=3']) {
      for (let i = 0; i < 3; i++) {
        await assertAlike(server.url, inProcess, path, 'GET', {});
        await assertAlike(fastServer.url, fastTwin, path, 'GET', {});
      }
    }
  });

  it('answer every request alike: status, headers and bytes (fast-check over paths, methods and request headers)', async () => {
    const request = fc.record({
      path: fc.constantFrom('/hls/s/seg1.ts', '/hls/s/index.m3u8', '/hls/s/master.m3u8', '/hls/s/none.ts', '/hls/s/seg1.ts?x=1&_HLS_msn=3', '/hls/bad!/a.ts', '/hls/%41/a.ts'),
      method: fc.constantFrom('GET' as const, 'HEAD' as const),
      headers: fc.record({
        range: fc.constantFrom('bytes=0-9', 'bytes=5-', `bytes=${SEGMENT.length}-`, 'bytes=-3'),
        'if-none-match': fc.constantFrom(ETAG, '"other"'),
        'if-modified-since': fc.constantFrom('Tue, 01 Sep 2026 10:00:00 GMT', 'Mon, 01 Jan 2024 00:00:00 GMT'),
      }, { requiredKeys: [] }),
    });
    await fc.assert(fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), async (requests) => {
      const pairs = [[server.url, inProcess], [fastServer.url, fastTwin]] as const;
      for (const [{ path, method, headers }, [base, twin]] of requests.flatMap((r) => pairs.map((p) => [r, p] as const))) {
        await assertAlike(base, twin, path, method, headers);
      }
    }), { numRuns: 30 });
  });
});

describe('edge hooks, in-process', () => {
  it('selectOrigin can only choose configured origins, even after adding one to its own context: never an open proxy', async () => {
    const elsewhere = await startFakeOrigin();
    elsewhere.route('/hls/s/seg1.ts', { body: 'not ours' });
    const pick = [elsewhere.url, `${elsewhere.url}/`, 'file:///etc/passwd'];
    let i = 0;
    const edge = createEdge({
      id: 'e-hooks', origins: [origin.url], hookTimeoutMs: 1_000,
      hooks: {
        selectOrigin(ctx) {
          ctx.origins.push({ url: elsewhere.url, healthy: true });
          return [pick[i++ % pick.length]!];
        },
      },
    });
    try {
      for (let n = 0; n < pick.length; n++) {
        const res = await edge.app.request(`/hls/s/seg1.ts?n=${n}`);
        assert.equal(res.status, 500);
        assert.equal(res.headers.get('x-cache'), 'ERROR');
      }
      assert.equal(elsewhere.total(), 0);
      assert.match(await (await edge.app.request('/metrics')).text(), /cascade_hook_failures_total\{role="edge",hook="selectOrigin",reason="invalid"[^}]*\} 3/);
    } finally {
      await edge.close();
      await elsewhere.close();
    }
  });
});
