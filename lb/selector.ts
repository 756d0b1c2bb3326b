// Weighted rendezvous hashing (highest random weight, weighted per Schindelhauer & Schomaker):
// every (key, edge) pair gets the score weight / -ln(u), u a uniform hash of the pair in (0,1), and
// the key goes to the highest-scoring usable edge. It depends only on ids, weights and the key, so
// every LB process agrees, across restarts, with no ring state to rebuild; a weight change only moves
// keys to or from the edge that changed, which is the minimum (docs/lb.md has the measurements
// against the `consistent-hash` ring and Maglev).

export interface WeightedEdge {
  readonly id: string;
  readonly weight: number;
}

// MurmurHash3's 32-bit block mix and finaliser: fast in JS with Math.imul, and well avalanched,
// which the -ln(u) transform needs (a biased low bit would bias the shares).
function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, length: number): number {
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hash32(text: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < text.length; i++) h = mix(h, text.charCodeAt(i));
  return finish(h, text.length);
}

/** Two independent 32-bit hashes: together they give the 53 bits a double can hold. */
type Hash64 = readonly [number, number];

function hash64(text: string): Hash64 {
  return [hash32(text, 0x9747b28c), hash32(text, 0x5bd1e995)];
}

const TWO_POW_21 = 2 ** 21;
const TWO_POW_53 = 2 ** 53;

/** A uniform number in (0, 1) for the pair; never 0 or 1, so ln() stays finite and non-zero. */
function pairUnit(key: Hash64, edge: Hash64): number {
  const hi = finish(mix(mix(edge[0], key[0]), key[1]), 8);
  const lo = finish(mix(mix(edge[1], key[0]), key[1]), 8);
  return (hi * TWO_POW_21 + (lo >>> 11) + 0.5) / TWO_POW_53;
}

/** More uniform numbers in (0, 1) for the pair, independent of the score and of each other (by `salt`). */
function saltedUnit(key: Hash64, edge: Hash64, salt: number): number {
  return (finish(mix(mix(edge[1] ^ salt, key[1]), key[0]), 8) + 0.5) / 2 ** 32;
}
/** Whether the key is passed on by an edge. */
const SPILL_SALT = 0x2545f491;
/** Where a passed-on key goes. */
const ROOM_SALT = 0x68e31da4;

/**
 * An immutable choice function for one set of edges and weights. Rebuild and swap it when the set
 * changes; health is not part of it, so a flapping edge never forces a rebuild.
 */
export class Selector<E extends WeightedEdge> {
  readonly edges: readonly E[];
  private readonly active: readonly { edge: E; hash: Hash64 }[];

  constructor(edges: readonly E[]) {
    this.edges = [...edges].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    // Weight 0 means "no new clients": such an edge is never a candidate, not even a last resort.
    this.active = this.edges.filter((e) => e.weight > 0).map((edge) => ({ edge, hash: hash64(edge.id) }));
  }

  /** The highest-scoring edge that `usable` accepts: a key whose first choice is down goes to its next one. */
  pick(key: string, usable: (edge: E) => boolean = () => true): E | undefined {
    const k = hash64(key);
    let best: E | undefined;
    let bestScore = -1;
    for (const { edge, hash } of this.active) {
      if (!usable(edge)) continue;
      const score = edge.weight / -Math.log(pairUnit(k, hash));
      if (score > bestScore) {
        bestScore = score;
        best = edge;
      }
    }
    return best;
  }

  /**
   * Consistent hashing with bounded loads (lb/balance.ts). The key's own edge is `pick`'s among the
   * preferred usable edges; that edge passes the key on when the key's spill hash (independent of the
   * score) is below its `spill` fraction, and a passed-on key goes to the usable edge with room picked by
   * rendezvous hashing weighted by `room` (water-filling: each edge takes passed-on keys in proportion to
   * the room it has left). Raising a fraction moves only the keys between the old and the new threshold;
   * a change of room moves passed-on keys only to or from the edges whose room changed. Without a
   * preferred usable edge, undefined (as `pick`); with no room anywhere, the key stays on its own edge.
   */
  pickBounded(key: string, preferred: (edge: E) => boolean, usable: (edge: E) => boolean, spill: (edge: E) => number, room: (edge: E) => number): E | undefined {
    const own = this.pick(key, (e) => preferred(e) && usable(e));
    if (own === undefined) return undefined;
    const k = hash64(key);
    const fraction = spill(own);
    if (fraction <= 0 || saltedUnit(k, hash64(own.id), SPILL_SALT) >= fraction) return own;
    let best = own;
    let bestScore = -1;
    for (const { edge, hash } of this.active) {
      const r = edge === own || !usable(edge) ? 0 : room(edge);
      if (r <= 0) continue;
      const score = r / -Math.log(saltedUnit(k, hash, ROOM_SALT));
      if (score > bestScore) {
        bestScore = score;
        best = edge;
      }
    }
    return best;
  }

  /** Every candidate for the key, best first (for diagnostics and tests). */
  rank(key: string): E[] {
    const k = hash64(key);
    return this.active
      .map(({ edge, hash }) => ({ edge, score: edge.weight / -Math.log(pairUnit(k, hash)) }))
      .sort((a, b) => b.score - a.score)
      .map((s) => s.edge);
  }

  /** Each edge's expected share of keys among the usable ones (rendezvous shares are exactly weight / total). */
  shares(usable: (edge: E) => boolean = () => true): Map<string, number> {
    const total = this.active.reduce((sum, { edge }) => sum + (usable(edge) ? edge.weight : 0), 0);
    return new Map(this.edges.map((e) => [e.id, total > 0 && e.weight > 0 && usable(e) ? e.weight / total : 0]));
  }
}
