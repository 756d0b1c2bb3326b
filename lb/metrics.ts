// The LB's own metrics (docs/lb.md, "Metrics"), registered once: counters the phases bump, and gauges
// read from the edge set, the health checker and the control plane's state when scraped.
import type { Metrics, Tally } from '../src/metrics.js';
import type { BoundedLoads } from './balance.js';
import type { RedisState } from './discovery.js';
import type { EdgeSet } from './edge-set.js';
import type { EdgeEntry } from './edges.js';

/** What happened to a request under /hls/: the metric label and what tests assert. */
export type RedirectOutcome = 'redirect' | 'no_edge' | 'bad_path' | 'method_not_allowed' | 'hook_failed' | 'denied' | 'rate_limited';
const OUTCOMES: readonly RedirectOutcome[] = ['redirect', 'no_edge', 'bad_path', 'method_not_allowed', 'hook_failed', 'denied', 'rate_limited'];
/** Edge ids whose bound counter is kept; beyond that (edges come and go via Redis) the memo starts over. */
const MAX_BOUND_EDGES = 1024;

export interface LbGaugeSources {
  edgeSet: EdgeSet;
  usable(edge: EdgeEntry): boolean;
  redisState(): RedisState;
  balance: BoundedLoads;
}

export interface LbMetrics {
  request(outcome: RedirectOutcome): void;
  redirect(edgeId: string): void;
  /** A control-plane entry read from Redis and not used (counted once per entry). */
  rejected(key: string): void;
}

/** With --workers, the gauges of state every worker holds alike combine as min (health, Redis) or max, not a sum. */
export function lbMetrics(metrics: Metrics, sources: LbGaugeSources): LbMetrics {
  const rejected = metrics.counter('lb_redis_rejected_entries_total', 'Control-plane entries read from Redis and not used (each counted once), by key', ['key']);
  const requests = metrics.tallied('lb_requests_total', 'Requests under /hls/ by outcome', ['outcome']);
  const redirects = metrics.tallied('lb_redirects_total', 'Redirects sent, by edge', ['edge']);
  metrics.gauge('lb_edge_healthy', 'Edge health: 1 usable, 0 down', ['edge'], function collect() {
    this.reset();
    for (const e of sources.edgeSet.current.edges) this.set({ edge: e.id }, sources.usable(e) ? 1 : 0);
  }, 'min');
  metrics.gauge('lb_edge_weight', 'Effective edge weight (0 while drained)', ['edge'], function collect() {
    this.reset();
    for (const e of sources.edgeSet.current.edges) this.set({ edge: e.id }, e.weight);
  }, 'max');
  metrics.gauge('lb_edge_spill_ratio', 'Bounded loads: fraction of the clients hashed to the edge that it passes on (0: within its bound)', ['edge'], function collect() {
    this.reset();
    for (const e of sources.edgeSet.current.edges) this.set({ edge: e.id }, sources.balance.spill(e.id));
  }, 'max');
  metrics.gauge('lb_redis_up', 'Control plane: 1 up, 0 down or not configured', [], function collect() {
    this.set(sources.redisState() === 'up' ? 1 : 0);
  }, 'min');
  metrics.gauge('lb_config_version', 'Bumped whenever the edge set or a weight changes', [], function collect() {
    this.set(sources.edgeSet.current.version);
  }, 'max');
  // Hot-path counters are tallies (src/metrics.ts): a redirect adds to two numbers.
  const byOutcome = Object.fromEntries(OUTCOMES.map((o) => [o, requests.bind({ outcome: o })])) as Record<RedirectOutcome, Tally>;
  const byEdge = new Map<string, Tally>();
  return {
    request: (outcome) => byOutcome[outcome].inc(),
    redirect(edgeId) {
      let counter = byEdge.get(edgeId);
      if (counter === undefined) {
        if (byEdge.size >= MAX_BOUND_EDGES) byEdge.clear();
        byEdge.set(edgeId, counter = redirects.bind({ edge: edgeId }));
      }
      counter.inc();
    },
    rejected: (key) => rejected.inc({ key }),
  };
}
