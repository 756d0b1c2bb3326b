// Edges that left the LB's set while down: an edge that crashed stops failing health checks only because
// its heartbeat lapsed and it was dropped, so without this the dashboard would show its alarm for seconds.
// An edge that leaves while healthy (a graceful stop withdraws before it closes) is no alarm. Kept for
// `keepMs`, at most `max` of them, and forgotten as soon as the edge is back.
import type { EdgeEntry } from './edges.js';

export interface LostEdge {
  id: string;
  url: string;
  /** When it left the set (ms since the epoch). */
  lostAt: number;
}

export class LostEdges {
  private readonly lost = new Map<string, LostEdge>();

  constructor(private readonly keepMs = 10 * 60_000, private readonly max = 100, private readonly now: () => number = Date.now) {}

  /** The set changed from `before` to `after`; `down`: the ids that were down before the change. */
  track(before: readonly EdgeEntry[], after: readonly EdgeEntry[], down: ReadonlySet<string>): void {
    const present = new Set(after.map((e) => e.id));
    for (const id of present) this.lost.delete(id);
    for (const e of before) {
      if (present.has(e.id) || !down.has(e.id)) continue;
      this.lost.delete(e.id);
      this.lost.set(e.id, { id: e.id, url: e.url, lostAt: this.now() });
      if (this.lost.size > this.max) this.lost.delete(this.lost.keys().next().value!);
    }
  }

  list(): LostEdge[] {
    const horizon = this.now() - this.keepMs;
    for (const [id, e] of this.lost) if (e.lostAt < horizon) this.lost.delete(id);
    return [...this.lost.values()];
  }
}
