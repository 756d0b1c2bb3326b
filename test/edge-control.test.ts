// Drain (SIGTERM and the Redis drain set), registration and heartbeat in a real redis-server, metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { createEdge, type Edge } from '../edge/index.js';
import { listen, type Listening } from '../src/serve.js';
import { clientAgent, get, rawGet } from './helpers/edge-client.js';
import { gate, startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';
import { CLI, freePort, startChild } from './helpers/process.js';
import { startRedis, type TestRedis } from './helpers/redis.js';

const LB = 'http://127.0.0.1:9'; // never contacted: only written into Location
const PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.ts\n';

/** Waits for a condition that has no event of its own (Redis-driven state), bounded. */
async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const agent = clientAgent(20);
let origin: FakeOrigin;
before(async () => {
  origin = await startFakeOrigin();
  origin.route('/hls/d/index.m3u8', { body: PLAYLIST });
  origin.route('/hls/d/seg1.ts', { body: 'segment' });
});
after(async () => { await agent.close(); await origin.close(); });

async function started(edge: Edge): Promise<Listening> {
  return listen(edge.app, { port: 0, host: '127.0.0.1' });
}

async function assertRedirects(url: string) {
  const p = await get(agent, url + '/hls/d/index.m3u8?token=1');
  assert.equal(p.status, 302);
  assert.equal(p.headers.location, `${LB}/hls/d/index.m3u8?token=1`);
  assert.equal(p.headers['x-cache'], 'REDIRECT');
  assert.equal(p.headers['access-control-allow-origin'], '*');
  assert.equal(p.headers['cache-control'], 'no-store');
  const s = await get(agent, url + '/hls/d/seg1.ts');
  assert.equal(s.status, 200, 'segments are still served while draining');
  assert.equal(s.body.toString(), 'segment');
}

describe('edge drain on shutdown', () => {
  it('redirects playlist requests to the LB once shutdown begins, still serving segments', async () => {
    const edge = createEdge({ id: 'e-shut', origins: [origin.url], lbUrl: LB });
    const server = await started(edge);
    assert.equal((await get(agent, server.url + '/hls/d/index.m3u8')).status, 200);
    await edge.beginShutdown!();
    await assertRedirects(server.url);
    assert.equal((await get(agent, server.url + '/healthz')).status, 503);
    await server.close(500);
    await edge.close();
  });

  it('SIGTERM on the CLI: in-flight requests finish, then exit 0', async () => {
    const held = gate();
    origin.route('/hls/d/held.ts', { body: 'held body', gate: held.promise });
    const port = await freePort();
    const child = startChild(process.execPath, [...CLI,
      'edge', '--port', String(port), '--origin', origin.url, '--lb', LB, '--id', 'e-cli', '--shutdown-grace', '5s']);
    await child.waitFor(/listening on/);
    const own = new Agent({ connections: 2 });
    const inflight = get(own, `http://127.0.0.1:${port}/hls/d/held.ts`);
    await until('the edge asked the origin', () => origin.count('/hls/d/held.ts') === 1);
    process.kill(child.pid, 'SIGTERM');
    let exited = false;
    void child.exited.then(() => { exited = true; });
    // Probed on new connections: a kept-alive one that was busy when the server closed stays open (and
    // answered) for the whole grace period, which made this loop outlast the in-flight request.
    await until('the edge stopped accepting', async () => {
      try { await rawGet(`http://127.0.0.1:${port}/healthz`); return false; } catch { return true; }
    });
    assert.equal(exited, false, 'waits for the in-flight request');
    held.open();
    const r = await inflight;
    assert.equal(r.body.toString(), 'held body');
    assert.equal(await child.exited, 0);
    await own.close();
  });
});

describe('edge with Redis', () => {
  let redis: TestRedis;
  let client: Redis;
  before(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('drains when its id is added to cascade:drain: at once on an events message, and by polling', async () => {
    const edge = createEdge({ id: 'e-red', origins: [origin.url], lbUrl: LB, redis: { url: redis.url, intervalMs: 60_000 } });
    const server = await started(edge);
    await until('the edge subscribed', async () => (await client.pubsub('NUMSUB', 'cascade:events'))[1] === 1);
    await client.sadd('cascade:drain', 'e-red');
    await client.publish('cascade:events', 'drain');
    // The poll interval is a minute here, so only the message can have done it.
    await until('drained by the message', () => edge.draining, 2_000);
    await assertRedirects(server.url);
    await client.srem('cascade:drain', 'e-red');
    await client.publish('cascade:events', 'undrain');
    await until('undrained', () => !edge.draining, 2_000);
    assert.equal((await get(agent, server.url + '/hls/d/index.m3u8')).status, 200);
    await server.close(500);
    await edge.close();

    const polled = createEdge({ id: 'e-poll', origins: [origin.url], lbUrl: LB, redis: { url: redis.url, intervalMs: 200 } });
    await client.sadd('cascade:drain', 'e-poll');
    await until('drained by polling, without a message', () => polled.draining, 3_000);
    await polled.close();
    await client.srem('cascade:drain', 'e-poll');
  });

  it('registers and heartbeats; keeps serving through a Redis outage and re-registers after it', async () => {
    const edge = createEdge({ id: 'e-reg', origins: [origin.url], publicUrl: 'http://127.0.0.1:18081', redis: { url: redis.url, intervalMs: 200 } });
    const server = await started(edge);
    await until('registered', async () => (await client.hget('cascade:edges', 'e-reg')) === 'http://127.0.0.1:18081');
    const ttl = await client.ttl('cascade:edge:e-reg:alive');
    assert.ok(ttl > 0 && ttl <= 1, `alive key TTL ${ttl}s`);
    await redis.stop();
    client.disconnect();
    const during = await get(agent, server.url + '/hls/d/seg1.ts');
    assert.equal(during.status, 200, 'serves without Redis');
    await redis.restart();
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    // The restarted Redis is empty: the heartbeat writes the registration again.
    await until('re-registered', async () => (await client.hget('cascade:edges', 'e-reg')) !== null, 10_000);
    await until('alive again', async () => (await client.exists('cascade:edge:e-reg:alive')) === 1);
    await edge.beginShutdown!();
    assert.equal(await client.exists('cascade:edge:e-reg:alive'), 0, 'withdrawn at shutdown');
    await server.close(500);
    await edge.close();
  });
});

describe('edge metrics', () => {
  it('counts requests by result, bytes, upstream requests, cache and viewers per stream', async () => {
    const edge = createEdge({ id: 'e-met', origins: [origin.url] });
    const server = await started(edge);
    await get(agent, server.url + '/hls/d/index.m3u8');
    await get(agent, server.url + '/hls/d/index.m3u8');
    // A second viewer: another loopback source address (undici ignores localAddress, node:http does not).
    await new Promise<void>((resolve, reject) => {
      httpGet(server.url + '/hls/d/index.m3u8', { localAddress: '127.0.0.2' }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    await get(agent, server.url + '/hls/d/seg1.ts');
    const text = (await get(agent, server.url + '/metrics')).body.toString();
    const value = (line: string) => Number(new RegExp(`^${line.replace(/[{}"]/g, (c) => '\\' + c)} (\\S+)$`, 'm').exec(text)?.[1]);
    const labels = 'role="edge",edge="e-met"';
    assert.equal(value(`cascade_edge_requests_total{result="MISS",${labels}}`), 2);
    assert.equal(value(`cascade_edge_requests_total{result="HIT",${labels}}`), 2);
    assert.equal(value(`cascade_edge_viewers{stream="d",${labels}}`), 2);
    assert.equal(value(`cascade_edge_cache_entries{${labels}}`), 2);
    assert.equal(value(`cascade_edge_bytes_out_total{${labels}}`), PLAYLIST.length * 3 + 'segment'.length);
    assert.match(text, new RegExp(`cascade_edge_upstream_requests_total\\{origin="${origin.url.replace(/[.]/g, '\\.')}",status="200",${labels}\\} 2`));
    assert.match(text, /cascade_edge_upstream_duration_seconds_bucket/);
    assert.match(text, /cascade_edge_clients_waiting\{[^}]*\} 0/);
    assert.match(text, /cascade_edge_upstream_inflight\{[^}]*\} 0/);
    await server.close(500);
    await edge.close();
  });
});
