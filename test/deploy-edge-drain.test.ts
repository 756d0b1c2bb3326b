// A rolling update of an edge as the Helm chart wires it, played out with the real processes: origin,
// two edges and the LB run with the environment the chart renders (cluster addresses replaced by
// loopback ones), players reload a live playlist through the LB, and the edge pod's own preStop command
// runs, then SIGTERM, as the kubelet does. Every player moves to the other edge and none sees an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { helmMissing, mainContainer, podSpec, renderObjects, root, workload } from './helpers/chart.js';
import { SEGMENT_BYTES, startRoles, startLivePublisher, untilEdgesHealthy } from './helpers/roles.js';
import { startChild } from './helpers/process.js';
import { startRedis } from './helpers/redis.js';

const cli = join(root, 'dist', 'cli.js');
const TARGET_DURATION = 2; // the chart's default segmentSeconds
const PLAYERS = 8;

function hasRedis(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

interface Hop { status: number; headers: IncomingHttpHeaders; body: Buffer }

function getFrom(url: string, localAddress: string): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const req = request(url, { localAddress, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A player as hls.js behaves: follows redirects, keeps the final URL as the base for the next reload. */
class Player {
  url: string;
  errors: string[] = [];
  servedBy: { at: number; edge: string }[] = [];
  constructor(lb: string, readonly address: string) {
    this.url = `${lb}/hls/live/v.m3u8`;
  }

  async follow(url: string): Promise<{ hop: Hop; url: string }> {
    for (let i = 0; i < 5; i++) {
      const hop = await getFrom(url, this.address);
      if (hop.status !== 302) return { hop, url };
      url = new URL(hop.headers.location!, url).toString();
    }
    throw new Error(`redirect loop from ${url}`);
  }

  async step(): Promise<void> {
    try {
      const playlist = await this.follow(this.url);
      if (playlist.hop.status !== 200) throw new Error(`playlist ${playlist.hop.status} from ${playlist.url}`);
      this.url = playlist.url;
      this.servedBy.push({ at: Date.now(), edge: String(playlist.hop.headers['x-served-by']) });
      const newest = playlist.hop.body.toString().trim().split('\n').filter((l) => l && !l.startsWith('#')).at(-1)!;
      const segment = await this.follow(new URL(newest, playlist.url).toString());
      if (segment.hop.status !== 200 || segment.hop.body.length !== SEGMENT_BYTES) throw new Error(`segment ${segment.hop.status}, ${segment.hop.body.length} bytes`);
    } catch (err) {
      this.errors.push(`${new Date().toISOString()} ${(err as Error).message}`);
    }
  }

  edgeNow(): string | undefined {
    return this.servedBy.at(-1)?.edge;
  }
}

test('rolling update of an edge, as the chart wires it: preStop drains, players move to the other edge without one error, SIGTERM exits 0', async (t) => {
  const missing = helmMissing() ?? (existsSync(cli) ? undefined : 'dist/cli.js not built (npm run build)') ?? (hasRedis() ? undefined : 'no redis-server');
  if (missing) return t.skip(missing);
  const objects = renderObjects();
  const edgeC = mainContainer(workload(objects, 'edge'));
  const edgePod = podSpec(workload(objects, 'edge'));
  const redis = await startRedis();
  t.after(() => redis.stop());
  const roles = await startRoles(redis.url, { chart: objects });
  t.after(() => roles.stop());
  const publisher = await startLivePublisher(roles.origin, roles.token, 'live', TARGET_DURATION);
  t.after(() => publisher.stop());
  const edges = new Map(roles.edges.map((e) => [e.id, e]));
  await untilEdgesHealthy(roles.lb, [...edges.keys()]);

  // Players from their own loopback addresses (the LB hashes the client address), reloading at half the
  // target duration, as hls.js does while the playlist has not changed.
  const players = Array.from({ length: PLAYERS }, (_, i) => new Player(roles.lb, `127.0.0.${10 + i}`));
  let playing = true;
  t.after(() => { playing = false; });
  const loops = players.map(async (p) => {
    while (playing) {
      await p.step();
      await new Promise((r) => setTimeout(r, (TARGET_DURATION * 1000) / 2));
    }
  });
  const settle = Date.now() + 30_000;
  while (!players.every((p) => p.servedBy.length >= 2)) {
    assert.ok(Date.now() < settle, 'every player plays');
    await new Promise((r) => setTimeout(r, 100));
  }
  const leaving = players[0]!.edgeNow()!;
  const staying = [...edges.keys()].find((id) => id !== leaving)!;
  const movers = players.filter((p) => p.edgeNow() === leaving);
  t.diagnostic(`${movers.length} of ${PLAYERS} players on ${leaving}, the edge being replaced`);

  // The kubelet: preStop in the edge's container (same environment), then SIGTERM.
  const preStop = edgeC.lifecycle!.preStop!.exec!.command;
  const began = Date.now();
  const hook = startChild(preStop[0]!, preStop.slice(1), { cwd: root, env: edges.get(leaving)!.env });
  t.after(() => hook.kill('SIGKILL'));
  assert.equal(await hook.exited, 0, hook.output());
  const hookSeconds = (Date.now() - began) / 1000;
  assert.match(hook.output(), new RegExp(`${leaving} drained`));
  assert.ok(hookSeconds < edgePod.terminationGracePeriodSeconds!, `preStop took ${hookSeconds} s`);
  for (const p of movers) assert.equal(p.edgeNow(), staying, `${p.address} moved to ${staying} before SIGTERM`);
  const lastOnLeaving = Math.max(...players.flatMap((p) => p.servedBy.filter((s) => s.edge === leaving).map((s) => s.at)));
  t.diagnostic(`preStop took ${hookSeconds.toFixed(1)} s; the leaving edge served its last playlist ${((lastOnLeaving - began) / 1000).toFixed(1)} s after it began`);
  assert.ok(lastOnLeaving - began < TARGET_DURATION * 2 * 1000 + 1500,
    `the last player left ${((lastOnLeaving - began) / 1000).toFixed(1)} s after the drain, within two target durations`);

  const stopped = Date.now();
  const code = await edges.get(leaving)!.child.kill('SIGTERM');
  assert.equal(code, 0, 'the edge exits 0 on SIGTERM');
  assert.ok((Date.now() - stopped) / 1000 + hookSeconds < edgePod.terminationGracePeriodSeconds!, 'inside the grace period');
  // Players carry on against the remaining edge for two more target durations.
  const served = players.map((p) => p.servedBy.length);
  await new Promise((r) => setTimeout(r, TARGET_DURATION * 2 * 1000));
  playing = false;
  await Promise.all(loops);
  players.forEach((p, i) => assert.ok(p.servedBy.length > served[i]!, `${p.address} kept playing`));
  assert.deepEqual(players.flatMap((p) => p.errors), [], 'no player saw an error');
  for (const p of players) assert.equal(p.edgeNow(), staying);
});
