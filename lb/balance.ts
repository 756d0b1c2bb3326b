// Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam 2016; haproxy's
// `hash-balance-factor`), for an LB that only redirects: it carries no connections, so the load it bounds
// is what the edges report (src/control-plane.ts, `edge:<id>:load`): viewers, normalised by weight.
//
// Each edge may hold at most (1 + epsilon) times its weighted fair share of all viewers. Mirrokni et al.
// place keys one by one, each on the next bin with room; a redirecting LB sees no keys arrive, only the
// edges' counts every second, so it does the same in bulk (water-filling): from the reports it estimates
// each edge's own clients (those rendezvous hashing gives it), and an edge whose own clients exceed its
// bound passes on a fraction of them (its spill fraction: the clients whose spill hash falls below it) to
// the edges with room, in proportion to the room each has left (rendezvous hashing weighted by room;
// lb/selector.ts, pickBounded). The players move at their next playlist reload through the LB.
//
// Stability: reports change every second, but nothing changes unless an edge is over its bound or passes
// clients on while well under it (hysteresis: between LOW and 1 times the bound nothing moves), nor
// before the reports show where the last change sent the players (a hold of two viewer windows after any
// change, and after any change of the edge set). Raising a fraction moves only the clients between the
// old and the new threshold; lowering it brings exactly those back. Every LB computes the same state
// from the same reports, save for when each read them.

/** What the LB knows of an edge when it balances. */
export interface BalanceInput {
  id: string;
  /** Effective weight (0: drained or no new clients). */
  weight: number;
  /** Healthy and taking new clients. */
  usable: boolean;
  /** Viewers the edge reported (undefined: no report, so not bounded and not counted). */
  viewers: number | undefined;
  /** How long the edge counts a client as a viewer after its last playlist request (ms). */
  windowMs: number | undefined;
}

/** An edge's place in the balance, for /api/edges and the status page. */
export interface EdgeBalance {
  /** Its viewers over all reported viewers of usable edges. */
  loadShare: number;
  /** Its weight over the weight of those edges. */
  fairShare: number;
  /** (1 + epsilon) x fairShare. */
  bound: number;
  over: boolean;
  /** Fraction of the clients hashed to it that it passes on (0..MAX_SPILL). */
  spill: number;
}

export const BALANCE_RULES = Object.freeze({
  /** Edges are filled to this much of their bound: room for the next report's noise. */
  aim: 0.97,
  /** Below this much of its bound an edge that passes clients on takes them back (hysteresis). */
  low: 0.87,
  /** Fewer viewers per balanced edge than this: the bound would chase single viewers; nothing is bounded. */
  minViewersPerEdge: 10,
  /** Added to the hold: report period, LB poll and a player's reload after a redirect (ms). */
  holdMarginMs: 3000,
  /** Hold when no edge says its window (ms). */
  defaultWindowMs: 10_000,
  /** Fractions are multiples of this, so two LBs reading slightly different reports agree more often. */
  step: 1 / 1000,
  /** An edge always keeps some of its own clients. */
  maxSpill: 0.99,
});

type Reported = BalanceInput & { viewers: number };

export class BoundedLoads {
  private spills = new Map<string, number>();
  /** Room of the edges that take passed-on clients, in viewers (their weights in pickBounded). */
  private rooms = new Map<string, number>();
  private views = new Map<string, EdgeBalance>();
  private heldUntil = 0;
  private composition = '';

  /** `epsilon` 0 turns balancing off: nothing is passed on. */
  constructor(readonly epsilon: number, private readonly now: () => number = Date.now) {}

  /** True while some edge passes clients on (the decision takes the bounded path only then). */
  get active(): boolean {
    return this.spills.size > 0;
  }

  spill(id: string): number {
    return this.spills.get(id) ?? 0;
  }

  room(id: string): number {
    return this.rooms.get(id) ?? 0;
  }

  view(id: string): EdgeBalance | undefined {
    return this.views.get(id);
  }

  /** A new read of the reports (every LB poll); changes the state only as the header says. */
  observe(edges: readonly BalanceInput[]): void {
    const balanced = edges.filter((e): e is Reported => e.usable && e.weight > 0 && e.viewers !== undefined);
    const total = balanced.reduce((sum, e) => sum + e.viewers, 0);
    const weight = balanced.reduce((sum, e) => sum + e.weight, 0);
    const boundOf = (e: BalanceInput) => ((1 + this.epsilon) * e.weight) / weight;
    this.rebalance(balanced, total, (e) => boundOf(e) * total);
    this.views = new Map(balanced.map((e) => {
      const loadShare = total > 0 ? e.viewers / total : 0;
      return [e.id, { loadShare, fairShare: e.weight / weight, bound: boundOf(e), over: loadShare > boundOf(e), spill: this.spill(e.id) }];
    }));
  }

  private rebalance(balanced: readonly Reported[], total: number, boundOf: (e: Reported) => number): void {
    const now = this.now();
    const clear = () => {
      this.spills = new Map();
      this.rooms = new Map();
    };
    if (this.epsilon <= 0 || balanced.length < 2 || total < BALANCE_RULES.minViewersPerEdge * balanced.length) return clear();
    const holdMs = 2 * Math.max(...balanced.map((e) => e.windowMs ?? BALANCE_RULES.defaultWindowMs)) + BALANCE_RULES.holdMarginMs;
    // An edge came, went or was reweighted: its players are on their way; act on where they arrive.
    const composition = balanced.map((e) => `${e.id}@${e.weight}`).join(',');
    if (composition !== this.composition) {
      this.composition = composition;
      this.heldUntil = Math.max(this.heldUntil, now + holdMs);
      const ids = new Set(balanced.map((e) => e.id));
      for (const map of [this.spills, this.rooms]) for (const id of map.keys()) if (!ids.has(id)) map.delete(id);
      return;
    }
    if (now < this.heldUntil) return;
    const triggered = balanced.some((e) => {
      const bound = boundOf(e);
      return (e.viewers > bound && e.viewers - bound >= 1) || (this.spill(e.id) > 0 && e.viewers < BALANCE_RULES.low * bound);
    });
    if (!triggered) return;
    const next = waterFill(balanced.map((e) => ({ viewers: e.viewers, bound: boundOf(e), spill: this.spill(e.id), room: this.room(e.id) })));
    const spills = new Map<string, number>();
    const rooms = new Map<string, number>();
    balanced.forEach((e, i) => {
      if (next[i]!.spill > 0) spills.set(e.id, next[i]!.spill);
      if (next[i]!.room > 0) rooms.set(e.id, next[i]!.room);
    });
    const same = (a: Map<string, number>, b: Map<string, number>) => a.size === b.size && [...a].every(([id, v]) => b.get(id) === v);
    if (same(spills, this.spills) && same(rooms, this.rooms)) return;
    this.spills = spills;
    this.rooms = rooms;
    this.heldUntil = now + holdMs;
  }
}

/**
 * One step of water-filling from the reports. Each edge's own clients: an edge that passes clients on
 * takes none from others, so it reported (1 - spill) of its own; an edge with room reported its own plus
 * its part of what all others passed on (in proportion to its room). Then every edge keeps at most `aim`
 * x its bound of its own clients and passes on the rest; the others have room up to `aim` x their bound.
 * The room is enough for all that is passed on as long as aim x (1 + epsilon) >= 1.
 */
export function waterFill(edges: readonly { viewers: number; bound: number; spill: number; room: number }[]): { spill: number; room: number }[] {
  const arrivals = (e: { viewers: number; spill: number }) => e.viewers / (1 - e.spill);
  const passedOn = edges.reduce((sum, e) => sum + e.spill * arrivals(e), 0);
  const roomTotal = edges.reduce((sum, e) => sum + e.room, 0);
  return edges.map((e) => {
    const own = e.spill > 0 ? arrivals(e) : Math.max(0, e.viewers - (roomTotal > 0 ? (passedOn * e.room) / roomTotal : 0));
    const keep = BALANCE_RULES.aim * e.bound;
    if (own <= keep) return { spill: 0, room: Math.round(keep - own) };
    const stepped = Math.round((1 - keep / own) / BALANCE_RULES.step) * BALANCE_RULES.step;
    return { spill: Math.min(BALANCE_RULES.maxSpill, stepped), room: 0 };
  });
}
