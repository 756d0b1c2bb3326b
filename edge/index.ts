// The edge role: a caching relay in front of the origins. Request phases, in order (hooks in quotes):
//   path check (400 on anything but a valid /hls/ path; never an open proxy) -> 'request' -> drain
//   redirect for playlists -> 'cacheKey' -> fresh hit, or 'selectOrigin' and the coalesced fetch ('ttl'
//   before storing) -> 'response' -> delivery (304/206/HEAD/stream). Without hooks or middleware, plain
//   fresh GET hits take the same steps before Hono's dispatch (serveFreshHit).
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { hostname } from 'node:os';
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status';
import { checkIncomingTarget, createBaseApp, requestTargetOf, streamPathOf } from '../src/app.js';
import { DEFAULT_REDIS_PREFIX } from '../src/control-plane.js';
import { silentLogger, type Logger } from '../src/log.js';
import { isPlaylistPath } from '../src/media-types.js';
import { Metrics } from '../src/metrics.js';
import type { Role } from '../src/role.js';
import { checkRelativePath, streamUrlPath } from '../src/stream-path.js';
import { createHookRunner, HOOK_NAMES, HookFailed, isOptionalString, isUndefined, type EdgeHooks } from '../src/hooks.js';
import { CacheStore, type CachedObject } from './cache-store.js';
import { cacheKeyOf, DEFAULT_KEY_PARAMS } from './cache-key.js';
import { CoalescingCache, type FetchTarget } from './coalescing-cache.js';
import { startRegistration, type EdgeRegistration } from './registration.js';
import { DEFAULT_FRESHNESS, type FreshnessDefaults } from './freshness.js';
import { MasterViaLb } from './master-rewrite.js';
import { edgeMetrics } from './metrics.js';
import { OriginPool } from './origin-pool.js';
import type { CacheOutcome } from './outcome.js';
import { edgeHeaders, headersOut, isPlainGet, replyFor, writeHit, writeReply } from './respond.js';
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
  /** With lbUrl: serve masters with their variant URIs through the LB, so players survive losing this edge (default true). */
  masterViaLb?: boolean;
  /** This edge's URL as players reach it; registered in Redis when set. */
  publicUrl?: string;
  redis?: { url: string; prefix?: string; intervalMs?: number };
  log?: Logger;
  metrics?: Metrics;
  /** Clock in ms; tests move it to expire entries without sleeping. */
  now?: () => number;
  /** Operator hooks at the edge's phases (docs/hooks.md). */
  hooks?: EdgeHooks;
  /** How long a hook may take before its request fails (ms, default 1 s). */
  hookTimeoutMs?: number;
  /** Operator Hono middleware, run before the stream routes. */
  use?: MiddlewareHandler[];
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
/**
 * One `cascade_edge_viewers` series per stream: an edge serves a festival's few dozen streams, so 1,000
 * is far above real use while keeping the scrape small (a series is ~80 bytes of text) and memory bounded.
 */
const MAX_VIEWER_STREAMS = 1_000;

export function createEdge(config: EdgeConfig): Edge {
  const now = config.now ?? Date.now;
  const log = (config.log ?? silentLogger).child({ role: 'edge', edge: config.id });
  const metrics = config.metrics ?? new Metrics({ role: 'edge', edge: config.id });
  const cacheSize = config.cacheSize ?? 512 * 1024 ** 2;
  const keyParams = config.keyParams ?? DEFAULT_KEY_PARAMS;
  const lbUrl = config.lbUrl?.replace(/\/+$/, '');
  const masters = lbUrl !== undefined && config.masterViaLb !== false ? new MasterViaLb(lbUrl, log) : undefined;

  let shuttingDown = false;
  let drainedByRedis = false;
  const isDraining = () => shuttingDown || drainedByRedis;

  const store = new CacheStore(cacheSize);
  const viewers = new ViewerCounter({ windowMs: VIEWER_WINDOW_MS, maxPerStream: MAX_VIEWERS_PER_STREAM, maxStreams: MAX_VIEWER_STREAMS, now });
  let cache: CoalescingCache;
  // The edge's own metrics, bound to the registry once (hot-path counters pre-labelled).
  const stats = edgeMetrics(metrics, {
    cacheBytes: () => store.bytes,
    cacheEntries: () => store.entries,
    fetching: () => cache.fetching,
    waiting: () => cache.waiting,
    viewers: () => viewers.counts(),
    draining: isDraining,
  });
  const hooks = createHookRunner('edge', config.hooks, { timeoutMs: config.hookTimeoutMs ?? 1_000, log, metrics });
  const hooked = HOOK_NAMES.edge.some((name) => hooks.has(name));
  const origins = new OriginPool(config.origins, {
    timeoutMs: config.upstreamTimeoutMs ?? 10_000,
    retryMs: config.originRetryMs ?? 5_000,
    userAgent: `cascade-edge/${config.id}`,
    now,
    onAttempt(origin, result, seconds, err) {
      stats.upstreamAttempt(origin, result, seconds);
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
    ...(config.hooks?.ttl ? {
      // Phase: ttl, before storing. A failing hook means "do not store" (the response already went out).
      adjustTtl: async (t: FetchTarget, obj: CachedObject, defaultTtlMs: number) =>
        (await hooks.call('ttl', { stream: t.stream, path: t.path, status: obj.status, headers: new Headers(obj.headers), defaultTtlMs, log: log.child({ stream: t.stream }) },
          (v) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0))) ?? defaultTtlMs,
    } : {}),
  });

  const onBytes = (n: number) => stats.bytesOut.inc(n);
  /** Only a playlist served with 2xx counts: made-up stream names must not become series (or map entries). */
  const countViewer = (obj: CachedObject, stream: string, incoming: HttpBindings['incoming']) => {
    if (obj.status >= 200 && obj.status < 300) viewers.touch(stream, incoming.socket.remoteAddress ?? '');
  };

  async function serveStream(c: Context): Promise<Response> {
    const { incoming, outgoing } = c.env as HttpBindings;
    // The raw request target, checked by the base app before routing.
    const target = requestTargetOf(c);
    const { stream, path: requested } = streamPathOf(c);
    let path = requested;
    let { query } = target;
    const slog = hooked ? log.child({ stream }) : log;
    try {
      // Phase: request (answer, deny or rewrite before anything is cached or fetched).
      if (hooks.has('request')) {
        const decision = await hooks.call('request', { request: c.req.raw, log: slog, stream, path, query, edgeId: config.id }, isRequestDecision);
        if (decision instanceof Response) return decision;
        if (decision && 'deny' in decision) return c.text(`${decision.message ?? 'denied'}\n`, decision.deny as ContentfulStatusCode, { 'cache-control': 'no-store' });
        if (decision) {
          path = decision.path ?? path;
          query = decision.query ?? query;
        }
      }
      const isPlaylist = isPlaylistPath(path);
      if (isPlaylist && lbUrl !== undefined && isDraining()) {
        stats.request('REDIRECT');
        return c.body(null, 302, { ...edgeHeaders('REDIRECT', config.id), location: lbUrl + target.pathAndQuery, 'cache-control': 'no-store' });
      }
      const pathname = streamUrlPath(stream, path);
      // Phase: cacheKey. The upstream request is always the path plus the kept parameters.
      const upstreamPath = cacheKeyOf(pathname, query, keyParams);
      const key = hooks.has('cacheKey')
        ? (await hooks.call('cacheKey', { request: c.req.raw, log: slog, stream, path, defaultKey: upstreamPath }, isOptionalString)) ?? upstreamPath
        : upstreamPath;
      const deliver = async (outcome: CacheOutcome, obj: CachedObject, setCookie?: string[]): Promise<Response> => {
        stats.request(outcome);
        if (isPlaylist && masters) obj = await masters.settledView(obj, target.pathAndQuery);
        if (isPlaylist) countViewer(obj, stream, incoming);
        const reply = replyFor(obj, { method: c.req.method, request: incoming.headers, outcome, servedBy: config.id, now: now() });
        if (setCookie) reply.setCookie = setCookie;
        // Phase: response (headers on the way out).
        if (hooks.has('response')) {
          const headers = new Headers(reply.headers);
          for (const line of reply.setCookie ?? []) headers.append('set-cookie', line);
          await hooks.call('response', { request: c.req.raw, log: slog, stream, path, status: reply.status, headers, cache: outcome }, isUndefined);
          const cookies = headers.getSetCookie();
          headers.delete('set-cookie');
          reply.headers = {};
          headers.forEach((value, name) => { reply.headers[name] = value; });
          if (cookies.length > 0) reply.setCookie = cookies;
          else delete reply.setCookie;
        }
        // Hono answers HEAD by running the GET route and re-wrapping its Response, which would write the
        // headers a second time after a direct write; a bodiless reply goes through Hono instead.
        if (reply.body === undefined) return c.body(null, reply.status as StatusCode, headersOut(reply));
        writeReply(outgoing, reply, onBytes);
        return RESPONSE_ALREADY_SENT;
      };
      const hit = cache.fresh(key);
      if (hit) return await deliver('HIT', hit);
      const fetchTarget: FetchTarget = { key, upstreamPath, path, stream };
      // Phase: selectOrigin, only for the request that will actually go upstream.
      if (hooks.has('selectOrigin') && !cache.joinable(key)) {
        const chosen = await hooks.call('selectOrigin', { request: c.req.raw, log: slog, stream, path, origins: origins.candidates() },
          (v) => v === undefined || (Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string' && origins.isConfigured(u.replace(/\/+$/, '')))));
        if (chosen) fetchTarget.origins = chosen.map((u) => u.replace(/\/+$/, ''));
      }
      const found = await cache.fetch(fetchTarget);
      if (found.obj === undefined) {
        stats.request('ERROR');
        return c.text('upstream unavailable\n', found.status, { ...edgeHeaders('ERROR', config.id), 'cache-control': 'no-store' });
      }
      return await deliver(found.outcome, found.obj, found.setCookie);
    } catch (err) {
      if (!(err instanceof HookFailed)) throw err;
      stats.request('ERROR');
      return c.text(`${err.message}\n`, 500, { ...edgeHeaders('ERROR', config.id), 'cache-control': 'no-store' });
    }
  }

  const app = createBaseApp({
    metrics,
    log,
    exposeHeaders: ['X-Cache', 'X-Served-By'],
    healthy: () => !shuttingDown,
    ...(config.use ? { use: config.use } : {}),
  });
  app.on(['GET', 'HEAD'], '/hls/*', serveStream);
  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, OPTIONS' }));

  /**
   * A plain GET that is a fresh hit, answered before Hono's dispatch: skipping routing, context and
   * middleware measured +14% playlist hits/s (median of 5 alternating wrk runs, docs/edge.md). Only without hooks or operator middleware,
   * which must see every request; anything else (miss, HEAD, drain redirect, bad path) goes through
   * Hono and `serveStream`, which make the same decisions in the same order.
   */
  function serveFreshHit(env: HttpBindings): boolean {
    const { incoming, outgoing } = env;
    if (incoming.method !== 'GET' || !incoming.url?.startsWith('/hls/')) return false;
    const parsed = checkIncomingTarget(incoming);
    if (!parsed.ok || !parsed.value.stream) return false;
    const { pathname, pathAndQuery, query, stream } = parsed.value;
    const isPlaylist = isPlaylistPath(stream.path);
    if (isPlaylist && lbUrl !== undefined && isDraining()) return false;
    const found = cache.fresh(cacheKeyOf(pathname, query, keyParams));
    if (!found) return false;
    const hit = isPlaylist && masters ? masters.view(found, pathAndQuery) : found;
    if (isPlaylist) countViewer(hit, stream.stream, incoming);
    stats.request('HIT');
    if (hit.status === 200 && hit.body.state === 'complete' && isPlainGet(incoming.headers)) writeHit(outgoing, hit, config.id, now(), onBytes);
    else writeReply(outgoing, replyFor(hit, { method: 'GET', request: incoming.headers, outcome: 'HIT', servedBy: config.id, now: now() }), onBytes);
    return true;
  }
  if (!hooked && (config.use?.length ?? 0) === 0) {
    const dispatch = app.fetch;
    app.fetch = (request, env, ctx) => {
      const node = env as HttpBindings | undefined;
      return node?.outgoing && serveFreshHit(node) ? RESPONSE_ALREADY_SENT : dispatch(request, env, ctx);
    };
  }

  let registration: EdgeRegistration | undefined;
  if (config.redis) {
    registration = startRegistration({
      url: config.redis.url,
      prefix: config.redis.prefix ?? DEFAULT_REDIS_PREFIX,
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
      await registration?.withdraw();
    },
    async close() {
      viewers.close();
      await registration?.close();
      await origins.close();
    },
  };
}

function isRequestDecision(v: unknown): boolean {
  if (v === undefined || v instanceof Response) return true;
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  if ('deny' in d) return Number.isInteger(d.deny) && (d.deny as number) >= 400 && (d.deny as number) <= 599 && (d.message === undefined || typeof d.message === 'string');
  return (d.path === undefined || (typeof d.path === 'string' && checkRelativePath(d.path) === undefined)) &&
    (d.query === undefined || typeof d.query === 'string');
}

/** `<host>-<port>`: unique per process on a host, stable across restarts. */
export function defaultEdgeId(port: number): string {
  return `${hostname()}-${port}`;
}
