// The edge role: a caching relay in front of the origins. Request phases, in order:
//   path check (400 on anything but a valid /hls/ path; never an open proxy) -> drain redirect for
//   playlists -> cache key -> fresh hit, or the coalesced fetch -> delivery (304/206/HEAD/stream).
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { hostname } from 'node:os';
import type { Context, MiddlewareHandler } from 'hono';
import type { StatusCode } from 'hono/utils/http-status';
import { createBaseApp } from '../src/app.js';
import { silentLogger, type Logger } from '../src/log.js';
import { isPlaylistPath } from '../src/media-types.js';
import { Metrics } from '../src/metrics.js';
import type { Role } from '../src/role.js';
import { parseStreamPath } from '../src/stream-path.js';
import { CacheStore, type CachedObject } from './cache-store.js';
import { cacheKeyOf, DEFAULT_KEY_PARAMS } from './cache-key.js';
import { CoalescingCache, type FetchTarget } from './coalescing-cache.js';
import { startEdgeControl, type EdgeControl } from './control-plane.js';
import { DEFAULT_FRESHNESS, type FreshnessDefaults } from './freshness.js';
import { edgeMetrics } from './metrics.js';
import { OriginPool } from './origin-pool.js';
import type { CacheOutcome } from './outcome.js';
import { edgeHeaders, replyFor, writeReply } from './respond.js';
import { ViewerCounter } from './viewers.js';

export type { CacheOutcome } from './outcome.js';
export { CACHE_OUTCOMES } from './outcome.js';

export interface EdgeConfig {
  /** Edge id: X-Served-By, Redis registration, drain set membership. */
  id: string;
  /** Origin base URLs in order of preference. */
  origins: readonly string[];
  /** Cache budget in bytes (default 512 MiB). */
  cacheSize?: number;
  /** Larger objects are streamed through, not stored (bytes, default 64 MiB or the cache size if smaller). */
  maxObjectSize?: number;
  /** Upstream headers timeout and body idle timeout per origin (ms, default 10 s). */
  upstreamTimeoutMs?: number;
  /** How long a failing origin is skipped before it is probed again (ms, default 5 s). */
  originRetryMs?: number;
  /** Query parameters kept in the cache key and sent upstream (default the LL-HLS ones). */
  keyParams?: readonly string[];
  freshness?: Partial<FreshnessDefaults>;
  /** Where draining playlist requests are redirected (the LB's base URL). */
  lbUrl?: string;
  /** This edge's URL as players reach it; registered in Redis when set. */
  publicUrl?: string;
  redis?: { url: string; prefix?: string; intervalMs?: number };
  log?: Logger;
  metrics?: Metrics;
  /** Clock in ms; tests move it to expire entries without sleeping. */
  now?: () => number;
}

export interface Edge extends Role {
  readonly id: string;
  /** True while playlist requests are redirected to the LB (SIGTERM, or the id in the Redis drain set). */
  readonly draining: boolean;
  readonly cache: { readonly bytes: number; readonly entries: number; readonly maxBytes: number };
  readonly metrics: Metrics;
}

const VIEWER_WINDOW_MS = 60_000;
const MAX_VIEWERS_PER_STREAM = 100_000;

export function createEdge(config: EdgeConfig): Edge {
  const now = config.now ?? Date.now;
  const log = (config.log ?? silentLogger).child({ role: 'edge', edge: config.id });
  const metrics = config.metrics ?? new Metrics({ role: 'edge', edge: config.id });
  const cacheSize = config.cacheSize ?? 512 * 1024 ** 2;
  const keyParams = config.keyParams ?? DEFAULT_KEY_PARAMS;
  const lbUrl = config.lbUrl?.replace(/\/+$/, '');

  let shuttingDown = false;
  let drainedByRedis = false;
  const isDraining = () => shuttingDown || drainedByRedis;

  const store = new CacheStore(cacheSize);
  const viewers = new ViewerCounter({ windowMs: VIEWER_WINDOW_MS, maxPerStream: MAX_VIEWERS_PER_STREAM, now });
  let cache: CoalescingCache;
  const m = edgeMetrics(metrics, {
    cacheBytes: () => store.bytes,
    cacheEntries: () => store.entries,
    fetching: () => cache.fetching,
    waiting: () => cache.waiting,
    viewers: () => viewers.counts(),
    draining: isDraining,
  });
  const origins = new OriginPool(config.origins, {
    timeoutMs: config.upstreamTimeoutMs ?? 10_000,
    retryMs: config.originRetryMs ?? 5_000,
    userAgent: `cascade-edge/${config.id}`,
    now,
    onAttempt(origin, result, seconds, err) {
      m.upstreamAttempt(origin, result, seconds);
      if (err !== undefined || Number(result) >= 500) log.warn('origin_failed', { origin, result, err });
    },
  });
  cache = new CoalescingCache({
    store,
    origins,
    freshness: { ...DEFAULT_FRESHNESS, ...config.freshness },
    maxObjectSize: Math.min(config.maxObjectSize ?? 64 * 1024 ** 2, cacheSize),
    now,
    log,
  });

  const onBytes = (n: number) => m.bytesOut.inc(n);

  // Writes straight to Node's ServerResponse (see respond.ts), so it runs ahead of the shared CORS
  // middleware and sets CORS headers itself.
  function serveStream(c: Context): Response | Promise<Response> {
    const { incoming, outgoing } = c.env as HttpBindings;
    // The raw request target, not the URL Hono normalised: `/hls/a/../b` must be refused, not resolved.
    const target = incoming.url?.startsWith('/') ? incoming.url : c.req.path;
    const q = target.indexOf('?');
    const pathname = q === -1 ? target : target.slice(0, q);
    const parsed = parseStreamPath(pathname);
    if (!parsed.ok) return c.text(`bad stream path: ${parsed.reason}\n`, 400, { 'access-control-allow-origin': '*' });
    const { stream, path } = parsed.value;
    const isPlaylist = isPlaylistPath(path);
    if (isPlaylist) {
      viewers.touch(stream, incoming.socket.remoteAddress ?? '');
      if (lbUrl !== undefined && isDraining()) {
        m.request('REDIRECT');
        return c.body(null, 302, { ...edgeHeaders('REDIRECT', config.id), location: lbUrl + target, 'cache-control': 'no-store' } as Record<string, string>);
      }
    }
    const key = cacheKeyOf(pathname, q === -1 ? '' : target.slice(q + 1), keyParams);
    const deliver = (outcome: CacheOutcome, obj: CachedObject) => {
      m.request(outcome);
      const reply = replyFor(obj, { method: c.req.method, request: incoming.headers, outcome, servedBy: config.id, now: now() });
      // Hono answers HEAD by running the GET route and re-wrapping its Response, which would write the
      // headers a second time after a direct write; a bodiless reply goes through Hono instead.
      if (reply.body === undefined) return c.body(null, reply.status as StatusCode, reply.headers);
      writeReply(outgoing, reply, onBytes);
      return RESPONSE_ALREADY_SENT;
    };
    const hit = cache.fresh(key);
    if (hit) return deliver('HIT', hit);
    const fetchTarget: FetchTarget = { key, upstreamPath: key, path, isPlaylist, stream };
    return cache.fetch(fetchTarget).then((found) => {
      if (found.obj === undefined) {
        m.request('ERROR');
        return c.text('upstream unavailable\n', found.status, { ...edgeHeaders('ERROR', config.id), 'cache-control': 'no-store' } as Record<string, string>);
      }
      return deliver(found.outcome, found.obj);
    });
  }
  const app = createBaseApp({
    metrics,
    log,
    exposeHeaders: ['X-Cache', 'X-Served-By'],
    healthy: () => !shuttingDown,
    early: (early) => {
      early.use('*', rejectDotSegments);
      early.on(['GET', 'HEAD'], '/hls/*', serveStream);
    },
  });
  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, OPTIONS' }));

  let control: EdgeControl | undefined;
  if (config.redis) {
    control = startEdgeControl({
      url: config.redis.url,
      prefix: config.redis.prefix ?? 'cascade:',
      id: config.id,
      ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
      ...(config.redis.intervalMs ? { intervalMs: config.redis.intervalMs } : {}),
      log,
      onDrainChange: (drained) => { drainedByRedis = drained; },
    });
  }

  return {
    id: config.id,
    app,
    metrics,
    get draining() { return isDraining(); },
    cache: {
      get bytes() { return store.bytes; },
      get entries() { return store.entries; },
      get maxBytes() { return store.maxBytes; },
    },
    async beginShutdown() {
      shuttingDown = true;
      log.info('drain_on', { source: 'shutdown' });
      await control?.withdraw();
    },
    async close() {
      await control?.close();
      await origins.close();
    },
  };
}

/**
 * The URL parser resolves `/hls/a/../../etc` before routing; the raw target is refused instead, so no
 * spelling of a path reaches anything but what it says.
 */
const rejectDotSegments: MiddlewareHandler = async (c, next) => {
  const raw = (c.env as HttpBindings).incoming.url ?? '';
  const q = raw.indexOf('?');
  if (/\/\.{1,2}(\/|$)/.test(q === -1 ? raw : raw.slice(0, q))) return c.text('bad path: dot segment\n', 400, { 'access-control-allow-origin': '*' });
  await next();
};

/** `<host>-<port>`: unique per process on a host, stable across restarts. */
export function defaultEdgeId(port: number): string {
  return `${hostname()}-${port}`;
}
