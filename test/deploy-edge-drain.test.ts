// A rolling update of an edge as the Helm chart wires it, played out with the real processes: origin,
// two edges and the LB run with the environment the chart renders (cluster addresses replaced by
// loopback ones), players reload a live playlist through the LB, and the edge pod's own preStop command
// runs, then SIGTERM, as the kubelet does. Every player moves to the other edge and none sees an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { dirname, join } from 'node:path';
import { envOf, helmMissing, mainContainer, podSpec, renderObjects, root, workload, type Container } from './helpers/chart.js';
import { freePort, startChild, type Child } from './helpers/process.js';
import { startRedis } from './helpers/redis.js';

const cli = join(root, 'dist', 'cli.js');
const TARGET_DURATION = 2; // the chart's default segmentSeconds
const PLAYERS = 8;

function hasRedis(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

/**
 * A container's environment as the kubelet would give it: downward-API and Secret values from
 * `resolved`, $(VAR) expanded from earlier variables, then `overrides` (the loopback addresses).
 */
function podEnv(c: Container, resolved: Record<string, string>, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const raw = e.value ?? resolved[e.name];
    assert.ok(raw !== undefined, `${c.name}: a value for ${e.name}`);
    env[e.name] = raw.replace(/\$\((\w+)\)/g, (m, name: string) => env[name] ?? m);
  }
  return { ...env, ...overrides, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: process.env.HOME ?? '/tmp' };
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
      if (segment.hop.status !== 200 || segment.hop.body.length !== 4096) throw new Error(`segment ${segment.hop.status}, ${segment.hop.body.length} bytes`);
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
  const token = Buffer.from(objects.find((o) => o.kind === 'Secret')!.data!.token!, 'base64').toString();
  const [originC, edgeC, lbC] = (['origin', 'edge', 'lb'] as const).map((role) => mainContainer(workload(objects, role)));
  const edgePod = podSpec(workload(objects, 'edge'));

  const redis = await startRedis();
  const children: Child[] = [];
  t.after(async () => {
    for (const c of children) await c.kill('SIGKILL');
    await redis.stop();
  });
  const [originPort, lbPort, ...edgePorts] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const origin = `http://127.0.0.1:${originPort}`;
  const lb = `http://127.0.0.1:${lbPort}`;
  const loopback = (port: number) => ({ CASCADE_HOST: '127.0.0.1', CASCADE_PORT: String(port), CASCADE_REDIS: redis.url });
  const start = async (env: Record<string, string>, role: string) => {
    const child = startChild(process.execPath, [cli, role], { env, cwd: root });
    children.push(child);
    await child.waitFor(/listening on/, 20_000);
    return child;
  };

  await start(podEnv(originC!, { CASCADE_UPLOAD_TOKEN: token }, loopback(originPort!)), 'origin');
  const edges = new Map<string, { child: Child; env: Record<string, string> }>();
  for (const [i, port] of edgePorts.entries()) {
    const pod = `rel-cascade-edge-7c9d5b${i}-x${i}q2z`;
    const env = podEnv(edgeC!, { POD_NAME: pod, POD_IP: '127.0.0.1', HOST_IP: '127.0.0.1', NODE_NAME: `node-${i}` },
      { ...loopback(port), CASCADE_ORIGIN: origin, CASCADE_LB: lb });
    assert.equal(env.CASCADE_ID, pod, 'the edge id is its pod name');
    // The chart's default public URL with the pod's address; the port is the loopback stand-in's.
    assert.equal(env.CASCADE_PUBLIC_URL, 'http://127.0.0.1:8081');
    env.CASCADE_PUBLIC_URL = `http://127.0.0.1:${port}`;
    edges.set(pod, { child: await start(env, 'edge'), env });
  }
  await start(podEnv(lbC!, {}, loopback(lbPort!)), 'lb');

  // The live stream: a segment every target duration, uploaded as a transcoder does (token and all).
  let sequence = 0;
  const publish = async () => {
    const auth = { authorization: `Bearer ${token}` };
    const put = async (path: string, body: Buffer | string) => {
      const res = await fetch(`${origin}/hls/live/${path}`, { method: 'PUT', headers: auth, body });
      assert.ok(res.ok, `PUT ${path}: ${res.status}`);
    };
    await put(`s${sequence}.ts`, randomBytes(4096));
    const first = Math.max(0, sequence - 3);
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${TARGET_DURATION}`, `#EXT-X-MEDIA-SEQUENCE:${first}`];
    for (let n = first; n <= sequence; n++) lines.push(`#EXTINF:${TARGET_DURATION}.000,`, `s${n}.ts`);
    await put('v.m3u8', lines.join('\n') + '\n');
    sequence++;
  };
  for (let i = 0; i < 3; i++) await publish();
  const publisher = setInterval(() => void publish().catch(() => undefined), TARGET_DURATION * 1000);
  t.after(() => clearInterval(publisher));

  // Both edges registered and healthy at the LB.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const list = await (await fetch(`${lb}/api/edges`)).json() as { id: string; healthy: boolean }[];
    if (list.filter((e) => e.healthy && edges.has(e.id)).length === 2) break;
    assert.ok(Date.now() < deadline, `both edges healthy at the LB: ${JSON.stringify(list)}`);
    await new Promise((r) => setTimeout(r, 200));
  }

  // Players from their own loopback addresses (the LB hashes the client address), reloading at half the
  // target duration, as hls.js does while the playlist has not changed.
  const players = Array.from({ length: PLAYERS }, (_, i) => new Player(lb, `127.0.0.${10 + i}`));
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
  const preStop = edgeC!.lifecycle!.preStop!.exec!.command;
  const began = Date.now();
  const hook = startChild(preStop[0]!, preStop.slice(1), { cwd: root, env: edges.get(leaving)!.env });
  children.push(hook);
  assert.equal(await hook.exited, 0, hook.output());
  const hookSeconds = (Date.now() - began) / 1000;
  assert.match(hook.output(), new RegExp(`${leaving} drained`));
  assert.ok(hookSeconds < edgePod.terminationGracePeriodSeconds!, `preStop took ${hookSeconds} s`);
  for (const p of movers) assert.equal(p.edgeNow(), staying, `${p.address} moved to ${staying} before SIGTERM`);
  const lastOnLeaving = Math.max(...players.flatMap((p) => p.servedBy.filter((s) => s.edge === leaving).map((s) => s.at)));
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
