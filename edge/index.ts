// The edge role: a caching relay in front of the origins. createEdge wires config -> state -> phases ->
// app; each phase is its own module:
//   path check (src/app.ts: 400 on anything but a valid /hls/ path; never an open proxy)
//   -> access.ts (request rate, signed URL; both roads) -> serve-stream.ts: 'request' -> classify.ts (drain redirect, upstream path) -> 'cacheKey' -> fresh
//      hit, or 'selectOrigin' and the coalesced fetch (coalescing-cache.ts; 'ttl' before storing)
//   -> delivery.ts ('response' on the way out): 304/206/HEAD/stream, masters through the LB.
// Hooks are declared and run in hooks.ts. Without hooks or middleware, plain fresh GET hits are answered
// before Hono's dispatch by fresh-hit.ts, classified by the same classify.ts.
import { hostname } from 'node:os';
import type { MiddlewareHandler } from 'hono';
import { PlaybackAccess, type AccessConfig } from '../src/access.js';
import { createBaseApp } from '../src/app.js';
import { silentLogger, type Logger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import type { Role } from '../src/role.js';
import { EdgeAccess } from './access.js';
import { CacheStore } from './cache-store.js';
import { RequestClassifier } from './classify.js';
import { CoalescingCache } from './coalescing-cache.js';
import { EDGE_DEFAULTS } from './defaults.js';
import { Delivery } from './delivery.js';
import { DrainState } from './drain.js';
import { combineLoads, LoadMeter } from './load.js';
import { answerFreshHitsFirst, rawFreshHits } from './fresh-hit.js';
import { BlockingTimeouts } from './low-latency.js';
import type { FreshnessDefaults } from './freshness.js';
import { EdgeHookPhases, type EdgeHooks } from './hooks.js';
import { MasterViaLb } from './master-rewrite.js';
import { edgeMetrics } from './metrics.js';
import { OriginPool } from './origin-pool.js';
import { startRegistration } from './registration.js';
import { EDGE_EXPOSED_HEADERS } from './respond.js';
import { streamHandler } from './serve-stream.js';
import { ViewerCounter, VIEWER_LIMITS } from './viewers.js';
import { serveShield, ShieldedUpstream } from './worker-shield.js';
import { shareAcrossWorkers, type WorkerSlot } from '../src/workers.js';

export type { CacheOutcome } from './outcome.js';
export { CACHE_OUTCOMES } from './outcome.js';
export { EDGE_DEFAULTS } from './defaults.js';

export interface EdgeConfig {
  /** Edge id: X-Served-By, Redis registration, drain set membership. */
  id: string;
  /** Origin base URLs in order of preference. */
  origins: readonly string[];
  /** Cache budget in bytes. Defaults for this and the rest: EDGE_DEFAULTS (edge/defaults.ts). */
  cacheSize?: number;
  /** Larger objects are streamed through, not stored (bytes; never more than the cache size). */
  maxObjectSize?: number;
  /** Upstream headers timeout and body idle timeout per origin (ms). */
  upstreamTimeoutMs?: number;
  /** Upstream headers timeout of a blocking playlist reload while the playlist's target duration is unknown (ms). */
  blockingTimeoutMs?: number;
  /** How long a failing origin is skipped before it is probed again (ms). */
  originRetryMs?: number;
  /** Query parameters kept in the cache key and sent upstream (default the LL-HLS ones). */
  keyParams?: readonly string[];
  freshness?: Partial<FreshnessDefaults>;
  /** Where draining playlist requests are redirected (the LB's base URL). */
  lbUrl?: string;
  /** With lbUrl: serve masters with their variant URIs through the LB, so players survive losing this edge. */
  masterViaLb?: boolean;
  /** This edge's URL as players reach it; registered in Redis when set. */
  publicUrl?: string;
  redis?: { url: string; prefix?: string; intervalMs?: number };
  /** Window of the viewers in the load reported to the LBs (ms; EDGE_DEFAULTS.loadWindowMs). */
  loadWindowMs?: number;
  log?: Logger;
  metrics?: Metrics;
  /** Clock in ms; tests move it to expire entries without sleeping. */
  now?: () => number;
  /** Operator hooks at the edge's phases (docs/hooks.md). */
  hooks?: EdgeHooks;
  /** How long a hook may take before its request fails (ms). */
  hookTimeoutMs?: number;
  /** Operator Hono middleware, run before the stream routes. */
  use?: MiddlewareHandler[];
  /** Signed URLs, the request rate per client, its allow-list (docs/access.md). */
  access?: AccessConfig;
  /** How many proxies in front of the edge append to X-Forwarded-For; 0 (default) ignores the header. */
  trustProxyHops?: number;
  /**
   * Set in a cluster worker (`--workers` > 1): the cache budget is shared by the workers, and misses go
   * through the worker that owns the key (edge/worker-shield.ts), so each object is fetched once per host.
   */
  worker?: WorkerSlot;
}

export interface Edge extends Role {
  readonly id: string;
  /** True while playlist requests are redirected to the LB (SIGTERM, or the id in the Redis drain set). */
  readonly draining: boolean;
  readonly cache: { readonly bytes: number; readonly entries: number; readonly maxBytes: number };
  readonly metrics: Metrics;
}

export function createEdge(config: EdgeConfig): Edge {
  // Config, with the defaults filled in once.
  const now = config.now ?? Date.now;
  const log = (config.log ?? silentLogger).child({ role: 'edge', edge: config.id });
  const metrics = config.metrics ?? new Metrics({ role: 'edge', edge: config.id });
  const worker = config.worker && config.worker.count > 1 ? config.worker : undefined;
  const cacheSize = Math.floor((config.cacheSize ?? EDGE_DEFAULTS.cacheSize) / (worker?.count ?? 1));
  const lbUrl = config.lbUrl?.replace(/\/+$/, '');

  // State: the drain switch, the cache, the viewers, the origins.
  const drain = new DrainState();
  const store = new CacheStore(cacheSize);
  const viewers = new ViewerCounter({ ...VIEWER_LIMITS, now });
  const upstreamTimeoutMs = config.upstreamTimeoutMs ?? EDGE_DEFAULTS.upstreamTimeoutMs;
  const origins = new OriginPool(config.origins, {
    timeoutMs: upstreamTimeoutMs,
    retryMs: config.originRetryMs ?? EDGE_DEFAULTS.originRetryMs,
    userAgent: `cascade-edge/${config.id}`,
    now,
    onAttempt(origin, result, seconds, err) {
      stats.upstreamAttempt(origin, result, seconds);
      if (err !== undefined || Number(result) >= 500) log.warn('origin_failed', { origin, result, err });
    },
    onNotFoundNext(origin) {
      stats.notFoundNext(origin);
      log.info('origin_not_found_next', { origin });
    },
  });
  const hooks = new EdgeHookPhases(config.hooks, {
    timeoutMs: config.hookTimeoutMs ?? EDGE_DEFAULTS.hookTimeoutMs, log, metrics, edgeId: config.id,
    isConfiguredOrigin: (url) => origins.isConfigured(url),
  });
  const shielded = worker && new ShieldedUpstream({ slot: worker, origins, timeoutMs: upstreamTimeoutMs, log });
  const cache = new CoalescingCache({
    store,
    origins: shielded ?? origins,
    freshness: { ...EDGE_DEFAULTS.freshness, ...config.freshness },
    maxObjectSize: Math.min(config.maxObjectSize ?? EDGE_DEFAULTS.maxObjectSize, cacheSize),
    now,
    log,
    blocking: new BlockingTimeouts({ upstreamTimeoutMs, fallbackMs: config.blockingTimeoutMs ?? EDGE_DEFAULTS.blockingTimeoutMs }),
    ...(hooks.has('ttl') ? { adjustTtl: (target, obj, defaultTtlMs) => hooks.ttl(target, obj, defaultTtlMs) } : {}),
  });
  // The edge's own metrics, bound to the registry once (hot-path counters pre-labelled).
  const stats = edgeMetrics(metrics, {
    cacheBytes: () => store.bytes,
    cacheEntries: () => store.entries,
    fetching: () => cache.fetching,
    waiting: () => cache.waiting,
    viewers: () => viewers.counts(),
    draining: () => drain.draining,
  });

  // Phases, and the app that runs them.
  const access = new EdgeAccess(new PlaybackAccess(config.access ?? {}, { metrics, now }), config.trustProxyHops ?? 0);
  const classifier = new RequestClassifier({ keyParams: config.keyParams ?? EDGE_DEFAULTS.keyParams, lbUrl, draining: () => drain.draining });
  const masters = lbUrl !== undefined && (config.masterViaLb ?? EDGE_DEFAULTS.masterViaLb) ? new MasterViaLb(lbUrl, log) : undefined;
  const delivery = new Delivery({ servedBy: config.id, now, masters, viewers, stats });
  const app = createBaseApp({
    metrics,
    log,
    exposeHeaders: EDGE_EXPOSED_HEADERS,
    healthy: () => !drain.shuttingDown,
    ...(config.use ? { use: config.use } : {}),
  });
  app.on(['GET', 'HEAD'], '/hls/*', streamHandler({ id: config.id, log, access, classifier, hooks, cache, origins, delivery, stats }));
  app.all('/hls/*', (c) => c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, OPTIONS' }));
  // Fresh hits skip everything in front of the cache, unless hooks or middleware must see every request.
  const fastHits = !hooks.any && (config.use?.length ?? 0) === 0 ? { access, classifier, cache, delivery } : undefined;
  if (fastHits) answerFreshHitsFirst(app, fastHits);
  // On the raw socket only when the access phase has nothing to count or refuse (edge/fresh-hit.ts).
  const rawHits = fastHits && access.open ? rawFreshHits(fastHits) : undefined;

  const load = config.redis && new LoadMeter({ viewers: (withinMs) => viewers.counts(withinMs), totals: () => stats.totals() }, config.loadWindowMs ?? EDGE_DEFAULTS.loadWindowMs, now);
  // With --workers each worker sees only its share of the players: worker 0 reports the host's load,
  // gathered from every worker (src/workers.ts); the others heartbeat without one.
  const hostLoad = load && worker ? shareAcrossWorkers('edge-load', () => load.sample()) : undefined;
  const reportLoad = !load ? undefined
    : !worker ? () => load.sample()
    : worker.index === 0 && hostLoad ? async () => combineLoads(await hostLoad())
    : undefined;
  const registration = config.redis && startRegistration({
    url: config.redis.url,
    prefix: config.redis.prefix ?? EDGE_DEFAULTS.redisPrefix,
    id: config.id,
    ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}),
    intervalMs: config.redis.intervalMs ?? EDGE_DEFAULTS.registrationIntervalMs,
    log,
    onDrainChange: (drained) => drain.setDrainedByControlPlane(drained),
    ...(reportLoad ? { load: reportLoad } : {}),
  });

  // Without its socket, this worker's keys are fetched by each asking worker itself: degraded, not down.
  const shield = worker && serveShield({ slot: worker, origins, timeoutMs: upstreamTimeoutMs, log, cache, servedBy: config.id, now })
    .catch((err: unknown) => { log.error('shield_listen_failed', { err }); return undefined; });

  return {
    id: config.id,
    app,
    metrics,
    ...(rawHits ? { fastPath: rawHits } : {}),
    // A worker says it listens only once its siblings can reach its shield: a request in the first
    // moment otherwise found the owner's socket missing and fetched the object a second time.
    ...(shield ? { async onListen() { await shield; } } : {}),
    get draining() { return drain.draining; },
    cache: {
      get bytes() { return store.bytes; },
      get entries() { return store.entries; },
      get maxBytes() { return store.maxBytes; },
    },
    async beginShutdown() {
      drain.beginShutdown();
      log.info('drain_on', { source: 'shutdown' });
      await registration?.withdraw();
    },
    async close() {
      viewers.close();
      load?.close();
      await registration?.close();
      await (await shield)?.close();
      await shielded?.close();
      await origins.close();
    },
  };
}

/** `<host>-<port>`: unique per process on a host, stable across restarts. */
export function defaultEdgeId(port: number): string {
  return `${hostname()}-${port}`;
}
