// What the LB says about itself: `Lb.status()`, `/api/status`, `/api/edges` and the status page show this.
import type { HashBy } from './client-key.js';
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
}

export interface LbStatus {
  configVersion: number;
  redis: RedisState;
  hash: HashBy;
  edges: EdgeStatus[];
}

export interface StatusSources {
  edgeSet: EdgeSet;
  health: HealthChecker;
  redirects: RateMeter;
  redisState(): RedisState;
  hash: HashBy;
}

export function lbStatus({ edgeSet, health, redirects, redisState, hash }: StatusSources): LbStatus {
  const { version, edges, selector } = edgeSet.current;
  const shares = selector.shares((e) => health.usable(e.id));
  return {
    configVersion: version,
    redis: redisState(),
    hash,
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
    })),
  };
}
