// One path rule for every role (docs/contract.md; docs/lb.md, "One path rule for every role"), checked on real listening servers with raw
// sockets, so no client normalises the target before the role sees it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createOrigin, type Origin } from '../origin/index.js';
import { createEdge, type Edge } from '../edge/index.js';
import { createLb, type Lb } from '../lb/index.js';
import { listen, type Listening } from '../src/serve.js';
import { parseRequestTarget } from '../src/stream-path.js';
import { rawRequest, type RawResponse } from './helpers/raw-http.js';
import { hostileTarget } from './helpers/request-targets.js';

let origin: Origin;
let edge: Edge;
let lb: Lb;
let o: Listening;
let e: Listening;
let l: Listening;

before(async () => {
  origin = await createOrigin();
  o = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  edge = createEdge({ id: 'e1', origins: [o.url] });
  e = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  lb = createLb({ edges: [{ id: 'e1', url: e.url, weight: 100 }], health: { intervalMs: 0 } });
  l = await listen(lb.app, { port: 0, host: '127.0.0.1' });
});

after(async () => {
  await Promise.all([o.close(1000), e.close(1000), l.close(1000)]);
  await Promise.all([origin.close(), edge.close(), lb.close()]);
});

/** The validator's refusal as every role sends it: 400, the reason, CORS. */
function assertRefused(res: RawResponse, reason: RegExp | string, what: string): void {
  assert.equal(res.status, 400, `${what}: ${res.status} ${res.body}`);
  assert.equal(res.headers['access-control-allow-origin'], '*', what);
  if (typeof reason === 'string') assert.equal(res.body, `bad request target: ${reason}\n`, what);
  else assert.match(res.body, reason, what);
}

const content = (stream: string, path: string) => `bytes of ${stream}/${path}`;

test('origin: no spelling of ".." lets an upload for one stream overwrite another stream', async () => {
  assert.equal((await rawRequest(o.port, '/hls/t/seg0.ts', { method: 'PUT', body: 'original' })).status, 201);
  for (const evil of ['/hls/x/%2e%2e/t/seg0.ts', '/hls/x/.%2e/t/seg0.ts', '/hls/x/%2e./t/seg0.ts', '/hls/x/%2E%2E/t/seg0.ts',
    '/hls/x/../t/seg0.ts', '/hls/t/./seg0.ts', '/hls/t/%2e/seg0.ts', '/hls/x/..%2ft/seg0.ts', '/hls/x/..\\t\\seg0.ts', '/hls/x/..%5ct%5cseg0.ts',
    `http://127.0.0.1:${o.port}/hls/x/%2e%2e/t/seg0.ts`, `http://127.0.0.1:${o.port}/hls/x/../t/seg0.ts`, '/hls/t//seg0.ts', '/hls/t/seg0.ts%00']) {
    assertRefused(await rawRequest(o.port, evil, { method: 'PUT', body: 'evil' }), /^bad request target: /, evil);
    // In-process requests are checked on the string as given, not on the Request the URL parser made of it.
    if (evil.startsWith('/')) assertRefused(await responseOf(origin.app.request(evil, { method: 'PUT', body: 'evil' })), /^bad request target: /, `in-process ${evil}`);
  }
  const after = await rawRequest(o.port, '/hls/t/seg0.ts');
  assert.equal(after.status, 200);
  assert.equal(after.body, 'original');
  assert.deepEqual([...origin.streams.keys()], ['t']);
});

test('absolute-form targets (RFC 9112 §3.2.2) are taken for their path: never a proxy to their authority', async () => {
  const res = await rawRequest(l.port, 'http://elsewhere.example/hls/demo/index.m3u8?_HLS_msn=5');
  assert.equal(res.status, 302);
  assert.equal(res.headers.location, `${e.url}/hls/demo/index.m3u8?_HLS_msn=5`);
  assert.equal((await rawRequest(o.port, `http://elsewhere.example/hls/abs/seg.ts`, { method: 'PUT', body: 'abs' })).status, 201);
  const viaEdge = await rawRequest(e.port, 'http://elsewhere.example/hls/abs/seg.ts');
  assert.equal(viaEdge.status, 200);
  assert.equal(viaEdge.body, 'abs');
});

async function responseOf(res: Response | Promise<Response>): Promise<RawResponse> {
  const r = await res;
  const headers: Record<string, string> = {};
  r.headers.forEach((v, k) => { headers[k] = v; });
  return { status: r.status, headers, body: await r.text() };
}

test('/hls/demo/./index.m3u8 and friends: the same 400 from the LB, the edge and the origin', async () => {
  for (const [target, reason] of [
    ['/hls/demo/./index.m3u8', 'dot segment in path'],
    ['/hls/demo/%2e/index.m3u8', 'percent-encoding in path'],
    ['/hls/demo/%69ndex.m3u8', 'percent-encoding in path'],
    ['/hls/demo\\index.m3u8', 'backslash in path'],
    ['/hls/demo//index.m3u8', 'empty path segment'],
    ['/hls/demo/index.m3u8#x', 'fragment in target'],
    ['http://127.0.0.1/hls/demo/./index.m3u8', 'dot segment in path'],
    ['http:///hls/demo/index.m3u8', 'bad absolute-form target'],
    [`/hls/demo/index.m3u8?${'a'.repeat(5000)}`, 'target longer than 4096'],
    ['/metrics/..', 'dot segment in path'],
  ] as const) {
    for (const [role, port] of [['origin', o.port], ['edge', e.port], ['lb', l.port]] as const) {
      assertRefused(await rawRequest(port, target), reason, `${role} ${target}`);
      // A preflight for a bad target is refused the same way.
      assertRefused(await rawRequest(port, target, { method: 'OPTIONS' }), reason, `${role} OPTIONS ${target}`);
    }
  }
  const counted = (await rawRequest(l.port, '/metrics')).body;
  assert.match(counted, /cascade_bad_request_targets_total\{reason="dot segment in path",role="lb"\} [1-9]/);
  assert.match(counted, /cascade_lb_requests_total\{outcome="bad_path",role="lb"\} [1-9]/);
});

test('property: for any raw target, all three roles refuse it with the same 400, or act on exactly the stream and path the validator returned', { timeout: 200_000 }, async () => {
  let accepted = 0;
  let uploaded = 0;
  let tokened = 0;
  const named = new Set(origin.streams.keys());
  // A space or control byte ends or breaks the request line (Node's parser decides what it becomes), so
  // such strings are no request target; they are covered by the validator's own property test.
  const onTheWire = hostileTarget.filter((t) => !/[\x00-\x20\x7f]/.test(t));
  await fc.assert(fc.asyncProperty(onTheWire, async (target) => {
    const verdict = parseRequestTarget(target);
    const stream = verdict.ok ? verdict.value.stream : undefined;
    const upload = stream !== undefined && !stream.path.endsWith('.m3u8');
    if (stream) named.add(stream.stream);
    // Playlists are not uploaded: a made-up body is no playlist, and the origin would refuse it (400).
    const put = await rawRequest(o.port, target, upload || !verdict.ok ? { method: 'PUT', body: stream ? content(stream.stream, stream.path) : 'x' } : {});
    const atEdge = await rawRequest(e.port, target);
    const atLb = await rawRequest(l.port, target);
    const roles = [['origin', put], ['edge', atEdge], ['lb', atLb]] as const;
    if (!verdict.ok) {
      // Node's own parser refuses some request lines before any role runs (a bare 400 without CORS:
      // every role's refusal has it). Non-ASCII arrives as latin1, so the role's reason may differ;
      // ASCII is refused for the validator's reason by every role.
      const ascii = /^[\x21-\x7e]*$/.test(target);
      for (const [role, res] of roles) {
        const what = `${role} ${JSON.stringify(target)}`;
        if (res.headers['access-control-allow-origin'] === undefined) assert.equal(res.status, 400, what);
        else assertRefused(res, ascii ? verdict.reason : /^bad request target: /, what);
      }
      return;
    }
    accepted++;
    // A URL token is for players: the origin takes and serves stream paths without one.
    if (stream?.token !== undefined) tokened++;
    if (stream?.token !== undefined) assertRefused(put, /URL token in a path that takes none/, `origin ${JSON.stringify(target)}`);
    for (const [role, res] of stream?.token === undefined ? roles : roles.slice(1)) assert.notEqual(res.status, 400, `${role} refused ${JSON.stringify(target)}: ${res.body}`);
    if (!stream) return;
    // The LB sends the player on with the target byte for byte.
    assert.equal(atLb.status, 302);
    assert.equal(atLb.headers.location, e.url + verdict.value.pathAndQuery);
    if (!upload || stream.token !== undefined) return;
    uploaded++;
    // The origin stored exactly the validator's stream and path, and the edge fetched exactly that.
    assert.equal(put.status, 201, `origin PUT ${JSON.stringify(target)}: ${put.body}`);
    const stored = origin.streams.get(stream.stream)?.file(stream.path);
    assert.ok(stored, `origin stored ${stream.stream}/${stream.path}`);
    assert.equal(atEdge.status, 200, `edge GET ${JSON.stringify(target)}: ${atEdge.body}`);
    assert.equal(atEdge.body, content(stream.stream, stream.path));
  }), { numRuns: 500 });
  // The generator must reach both sides of the rule, or this test proves nothing.
  assert.ok(accepted >= 20 && uploaded >= 10 && tokened >= 3, `accepted ${accepted}, uploaded ${uploaded}, with a URL token ${tokened}`);
  // No refused target created a stream at the origin.
  assert.deepEqual([...origin.streams.keys()].filter((name) => !named.has(name)), []);
});
