// What the LB says about itself: `Lb.status()`, `/api/status`, `/api/edges` and the status page show this.
import type { EdgeLoad } from '../src/control-plane.js';
import type { BoundedLoads, EdgeBalance } from './balance.js';
import type { HashBy } from './client-key.js';
import type { LostEdge, LostEdges } from './lost-edges.js';
import type { RedisState } from './discovery.js';
import type { EdgeSet } from './edge-set.js';
import type { EdgeSource } from './edges.js';
import type { Health, HealthChecker } from './health.js';
import type { RateMeter } from './rate.js';

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
  /** What the edge last reported to Redis (null: no report). */
  load: EdgeLoad | null;
  /** Its place in the bounded loads (null: not balanced: no report, down or weight 0). */
  balance: EdgeBalance | null;
}

export interface LbStatus {
  configVersion: number;
  redis: RedisState;
  hash: HashBy;
  /** Epsilon of the bounded loads (0: off). */
  balanceFactor: number;
  edges: EdgeStatus[];
  /** Edges that left the set while down, recently (lb/lost-edges.ts): the dashboard's "edge down". */
  lostEdges: LostEdge[];
}

export interface StatusSources {
  edgeSet: EdgeSet;
  health: HealthChecker;
  redirects: RateMeter;
  redisState(): RedisState;
  hash: HashBy;
  loads(): ReadonlyMap<string, EdgeLoad>;
  balance: BoundedLoads;
  lost: LostEdges;
}

export function lbStatus({ edgeSet, health, redirects, redisState, hash, loads, balance, lost }: StatusSources): LbStatus {
  const { version, edges, selector } = edgeSet.current;
  const shares = selector.shares((e) => health.usable(e.id));
  return {
    configVersion: version,
    redis: redisState(),
    hash,
    balanceFactor: balance.epsilon,
    edges: edges.map((e) => ({
      id: e.id,
      url: e.url,
      weight: e.weight,
      healthy: health.usable(e.id),
      share: shares.get(e.id) ?? 0,
      drain: e.drain,
      health: health.health(e.id),
      source: e.source,
      redirects: redirects.total(e.id),
      redirectsPerSecond: redirects.perSecond(e.id),
      load: loads().get(e.id) ?? null,
      balance: balance.view(e.id) ?? null,
    })),
    lostEdges: lost.list(),
  };
}
