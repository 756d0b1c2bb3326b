// How a selector is judged (docs/lb.md, "Why rendezvous: the measurements"): balance and movement over a
// fixed sample of client keys.
// Shared by the selector tests and the comparison in bench/lb.bench.ts, so both measure the same thing.

/** Anything that maps a key to an edge id. */
export type Pick = (key: string) => string | undefined;
export type Weights = Readonly<Record<string, number>>;

/** `n` distinct IPv4 client addresses, spread like a real audience (not one /24). */
export function clientKeys(n = 10_000): string[] {
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    // An odd multiplier permutes 2^32, so the addresses are distinct and scattered over IPv4.
    const x = Math.imul(i + 1, 2654435761) >>> 0;
    keys.push(`${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`);
  }
  return keys;
}

export function weightShares(weights: Weights): Map<string, number> {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  return new Map(Object.entries(weights).map(([id, w]) => [id, total > 0 ? w / total : 0]));
}

export function observedShares(pick: Pick, keys: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) {
    const id = pick(k);
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return new Map([...counts].map(([id, c]) => [id, c / keys.length]));
}

/** The largest relative deviation of an edge's observed share from its weight share. */
export function worstImbalance(pick: Pick, weights: Weights, keys: readonly string[]): number {
  const observed = observedShares(pick, keys);
  let worst = 0;
  for (const [id, expected] of weightShares(weights)) {
    if (expected > 0) worst = Math.max(worst, Math.abs((observed.get(id) ?? 0) - expected) / expected);
  }
  return worst;
}

/** Total-variation distance between two share maps: the least share of keys any scheme must move. */
export function totalVariation(a: Map<string, number>, b: Map<string, number>): number {
  let sum = 0;
  for (const id of new Set([...a.keys(), ...b.keys()])) sum += Math.abs((a.get(id) ?? 0) - (b.get(id) ?? 0));
  return sum / 2;
}

export function movedShare(before: Pick, after: Pick, keys: readonly string[]): number {
  let moved = 0;
  for (const k of keys) if (before(k) !== after(k)) moved++;
  return moved / keys.length;
}

/** The bound of docs/lb.md: moved share within 1.5 x the minimum plus one percentage point. */
export function movementBound(minimum: number): number {
  return 1.5 * minimum + 0.01;
}

export const BASE_WEIGHTS: Weights = { e1: 100, e2: 50, e3: 100, e4: 100 };

/** The changes operators make: reweight (voc's 50 -> 60), add, remove, drain. */
export const CHANGES: readonly { name: string; weights: Weights }[] = [
  { name: 'reweight e2 50->60', weights: { ...BASE_WEIGHTS, e2: 60 } },
  { name: 'reweight e3 100->150', weights: { ...BASE_WEIGHTS, e3: 150 } },
  { name: 'add e5@100', weights: { ...BASE_WEIGHTS, e5: 100 } },
  { name: 'remove e3', weights: { e1: 100, e2: 50, e4: 100 } },
  { name: 'drain e1 (weight 0)', weights: { ...BASE_WEIGHTS, e1: 0 } },
];
