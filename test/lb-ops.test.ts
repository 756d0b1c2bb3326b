// `cascade edges|weight|drain|undrain` as an operator runs them, against a real Redis and a live LB.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { edgeRowsFromRedis } from '../cli/ops.js';
import { controlKeys } from '../src/control-plane.js';
import { CLI, startChild } from './helpers/process.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { apiEdges, pollUntil, startLb, type RunningLb } from './helpers/lb-harness.js';

const keys = controlKeys('cascade:');
let redis: TestRedis;
let client: Redis;
let lb: RunningLb;

async function cascade(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = startChild(process.execPath, [...CLI, ...args]);
  const code = await child.exited;
  return { code, out: child.output() };
}

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  // Polling once a minute: a change seen sooner came through the events channel.
  lb = await startLb({
    edges: [{ id: 'e1', url: 'http://127.0.0.1:9/1', weight: 100 }, { id: 'e2', url: 'http://127.0.0.1:9/2', weight: 100 }],
    health: { intervalMs: 0 },
    redis: { url: redis.url, pollMs: 60_000 },
  });
  await pollUntil(async () => ((await lb.lb.status()).redis === 'up' ? true : undefined), 5000, 'LB reads Redis');
});
after(async () => {
  await lb?.close();
  client?.disconnect();
  await redis?.stop();
});

const lbWeight = async (id: string) => (await apiEdges(lb.url)).find((e) => e.id === id);

test('weight, drain and undrain change Redis and reach the LB through the events channel', async () => {
  let r = await cascade('weight', 'e2', '40', '--redis', redis.url);
  assert.equal(r.code, 0, r.out);
  assert.equal(await client.hget(keys.weights, 'e2'), '40');
  await pollUntil(async () => ((await lbWeight('e2'))?.weight === 40 ? true : undefined), 2000, 'weight 40 at the LB');

  r = await cascade('drain', 'e2', '--redis', redis.url);
  assert.equal(r.code, 0, r.out);
  assert.equal(await client.hget(keys.weights, 'e2'), '0');
  assert.equal(await client.sismember(keys.drain, 'e2'), 1);
  await pollUntil(async () => ((await lbWeight('e2'))?.drain ? true : undefined), 2000, 'drained at the LB');

  r = await cascade('weight', 'e2', '60', '--redis', redis.url);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /drained/);
  assert.equal(await client.hget(keys.weights, 'e2'), '0', 'a drained edge stays at 0');

  r = await cascade('undrain', 'e2', '--redis', redis.url);
  assert.equal(r.code, 0, r.out);
  assert.equal(await client.sismember(keys.drain, 'e2'), 0);
  assert.equal(await client.hget(keys.weights, 'e2'), '60', 'undrain restores the weight set while drained');
  await pollUntil(async () => {
    const e2 = await lbWeight('e2');
    return e2?.weight === 60 && !e2.drain ? true : undefined;
  }, 2000, 'undrained at the LB');
});

test('cascade edges: a table from Redis or from an LB, and JSON', async () => {
  await client.multi().hset(keys.edges, 'e3', 'http://127.0.0.1:9/3').set(keys.alive('e3'), '1', 'PX', 60_000).hset(keys.edges, 'e4', 'http://127.0.0.1:9/4').exec();
  const fromRedis = await cascade('edges', '--redis', redis.url);
  assert.equal(fromRedis.code, 0, fromRedis.out);
  const lines = fromRedis.out.trim().split('\n');
  assert.match(lines[0]!, /^ID\s+URL\s+WEIGHT\s+HEALTHY\s+SHARE\s+DRAIN$/);
  assert.match(fromRedis.out, /^e3\s+http:\/\/127\.0\.0\.1:9\/3\s+100\s+yes\s+/m);
  assert.match(fromRedis.out, /^e4\s+\S+\s+100\s+no\s+0\.0%/m, 'no heartbeat: not counted');

  await lb.lb.refresh();
  const fromLb = await cascade('edges', '--lb', lb.url, '--json');
  assert.equal(fromLb.code, 0, fromLb.out);
  const rows = JSON.parse(fromLb.out) as { id: string; weight: number; healthy: boolean; share: number; drain: boolean }[];
  assert.deepEqual(rows.map((e) => e.id), ['e1', 'e2', 'e3']);
  assert.ok(Math.abs(rows.reduce((s, e) => s + e.share, 0) - 1) < 1e-9);
  await client.del(keys.edges, keys.alive('e3'));
});

test('bad arguments exit 2 with one line; an unreachable Redis exits 1 with one line', async () => {
  for (const args of [
    ['weight', 'e1'], ['weight', 'e1', 'lots', '--redis', redis.url], ['weight', 'e1', '-3', '--redis', redis.url],
    ['weight', 'bad id', '5', '--redis', redis.url], ['drain'], ['drain', 'e1', 'e2', '--redis', redis.url],
    ['undrain', 'e1'], ['edges'], ['edges', '--lb', 'notaurl'], ['weight', 'e1', '5', '--bogus'],
  ]) {
    const r = await cascade(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}`);
    assert.equal(r.out.trim().split('\n').length, 1, r.out);
  }
  const down = await cascade('weight', 'e1', '5', '--redis', 'redis://127.0.0.1:1');
  assert.equal(down.code, 1);
  assert.match(down.out.trim(), /^cascade weight: cannot reach Redis at redis:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
});

test('cascade edges --redis leaves out what every LB rejects, and says so on stderr', async () => {
  await client.multi().hset(keys.edges, 'e5', 'ftp://127.0.0.1:9/5', 'e6', 'http://127.0.0.1:9/6')
    .set(keys.alive('e5'), '1', 'PX', 60_000).set(keys.alive('e6'), '1', 'PX', 60_000).hset(keys.weights, 'e6', 'lots').exec();
  try {
    const r = await cascade('edges', '--redis', redis.url);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /^e5\s/m, 'an LB never redirects to an ftp:// URL');
    assert.match(r.out, /^cascade edges: ignored, as every LB does: edges e5: not http\(s\)$/m);
    assert.match(r.out, /^e6\s+http:\/\/127\.0\.0\.1:9\/6\s+100\s+yes\s+/m, 'a malformed weight: the default, as at the LB');
    assert.match(r.out, /^cascade edges: ignored, as every LB does: weights e6: not a whole number/m);
  } finally {
    await client.multi().hdel(keys.edges, 'e5', 'e6').del(keys.alive('e5'), keys.alive('e6')).hdel(keys.weights, 'e6').exec();
  }
});

test('property: the edges cascade edges counts as alive are exactly the edges an LB uses, at the same weight and drain', async () => {
  // Ids, URLs and weights mixing valid values with ones the rules refuse.
  const id = fc.constantFrom('a', 'b', 'c.d', 'e_1', 'bad id', '../x', '');
  const url = fc.constantFrom('http://127.0.0.1:9/a', 'https://edge.example/', 'ftp://127.0.0.1:9', 'http://u:p@h', 'http://h/?q', 'not a url');
  const weight = fc.constantFrom('0', '5', '100', '1000000', '-1', '1.5', 'lots', '1000001');
  const contents = fc.record({
    edges: fc.array(fc.tuple(id, url, fc.boolean()), { maxLength: 6 }),
    weights: fc.array(fc.tuple(id, weight), { maxLength: 6 }),
    drained: fc.array(id, { maxLength: 3 }),
  });
  let run = 0;
  await fc.assert(fc.asyncProperty(contents, async (c) => {
    const prefix = `prop${run++}:`;
    const k = controlKeys(prefix);
    const tx = client.multi();
    for (const [i, u, alive] of c.edges) {
      tx.hset(k.edges, i, u);
      if (alive) tx.set(k.alive(i), '1', 'PX', 60_000);
    }
    for (const [i, w] of c.weights) tx.hset(k.weights, i, w);
    for (const i of c.drained) tx.sadd(k.drain, i);
    await tx.exec();
    const lb = await startLb({ health: { intervalMs: 0 }, redis: { url: redis.url, prefix, pollMs: 60_000 } });
    try {
      await pollUntil(() => (lb.lb.status().redis === 'up' ? true : undefined), 5000, 'LB reads Redis');
      await lb.lb.refresh();
      const used = lb.lb.status().edges.map((e) => [e.id, e.url, e.weight, e.drain]);
      const { rows } = await edgeRowsFromRedis(client, k);
      assert.deepEqual(rows.filter((r) => r.healthy === true).map((r) => [r.id, r.url, r.weight, r.drain]), used);
    } finally {
      await lb.close();
      const stale = await client.keys(`${prefix}*`);
      if (stale.length > 0) await client.del(...stale);
    }
  }), { numRuns: 25 });
});
