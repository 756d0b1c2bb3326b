// `cascade edge`: parses options (and --config), then runs the edge role; everything else lives in createEdge.
import { accessConfigFrom, PLAYBACK_OPTIONS } from '../src/access.js';
import { LISTEN_OPTIONS, REDIS_OPTIONS, TRUST_PROXY_OPTIONS, loggerFor, parseOrigins, parseRoleCommand, takePositionals, tlsFilesOf, trustedHops, type Command } from '../src/command.js';
import { formatDefault, UsageError, type OptionsSpec } from '../src/options.js';
import { runRole } from '../src/role.js';
import { isSupervisor, superviseWorkers, workerSlot, WORKERS_OPTION } from '../src/workers.js';
import { controlKeys } from '../src/control-plane.js';
import { EDGE_DEFAULTS } from './defaults.js';
import { EDGE_HOOKS } from './hooks.js';
import { createEdge, defaultEdgeId } from './index.js';

const EDGE_OPTIONS = {
  port: { type: 'int', default: EDGE_DEFAULTS.port, min: 0, max: 65535, help: 'port to listen on' },
  workers: WORKERS_OPTION,
  origin: { type: 'string', repeat: true, help: 'origin base URL(s) in order of preference, comma-separated or repeated (required)' },
  'cache-size': { type: 'bytes', default: EDGE_DEFAULTS.cacheSize, min: 1024 * 1024, help: 'cache budget in bytes (512m, 2g, ...)' },
  'max-object-size': { type: 'bytes', default: EDGE_DEFAULTS.maxObjectSize, min: 1, help: 'larger responses are streamed through, not cached' },
  id: { type: 'string', help: 'edge id for X-Served-By and Redis (default <hostname>-<port>)' },
  'public-url': { type: 'url', help: `URL players reach this edge at; with --redis it is registered in ${controlKeys(EDGE_DEFAULTS.redisPrefix).edges}` },
  lb: { type: 'url', help: 'load balancer URL players reach: draining playlist requests are redirected to it, and masters name their variants through it' },
  'master-via-lb': { type: 'bool', default: EDGE_DEFAULTS.masterViaLb, help: 'with --lb, serve masters with variant URIs as absolute LB URLs, so every player survives the loss of its edge (--no-master-via-lb: as the origin wrote them)' },
  'upstream-timeout': { type: 'duration', default: EDGE_DEFAULTS.upstreamTimeoutMs, min: 1, help: 'per-origin headers timeout and body idle timeout' },
  'blocking-timeout': { type: 'duration', default: EDGE_DEFAULTS.blockingTimeoutMs, min: 1, help: 'upstream wait for an LL-HLS blocking playlist reload before the playlist\'s target duration is known (then 4 target durations, at least --upstream-timeout)' },
  'origin-retry': { type: 'duration', default: EDGE_DEFAULTS.originRetryMs, min: 0, help: 'how long a failing origin is skipped before being probed again' },
  'segment-ttl': { type: 'duration', default: EDGE_DEFAULTS.freshness.segmentTtlMs, min: 0, help: 'freshness of segments without Cache-Control' },
  'master-playlist-ttl': { type: 'duration', default: EDGE_DEFAULTS.freshness.masterPlaylistTtlMs, min: 0, help: 'freshness of master playlists without Cache-Control' },
  'not-found-ttl': { type: 'duration', default: EDGE_DEFAULTS.freshness.notFoundTtlMs, min: 0, help: 'freshness of 404/410 without Cache-Control' },
  'segment-stale': { type: 'duration', default: EDGE_DEFAULTS.freshness.segmentStaleMs, min: 0, help: 'how long an expired segment may be served while every origin fails' },
  'playlist-stale': { type: 'duration', help: 'same for playlists (default one target duration)' },
  'cache-key-params': { type: 'string', default: EDGE_DEFAULTS.keyParams.join(','), help: 'query parameters kept in the cache key and sent upstream; others are dropped' },
  'load-window': { type: 'duration', default: EDGE_DEFAULTS.loadWindowMs, min: 1000, max: 60_000, help: 'with --redis: how long a client counts as a viewer in the load reported to the LBs (above the longest playlist reload interval)' },
  ...PLAYBACK_OPTIONS,
  'request-rate': { type: 'string', help: 'requests per client address, e.g. 50/s or 200/10s (429 beyond it)' },
  ...TRUST_PROXY_OPTIONS,
  'shutdown-grace': { type: 'duration', default: EDGE_DEFAULTS.shutdownGraceMs, min: 0, help: 'how long in-flight requests may finish on SIGTERM' },
  ...LISTEN_OPTIONS,
  ...REDIS_OPTIONS,
} as const satisfies OptionsSpec;

export const edgeCommand: Command = {
  name: 'edge',
  summary: 'caching relay in front of the origins (coalesces misses, streams to every waiter)',
  async run(argv) {
    const parsed = await parseRoleCommand('edge', EDGE_OPTIONS, argv, {
      usage: `cascade edge --origin URL[,URL...] [--port ${EDGE_DEFAULTS.port}] [--cache-size ${formatDefault(EDGE_OPTIONS['cache-size'])}] [--id NAME] [--public-url URL] [--lb URL] [options]`,
      description: 'Serves /hls/<stream>/<path> from its cache, filled from the first healthy origin.',
    }, EDGE_HOOKS);
    if (!parsed) return 0;
    const options = parsed.options;
    takePositionals(parsed.positionals, []);
    const origins = parseOrigins(options.origin);
    if (origins.length === 0) throw new UsageError('--origin is required (e.g. --origin http://127.0.0.1:8090)');
    const id = options.id ?? defaultEdgeId(options.port);
    const log = loggerFor(options['log-level'], { role: 'edge', edge: id });
    const tls = tlsFilesOf(options);
    if (isSupervisor(options.workers)) return superviseWorkers({ count: options.workers, port: options.port, host: options.host, name: 'edge', log, tls: tls !== undefined });
    const worker = workerSlot();
    const edge = createEdge({
      id,
      origins,
      cacheSize: options['cache-size'],
      maxObjectSize: options['max-object-size'],
      upstreamTimeoutMs: options['upstream-timeout'],
      blockingTimeoutMs: options['blocking-timeout'],
      originRetryMs: options['origin-retry'],
      keyParams: options['cache-key-params'].split(',').map((p) => p.trim()).filter(Boolean),
      freshness: {
        segmentTtlMs: options['segment-ttl'],
        masterPlaylistTtlMs: options['master-playlist-ttl'],
        notFoundTtlMs: options['not-found-ttl'],
        segmentStaleMs: options['segment-stale'],
        ...(options['playlist-stale'] !== undefined ? { playlistStaleMs: options['playlist-stale'] } : {}),
      },
      ...(options.lb ? { lbUrl: options.lb, masterViaLb: options['master-via-lb'] } : {}),
      ...(options['public-url'] ? { publicUrl: options['public-url'] } : {}),
      ...(options.redis ? { redis: { url: options.redis, prefix: options['redis-prefix'] } } : {}),
      loadWindowMs: options['load-window'],
      access: accessConfigFrom(options, 'request-rate', EDGE_DEFAULTS.requestRateWindowMs),
      trustProxyHops: trustedHops(options),
      hooks: parsed.hooks,
      use: parsed.use,
      hookTimeoutMs: options['hook-timeout'],
      log,
      ...(worker ? { worker } : {}),
    });
    if (options['public-url'] && !options.redis) log.info('not_registering', { reason: '--public-url without --redis' });
    await runRole(edge, { port: options.port, host: options.host, log, name: 'edge', tls, graceMs: options['shutdown-grace'] });
  },
};
