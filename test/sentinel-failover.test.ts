// The control plane through Redis Sentinel, with real processes: two edges and two LBs given a
// redis-sentinel:// URL, a primary SIGKILLed mid-traffic. The sentinels promote the replica; within 5 s of
// that every LB applies a weight written to the new primary, every edge's heartbeat lands there, and the
// ops commands reach it through the same URL — while a bounded loop of players through both LBs sees no
// 5xx and no failed request at any point (the LBs keep edges whose heartbeats lapsed during the outage
// until they beat on the new primary).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { controlKeys } from '../src/control-plane.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';
import { pollUntil } from './helpers/lb-harness.js';
import { sentinelMissing, startSentinelSet, type SentinelSet } from './helpers/sentinel.js';

const keys = controlKeys();
const PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\ns0.ts\n';
const FOLLOW_WITHIN_MS = 5000;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

async function startOrigin(): Promise<string> {
  const server: Server = createServer((req, res) => {
    const m3u8 = req.url?.endsWith('.m3u8');
    res.writeHead(200, { 'content-type': m3u8 ? 'application/vnd.apple.mpegurl' : 'video/mp2t', 'cache-control': 'max-age=1' });
    res.end(m3u8 ? PLAYLIST : Buffer.alloc(1024));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function startRole(args: string[]): Promise<Child> {
  const child = startChild(process.execPath, [...CLI, ...args, '--log-level', 'info']);
  cleanups.push(() => child.kill('SIGKILL'));
  await child.waitFor(/listening on/, 30_000);
  return child;
}

async function edgesAt(lb: string): Promise<{ id: string; weight: number; healthy: boolean }[]> {
  const res = await request(`${lb}/api/edges`);
  return (await res.body.json()) as never;
}

/** GET the playlist through the LB and from the edge it names: the whole path a player takes. */
async function play(lb: string): Promise<string | undefined> {
  try {
    const r = await request(`${lb}/hls/demo/index.m3u8`, { headersTimeout: 3000, bodyTimeout: 3000 });
    await r.body.dump();
    if (r.statusCode !== 302) return `LB answered ${r.statusCode}`;
    const e = await request(String(r.headers.location), { headersTimeout: 3000, bodyTimeout: 3000 });
    await e.body.dump();
    return e.statusCode === 200 ? undefined : `edge answered ${e.statusCode}`;
  } catch (err) {
    return (err as Error).message;
  }
}

test('Sentinel failover: LBs and edges follow the new primary within 5 s and never stop serving', { skip: sentinelMissing(), timeout: 180_000 }, async () => {
  // Failure detection slower than the edges' heartbeat TTL (5 s), as in production (Sentinel's default is
  // 30 s): the new primary's heartbeat keys have expired when it takes over.
  const set: SentinelSet = await startSentinelSet({ downAfterMs: 6000 });
  cleanups.push(() => set.stop());
  const origin = await startOrigin();
  const ids = ['e1', 'e2'];
  const edgePorts = await Promise.all(ids.map(() => freePort()));
  await Promise.all(ids.map((id, i) => startRole(['edge', '--port', String(edgePorts[i]), '--id', id, '--origin', origin,
    '--public-url', `http://127.0.0.1:${edgePorts[i]}`, '--redis', set.url])));
  const lbPorts = await Promise.all([freePort(), freePort()]);
  const lbs = lbPorts.map((p) => `http://127.0.0.1:${p}`);
  const lbChildren = await Promise.all(lbPorts.map((p) => startRole(['lb', '--port', String(p), '--redis', set.url])));
  for (const lb of lbs) {
    await pollUntil(async () => ((await edgesAt(lb)).filter((e) => e.healthy).length === 2 ? true : undefined), 20_000, `both edges registered at ${lb}`, 100);
  }

  // Players through both LBs for the whole failover: bounded in count and in time.
  const failures: string[] = [];
  let played = 0;
  let stopLoop = false;
  const loop = (async () => {
    const deadline = Date.now() + 120_000;
    for (let i = 0; !stopLoop && i < 20_000 && Date.now() < deadline; i++) {
      const problem = await play(lbs[i % lbs.length]!);
      played++;
      if (problem) failures.push(`${new Date().toISOString()} ${problem}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  try {
    const oldPrimary = set.primary.port;
    await pollUntil(() => (played > 20 ? true : undefined), 10_000, 'players running');
    await set.primary.child.kill('SIGKILL');
    const killedAt = Date.now();
    await pollUntil(async () => ((await set.primaryPort()) !== oldPrimary ? true : undefined), 30_000, 'the sentinels promote the replica', 50);
    const promotedAt = Date.now();
    assert.equal(await set.primaryPort(), set.replica.port);
    const newPrimary = set.client(set.replica.port);

    // A weight written to the new primary with a plain HSET (no event: only the LB's poll can find it).
    await newPrimary.hset(keys.weights, 'e1', 50);
    const heartbeats = Promise.all(ids.map(async (id) => {
      // The alive key's TTL (5 heartbeats) only goes up again when an edge's heartbeat rewrites it.
      let last = await newPrimary.pttl(keys.alive(id));
      return pollUntil(async () => {
        const ttl = await newPrimary.pttl(keys.alive(id));
        const rewritten = ttl > last;
        last = ttl;
        return rewritten ? Date.now() - promotedAt : undefined;
      }, 10_000, `edge ${id} heartbeats on the new primary`, 25);
    }));
    const weightApplied = Promise.all(lbs.map((lb) => pollUntil(async () =>
      ((await edgesAt(lb)).find((e) => e.id === 'e1')?.weight === 50 ? Date.now() - promotedAt : undefined), 10_000, `${lb} applies the weight`, 25)));
    const [beats, applied] = await Promise.all([heartbeats, weightApplied]);
    console.log(`failover: promoted ${promotedAt - killedAt} ms after the kill; weight applied by the LBs after ${applied.join(', ')} ms; heartbeats on the new primary after ${beats.join(', ')} ms`);
    for (const ms of [...applied, ...beats]) assert.ok(ms <= FOLLOW_WITHIN_MS, `followed within ${FOLLOW_WITHIN_MS} ms: ${ms}`);

    // The ops commands take the same URL and write to whichever primary the sentinels name.
    const weight = startChild(process.execPath, [...CLI, 'weight', 'e2', '70', '--redis', set.url]);
    assert.equal(await weight.exited, 0, weight.output());
    assert.equal(await newPrimary.hget(keys.weights, 'e2'), '70');
    for (const lb of lbs) await pollUntil(async () => ((await edgesAt(lb)).find((e) => e.id === 'e2')?.weight === 70 ? true : undefined), FOLLOW_WITHIN_MS, `${lb} applies cascade weight`, 25);

    // Past the heartbeat TTL of the keys the old primary had: nothing lapsed.
    await new Promise((r) => setTimeout(r, 3000));
    for (const lb of lbs) assert.deepEqual((await edgesAt(lb)).map((e) => [e.id, e.healthy]), [['e1', true], ['e2', true]]);
    for (const child of lbChildren) assert.match(child.output(), /redis_up/);
  } finally {
    stopLoop = true;
    await loop;
  }
  assert.ok(played > 100, `players kept asking: ${played}`);
  assert.deepEqual(failures, [], `no failed request in ${played}`);
});
