// cascade's roles as processes on loopback, optionally configured as the Helm chart configures them:
// each gets the environment the chart renders for its container (downward-API and Secret values filled
// in, $(VAR) expanded as the kubelet does), with the cluster's addresses replaced by loopback ones. And a
// live stream for them: a segment every target duration, uploaded as a transcoder does.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { mainContainer, root, workload, type Container, type K8sObject } from './chart.js';
import { freePort, startChild, type Child } from './process.js';

const cli = join(root, 'dist', 'cli.js');

/**
 * A container's environment as the kubelet would give it: downward-API and Secret values from
 * `resolved`, $(VAR) expanded from earlier variables, then `overrides` (the loopback addresses).
 */
export function podEnv(c: Container, resolved: Record<string, string>, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    const raw = e.value ?? resolved[e.name];
    assert.ok(raw !== undefined, `${c.name}: a value for ${e.name}`);
    env[e.name] = raw.replace(/\$\((\w+)\)/g, (m, name: string) => env[name] ?? m);
  }
  return { ...env, ...overrides, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: process.env.HOME ?? '/tmp' };
}

export interface RoleEdge {
  id: string;
  url: string;
  child: Child;
  env: Record<string, string>;
}

export interface Roles {
  origin: string;
  lb: string;
  edges: RoleEdge[];
  /** The origin's upload token (from the chart's generated Secret). */
  token: string;
  /** Kills every process still running (SIGKILL). */
  stop(): Promise<void>;
}

/**
 * Origin, `edges` edges and the LB on loopback, sharing `redisUrl`: with `chart`, each with the
 * environment the chart renders for it; without, with only what wires them together.
 */
export async function startRoles(redisUrl: string, options: { chart?: K8sObject[]; edges?: number } = {}): Promise<Roles> {
  const { chart, edges: edgeCount = 2 } = options;
  const secret = chart?.find((o) => o.kind === 'Secret')?.data?.token;
  const token = secret ? Buffer.from(secret, 'base64').toString() : randomBytes(16).toString('hex');
  const rendered = (role: string): Container | undefined => (chart ? mainContainer(workload(chart, role)) : undefined);
  const envFor = (role: string, resolved: Record<string, string>, overrides: Record<string, string>) => {
    const c = rendered(role);
    return c ? podEnv(c, resolved, overrides) : podEnv({ name: role }, {}, overrides);
  };
  const children: Child[] = [];
  const stop = async () => { for (const c of children) await c.kill('SIGKILL'); };
  try {
    const [originPort, lbPort, ...edgePorts] = await Promise.all([freePort(), freePort(), ...Array.from({ length: edgeCount }, () => freePort())]);
    const origin = `http://127.0.0.1:${originPort}`;
    const lb = `http://127.0.0.1:${lbPort}`;
    const loopback = (port: number) => ({ CASCADE_HOST: '127.0.0.1', CASCADE_PORT: String(port), CASCADE_REDIS: redisUrl });
    const start = async (env: Record<string, string>, role: string) => {
      const child = startChild(process.execPath, [cli, role], { env, cwd: root });
      children.push(child);
      await child.waitFor(/listening on/, 20_000);
      return child;
    };
    await start(envFor('origin', { CASCADE_UPLOAD_TOKEN: token }, { ...loopback(originPort!), CASCADE_UPLOAD_TOKEN: token }), 'origin');
    const edges: RoleEdge[] = [];
    for (const [i, port] of edgePorts.entries()) {
      const id = `rel-cascade-edge-7c9d5b${i}-x${i}q2z`;
      const url = `http://127.0.0.1:${port}`;
      const env = envFor('edge', { POD_NAME: id, POD_IP: '127.0.0.1', HOST_IP: '127.0.0.1', NODE_NAME: `node-${i}` },
        { ...loopback(port), CASCADE_ORIGIN: origin, CASCADE_LB: lb, ...(chart ? {} : { CASCADE_ID: id, CASCADE_PUBLIC_URL: url }) });
      assert.equal(env.CASCADE_ID, id, 'the edge id is its pod name');
      // The chart's default public URL is the pod's address; the port here is the loopback stand-in's.
      assert.match(env.CASCADE_PUBLIC_URL!, /^http:\/\/127\.0\.0\.1:\d+$/);
      env.CASCADE_PUBLIC_URL = url;
      edges.push({ id, url, env, child: await start(env, 'edge') });
    }
    await start(envFor('lb', {}, { ...loopback(lbPort!), CASCADE_ORIGIN: origin }), 'lb');
    return { origin, lb, edges, token, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface LivePublisher {
  /** The media sequence number of the next segment. */
  readonly sequence: number;
  stop(): void;
}

export const SEGMENT_BYTES = 4096;

/** Publishes `stream` (media playlist `v.m3u8`, segments `s<n>.ts`): three segments now, then one per target duration. */
export async function startLivePublisher(origin: string, token: string, stream: string, targetDuration: number): Promise<LivePublisher> {
  let sequence = 0;
  const put = async (path: string, body: string | Blob) => {
    const res = await fetch(`${origin}/hls/${stream}/${path}`, { method: 'PUT', headers: { authorization: `Bearer ${token}` }, body });
    assert.ok(res.ok, `PUT ${path}: ${res.status}`);
  };
  const publish = async () => {
    await put(`s${sequence}.ts`, new Blob([randomBytes(SEGMENT_BYTES)]));
    const first = Math.max(0, sequence - 3);
    const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${first}`];
    for (let n = first; n <= sequence; n++) lines.push(`#EXTINF:${targetDuration}.000,`, `s${n}.ts`);
    await put('v.m3u8', lines.join('\n') + '\n');
    sequence++;
  };
  for (let i = 0; i < 3; i++) await publish();
  const timer = setInterval(() => void publish().catch(() => undefined), targetDuration * 1000);
  return { get sequence() { return sequence; }, stop: () => clearInterval(timer) };
}

/** Polls the LB's /api/edges until every one of `ids` is healthy there. */
export async function untilEdgesHealthy(lb: string, ids: string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await (await fetch(`${lb}/api/edges`)).json() as { id: string; healthy: boolean }[];
    if (ids.every((id) => list.some((e) => e.id === id && e.healthy))) return;
    assert.ok(Date.now() < deadline, `edges ${ids.join(', ')} healthy at the LB: ${JSON.stringify(list)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
