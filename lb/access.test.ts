// The LB's access phase in process: signed URLs refused with their reason before any edge is chosen,
// new sessions limited per client, and the redirect carrying the token and the new player's session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Metrics } from '../src/metrics.js';
import { signPlayback } from '../src/playback-token.js';
import { sessionId } from '../src/session-token.js';
import { formatUrlToken, parseUrlToken } from '../src/url-token.js';
import { createLb, type LbConfig } from './index.js';

const SECRET = 'lb-test-secret-0123456789';
const edges = [{ id: 'e1', url: 'http://e1.example:8081', weight: 100 }];
const lbWith = (config: Partial<LbConfig>) => createLb({ edges, health: { intervalMs: 0 }, trustProxyHops: 1, metrics: new Metrics({ role: 'lb' }, false), ...config });
const get = (lb: ReturnType<typeof createLb>, target: string, client = '198.51.100.1') => lb.app.request(target, { headers: { 'x-forwarded-for': client } });
const signedToken = (stream: string, ttlSeconds: number, scope?: string, secret = SECRET) =>
  formatUrlToken(signPlayback(secret, { stream, expiresAt: Date.now() / 1000 + ttlSeconds, ...(scope ? { scope } : {}) }));

test('lb: a signed URL is redirected with its token byte for byte; missing, expired, forged, out of scope are 403 with the reason', async () => {
  const lb = lbWith({ access: { playbackSecrets: [SECRET] } });
  const token = signedToken('demo', 60);
  const ok = await get(lb, `/hls/demo/${token}/index.m3u8?x=1`);
  assert.equal(ok.status, 302);
  assert.equal(ok.headers.get('location'), `http://e1.example:8081/hls/demo/${token}/index.m3u8?x=1`);
  const cases: [string, string, string?][] = [
    ['/hls/demo/index.m3u8', 'missing'],
    [`/hls/demo/${signedToken('demo', -1)}/index.m3u8`, 'expired'],
    [`/hls/demo/${signedToken('demo', 60, undefined, 'not-the-secret-000000')}/index.m3u8`, 'bad-signature'],
    [`/hls/other/${token}/index.m3u8`, 'bad-signature'],
    [`/hls/demo/${signedToken('demo', 60, '203.0.113.0/24')}/index.m3u8`, 'scope'],
    ['/hls/demo/~zzz/index.m3u8', 'malformed'],
  ];
  for (const [target, reason] of cases) {
    const res = await get(lb, target);
    assert.equal(res.status, 403, target);
    assert.equal(res.headers.get('x-cascade-denied'), reason, target);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /X-Cascade-Denied/);
  }
  assert.equal((await get(lb, `/hls/demo/${signedToken('demo', 60, '203.0.113.0/24')}/index.m3u8`, '203.0.113.9')).status, 302);
  const metrics = await (await lb.app.request('/metrics')).text();
  assert.match(metrics, /cascade_access_denied_total\{reason="scope",role="lb"\} 1/);
  assert.match(metrics, /cascade_lb_requests_total\{outcome="denied",role="lb"\} 6/);
  await lb.close();
});

test('lb: session tokens: a new player gets one in the Location, beside a signed token; a player that has one keeps it', async () => {
  const lb = lbWith({ access: { playbackSecrets: [SECRET] }, sessionTokens: true });
  const token = signedToken('demo', 60);
  const first = (await get(lb, `/hls/demo/${token}/index.m3u8`)).headers.get('location')!;
  const segment = first.split('/')[5]!;
  const fields = parseUrlToken(segment)!;
  assert.equal(formatUrlToken({ ...fields, s: undefined }), token, 'the signed fields are kept');
  assert.ok(sessionId(fields.s, [SECRET]), 'the session is signed with the playback secret');
  const again = (await get(lb, `/hls/demo/${segment}/720p.m3u8`)).headers.get('location')!;
  assert.equal(again, `http://e1.example:8081/hls/demo/${segment}/720p.m3u8`, 'a continuing session is redirected byte for byte');
  // A made-up session is replaced by one of ours.
  const madeUp = formatUrlToken({ ...fields, s: 'AAAAAAAAAAAAAAAA' });
  const replaced = parseUrlToken((await get(lb, `/hls/demo/${madeUp}/index.m3u8`)).headers.get('location')!.split('/')[5]!)!;
  assert.notEqual(replaced.s, 'AAAAAAAAAAAAAAAA');
  await lb.close();
  // Without signed URLs sessions are plain ids in a token of their own.
  const open = lbWith({ sessionTokens: true });
  assert.match((await get(open, '/hls/demo/index.m3u8?a=b')).headers.get('location')!, /^http:\/\/e1\.example:8081\/hls\/demo\/~s[A-Za-z0-9_-]{16}\/index\.m3u8\?a=b$/);
  await open.close();
});

test('lb: --session-rate limits new sessions per client with 429 and Retry-After; continuing sessions, other clients and allow-listed networks pass', async () => {
  const lb = lbWith({ access: { rate: { limit: 3, windowMs: 10_000 }, rateAllow: ['10.0.0.0/8'] } });
  const locations: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await get(lb, '/hls/demo/index.m3u8', '198.51.100.7');
    assert.equal(res.status, 302);
    locations.push(res.headers.get('location')!);
  }
  const limited = await get(lb, '/hls/demo/index.m3u8', '198.51.100.7');
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('x-cascade-denied'), 'rate');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal(limited.headers.get('cache-control'), 'no-store');
  // The players it let in keep playing: their reloads carry their session.
  const session = new URL(locations[0]!).pathname.replace('/index.m3u8', '/720p.m3u8');
  for (let i = 0; i < 10; i++) assert.equal((await get(lb, session, '198.51.100.7')).status, 302);
  assert.equal((await get(lb, '/hls/demo/index.m3u8', '198.51.100.8')).status, 302, 'another client');
  for (let i = 0; i < 10; i++) assert.equal((await get(lb, '/hls/demo/index.m3u8', '10.1.2.3')).status, 302, 'allow-listed');
  const metrics = await (await lb.app.request('/metrics')).text();
  assert.match(metrics, /cascade_lb_requests_total\{outcome="rate_limited",role="lb"\} 1/);
  assert.match(metrics, /cascade_access_denied_total\{reason="rate",role="lb"\} 1/);
  await lb.close();
});

test('property: with signed URLs, the LB redirects exactly the requests whose token verifies, and never answers 5xx', async () => {
  const lb = lbWith({ access: { playbackSecrets: [SECRET, 'older-secret-0123456789'] }, sessionTokens: true });
  const tokenArb = fc.oneof(
    fc.constant(undefined),
    fc.record({ ttl: fc.integer({ min: -100, max: 100 }).filter((ttl) => ttl !== 0), secret: fc.constantFrom(SECRET, 'older-secret-0123456789', 'wrong-secret-0123456789') })
      .map(({ ttl, secret }) => ({ token: signedToken('demo', ttl, undefined, secret), good: ttl > 0 && secret !== 'wrong-secret-0123456789' })),
    fc.stringMatching(/^~[a-z][A-Za-z0-9._-]{1,10}$/).map((token) => ({ token, good: false })),
  );
  await fc.assert(fc.asyncProperty(tokenArb, async (t) => {
    const res = await get(lb, t === undefined ? '/hls/demo/a.m3u8' : `/hls/demo/${t.token}/a.m3u8`);
    assert.ok(res.status === 302 || res.status === 403, String(res.status));
    assert.equal(res.status === 302, t !== undefined && t.good, `${JSON.stringify(t)} -> ${res.status} ${res.headers.get('x-cascade-denied')}`);
  }), { numRuns: 300 });
  await lb.close();
});
