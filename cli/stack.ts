// `cascade stack`: the whole pipeline on loopback, as child processes of this one.
//
//   test source --RTMP--> transcoder --PUT--> origin <-- edge-1, edge-2 <--302-- lb <-- player
//
// With --redundant: transcoder --PUT--> fanout --> origin, origin-2 (peers) <-- edges with both.
//
// Roles run as `node dist/cli.js <role> ...` (the same binary), so a failing role is visible (its output
// is prefixed) and killable by pid. ffmpeg (transcoder, test source) runs under the restart loop of
// transcoder/. With `redis-server` on PATH a private Redis (free port, no persistence) is the control
// plane and edges register themselves; otherwise the LB gets static `--edge` weights. Every child is
// stopped on Ctrl-C/SIGTERM, and dies with this process even if it is killed (parent-death signal).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { untilSignal, warnExposedSecrets, type Command } from '../src/command.js';
import { freePort } from '../src/free-port.js';
import { LOG_LEVELS } from '../src/log.js';
import { envName, formatHelp, parseOptions, UsageError, type OptionsSpec } from '../src/options.js';
import { isValidStreamName } from '../src/stream-path.js';
import { hostPortUrl } from '../src/url.js';
import {
  DEFAULT_HLS_TIME, DEFAULT_LADDER, DEFAULT_PART_TARGET_MS, X264_PRESETS, commandExists, isPictureSize, parseLadder, partTargetProblem,
  spawnChild, startTestSource, startTranscoder, type Rendition, type SpawnedChild, type Supervisor,
} from '../transcoder/index.js';

export const STACK_OPTIONS = {
  port: { type: 'int', default: 8080, min: 1, max: 65535, help: 'load balancer port (the player is on it)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address every role listens on' },
  'origin-port': { type: 'int', default: 8090, min: 1, max: 65535, help: 'origin port' },
  'edge-ports': { type: 'string', default: '8081,8082', help: 'edge ports, one edge per port' },
  'rtmp-port': { type: 'int', default: 1935, min: 1, max: 65535, help: 'RTMP ingest port of the transcoder' },
  stream: { type: 'string', default: 'demo', help: 'stream the test source publishes' },
  'upload-token': { type: 'string', secret: true, help: 'origin upload token (default: a random one per run)' },
  'data-dir': { type: 'string', help: "origin's data directory (default: in memory)" },
  redundant: { type: 'bool', default: false, help: 'two origins (peers) fed by a fan-out, edges with both: no single origin (docs/fanout.md)' },
  'origin-2-port': { type: 'int', default: 8091, min: 1, max: 65535, help: 'second origin port (with --redundant)' },
  'fanout-port': { type: 'int', default: 8089, min: 1, max: 65535, help: 'upload fan-out port (with --redundant; the transcoder uploads here)' },
  redis: { type: 'redis-url', secret: true, help: 'use this Redis (or redis-sentinel:// URL) instead of starting a private one' },
  'private-redis': { type: 'bool', default: true, help: 'start a private redis-server when it is on PATH (--no-private-redis: static weights)' },
  ladder: { type: 'string', default: DEFAULT_LADDER, help: 'transcoder renditions (presets or name=WxH@kbps)' },
  fps: { type: 'int', default: 30, min: 1, max: 60, help: 'frame rate of the test source and the ladder' },
  'source-size': { type: 'string', default: '1280x720', help: 'test source picture size' },
  preset: { type: 'string', default: 'veryfast', choices: X264_PRESETS, help: 'x264 preset of source and transcoder' },
  'segment-type': { type: 'string', default: 'ts', choices: ['ts', 'fmp4'], help: 'HLS segment type (fmp4 with --low-latency)' },
  'low-latency': { type: 'bool', default: false, help: 'LL-HLS: the transcoder streams fMP4 segments to the origin while it writes them' },
  'part-target': { type: 'duration', default: `${DEFAULT_PART_TARGET_MS}ms`, help: 'LL part target, 100ms..2s' },
  ffmpeg: { type: 'string', default: 'ffmpeg', help: 'ffmpeg executable' },
  'log-level': { type: 'string', default: 'warn', choices: LOG_LEVELS, help: "roles' log level" },
  workers: { type: 'int', default: 1, min: 1, max: 256, help: 'processes per edge and per LB (the stack already runs several roles on this machine)' },
} as const satisfies OptionsSpec;

export interface StackOptions {
  port: number;
  host: string;
  originPort: number;
  /** Two origins (the second on origin2Port) behind a fan-out on fanoutPort, edges with both. */
  redundant?: boolean;
  origin2Port?: number;
  fanoutPort?: number;
  edgePorts: number[];
  rtmpPort: number;
  stream: string;
  uploadToken: string;
  dataDir?: string | undefined;
  /** External Redis URL; undefined = private one when available (see privateRedis). */
  redis?: string | undefined;
  privateRedis: boolean;
  ladder: Rendition[];
  fps: number;
  sourceSize: string;
  preset: string;
  segmentType: 'ts' | 'fmp4';
  lowLatency?: boolean;
  partTargetMs?: number;
  logLevel: string;
  /** `--workers` of each edge and of the LB (default 1). */
  workers?: number;
  ffmpeg?: string;
  /** How long startStack waits for the stream to be playable through the LB (then warns and returns). */
  mediaTimeoutMs?: number;
  /** dist/cli.js to run roles with (found next to this file by default). */
  cli?: string;
  /** Where prefixed output goes (stderr by default). */
  write?: (line: string) => void;
}

/** A role process as the stack runs it: also what the compose file must agree with (see test/stack-compose). */
export interface PlannedRole {
  name: string;
  role: 'origin' | 'edge' | 'lb' | 'fanout';
  port: number;
  args: string[];
  /** CASCADE_* variables for secrets: a command line is readable by every user (`ps`), the environment is not. */
  env: Record<string, string>;
}

/** The id (and process name) of the stack's i-th edge. */
export function stackEdgeId(i: number): string {
  return `edge-${i + 1}`;
}

/** The role command lines for a configuration (`redisUrl` undefined = static weights). */
export function planRoles(options: StackOptions, redisUrl: string | undefined): PlannedRole[] {
  const url = (port: number) => hostPortUrl(options.host, port);
  const common = (port: number) => ['--port', String(port), '--host', options.host, '--log-level', options.logLevel];
  // Secrets (the upload token, a password in the Redis URL) go by environment: `ps` shows command lines.
  const redis: Record<string, string> = redisUrl ? { [envName('redis')]: redisUrl } : {};
  const token = { [envName('upload-token')]: options.uploadToken };
  const workers = ['--workers', String(options.workers ?? 1)];
  const origins = options.redundant ? [options.originPort, options.origin2Port ?? 8091] : [options.originPort];
  const roles: PlannedRole[] = origins.map((port, i) => ({
    name: i === 0 ? 'origin' : `origin-${i + 1}`, role: 'origin', port,
    // The origin's part target must be at least the transcoder's, which sizes the audio fragments.
    args: ['origin', ...common(port), ...(options.dataDir ? ['--data-dir', i === 0 ? options.dataDir : `${options.dataDir}/origin-${i + 1}`] : []),
      ...(options.lowLatency && options.partTargetMs !== undefined ? ['--part-target', `${options.partTargetMs}ms`] : []),
      ...origins.filter((p) => p !== port).flatMap((p) => ['--peer', url(p)])],
    env: token,
  }));
  if (options.redundant) {
    const port = options.fanoutPort ?? 8089;
    roles.push({
      name: 'fanout', role: 'fanout', port,
      args: ['fanout', ...common(port), ...origins.flatMap((p) => ['--origin', url(p)])],
      env: { ...token, [envName('origin-token')]: options.uploadToken },
    });
  }
  options.edgePorts.forEach((port, i) => roles.push({
    name: stackEdgeId(i), role: 'edge', port,
    args: ['edge', ...common(port), ...workers, '--origin', origins.map(url).join(','), '--id', stackEdgeId(i), '--public-url', url(port), '--lb', url(options.port)],
    env: redis,
  }));
  roles.push({
    name: 'lb', role: 'lb', port: options.port,
    args: ['lb', ...common(options.port), ...workers, '--origin', origins.map(url).join(','), ...(redisUrl ? [] : options.edgePorts.flatMap((port, i) => ['--edge', `${stackEdgeId(i)}=${url(port)}`]))],
    env: redis,
  });
  return roles;
}

export interface RunningChild {
  name: string;
  pid: number;
  child: SpawnedChild;
  /** Set when the process exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
}

export interface Stack {
  urls: { lb: string; origin: string; edges: string[]; player: string; master: string; ingest: string; redis?: string };
  roles: Map<string, RunningChild>;
  redis?: RunningChild;
  transcoder: Supervisor;
  source: Supervisor;
  /** Stops every child (roles gracefully, then ffmpeg and redis); idempotent. */
  stop(): Promise<void>;
}

export class StackError extends Error {
  override name = 'StackError';
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const srv = createServer();
    srv.once('error', () => resolvePort(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolvePort(true)));
  });
}

/** A port the OS has free right now (tests and the stack's private Redis). */
function findCli(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // Built: dist/cli/stack.js -> dist/cli.js. From sources (tsx): cli/stack.ts -> dist/cli.js.
  for (const candidate of [resolve(here, '../cli.js'), resolve(here, '../dist/cli.js')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new StackError('dist/cli.js not found: run npm run build first');
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** True when the master playlist and its first media playlist (with a segment) load through `masterUrl`. */
async function streamPlayable(masterUrl: string): Promise<boolean> {
  try {
    const res = await fetch(masterUrl, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const variant = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    if (!res.ok || !variant) return false;
    const media = await fetch(new URL(variant, res.url), { signal: AbortSignal.timeout(2000) });
    return media.ok && /#EXTINF:/.test(await media.text());
  } catch {
    return false;
  }
}

/** How many of a role's last output lines a startup error quotes. */
const STARTUP_LINES_KEPT = 10;

/** Starts the whole pipeline; throws StackError (after stopping what it started) when something cannot start. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const say = (name: string, line: string) => write(`[${name}] ${line}`);

  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  if (!commandExists(ffmpeg)) throw new StackError(`ffmpeg not found ('${ffmpeg}'): install it (apt-get install ffmpeg) or give --ffmpeg PATH`);
  const ports: [string, number][] = [['lb (--port)', options.port], ['origin (--origin-port)', options.originPort],
    ...(options.redundant ? [['origin-2 (--origin-2-port)', options.origin2Port ?? 8091], ['fanout (--fanout-port)', options.fanoutPort ?? 8089]] as [string, number][] : []),
    ...options.edgePorts.map((p, i): [string, number] => [`${stackEdgeId(i)} (--edge-ports)`, p]), ['RTMP ingest (--rtmp-port)', options.rtmpPort]];
  const seen = new Set<number>();
  for (const [what, port] of ports) {
    if (seen.has(port)) throw new StackError(`port ${port} is given twice (${what})`);
    seen.add(port);
    if (!(await portFree(options.host, port))) throw new StackError(`port ${port} for ${what} is already in use on ${options.host}`);
  }
  const cli = options.cli ?? findCli();

  const roles = new Map<string, RunningChild>();
  let redisChild: RunningChild | undefined;
  let transcoder: Supervisor | undefined;
  let source: Supervisor | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      await Promise.all([source?.stop(), transcoder?.stop()]);
      await Promise.all([...roles.values()].map((r) => r.child.stop(10_000)));
      await redisChild?.child.stop(3000);
    })();
    return stopped;
  };

  const watch = (r: RunningChild) => {
    void r.child.exited.then((exit) => {
      r.exit = exit;
      if (!stopping) say('stack', `${r.name} (pid ${r.pid}) exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`}; the rest keeps running`);
    });
  };

  try {
    let redisUrl = options.redis;
    if (!redisUrl && options.privateRedis && commandExists('redis-server', '--version')) {
      const port = await freePort(options.host);
      let ready: () => void = () => {};
      let up = false;
      const isReady = new Promise<void>((r) => { ready = r; });
      const child = spawnChild('redis-server', ['--port', String(port), '--bind', options.host, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], {
        deathSignal: 'KILL',
        onStdout: (l) => {
          if (l.includes('Ready to accept connections')) { up = true; ready(); }
          // Startup chatter is noise; warnings once it runs are not.
          else if (up && / # /.test(l)) say('redis', l);
        },
        onStderr: (l) => say('redis', l),
      });
      redisChild = { name: 'redis', pid: child.pid, child };
      const exited = child.exited.then(() => { throw new StackError('redis-server exited during startup'); });
      await Promise.race([isReady, exited, new Promise((_, rej) => setTimeout(() => rej(new StackError('redis-server did not get ready in 10 s')), 10_000))]);
      watch(redisChild);
      redisUrl = hostPortUrl(options.host, port, 'redis');
    }

    const plan = planRoles(options, redisUrl);
    // A role's last lines, for the error when it dies during startup: a caller that does not show the
    // stack's output (the tests, the benches) still learns why.
    const lastLines = new Map<string, string[]>();
    for (const p of plan) {
      const lines: string[] = [];
      lastLines.set(p.name, lines);
      const tell = (l: string) => {
        lines.push(l);
        if (lines.length > STARTUP_LINES_KEPT) lines.shift();
        say(p.name, l);
      };
      const child = spawnChild(process.execPath, [cli, ...p.args], {
        env: { ...process.env, ...p.env },
        deathSignal: 'TERM',
        onStdout: tell,
        onStderr: tell,
      });
      const r: RunningChild = { name: p.name, pid: child.pid, child };
      roles.set(p.name, r);
      watch(r);
    }
    // Every role answers /healthz before the media starts flowing.
    const deadline = Date.now() + 20_000;
    for (const p of plan) {
      const r = roles.get(p.name)!;
      const url = hostPortUrl(options.host, p.port);
      while (!(await healthy(url))) {
        if (r.exit) {
          const said = lastLines.get(p.name)!.map((l) => `\n  ${l}`).join('');
          throw new StackError(`${p.name} exited during startup (${r.exit.signal ?? `code ${r.exit.code}`}): ${process.execPath} ${cli} ${p.args.join(' ')}${said ? `; its last output:${said}` : ''}`);
        }
        if (Date.now() > deadline) throw new StackError(`${p.name} did not answer ${url}/healthz within 20 s`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }

    // The LB knows every edge (from Redis registrations or --edge) and finds them healthy.
    const lbUrl = hostPortUrl(options.host, options.port);
    const lbEdges = `${lbUrl}/api/edges`;
    const want = options.edgePorts.map((_, i) => stackEdgeId(i));
    const edgesDeadline = Date.now() + 15_000;
    for (;;) {
      const listed = await fetch(lbEdges, { signal: AbortSignal.timeout(1000) })
        .then((r) => (r.ok ? r.json() as Promise<{ id: string; healthy: boolean }[]> : []))
        .catch(() => [] as { id: string; healthy: boolean }[]);
      if (want.every((id) => listed.some((e) => e.id === id && e.healthy))) break;
      if (Date.now() > edgesDeadline) {
        say('stack', `warning: the LB does not list every edge as healthy after 15 s (${JSON.stringify(listed)})`);
        break;
      }
      await new Promise((res) => setTimeout(res, 100));
    }

    const originUrl = hostPortUrl(options.host, options.originPort);
    const uploadUrl = options.redundant ? hostPortUrl(options.host, options.fanoutPort ?? 8089) : originUrl;
    const ingest = `${hostPortUrl(options.host, options.rtmpPort, 'rtmp')}/live/${options.stream}`;
    transcoder = startTranscoder({
      origin: uploadUrl, stream: options.stream, uploadToken: options.uploadToken, input: 'rtmp', listenHost: options.host, rtmpPort: options.rtmpPort,
      ladder: options.ladder, fps: options.fps, preset: options.preset, segmentType: options.segmentType, lowLatency: options.lowLatency, partTargetMs: options.partTargetMs, ffmpeg,
      onLog: (l) => say('transcoder', l),
    });
    source = startTestSource({
      to: ingest, size: options.sourceSize, fps: options.fps, preset: options.preset,
      videoKbps: Math.max(300, Math.round(options.ladder[0]!.videoKbps * 1.5)), label: options.stream, ffmpeg,
      onLog: (l) => say('source', l), maxBackoffMs: 2000,
    });

    // Ready when a player would find the stream: the master and a media playlist with segments, through the LB.
    const mediaDeadline = Date.now() + (options.mediaTimeoutMs ?? 30_000);
    const master = `${lbUrl}/hls/${options.stream}/index.m3u8`;
    for (;;) {
      if (await streamPlayable(master)) break;
      if (Date.now() > mediaDeadline) {
        say('stack', `warning: ${master} is not playable yet; see the [transcoder] and [source] lines above`);
        break;
      }
      await new Promise((res) => setTimeout(res, 250));
    }
    return {
      urls: {
        lb: lbUrl, origin: originUrl, edges: options.edgePorts.map((p) => hostPortUrl(options.host, p)),
        player: `${lbUrl}/play/${options.stream}`, master: `${lbUrl}/hls/${options.stream}/index.m3u8`,
        ingest, ...(redisUrl ? { redis: redisUrl } : {}),
      },
      roles,
      ...(redisChild ? { redis: redisChild } : {}),
      transcoder,
      source,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Converts parsed CLI options; throws UsageError on bad values. */
export function stackOptionsFrom(argv: string[], env: NodeJS.ProcessEnv = process.env): StackOptions | undefined {
  const { options: o, help, exposed } = parseOptions(STACK_OPTIONS, argv, env);
  warnExposedSecrets(exposed);
  if (help) {
    process.stdout.write(formatHelp('cascade stack [options]', 'Runs origin, two edges, the LB, a private Redis (when redis-server is installed), the transcoder and an ffmpeg test source publishing stream demo, all on loopback. Ctrl-C stops everything.', STACK_OPTIONS));
    return undefined;
  }
  const edgePorts = o['edge-ports'].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (edgePorts.length === 0 || edgePorts.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new UsageError(`--edge-ports: not a comma-separated list of ports: '${o['edge-ports']}'`);
  }
  if (!isValidStreamName(o.stream)) throw new UsageError(`--stream: must match [A-Za-z0-9_-]{1,64} (got '${o.stream}')`);
  if (!isPictureSize(o['source-size'])) throw new UsageError(`--source-size: not WIDTHxHEIGHT: '${o['source-size']}'`);
  let ladder: Rendition[];
  try { ladder = parseLadder(o.ladder); } catch (e) { throw new UsageError(`--ladder: ${(e as Error).message}`); }
  const partProblem = partTargetProblem(o['part-target'], DEFAULT_HLS_TIME);
  if (partProblem) throw new UsageError(`--part-target: ${partProblem}`);
  return {
    port: o.port, host: o.host, originPort: o['origin-port'], redundant: o.redundant, origin2Port: o['origin-2-port'], fanoutPort: o['fanout-port'], edgePorts, rtmpPort: o['rtmp-port'], stream: o.stream,
    uploadToken: o['upload-token'] ?? randomBytes(12).toString('hex'), dataDir: o['data-dir'], redis: o.redis,
    privateRedis: o['private-redis'], ladder, fps: o.fps, sourceSize: o['source-size'], preset: o.preset,
    segmentType: o['low-latency'] ? 'fmp4' : o['segment-type'] as 'ts' | 'fmp4', lowLatency: o['low-latency'], partTargetMs: o['part-target'],
    logLevel: o['log-level'], workers: o.workers, ffmpeg: o.ffmpeg,
  };
}

export const stackCommand: Command = {
  name: 'stack',
  summary: 'run everything locally: origin, two edges, LB, Redis, transcoder and a test source (stream demo)',
  async run(argv) {
    const options = stackOptionsFrom(argv);
    if (!options) return 0;
    let stack: Stack;
    try {
      stack = await startStack(options);
    } catch (err) {
      if (err instanceof StackError) {
        process.stderr.write(`cascade stack: ${err.message}\n`);
        return 1;
      }
      throw err;
    }
    const u = stack.urls;
    const pid = (name: string) => stack.roles.get(name)?.pid;
    const rows: [string, string][] = [
      ['origin', `${u.origin}  (pid ${pid('origin')}; uploads need the token)`],
      ...(options.redundant ? [
        ['origin-2', `${hostPortUrl(options.host, options.origin2Port ?? 8091)}  (pid ${pid('origin-2')}; --peer of origin)`],
        ['fanout', `${hostPortUrl(options.host, options.fanoutPort ?? 8089)}  (pid ${pid('fanout')}; the transcoder uploads here)`],
      ] as [string, string][] : []),
      ...u.edges.map((e, i): [string, string] => [stackEdgeId(i), `${e}  (pid ${pid(stackEdgeId(i))})`]),
      ['lb', `${u.lb}  (pid ${pid('lb')})`],
      ['redis', u.redis ? `${u.redis}  (${stack.redis ? `private, pid ${stack.redis.pid}, no persistence` : 'external'})` : 'none: static edge weights (install redis-server for the control plane)'],
      ['ingest', `${u.ingest}  (RTMP; the test source pushes ${options.sourceSize}@${options.fps} here)`],
      ['ladder', options.ladder.map((r) => `${r.name} ${r.width}x${r.height} ${r.videoKbps}k`).join(', ')],
      ['master', u.master],
      ['player', u.player],
    ];
    process.stdout.write(['', 'cascade stack is running:', ...rows.map(([k, v]) => `  ${k.padEnd(8)} ${v}`), '',
      `Open ${u.player} in a browser. Ctrl-C stops everything.`, ''].join('\n'));
    return untilSignal((signal) => {
      process.stderr.write(`[stack] ${signal}: stopping every child\n`);
      return stack.stop();
    });
  },
};
