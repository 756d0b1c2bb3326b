// The LB's HTTP surface without Redis: the 302 per docs/contract.md, CORS on it, errors, key choice, pages.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { Selector } from '../lb/selector.js';
import { apiEdges, ask, edgeOf, startFakeEdge, startLb, type FakeEdge, type RunningLb } from './helpers/lb-harness.js';

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
