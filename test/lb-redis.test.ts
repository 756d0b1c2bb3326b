// The LB against a real Redis control plane: plain HSETs apply within a second, registrations with a
// live heartbeat join, drain counts as weight 0, published events apply at once, and the LB keeps
// serving with what it knew while Redis is down (at start or later).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { controlKeys } from '../src/control-plane.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { apiEdges, ask, edgeOf, pollUntil, startLb, type RunningLb } from './helpers/lb-harness.js';

const keys = controlKeys('cascade:');
const statics = [
  { id: 'e1', url: 'http://127.0.0.1:9/one', weight: 100 },
  { id: 'e2', url: 'http://127.0.0.1:9/two', weight: 100 },
];
let redis: TestRedis;
let client: Redis;
const running: RunningLb[] = [];
const lbWith = async (config: Parameters<typeof startLb>[0]) => {
  const r = await startLb({ edges: statics, health: { intervalMs: 0 }, ...config });
  running.push(r);
  return r;
};
const weightOf = async (lbUrl: string, id: string) => (await apiEdges(lbUrl)).find((e) => e.id === id)?.weight;
const redisState = async (lbUrl: string) => (await request(`${lbUrl}/api/edges`).then(async (r) => { await r.body.dump(); return r.headers['x-cascade-redis']; }));

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => { /* the outage test stops Redis on purpose */ });
});
after(async () => {
  await Promise.all(running.map((r) => r.close()));
  client.disconnect();
  await redis.stop();
});

test('a plain redis-cli HSET cascade:weights is applied within 1 second', async () => {
  await client.del(keys.weights, keys.drain, keys.edges);
  const { url } = await lbWith({ redis: { url: redis.url } });
  await pollUntil(async () => ((await redisState(url)) === 'up' ? true : undefined), 5000, 'LB reads Redis');
  await client.hset(keys.weights, 'e2', 0);
  const start = Date.now();
  await pollUntil(async () => ((await weightOf(url, 'e2')) === 0 ? true : undefined), 1000, 'weight 0 visible');
  const elapsed = Date.now() - start;
  assert.ok(elapsed <= 1000, `${elapsed} ms`);
  for (let i = 0; i < 20; i++) {
    const r = await ask(`${url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': `192.0.2.${i}` });
    assert.equal(edgeOf(r.location, statics), 'e1');
  }
  const metrics = await (await request(`${url}/metrics`)).body.text();
  assert.match(metrics, /cascade_lb_edge_weight\{edge="e2",role="lb"\} 0/);
  assert.match(metrics, /cascade_lb_redis_up\{role="lb"\} 1/);
  await client.hdel(keys.weights, 'e2');
});

test('registered edges join while their heartbeat lives; drain counts as weight 0; events apply at once', async () => {
  await client.del(keys.weights, keys.drain, keys.edges);
  // A poll period far beyond the test: only the events channel can explain a quick change.
  const { url } = await lbWith({ redis: { url: redis.url, pollMs: 60_000 } });
  await pollUntil(async () => ((await redisState(url)) === 'up' ? true : undefined), 5000, 'LB reads Redis');
  await client.multi().hset(keys.edges, 'e3', 'http://127.0.0.1:9/three/').set(keys.alive('e3'), '1', 'PX', 60_000).publish(keys.events, 'x').exec();
  const e3 = await pollUntil(async () => (await apiEdges(url)).find((e) => e.id === 'e3'), 1000, 'e3 registered');
  assert.equal(e3.url, 'http://127.0.0.1:9/three');
  assert.equal(e3.weight, 100);

  await client.multi().hset(keys.weights, 'e1', 0).sadd(keys.drain, 'e2').publish(keys.events, 'x').exec();
  const drained = await pollUntil(async () => {
    const list = await apiEdges(url);
    return list.find((e) => e.id === 'e2')?.drain ? list : undefined;
  }, 1000, 'e2 drained');
  assert.deepEqual(drained.map((e) => [e.id, e.weight, e.drain, e.share]), [['e1', 0, false, 0], ['e2', 0, true, 0], ['e3', 100, false, 1]]);

  await client.multi().del(keys.alive('e3')).publish(keys.events, 'x').exec();
  await pollUntil(async () => ((await apiEdges(url)).some((e) => e.id === 'e3') ? undefined : true), 1000, 'e3 gone with its heartbeat');
  const r = await ask(`${url}/hls/demo/index.m3u8`);
  assert.equal(r.status, 503, 'e1 at 0, e2 drained, e3 gone');
  await client.del(keys.weights, keys.drain, keys.edges);
});

test('Redis killed and restarted: the LB serves throughout with what it knew, then follows again', async () => {
  await client.del(keys.weights, keys.drain, keys.edges);
  await client.hset(keys.weights, 'e1', 0);
  const { url } = await lbWith({ redis: { url: redis.url } });
  await pollUntil(async () => ((await weightOf(url, 'e1')) === 0 ? true : undefined), 5000, 'initial weights read');

  await redis.stop();
  await pollUntil(async () => ((await redisState(url)) === 'down' ? true : undefined), 5000, 'outage noticed');
  const metrics = await (await request(`${url}/metrics`)).body.text();
  assert.match(metrics, /cascade_lb_redis_up\{role="lb"\} 0/);
  for (let i = 0; i < 20; i++) {
    const r = await ask(`${url}/hls/demo/index.m3u8`, { 'X-Forwarded-For': `192.0.2.${i}` });
    assert.equal(r.status, 302);
    assert.equal(edgeOf(r.location, statics), 'e2', 'last known weights still apply');
  }

  await redis.restart();
  // Redis came back empty (no persistence): the weights it now holds are the defaults.
  await pollUntil(async () => ((await redisState(url)) === 'up' ? true : undefined), 10_000, 'reconnected');
  await client.hset(keys.weights, 'e2', 0);
  await pollUntil(async () => ((await weightOf(url, 'e2')) === 0 ? true : undefined), 2000, 'changes apply again');
  assert.equal(await weightOf(url, 'e1'), 100);
  await client.del(keys.weights);
});

test('Redis down at start: the static list serves, Redis weights apply once it comes up', async () => {
  await redis.stop();
  const { url } = await lbWith({ redis: { url: redis.url } });
  const r = await ask(`${url}/hls/demo/index.m3u8`);
  assert.equal(r.status, 302);
  assert.equal(await redisState(url), 'down');
  await redis.restart();
  await client.hset(keys.weights, 'e1', 7);
  await pollUntil(async () => ((await weightOf(url, 'e1')) === 7 ? true : undefined), 10_000, 'weights after Redis came up');
  await client.del(keys.weights);
});
