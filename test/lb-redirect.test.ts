// The LB's HTTP surface without Redis: the 302 per docs/contract.md, CORS on it, errors, key choice, pages.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { Selector } from '../lb/selector.js';
import { apiEdges, ask, edgeOf, pollUntil, startFakeEdge, startLb, type FakeEdge, type RunningLb } from './helpers/lb-harness.js';

let edges: FakeEdge[];
let statics: { id: string; url: string; weight: number }[];
const running: RunningLb[] = [];
const lbWith = async (config: Parameters<typeof startLb>[0]) => {
  const r = await startLb({ edges: statics, health: { intervalMs: 0 }, ...config });
  running.push(r);
  return r;
};

before(async () => {
  edges = [await startFakeEdge('e1'), await startFakeEdge('e2'), await startFakeEdge('e3')];
  statics = edges.map((e) => ({ id: e.id, url: e.url, weight: 100 }));
});
after(async () => {
  await Promise.all(running.map((r) => r.close()));
  await Promise.all(edges.map((e) => e.stop()));
});

test('GET and HEAD redirect with path and query kept, no-store and CORS on the 302 itself', async () => {
  const { url } = await lbWith({});
  const r = await ask(`${url}/hls/demo/720p/seg-00042.ts?token=a%20b&x=1`, { Origin: 'http://player.example' });
  assert.equal(r.status, 302);
  const edge = edgeOf(r.location, statics);
  assert.ok(edge, String(r.location));
  assert.equal(r.location, `${statics.find((e) => e.id === edge)!.url}/hls/demo/720p/seg-00042.ts?token=a%20b&x=1`);
  assert.equal(r.headers['cache-control'], 'no-store');
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.match(String(r.headers['access-control-expose-headers']), /X-Served-By/);
  const head = await ask(`${url}/hls/demo/index.m3u8`, {}, 'HEAD');
  assert.equal(head.status, 302);
  assert.equal(head.location, `${statics.find((e) => e.id === edge)!.url}/hls/demo/index.m3u8`, 'same client, same edge');
});

test('OPTIONS preflight, 405 for other methods, 400 for bad stream paths, 404 elsewhere', async () => {
  const { url } = await lbWith({});
  const pre = await ask(`${url}/hls/demo/index.m3u8`, { Origin: 'http://p.example', 'Access-Control-Request-Method': 'GET' }, 'OPTIONS');
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.match(String(pre.headers['access-control-allow-methods']), /GET/);
  const post = await ask(`${url}/hls/demo/index.m3u8`, {}, 'POST');
  assert.equal(post.status, 405);
  assert.match(String(post.headers.allow), /GET, HEAD/);
  for (const bad of ['/hls/demo', '/hls/de%2Fmo/a.ts', '/hls/demo/a//b.ts', '/hls/demo/a/b/c/d/e.ts', '/hls/' + 'x'.repeat(65) + '/a.ts']) {
    assert.equal((await ask(url + bad)).status, 400, bad);
  }
  assert.equal((await ask(`${url}/nope`)).status, 404);
});

test('--redirect-code 307', async () => {
  const { url } = await lbWith({ redirectCode: 307 });
  assert.equal((await ask(`${url}/hls/demo/index.m3u8`)).status, 307);
});

test('every edge at weight 0: 503 with Retry-After', async () => {
  const { url } = await lbWith({ edges: statics.map((e) => ({ ...e, weight: 0 })) });
  const r = await ask(`${url}/hls/demo/index.m3u8`);
  assert.equal(r.status, 503);
  assert.ok(Number(r.headers['retry-after']) > 0);
  assert.equal(r.headers['access-control-allow-origin'], '*');
  assert.ok((await apiEdges(url)).every((e) => e.share === 0));
});

const forwardedClients = Array.from({ length: 60 }, (_, i) => `203.0.113.${i + 1}`);

test('trust-proxy off: X-Forwarded-For is ignored, the socket address decides', async () => {
  const { url } = await lbWith({});
  const chosen = new Set<string | undefined>();
  for (const client of forwardedClients) chosen.add(edgeOf((await ask(`${url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': client })).location, statics));
  assert.equal(chosen.size, 1);
  assert.deepEqual([...chosen], [new Selector(statics).pick('127.0.0.1')?.id]);
});

test('trust-proxy on: the client in X-Forwarded-For decides, N hops from the right', async () => {
  const selector = new Selector(statics);
  const one = await lbWith({ trustProxyHops: 1 });
  const two = await lbWith({ trustProxyHops: 2 });
  const seen = new Set<string | undefined>();
  for (const client of forwardedClients) {
    const viaOne = edgeOf((await ask(`${one.url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': `198.51.100.7, ${client}` })).location, statics);
    const viaTwo = edgeOf((await ask(`${two.url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': `${client}, 10.1.1.1` })).location, statics);
    assert.equal(viaOne, selector.pick(client)?.id);
    assert.equal(viaTwo, selector.pick(client)?.id);
    seen.add(viaOne);
  }
  assert.equal(seen.size, 3, 'different clients spread over the edges');
});

test('--hash stream: every client of a stream goes to the stream\'s edge', async () => {
  const { url } = await lbWith({ hash: 'stream', trustProxyHops: 1 });
  const selector = new Selector(statics);
  for (const stream of ['demo', 'talk-1', 'hall_b']) {
    for (const client of forwardedClients.slice(0, 10)) {
      const r = await ask(`${url}/hls/${stream}/index.m3u8`, { 'X-Forwarded-For': client });
      assert.equal(edgeOf(r.location, statics), selector.pick(stream)?.id);
    }
  }
});

test('/api/edges, the status page, the player page and hls.js from the package', async () => {
  const { url } = await lbWith({});
  await ask(`${url}/hls/demo/index.m3u8`);
  const list = await apiEdges(url);
  assert.deepEqual(list.map((e) => [e.id, e.weight, e.healthy, Number(e.share.toFixed(3))]), [['e1', 100, true, 0.333], ['e2', 100, true, 0.333], ['e3', 100, true, 0.333]]);
  const status = await request(`${url}/`);
  assert.match(await status.body.text(), /\/api\/status/);
  const page = await request(`${url}/play/demo`);
  const html = await page.body.text();
  assert.match(html, /<script src="\/assets\/hls\.min\.js">/);
  assert.match(html, /"src":"\/hls\/demo\/index\.m3u8"/);
  assert.doesNotMatch(html, /https?:\/\/(cdn|unpkg|jsdelivr)/);
  assert.equal((await ask(`${url}/play/bad%20name`)).status, 400);
  const js = await request(`${url}/assets/hls.min.js`);
  assert.equal(js.statusCode, 200);
  assert.ok((await js.body.text()).length > 100_000);
  const metrics = await (await request(`${url}/metrics`)).body.text();
  assert.match(metrics, /cascade_lb_redirects_total\{edge="e\d"/);
  assert.match(metrics, /cascade_lb_config_version/);
});

test('the raw-socket redirect (no hooks, no middleware) answers exactly as the Hono route: fast-check over targets, methods, X-Forwarded-For', async () => {
  const { lb, url: fastUrl } = await lbWith({ trustProxyHops: 1 });
  assert.ok(lb.fastPath, 'an LB without hooks has the fast path');
  const { listen } = await import('../src/serve.js');
  const plain = await listen(lb.app, { port: 0, host: '127.0.0.1' });
  const counted = async () => (await (await request(`${fastUrl}/metrics`)).body.text()).match(/cascade_lb_requests_total\{outcome="redirect"[^}]*\} (\d+)/)?.[1];
  const { default: fc } = await import('fast-check');
  try {
    const before = Number(await counted() ?? 0);
    let asked = 0;
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('/hls/demo/index.m3u8', '/hls/demo/720p/seg-1.ts?token=x&_HLS_msn=2', '/hls/a_b/v.m3u8', '/hls/bad!/x.ts', '/hls/demo/../x.ts', '/healthz'),
      fc.constantFrom('GET' as const, 'HEAD' as const),
      fc.option(fc.constantFrom('10.0.0.1', '10.0.0.1, 192.0.2.7', 'garbage'), { nil: undefined }),
      async (target, method, xff) => {
        const headers: Record<string, string> = xff ? { 'x-forwarded-for': xff } : {};
        const [viaFast, viaNode] = [await ask(fastUrl + target, headers, method), await ask(plain.url + target, headers, method)];
        if (viaFast.status === 302) asked++;
        const comparable = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !['date', 'connection', 'keep-alive'].includes(k)));
        assert.equal(viaFast.status, viaNode.status, `${method} ${target}`);
        assert.deepEqual(comparable(viaFast.headers), comparable(viaNode.headers), `${method} ${target} ${xff}`);
      },
    ), { numRuns: 60 });
    assert.ok(asked > 0);
    // Both paths count their redirects (each asked once per run): the fast path's are not lost.
    assert.equal(Number(await counted()) - before, 2 * asked);
  } finally {
    await plain.close(500);
  }
});

test('with a hook configured every request goes through Hono: no fast path', async () => {
  const { lb } = await lbWith({ hooks: { hashKey: () => undefined } });
  assert.equal(lb.fastPath, undefined);
});

test('with access control (signed URLs, session tokens, a session rate) every request goes through Hono: no fast path', async () => {
  for (const config of [
    { access: { playbackSecrets: ['0123456789abcdef0123'] } },
    { sessionTokens: true },
    { access: { rate: { limit: 50, windowMs: 10_000 } } },
  ]) {
    const { lb } = await lbWith(config);
    assert.equal(lb.fastPath, undefined, JSON.stringify(config));
  }
  const { lb } = await lbWith({ trustProxyHops: 2 });
  assert.ok(lb.fastPath, 'trust-proxy alone: the fast path hashes the same X-Forwarded-For hop (property test above)');
});

test('a kept-alive connection asking the same target again gets the pick of now: an edge going down and coming back moves it, as on a new connection', async () => {
  // Own edges: this test stops one of them.
  const own = [await startFakeEdge('k1'), await startFakeEdge('k2'), await startFakeEdge('k3')];
  try {
    const set = own.map((e) => ({ id: e.id, url: e.url, weight: 100 }));
    const { lb, url } = await lbWith({ edges: set, health: { intervalMs: 600_000, timeoutMs: 1000, rise: 1, fall: 1 } });
    assert.ok(lb.fastPath);
    await lb.checkHealth();
    const one = new Agent({ connections: 1 });
    const target = `${url}/hls/demo/720p/index.m3u8?_HLS_msn=7`;
    const viaKept = async () => {
      const res = await request(target, { dispatcher: one });
      await res.body.dump();
      return edgeOf(String(res.headers.location), set);
    };
    const viaNew = async () => {
      const fresh = new Agent({ connections: 1 });
      try {
        const res = await request(target, { dispatcher: fresh });
        await res.body.dump();
        return edgeOf(String(res.headers.location), set);
      } finally { await fresh.close(); }
    };
    const first = await viaKept();
    assert.ok(first);
    assert.equal(await viaKept(), first);
    const chosen = own.find((e) => e.id === first)!;
    const healthOf = (id: string) => lb.status().edges.find((e) => e.id === id)?.health;
    // A check may already be running (the closed connection wakes one), so wait for the verdict itself.
    await chosen.stop();
    await pollUntil(async () => { await lb.checkHealth(); return healthOf(chosen.id) === 'down' || undefined; }, 10_000, `${chosen.id} down`);
    const moved = await viaKept();
    assert.notEqual(moved, first, 'the kept connection follows the edge going down');
    assert.equal(moved, await viaNew());
    await chosen.start();
    await pollUntil(async () => { await lb.checkHealth(); return healthOf(chosen.id) === 'up' || undefined; }, 10_000, `${chosen.id} up`);
    assert.equal(await viaKept(), first, 'and its coming back');
    await one.close();
  } finally {
    await Promise.all(own.map((e) => e.stop()));
  }
});
