// The redirecting load balancer, assembled: settings -> health checks and the edge set (fed by discovery:
// the static `--edge` list and Redis) -> per request under /hls/, the decision (lb/decision.ts: key,
// candidates, pick) and the redirect (lb/redirect.ts: a 302 to the edge, or a 503) -> beside them the
// LB's own view (/api, the status page) and the player page.
import { createBaseApp } from '../src/app.js';
import { corsHeaders } from '../src/cors.js';
import { createHookRunner } from '../src/hooks.js';
import type { Role } from '../src/role.js';
import { HLS_PREFIX } from '../src/stream-path.js';
import { apiRoutes } from './api.js';
import { lbSettings, type LbConfig } from './config.js';
import { createDecision, decisionWithoutHooks } from './decision.js';
import { fastRedirects } from './fast-redirect.js';
import { startDiscovery, type Discovery, type RedisState } from './discovery.js';
import { cidrGroups } from './edge-groups.js';
import { EdgeSet } from './edge-set.js';
import type { EdgeEntry } from './edges.js';
import { HealthChecker } from './health.js';
import { LB_HOOKS, type LbHooks } from './hooks.js';
import { lbMetrics } from './metrics.js';
import { playerRoutes } from './player-page.js';
import { RateMeter } from './rate.js';
import { redirectRoutes } from './redirect.js';
import { lbStatus, type LbStatus } from './status.js';
import { statusPageRoutes } from './status-page.js';

export { LB_DEFAULTS, type LbConfig } from './config.js';
export { parseEdgeSpec, type EdgeSpec } from './edges.js';
export { cidrGroups, parseEdgeGroup, type EdgeGroup } from './edge-groups.js';
export type { HashBy } from './client-key.js';
export type { EdgeCandidate, HashKeyContext, LbHooks, LbResponseContext, SelectEdgesContext } from './hooks.js';
export type { RedirectOutcome } from './metrics.js';
export type { EdgeStatus, LbStatus } from './status.js';

/** The LB's own response headers a browser player may read across origins. */
const LB_EXPOSED_HEADERS = ['X-Served-By', 'X-Cache'];

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
  const stats = lbMetrics(metrics, { edgeSet, usable, redisState: () => redisState });
  let discovery: Discovery | undefined;
  if (settings.redis) {
    discovery = startDiscovery({
      ...settings.redis,
      log,
      onSnapshot: (snapshot) => edgeSet.update(snapshot),
      onState: (state) => { redisState = state; },
      onRejected(entry) {
        stats.rejected(entry.key);
        log.warn('redis_entry_rejected', { key: entry.key, edge: entry.id, value: entry.value, reason: entry.reason });
      },
    });
  }
  const status = () => lbStatus({ edgeSet, health, redirects, redisState: () => redisState, hash: settings.hash });

  const builtInHooks: LbHooks = settings.edgeGroups.length ? { selectEdges: cidrGroups(settings.edgeGroups) } : {};
  const hooks = createHookRunner('lb', config.hooks, { timeoutMs: settings.hookTimeoutMs, log, metrics }, builtInHooks);
  const decide = createDecision({ hash: settings.hash, trustProxyHops: settings.trustProxyHops, edgeSet, usable, hooks });
  // Redirects skip Node's server and Hono, unless hooks or middleware must see every request.
  const fastPath = (Object.keys(LB_HOOKS) as (keyof LbHooks)[]).some((h) => hooks.has(h)) || (config.use?.length ?? 0) > 0 ? undefined : fastRedirects({
    decide: decisionWithoutHooks({ hash: settings.hash, trustProxyHops: settings.trustProxyHops, edgeSet, usable }),
    redirectCode: settings.redirectCode, cors: corsHeaders(LB_EXPOSED_HEADERS), stats, redirects,
  });

  const app = createBaseApp({
    metrics, log, exposeHeaders: LB_EXPOSED_HEADERS, ...(config.use ? { use: config.use } : {}),
    onBadTarget: (raw) => { if (raw.startsWith(HLS_PREFIX)) stats.request('bad_path'); },
  });
  app.route('/', redirectRoutes({ decide, hooks, usable, redirectCode: settings.redirectCode, retryAfter: settings.retryAfter, log, stats, redirects }));
  app.route('/api', apiRoutes(status));
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
