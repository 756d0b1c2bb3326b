// The redirecting load balancer: discovery (static `--edge` list + Redis) -> an immutable selector
// swapped whenever the edge set changes -> per request, the best usable edge for the key, as a 302.
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import type { Context } from 'hono';
import { createBaseApp, peerAddress, requestTargetOf, streamPathOf } from '../src/app.js';
import type { Role } from '../src/role.js';
import { HLS_PREFIX, isValidStreamName } from '../src/stream-path.js';
import { clientAddress, type HashBy } from './client-key.js';
import { startDiscovery, type Discovery, type RedisState } from './discovery.js';
import { resolveEdges, retainedEdges, sameEdges, type EdgeEntry, type EdgeSource } from './edges.js';
import type { ControlSnapshot } from '../src/control-plane.js';
import { HealthChecker, type Health } from './health.js';
import { playerPage } from './player-page.js';
import { RateMeter } from './rate.js';
import { Selector } from './selector.js';
import { STATUS_PAGE } from './status-page.js';
import { cidrGroups } from './edge-groups.js';
import { createHookRunner, HookFailed } from '../src/hooks.js';
import { candidateOf, defaultHashKey, LB_HOOKS, type LbHooks } from './hooks.js';
import { lbSettings, type LbConfig } from './config.js';

export { LB_DEFAULTS, type LbConfig } from './config.js';
export { parseEdgeSpec, type EdgeSpec } from './edges.js';
export { cidrGroups, parseEdgeGroup, type EdgeGroup } from './edge-groups.js';
export type { HashBy } from './client-key.js';

/** What happened to a request under /hls/: the metric label and what tests assert. */
export type RedirectOutcome = 'redirect' | 'no_edge' | 'bad_path' | 'method_not_allowed' | 'hook_failed';

export interface EdgeStatus {
  id: string;
  url: string;
  weight: number;
  healthy: boolean;
  /** Expected share of new clients now (0 while down or at weight 0). */
  share: number;
  drain: boolean;
  health: Health;
  source: EdgeSource;
  redirects: number;
  redirectsPerSecond: number;
}

export interface LbStatus {
  configVersion: number;
  redis: RedisState;
  hash: HashBy;
  edges: EdgeStatus[];
}

export interface Lb extends Role {
  status(): LbStatus;
  /** Re-reads Redis now (the poll and the events channel do it anyway). */
  refresh(): Promise<void>;
  /** Runs one round of health checks now. */
  checkHealth(): Promise<void>;
}

function recordOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((v, k) => { out[k] = v; });
  return out;
}

const HLS_JS_PATH = createRequire(import.meta.url).resolve('hls.js/dist/hls.min.js');

interface Current {
  version: number;
  edges: readonly EdgeEntry[];
  selector: Selector<EdgeEntry>;
}

export function createLb(config: LbConfig): Lb {
  const settings = lbSettings(config);
  const { log, metrics, redirectCode, retryAfter } = settings;
  const hashBy = settings.hash;
  const trustedHops = settings.trustProxyHops;
  const statics = settings.edges;

  let current: Current = { version: 0, edges: [], selector: new Selector([]) };
  let snapshot: ControlSnapshot | undefined;
  let redisState: RedisState = 'off';
  const redirectCounts = new Map<string, number>();
  const rates = new RateMeter();

  const health = new HealthChecker(settings.health, log);
  const usable = (edge: EdgeEntry) => health.usable(edge.id);

  let retained = new Map<string, string>();
  const apply = () => {
    const kept = snapshot ? retainedEdges(current.edges, snapshot, (id) => health.health(id) === 'down') : new Map<string, string>();
    for (const id of kept.keys()) if (!retained.has(id)) log.warn('edge_retained', { edge: id, reason: 'registration gone from Redis; kept while healthy' });
    retained = kept;
    const edges = resolveEdges(statics, snapshot, retained);
    if (current.version > 0 && sameEdges(current.edges, edges)) return;
    current = { version: current.version + 1, edges, selector: new Selector(edges) };
    health.setEdges(edges);
    log.info('edges_changed', { version: current.version, edges: edges.map((e) => `${e.id}@${e.weight}`) });
  };
  apply();

  const rejectedEntries = metrics.counter('lb_redis_rejected_entries_total', 'Control-plane entries read from Redis and not used (each counted once), by key', ['key']);
  let discovery: Discovery | undefined;
  if (settings.redis) {
    discovery = startDiscovery({
      ...settings.redis,
      log,
      onSnapshot(next) {
        snapshot = next;
        apply();
      },
      onState(state) {
        redisState = state;
      },
      onRejected(entry) {
        rejectedEntries.inc({ key: entry.key });
        log.warn('redis_entry_rejected', { key: entry.key, edge: entry.id, value: entry.value, reason: entry.reason });
      },
    });
  }

  const requests = metrics.counter('lb_requests_total', 'Requests under /hls/ by outcome', ['outcome']);
  const count = (outcome: RedirectOutcome) => requests.inc({ outcome });
  const redirects = metrics.counter('lb_redirects_total', 'Redirects sent, by edge', ['edge']);
  metrics.gauge('lb_edge_healthy', 'Edge health: 1 usable, 0 down', ['edge'], function collect() {
    this.reset();
    for (const e of current.edges) this.set({ edge: e.id }, usable(e) ? 1 : 0);
  });
  metrics.gauge('lb_edge_weight', 'Effective edge weight (0 while drained)', ['edge'], function collect() {
    this.reset();
    for (const e of current.edges) this.set({ edge: e.id }, e.weight);
  });
  metrics.gauge('lb_redis_up', 'Control plane: 1 up, 0 down or not configured', [], function collect() {
    this.set(redisState === 'up' ? 1 : 0);
  });
  metrics.gauge('lb_config_version', 'Bumped whenever the edge set or a weight changes', [], function collect() {
    this.set(current.version);
  });

  const status = (): LbStatus => {
    const shares = current.selector.shares(usable);
    return {
      configVersion: current.version,
      redis: redisState,
      hash: hashBy,
      edges: current.edges.map((e) => ({
        id: e.id,
        url: e.url,
        weight: e.weight,
        healthy: usable(e),
        share: shares.get(e.id) ?? 0,
        drain: e.drain,
        health: health.health(e.id),
        source: e.source,
        redirects: redirectCounts.get(e.id) ?? 0,
        redirectsPerSecond: rates.perSecond(e.id),
      })),
    };
  };

  const clientOf = (c: Context): string => {
    return clientAddress(peerAddress(c), trustedHops > 0 ? c.req.header('x-forwarded-for') : undefined, trustedHops);
  };

  const hooks = createHookRunner('lb', config.hooks, { timeoutMs: settings.hookTimeoutMs, log, metrics },
    settings.edgeGroups.length ? { selectEdges: cidrGroups(settings.edgeGroups) } : {});
  const candidate = (e: EdgeEntry) => candidateOf(e, usable(e));

  /** The hook phases of one redirect: hashKey -> selectEdges -> (hashing) -> response. */
  const decide = async (c: Context, stream: string) => {
    const client = clientOf(c);
    const defaultKey = defaultHashKey(hashBy, client, stream);
    const base = { request: c.req.raw, stream, log: log.child({ stream }) };
    const key = hooks.has('hashKey')
      ? (await hooks.call('hashKey', { ...base, clientAddress: client, defaultKey }, LB_HOOKS.hashKey.valid)) ?? defaultKey
      : defaultKey;
    let allowed = usable;
    if (hooks.has('selectEdges')) {
      const chosen = await hooks.call('selectEdges', { ...base, clientAddress: client, edges: current.edges.map(candidate) }, LB_HOOKS.selectEdges.valid);
      if (chosen !== undefined) {
        const ids = new Set(chosen.map((x) => (typeof x === 'string' ? x : x.id)));
        allowed = (e) => ids.has(e.id) && usable(e);
      }
    }
    return { edge: current.selector.pick(key, allowed), base };
  };

  const app = createBaseApp({
    metrics, log, exposeHeaders: ['X-Served-By', 'X-Cache'], ...(config.use ? { use: config.use } : {}),
    onBadTarget: (raw) => { if (raw.startsWith(HLS_PREFIX)) count('bad_path'); },
  });

  app.get('/hls/*', async function redirectToEdge(c) {
    try {
      const { edge, base } = await decide(c, streamPathOf(c).stream);
      // The raw target, byte for byte: the edge must see exactly what the player asked for.
      const headers = new Headers(edge
        ? { Location: edge.url + requestTargetOf(c).pathAndQuery, 'Cache-Control': 'no-store', 'Content-Length': '0' }
        : { 'Retry-After': retryAfter, 'Cache-Control': 'no-store' });
      const status = edge ? redirectCode : 503;
      if (hooks.has('response')) await hooks.call('response', { ...base, edge: edge && candidate(edge), status, headers }, LB_HOOKS.response.valid);
      if (!edge) {
        count('no_edge');
        return c.text('no edge available\n', 503, recordOf(headers));
      }
      count('redirect');
      redirects.inc({ edge: edge.id });
      redirectCounts.set(edge.id, (redirectCounts.get(edge.id) ?? 0) + 1);
      rates.add(edge.id);
      return c.body(null, redirectCode, recordOf(headers));
    } catch (err) {
      if (!(err instanceof HookFailed)) throw err;
      count('hook_failed');
      return c.text(`${err.message}\n`, 500, { 'Cache-Control': 'no-store' });
    }
  });
  app.all('/hls/*', (c) => {
    count('method_not_allowed');
    return c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, OPTIONS' });
  });

  app.get('/api/edges', (c) => c.json(status().edges, 200, { 'Cache-Control': 'no-store', 'X-Cascade-Redis': redisState }));
  app.get('/api/status', (c) => c.json(status(), 200, { 'Cache-Control': 'no-store' }));
  app.get('/', (c) => c.html(STATUS_PAGE, 200, { 'Cache-Control': 'no-store' }));
  app.get('/play/:stream', (c) => {
    const stream = c.req.param('stream');
    if (!isValidStreamName(stream)) return c.text('bad stream name\n', 400);
    return c.html(playerPage(stream, c.req.query('src')), 200, { 'Cache-Control': 'no-store' });
  });
  let hlsJs: Promise<Buffer> | undefined;
  app.get('/assets/hls.min.js', async (c) => {
    hlsJs ??= readFile(HLS_JS_PATH);
    return c.body(new Uint8Array(await hlsJs), 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=3600' });
  });

  return {
    app,
    status,
    refresh: () => discovery?.refresh() ?? Promise.resolve(),
    checkHealth: () => health.checkAll(),
    async close() {
      discovery?.close();
      await health.close();
    },
  };
}
