// The redirecting load balancer, assembled: settings -> health checks and the edge set (fed by discovery:
// the static `--edge` list and Redis) -> per request under /hls/, access (lb/access.ts: session rate,
// signed URL, the new player's session), the decision (lb/decision.ts: key, candidates, pick) and the
// redirect (lb/redirect.ts: a 302 to the edge, or a 503) -> beside them the LB's own view (/api, the
// status page) and the player page.
import { DENIED_HEADER, PlaybackAccess } from '../src/access.js';
import { createBaseApp } from '../src/app.js';
import type { EdgeLoad } from '../src/control-plane.js';
import { corsHeaders } from '../src/cors.js';
import { createHookRunner } from '../src/hooks.js';
import type { Role } from '../src/role.js';
import { HLS_PREFIX } from '../src/stream-path.js';
import { lbAccess } from './access.js';
import { apiRoutes } from './api.js';
import { BoundedLoads } from './balance.js';
import { lbSettings, type LbConfig } from './config.js';
import { createDecision, decisionWithoutHooks } from './decision.js';
import { fastRedirects } from './fast-redirect.js';
import { startDiscovery, type Discovery, type RedisState } from './discovery.js';
import { cidrGroups } from './edge-groups.js';
import { EdgeSet } from './edge-set.js';
import type { EdgeEntry } from './edges.js';
import { HealthChecker } from './health.js';
import { LB_HOOKS, type LbHooks } from './hooks.js';
import { LostEdges } from './lost-edges.js';
import { lbMetrics } from './metrics.js';
import { playerRoutes } from './player-page.js';
import { RateMeter } from './rate.js';
import { redirectRoutes } from './redirect.js';
import { lbStatus, type LbStatus } from './status.js';
import { StreamDirectory, viewersByStream } from './streams.js';
import { statusPageRoutes } from './status-page.js';

export { LB_DEFAULTS, type LbConfig } from './config.js';
export { parseEdgeSpec, type EdgeSpec } from './edges.js';
export { cidrGroups, parseEdgeGroup, type EdgeGroup } from './edge-groups.js';
export type { HashBy } from './client-key.js';
export type { EdgeCandidate, HashKeyContext, LbHooks, LbResponseContext, SelectEdgesContext } from './hooks.js';
export type { RedirectOutcome } from './metrics.js';
export type { EdgeStatus, LbStatus } from './status.js';

/** The LB's own response headers a browser player may read across origins. */
const LB_EXPOSED_HEADERS = ['X-Served-By', 'X-Cache', DENIED_HEADER];

export interface Lb extends Role {
  status(): LbStatus;
  /** Re-reads Redis now (the poll and the events channel do it anyway). */
  refresh(): Promise<void>;
  /** Runs one round of health checks now. */
  checkHealth(): Promise<void>;
}

export function createLb(config: LbConfig): Lb {
  const settings = lbSettings(config);
  const { log, metrics } = settings;

  const health = new HealthChecker(settings.health, log);
  const usable = (edge: EdgeEntry) => health.usable(edge.id);
  const edgeSet = new EdgeSet(settings.edges, health, log);
  const redirects = new RateMeter();
  let redisState: RedisState = 'off';
  // The edges' load reports (from Redis) and the bounds they set.
  let loads = new Map<string, EdgeLoad>();
  const balance = new BoundedLoads(settings.balanceFactor);
  const stats = lbMetrics(metrics, { edgeSet, usable, redisState: () => redisState, balance });
  const lost = new LostEdges();
  let discovery: Discovery | undefined;
  if (settings.redis) {
    discovery = startDiscovery({
      ...settings.redis,
      log,
      onSnapshot(snapshot, rejoining) {
        const before = edgeSet.current.edges;
        const down = new Set(before.filter((e) => health.health(e.id) === 'down').map((e) => e.id));
        edgeSet.update(snapshot, rejoining);
        if (edgeSet.current.edges !== before) lost.track(before, edgeSet.current.edges, down);
      },
      onState: (state) => { redisState = state; },
      loadIds: () => edgeSet.current.edges.map((e) => e.id),
      onLoads(next) {
        loads = next;
        balance.observe(edgeSet.current.edges.map((e) => ({
          id: e.id, weight: e.weight, usable: usable(e), viewers: loads.get(e.id)?.viewers, windowMs: loads.get(e.id)?.windowMs,
        })));
      },
      onRejected(entry) {
        stats.rejected(entry.key);
        log.warn('redis_entry_rejected', { key: entry.key, edge: entry.id, value: entry.value, reason: entry.reason });
      },
    });
  }
  const directory = new StreamDirectory(settings.origins, log);
  const status = () => lbStatus({ edgeSet, health, redirects, redisState: () => redisState, hash: settings.hash, loads: () => loads, balance, lost });

  const builtInHooks: LbHooks = settings.edgeGroups.length ? { selectEdges: cidrGroups(settings.edgeGroups) } : {};
  const hooks = createHookRunner('lb', config.hooks, { timeoutMs: settings.hookTimeoutMs, log, metrics }, builtInHooks);
  const decide = createDecision({ hash: settings.hash, trustProxyHops: settings.trustProxyHops, edgeSet, usable, hooks, balance });
  const access = new PlaybackAccess(settings.access, { metrics });
  const admit = access.signed || access.limited || settings.sessionTokens
    ? lbAccess({ access, sessions: settings.sessionTokens, trustProxyHops: settings.trustProxyHops })
    : undefined;
  // Redirects skip Node's server and Hono unless something must see every request: hooks, middleware,
  // or the access phase (signed URLs, the session rate, a new player's session in the Location).
  const seenByAll = (Object.keys(LB_HOOKS) as (keyof LbHooks)[]).some((h) => hooks.has(h)) || (config.use?.length ?? 0) > 0 || admit !== undefined;
  const fastPath = seenByAll ? undefined : fastRedirects({
    decide: decisionWithoutHooks({ hash: settings.hash, trustProxyHops: settings.trustProxyHops, edgeSet, usable, balance, healthChanges: () => health.changes }),
    redirectCode: settings.redirectCode, cors: corsHeaders(LB_EXPOSED_HEADERS), stats, redirects,
  });

  const app = createBaseApp({
    metrics, log, exposeHeaders: LB_EXPOSED_HEADERS, ...(config.use ? { use: config.use } : {}),
    onBadTarget: (raw) => { if (raw.startsWith(HLS_PREFIX)) stats.request('bad_path'); },
  });
  app.route('/', redirectRoutes({ admit, decide, hooks, usable, redirectCode: settings.redirectCode, retryAfter: settings.retryAfter, log, stats, redirects }));
  app.route('/api', apiRoutes(status, { directory, viewers: () => viewersByStream(loads) }));
  app.route('/', statusPageRoutes());
  app.route('/', playerRoutes());

  return {
    app,
    metrics,
    ...(fastPath ? { fastPath } : {}),
    status,
    refresh: () => discovery?.refresh() ?? Promise.resolve(),
    checkHealth: () => health.checkAll(),
    async close() {
      discovery?.close();
      await health.close();
    },
  };
}
