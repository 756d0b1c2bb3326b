// Per-client rate limits under a bounded load loop from many loopback addresses (each request's socket
// bound to its own 127.x.y.z): the LB's new sessions per client (--session-rate) and the edge's requests
// per client (--request-rate). Heavy clients get 429 with Retry-After, light ones never; an allow-listed
// network is never limited; the counters' table stays at its fixed size however many clients come; and
// X-Forwarded-For moves a client only when the proxy in front is trusted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createEdge, type Edge } from '../edge/index.js';
import { createLb, type Lb } from '../lb/index.js';
import { listen, type Listening } from '../src/serve.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';

const TABLE = 100;
let origin: FakeOrigin;
const servers: Listening[] = [];
const roles: (Edge | Lb)[] = [];
let edgeUrl: string;
let trustingEdgeUrl: string;
let lbUrl: string;

before(async () => {
  origin = await startFakeOrigin();
  origin.route('/hls/demo/seg1.ts', { body: 'segment-one', headers: { 'cache-control': 'max-age=600' } });
  // Windows of a minute: the loop runs well inside one window however loaded the machine is.
  const rate = { limit: 10, windowMs: 60_000 };
  const edge = createEdge({ id: 'e1', origins: [origin.url], access: { rate, rateAllow: ['127.9.0.0/16'], rateClients: TABLE } });
  const trusting = createEdge({ id: 'e2', origins: [origin.url], access: { rate }, trustProxyHops: 1 });
  const lb = createLb({ edges: [{ id: 'e1', url: 'http://e1.example', weight: 100 }], health: { intervalMs: 0 },
    access: { rate: { limit: 5, windowMs: 60_000 }, rateAllow: ['127.9.0.0/16'], rateClients: TABLE } });
  roles.push(edge, trusting, lb);
  for (const app of [edge.app, trusting.app, lb.app]) servers.push(await listen(app, { port: 0, host: '127.0.0.1' }));
  [edgeUrl, trustingEdgeUrl, lbUrl] = servers.map((s) => s.url) as [string, string, string];
});
after(async () => {
  for (const s of servers) await s.close(200);
  for (const r of roles) await r.close();
  await origin.close();
});

interface Answer { status: number; retryAfter: string | undefined; denied: string | undefined }

/** One GET from the loopback address `from` (its own connection), optionally with X-Forwarded-For. */
function getFrom(base: string, path: string, from: string, forwardedFor?: string): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname, localAddress: from, agent: false,
      headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {},
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, denied: res.headers['x-cascade-denied'] as string | undefined }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout from ${from}`)));
    req.on('error', reject);
    req.end();
  });
}

const light = (i: number) => `127.1.${i >> 8}.${i & 255}`;
const heavy = (i: number) => `127.2.0.${i + 1}`;

/** `count` requests from each address, a few addresses at a time (bounded concurrency and count). */
async function load(base: string, path: string, addresses: string[], count: number): Promise<Map<string, Answer[]>> {
  const out = new Map<string, Answer[]>(addresses.map((a) => [a, []]));
  const queue = addresses.flatMap((a) => Array.from({ length: count }, () => a));
  const worker = async () => {
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) out.get(a)!.push(await getFrom(base, path, a));
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}

async function gauge(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(text.split('\n').find((l) => l.startsWith(name))?.split(' ').at(-1));
}

for (const role of ['edge', 'lb'] as const) {
  test(`${role}: heavy clients get 429 with Retry-After, light and allow-listed ones never; the table stays at its size`, async () => {
    const base = role === 'edge' ? edgeUrl : lbUrl;
    const limit = role === 'edge' ? 10 : 5;
    const ok = role === 'edge' ? 200 : 302;
    // More light clients than the table holds, then the heavy ones, then light ones again.
    const first = await load(base, '/hls/demo/seg1.ts', Array.from({ length: 250 }, (_, i) => light(i)), 2);
    const heavyAnswers = await load(base, '/hls/demo/seg1.ts', [heavy(0), heavy(1), heavy(2), '127.9.0.1'], 3 * limit);
    const again = await load(base, '/hls/demo/seg1.ts', Array.from({ length: 50 }, (_, i) => light(1000 + i)), 2);
    for (const answers of [...first.values(), ...again.values()]) assert.deepEqual(answers.map((a) => a.status), [ok, ok], 'light clients are never limited');
    for (const h of [heavy(0), heavy(1), heavy(2)]) {
      const answers = heavyAnswers.get(h)!;
      assert.equal(answers.filter((a) => a.status === ok).length, limit, `${h}: exactly the limit inside one window`);
      const refused = answers.filter((a) => a.status === 429);
      assert.equal(refused.length, 2 * limit);
      for (const r of refused) {
        assert.equal(r.denied, 'rate');
        assert.ok(Number(r.retryAfter) >= 1 && Number(r.retryAfter) <= 120, `Retry-After ${r.retryAfter}`);
      }
    }
    assert.ok(heavyAnswers.get('127.9.0.1')!.every((a) => a.status === ok), 'the allow-listed network is never limited');
    assert.equal(await gauge(base, 'cascade_rate_limit_clients'), TABLE, '350 clients, a table of 100');
    assert.ok(await gauge(base, 'cascade_access_denied_total{reason="rate"') >= 6 * limit);
  });
}

test('edge: X-Forwarded-For moves a client only behind a trusted proxy', async () => {
  // Untrusted: a client cannot escape its limit by making up addresses.
  const spoofed = await Promise.all(Array.from({ length: 15 }, (_, i) => getFrom(edgeUrl, '/hls/demo/seg1.ts', '127.3.0.1', `203.0.113.${i}`)));
  assert.equal(spoofed.filter((a) => a.status === 200).length, 10);
  // Trusted (one proxy in front): the address the proxy appended is the client.
  const proxied = await Promise.all(Array.from({ length: 15 }, (_, i) => getFrom(trustingEdgeUrl, '/hls/demo/seg1.ts', '127.3.0.2', `203.0.113.${i}`)));
  assert.ok(proxied.every((a) => a.status === 200), 'fifteen clients behind one proxy');
  const one = await Promise.all(Array.from({ length: 15 }, () => getFrom(trustingEdgeUrl, '/hls/demo/seg1.ts', '127.3.0.3', '198.51.100.9')));
  assert.equal(one.filter((a) => a.status === 200).length, 10, 'one client behind the proxy is limited as one');
});
