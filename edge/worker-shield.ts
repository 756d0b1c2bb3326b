// One upstream fetch per object per host with `--workers N`: every worker keeps its own cache (hits stay
// in-process, no lock or IPC on the hot path), and a miss for a key goes through the worker that owns the
// key (FNV-1a of the upstream path, mod N), like nginx's proxy_cache_lock across workers: the owner's
// coalescing cache makes the single origin fetch and streams the object to the asking worker over a unix
// socket, which stores its own copy. The owner answers with the object's headers, its precise age in ms
// (so a copy is never fresher than the owner's) and the conditionals/304s of any edge. An owner that is
// gone (restarting) costs the asking worker a direct origin fetch, never an error. Measured against
// per-worker caches that each fetch: docs/benchmarks.md, "Workers".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import type { Logger } from '../src/log.js';
import { parseRequestTarget } from '../src/stream-path.js';
import type { WorkerSlot } from '../src/workers.js';
import type { CoalescingCache } from './coalescing-cache.js';
import type { FetchOptions, OriginPool, Upstream, UpstreamResponse } from './origin-pool.js';
import { edgeHeaders, replyFor, writeReply } from './respond.js';

/** The owner's exact age of what it sends (ms): `Age` has whole seconds only. */
export const AGE_MS_HEADER = 'x-cascade-age-ms';
/** The origins a `selectOrigin` hook chose in the asking worker, space-separated. */
const ORIGINS_HEADER = 'x-cascade-origins';
/** Set by the owner on its answers; everything the delivery adds again is dropped from the stored copy. */
const OWNER_ONLY = [AGE_MS_HEADER, ...Object.keys(edgeHeaders('HIT', ''))];

/** The worker that fetches `path` for every worker (FNV-1a, 32 bit). */
export function ownerOf(path: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  return (h >>> 0) % count;
}

/** Linux: an abstract socket (no file, gone with the process, even a killed one); elsewhere a file in the temp dir. */
const ABSTRACT = process.platform === 'linux';

function socketPath(slot: WorkerSlot, index: number): string {
  const name = `cascade-edge-${slot.primaryPid}-${index}.sock`;
  return ABSTRACT ? `\0${name}` : join(tmpdir(), name);
}

export interface ShieldOptions {
  slot: WorkerSlot;
  origins: OriginPool;
  /** Upstream headers timeout and body idle timeout (ms): an owner waits on the origins for at most that, per origin. */
  timeoutMs: number;
  log: Logger;
}

/** The upstream as a worker sees it: the origins for the keys it owns, the owning worker for the others. */
export class ShieldedUpstream implements Upstream {
  private readonly peers: (Pool | undefined)[];

  constructor(private readonly options: ShieldOptions) {
    const { slot, timeoutMs } = options;
    const patience = timeoutMs * (options.origins.candidates().length + 1);
    this.peers = Array.from({ length: slot.count }, (_, i) => i === slot.index ? undefined : new Pool('http://localhost', {
      connect: { socketPath: socketPath(slot, i) },
      connections: 64,
      headersTimeout: patience,
      bodyTimeout: patience,
    }));
  }

  async fetch(path: string, preferred?: readonly string[], conditional?: Readonly<Record<string, string>>, how: FetchOptions = {}): Promise<UpstreamResponse> {
    // A blocking LL reload is held by the origin for up to three target durations, on the origins' own
    // hold connections (HOLD_CONNECTIONS): through a sibling it would tie up the shield's small pool and
    // outlast its timeouts, so each worker asks the origins itself (one held request per worker and key).
    if (how.holdMs !== undefined) return this.options.origins.fetch(path, preferred, conditional, how);
    const owner = ownerOf(path, this.peers.length);
    const peer = this.peers[owner];
    if (peer) {
      try {
        const res = await peer.request({ path, method: 'GET', headers: { ...conditional, ...(preferred ? { [ORIGINS_HEADER]: preferred.join(' ') } : {}) } });
        const ageMs = Number(res.headers[AGE_MS_HEADER]);
        for (const name of OWNER_ONLY) delete res.headers[name];
        return { origin: `worker-${owner}`, status: res.statusCode, headers: res.headers, body: res.body, ...(Number.isFinite(ageMs) ? { ageMs } : {}) };
      } catch (err) {
        this.options.log.warn('shield_unreachable', { worker: owner, path, err });
      }
    }
    return this.options.origins.fetch(path, preferred, conditional);
  }

  async close(): Promise<void> {
    await Promise.all(this.peers.map((p) => p?.destroy()));
  }
}

export interface ShieldServerOptions extends ShieldOptions {
  cache: CoalescingCache;
  servedBy: string;
  now: () => number;
}

/** The owner's side: other workers' misses for the keys this worker owns, answered from its cache. */
export async function serveShield(options: ShieldServerOptions): Promise<{ close(): Promise<void> }> {
  const { slot, cache, origins, now, servedBy, log } = options;
  const path = socketPath(slot, slot.index);
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '';
    const target = parseRequestTarget(raw);
    if (req.method !== 'GET' || !target.ok || !target.value.stream) {
      res.writeHead(400, { 'content-length': '0' }).end();
      return;
    }
    const preferred = String(req.headers[ORIGINS_HEADER] ?? '').split(' ').filter((url) => origins.isConfigured(url));
    const fresh = cache.fresh(raw);
    const found = fresh ? { outcome: 'HIT' as const, obj: fresh } : await cache.fetch({
      key: raw, upstreamPath: raw, path: target.value.stream.path, stream: target.value.stream.stream,
      ...(preferred.length > 0 ? { origins: preferred } : {}),
    });
    if (found.obj === undefined) {
      res.writeHead(found.status, { 'content-length': '0' }).end();
      return;
    }
    const at = now();
    const reply = replyFor(found.obj, { method: 'GET', request: req.headers, outcome: found.outcome, servedBy, now: at });
    reply.headers[AGE_MS_HEADER] = String(found.obj.upstreamAge * 1000 + Math.max(0, at - found.obj.receivedAt));
    if ('setCookie' in found && found.setCookie) reply.setCookie = found.setCookie;
    writeReply(res, reply, () => undefined);
  };
  if (!ABSTRACT) rmSync(path, { force: true }); // left by a worker that was killed
  const server: Server = createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      log.error('shield_failed', { path: req.url, err });
      if (!res.headersSent) res.writeHead(500, { 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  return {
    close: () => new Promise<void>((resolve) => {
      server.close(() => {
        if (!ABSTRACT) rmSync(path, { force: true });
        resolve();
      });
      server.closeAllConnections();
    }),
  };
}
