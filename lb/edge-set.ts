// The edges the LB routes to now: the static list merged with the last control-plane snapshot
// (lb/edges.ts), held with its selector as one immutable version that is swapped whole when an edge or a
// weight changes, so every request sees one consistent set. Health is no part of it: a flapping edge never
// forces a rebuild (the decision asks the health checker per request).
import type { ControlSnapshot } from '../src/control-plane.js';
import type { Logger } from '../src/log.js';
import { resolveEdges, retainedEdges, sameEdges, type EdgeEntry, type EdgeSpec } from './edges.js';
import type { HealthChecker } from './health.js';
import { Selector } from './selector.js';

export interface EdgeSetVersion {
  /** Bumped at every swap (`cascade_lb_config_version`). */
  readonly version: number;
  readonly edges: readonly EdgeEntry[];
  readonly selector: Selector<EdgeEntry>;
}

export class EdgeSet {
  current: EdgeSetVersion = { version: 0, edges: [], selector: new Selector([]) };
  private snapshot: ControlSnapshot | undefined;
  /** Registrations Redis lost while their edges stay healthy (retainedEdges). */
  private retained = new Map<string, string>();

  constructor(
    private readonly statics: readonly EdgeSpec[],
    private readonly health: Pick<HealthChecker, 'health' | 'setEdges'>,
    private readonly log: Logger,
  ) {
    this.apply();
  }

  /** A new read of the control plane; `rejoining`: Redis has just come back from an outage (retainedEdges). */
  update(snapshot: ControlSnapshot, rejoining = false): void {
    this.snapshot = snapshot;
    this.apply(rejoining);
  }

  private apply(rejoining = false): void {
    const { current, snapshot, health, log } = this;
    const kept = snapshot ? retainedEdges(current.edges, snapshot, (id) => health.health(id) === 'down', rejoining) : new Map<string, string>();
    for (const id of kept.keys()) {
      if (this.retained.has(id)) continue;
      const reason = snapshot?.lapsed.has(id) ? 'heartbeat lapsed while Redis was away; kept while healthy' : 'registration gone from Redis; kept while healthy';
      log.warn('edge_retained', { edge: id, reason });
    }
    this.retained = kept;
    const edges = resolveEdges(this.statics, snapshot, kept);
    if (current.version > 0 && sameEdges(current.edges, edges)) return;
    this.current = { version: current.version + 1, edges, selector: new Selector(edges) };
    health.setEdges(edges);
    log.info('edges_changed', { version: this.current.version, edges: edges.map((e) => `${e.id}@${e.weight}`) });
  }
}
