// Active health checks with the default timing (1 s, two failures out, two successes back): a killed
// edge stops receiving redirects within 3 s, its clients go to their next choice and come back.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientKeys } from '../lb/selector-eval.js';
import { Selector } from '../lb/selector.js';
import { apiEdges, ask, edgeOf, pollUntil, startFakeEdge, startLb, type FakeEdge, type RunningLb } from './helpers/lb-harness.js';

let edges: FakeEdge[];
let statics: { id: string; url: string; weight: number }[];
let lb: RunningLb;

before(async () => {
  edges = [await startFakeEdge('e1'), await startFakeEdge('e2'), await startFakeEdge('e3')];
  statics = edges.map((e) => ({ id: e.id, url: e.url, weight: 100 }));
  lb = await startLb({ edges: statics, trustProxyHops: 1 });
  await pollUntil(async () => ((await apiEdges(lb.url)).every((e) => e.health === 'up') ? true : undefined), 5000, 'all edges checked');
});
after(async () => {
  await lb?.close();
  await Promise.all(edges.map((e) => e.stop()));
});

const keys = clientKeys(300);
const where = async () => Promise.all(keys.map(async (k) => edgeOf((await ask(`${lb.url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': k })).location, statics)));

test('a killed edge is out within 3 s; its clients move to their next choice and return after restart', async (t) => {
  const selector = new Selector(statics);
  const before = await where();
  assert.deepEqual(before, keys.map((k) => selector.pick(k)?.id));
  const victims = keys.filter((_, i) => before[i] === 'e2');
  assert.ok(victims.length > 50);

  await edges[1]!.stop();
  const killedAt = Date.now();
  await pollUntil(async () => ((await where()).includes('e2') ? undefined : true), 3000, 'no redirects to the killed edge');
  const outAfter = Date.now() - killedAt;
  assert.ok(outAfter <= 3000, `${outAfter} ms`);
  t.diagnostic(`out after ${outAfter} ms`);

  const during = await where();
  keys.forEach((k, i) => {
    const expected = before[i] === 'e2' ? selector.pick(k, (e) => e.id !== 'e2')?.id : before[i];
    assert.equal(during[i], expected, `${k}: only the dead edge's clients move, each to its next choice`);
  });
  assert.equal((await apiEdges(lb.url)).find((e) => e.id === 'e2')?.healthy, false);

  await edges[1]!.start();
  await pollUntil(async () => ((await apiEdges(lb.url)).find((e) => e.id === 'e2')?.healthy ? true : undefined), 5000, 'e2 healthy again');
  assert.deepEqual(await where(), before, 'every client is back on its first choice');
});

test('all edges down: 503 with Retry-After', async () => {
  await Promise.all(edges.map((e) => e.stop()));
  await pollUntil(async () => ((await ask(`${lb.url}/hls/demo/index.m3u8`)).status === 503 ? true : undefined), 3000, '503');
  const r = await ask(`${lb.url}/hls/demo/index.m3u8`);
  assert.ok(r.headers['retry-after']);
  await Promise.all(edges.map((e) => e.start()));
});

test('a killed edge is out at once, not after `fall` intervals: its closed connection triggers a check, and refused is down', async () => {
  // Kept-alive longer than the test, as a real edge's check connection is (Node's 5 s > the 1 s interval).
  const edge = await startFakeEdge('k1', undefined, 60_000);
  const other = await startFakeEdge('k2', undefined, 60_000);
  const local = [{ id: edge.id, url: edge.url, weight: 100 }, { id: other.id, url: other.url, weight: 100 }];
  // An interval far beyond the test's bound: only the two exceptions can take the edge out in time.
  const slow = await startLb({ edges: local, health: { intervalMs: 60_000, fall: 3 } });
  try {
    await pollUntil(async () => ((await apiEdges(slow.url)).every((e) => e.health === 'up') ? true : undefined), 5000, 'both edges checked');
    await edge.stop();
    const killedAt = Date.now();
    await pollUntil(async () => ((await apiEdges(slow.url)).find((e) => e.id === 'k1')?.health === 'down' ? true : undefined), 2000, 'k1 down');
    assert.ok(Date.now() - killedAt < 2000);
    assert.equal((await apiEdges(slow.url)).find((e) => e.id === 'k2')?.health, 'up', 'the other edge is untouched');
  } finally {
    await slow.close();
    await other.stop();
  }
});

test('an edge that closes every connection at once gets at most one extra check per interval, not a loop', async () => {
  const edge = await startFakeEdge('c1', undefined, 1);
  const lb = await startLb({ edges: [{ id: edge.id, url: edge.url, weight: 100 }], health: { intervalMs: 500 } });
  try {
    await pollUntil(async () => ((await apiEdges(lb.url)).every((e) => e.health === 'up') ? true : undefined), 5000, 'edge checked');
    const before = edge.checks;
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const intervals = (Date.now() - started) / 500;
    assert.ok(edge.checks - before <= 2 * intervals + 2, `${edge.checks - before} checks in ${intervals} intervals`);
  } finally {
    await lb.close();
    await edge.stop();
  }
});
