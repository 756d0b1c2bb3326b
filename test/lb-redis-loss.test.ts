// The control plane losing its data (docs/lb.md, "Control plane") with a real redis-server: FLUSHALL and a
// Redis restarted empty move no client and answer no 503 while edges register again within a heartbeat;
// hostile data in every key the LB reads leaves it serving with sane state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createEdge, type Edge } from '../edge/index.js';
import { controlKeys } from '../src/control-plane.js';
import { createLogger } from '../src/log.js';
import { listen, type Listening } from '../src/serve.js';
import { startRedis, type TestRedis } from './helpers/redis.js';
import { apiEdges, ask, edgeOf, mapLimit, pollUntil, startFakeEdge, startLb, type RunningLb } from './helpers/lb-harness.js';
import { freePort } from './helpers/process.js';

const keys = controlKeys('cascade:');
const HEARTBEAT_MS = 1000;
const CLIENTS = Array.from({ length: 60 }, (_, i) => `198.51.100.${i + 1}`);

let redis: TestRedis;
let client: Redis;
const edges: { edge: Edge; server: Listening; id: string }[] = [];
let lb: RunningLb;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => { /* the restart test stops Redis on purpose */ });
  for (const id of ['e1', 'e2', 'e3']) {
    const port = await freePort();
    const edge = createEdge({ id, origins: ['http://127.0.0.1:9'], publicUrl: `http://127.0.0.1:${port}`, redis: { url: redis.url, intervalMs: HEARTBEAT_MS } });
    edges.push({ edge, server: await listen(edge.app, { port, host: '127.0.0.1' }), id });
  }
  lb = await startLb({ redis: { url: redis.url }, trustProxyHops: 1, health: { intervalMs: 500, timeoutMs: 1000, rise: 2, fall: 2 } });
  await pollUntil(async () => ((await apiEdges(lb.url)).filter((e) => e.healthy && e.health === 'up').length === 3 ? true : undefined), 15_000, 'the LB lists three healthy edges');
});

after(async () => {
  await lb.close();
  for (const e of edges) {
    await e.server.close(500);
    await e.edge.close();
  }
  client.disconnect();
  await redis.stop();
});

const urls = () => edges.map((e) => ({ id: e.id, url: e.server.url }));

/** Every client's edge now. */
async function assignment(): Promise<Map<string, string | number>> {
  const out = await mapLimit(CLIENTS, 10, async (ip) => {
    const r = await ask(`${lb.url}/hls/demo/index.m3u8`, { 'x-forwarded-for': ip });
    return [ip, r.status === 302 ? edgeOf(r.location, urls()) ?? `bad ${r.location}` : r.status] as const;
  });
  return new Map(out);
}

/** Asks for every client again and again while `during` runs; returns what changed. */
async function watchWhile(baseline: Map<string, string | number>, during: () => Promise<void>): Promise<string[]> {
  const changes: string[] = [];
  let done = false;
  const watcher = (async () => {
    for (let round = 0; round < 500 && !done; round++) {
      for (const [ip, edge] of await assignment()) {
        if (edge !== baseline.get(ip)) changes.push(`${ip}: ${baseline.get(ip)} -> ${edge}`);
      }
    }
  })();
  try {
    await during();
  } finally {
    done = true;
    await watcher;
  }
  return changes;
}

async function registeredInRedis(): Promise<string[]> {
  const listed = await client.hgetall(keys.edges).catch(() => ({} as Record<string, string>));
  const alive = await Promise.all(Object.keys(listed).map(async (id) => ((await client.exists(keys.alive(id)).catch(() => 0)) === 1 ? id : undefined)));
  return alive.filter((id) => id !== undefined).sort();
}

test('FLUSHALL: no client moves, no 503, and every edge is back in Redis within one heartbeat', async () => {
  const baseline = await assignment();
  assert.deepEqual([...new Set(baseline.values())].sort(), ['e1', 'e2', 'e3'], 'clients spread over every edge');
  let backAfterMs = -1;
  const changes = await watchWhile(baseline, async () => {
    await client.flushall();
    const t0 = Date.now();
    await pollUntil(async () => ((await registeredInRedis()).length === 3 ? true : undefined), 10_000, 'edges registered again', 10);
    backAfterMs = Date.now() - t0;
    // Several LB polls after the edges came back, and health rounds in between.
    await new Promise((r) => setTimeout(r, 1500));
  });
  assert.deepEqual(changes, []);
  // One heartbeat, plus scheduling slack on a loaded machine.
  assert.ok(backAfterMs <= HEARTBEAT_MS + 500, `edges back after ${backAfterMs} ms`);
  assert.deepEqual((await apiEdges(lb.url)).map((e) => [e.id, e.healthy]), [['e1', true], ['e2', true], ['e3', true]]);
});

test('Redis restarted empty: no client moves, no 503, and the edges register again as soon as it is up', async () => {
  const baseline = await assignment();
  let backAfterMs = -1;
  const changes = await watchWhile(baseline, async () => {
    await redis.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    const t0 = Date.now();
    await pollUntil(async () => ((await registeredInRedis()).length === 3 ? true : undefined), 15_000, 'edges registered again', 20);
    backAfterMs = Date.now() - t0;
    await new Promise((r) => setTimeout(r, 1500));
  });
  assert.deepEqual(changes, []);
  // The edges' Redis clients reconnect with a backoff of at most 2 s, then register at once.
  assert.ok(backAfterMs <= 2000 + HEARTBEAT_MS, `edges back after ${backAfterMs} ms`);
});

test('a registration Redis lost is kept only while its edge passes health checks', async () => {
  // An edge that registered once and then stopped heartbeating: after FLUSHALL nothing brings it back.
  const silent = await startFakeEdge('e9');
  await client.multi().hset(keys.edges, 'e9', silent.url).set(keys.alive('e9'), silent.url, 'EX', 60).publish(keys.events, 'e9').exec();
  const urlsWithE9 = [...urls(), { id: 'e9', url: silent.url }];
  const where = async () => new Map((await mapLimit(CLIENTS, 10, async (ip) => {
    const r = await ask(`${lb.url}/hls/demo/index.m3u8`, { 'x-forwarded-for': ip });
    return [ip, r.status === 302 ? edgeOf(r.location, urlsWithE9) ?? r.location : r.status] as const;
  })));
  try {
    await pollUntil(async () => ((await apiEdges(lb.url)).find((e) => e.id === 'e9')?.health === 'up' ? true : undefined), 10_000, 'e9 healthy in the LB');
    const before = await where();
    assert.ok([...before.values()].includes('e9'), 'some clients on e9');
    await client.flushall();
    await pollUntil(async () => ((await registeredInRedis()).length === 3 ? true : undefined), 10_000, 'the live edges registered again');
    await new Promise((r) => setTimeout(r, 1200));
    assert.deepEqual(await where(), before, 'e9 kept while healthy: nobody moved');
    await silent.stop();
    await pollUntil(async () => ((await apiEdges(lb.url)).some((e) => e.id === 'e9') ? undefined : true), 10_000, 'e9 dropped once its checks fail');
    const after = await where();
    for (const [ip, edge] of before) {
      if (edge === 'e9') assert.notEqual(after.get(ip), 'e9', ip);
      else assert.equal(after.get(ip), edge, `${ip} stays where it was`);
    }
  } finally {
    await silent.stop();
    await client.hdel(keys.edges, 'e9');
  }
});

test('hostile data in every key the LB reads: it keeps serving with sane state and reports each entry once', async () => {
  const lines: string[] = [];
  const watched = await startLb({ redis: { url: redis.url }, health: { intervalMs: 0 }, log: createLogger({ level: 'warn', write: (l) => lines.push(l) }) });
  try {
    await pollUntil(async () => ((await apiEdges(watched.url)).length === 3 ? true : undefined), 10_000, 'the LB sees e1, e2 and e3');
    const hostileUrls: Record<string, string> = {
      h1: 'javascript:alert(1)', h2: 'http://user:secret@127.0.0.1:9', h3: 'http://127.0.0.1:9/#frag', h4: 'http://127.0.0.1:9/?q=1',
      h5: 'ftp://127.0.0.1:9', h6: 'http://127.0.0.1:9\r\nSet-Cookie: x=1', h7: `http://127.0.0.1:9/${'a'.repeat(3000)}`, h8: 'data:text/html,x',
      h9: '//127.0.0.1:9', h10: ' http://127.0.0.1:9', 'bad id!': 'http://127.0.0.1:9', [`${'x'.repeat(70)}`]: 'http://127.0.0.1:9',
    };
    const tx = client.multi().hset(keys.edges, hostileUrls);
    for (const id of Object.keys(hostileUrls)) tx.set(keys.alive(id), '1', 'EX', 60);
    await tx
      .hset(keys.weights, { e1: '-5', e2: '1.5', h1: '10', 'bad id!': '7', x: '1e3', y: '99999999', z: 'NaN', w: '0x10', v: '' })
      .sadd(keys.drain, 'bad id!', '../e1', '\u0000')
      .publish(keys.events, 'hostile')
      .exec();
    // Several reads: each bad entry is reported once, not on every poll.
    await watched.lb.refresh();
    await watched.lb.refresh();
    await new Promise((r) => setTimeout(r, 1200));
    const listed = await apiEdges(watched.url);
    assert.deepEqual(listed.map((e) => [e.id, e.url, e.weight]), edges.map((e) => [e.id, e.server.url, 100]), 'malformed weights are ignored: the default applies');
    for (const e of listed) assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const rejected = lines.filter((l) => l.includes('"redis_entry_rejected"'));
    const expected = 12 /* edges */ + 8 /* weights */ + 3 /* drain */;
    assert.equal(rejected.length, expected, rejected.join('\n'));
    assert.equal(new Set(rejected).size, rejected.length, 'each reported once');
    const metrics = await (await fetch(`${watched.url}/metrics`)).text();
    assert.match(metrics, /cascade_lb_redis_rejected_entries_total\{key="edges",role="lb"\} 12/);
    assert.match(metrics, /cascade_lb_redis_rejected_entries_total\{key="weights",role="lb"\} 8/);
    // Redirects go only to the real edges, and never carry what Redis held.
    for (const ip of CLIENTS.slice(0, 20)) {
      const r = await ask(`${watched.url}/hls/demo/index.m3u8`, { 'x-forwarded-for': ip });
      if (r.status === 302) assert.match(r.location!, /^http:\/\/127\.0\.0\.1:\d+\/hls\/demo\/index\.m3u8$/);
      else assert.equal(r.status, 503);
    }

    // A key of the wrong type: the LB keeps what it had for that key.
    await client.multi().del(keys.weights).set(keys.weights, 'not a hash').exec();
    await watched.lb.refresh();
    await watched.lb.refresh();
    assert.equal(lines.filter((l) => l.includes('WRONGTYPE')).length, 1);
    assert.deepEqual((await apiEdges(watched.url)).map((e) => e.id), ['e1', 'e2', 'e3']);
    const state = await fetch(`${watched.url}/api/edges`);
    assert.equal(state.headers.get('x-cascade-redis'), 'up');
    await state.arrayBuffer();
  } finally {
    await client.del(keys.weights, keys.drain);
    await client.hdel(keys.edges, 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7', 'h8', 'h9', 'h10', 'bad id!', 'x'.repeat(70));
    await watched.close();
  }
});
