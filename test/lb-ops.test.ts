// `cascade edges|weight|drain|undrain` as an operator runs them, against a real Redis and a live LB.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
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
