// Discovery: which edges exist and with what weight, merged from the static `--edge` list and the
// Redis control plane. Pure functions; the LB swaps in a new selector only when the result changes.
import { UsageError } from '../src/options.js';
import type { WeightedEdge } from './selector.js';

export const DEFAULT_WEIGHT = 100;
const EDGE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_WEIGHT = 1_000_000;

export interface EdgeSpec {
  id: string;
  url: string;
  weight: number;
}

export type EdgeSource = 'static' | 'redis';

export interface EdgeConfig extends WeightedEdge {
  readonly id: string;
  readonly url: string;
  /** Effective weight: 0 while drained. */
  readonly weight: number;
  readonly drain: boolean;
  readonly source: EdgeSource;
}

/** What the LB last read from Redis. Registrations are only those whose heartbeat key is alive. */
export interface ControlSnapshot {
  weights: Map<string, number>;
  registered: Map<string, string>;
  drained: Set<string>;
}

export function isValidEdgeId(id: string): boolean {
  return EDGE_ID_RE.test(id);
}

/** An integer weight 0..MAX_WEIGHT, or undefined (a malformed Redis value falls back to the default). */
export function parseWeight(text: string): number | undefined {
  if (!/^\d{1,7}$/.test(text.trim())) return undefined;
  const w = Number(text);
  return w <= MAX_WEIGHT ? w : undefined;
}

function parseEdgeUrl(text: string): string | undefined {
  try {
    const u = new URL(text);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (u.search || u.hash) return undefined;
    return text.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
}

/** `ID=URL[@WEIGHT]`, e.g. `e1=http://10.0.0.5:8081@50`. */
export function parseEdgeSpec(text: string): EdgeSpec {
  const eq = text.indexOf('=');
  const id = text.slice(0, Math.max(eq, 0));
  if (eq <= 0 || !isValidEdgeId(id)) throw new UsageError(`--edge: expected ID=URL[@WEIGHT] with ID of [A-Za-z0-9_.-], got '${text}'`);
  let rest = text.slice(eq + 1);
  let weight = DEFAULT_WEIGHT;
  const at = /@(\d+)$/.exec(rest);
  if (at) {
    const w = parseWeight(at[1]!);
    if (w === undefined) throw new UsageError(`--edge: weight must be 0..${MAX_WEIGHT}, got '${at[1]}'`);
    weight = w;
    rest = rest.slice(0, at.index);
  }
  const url = parseEdgeUrl(rest);
  if (!url) throw new UsageError(`--edge: not an http(s) URL without query: '${rest}'`);
  return { id, url, weight };
}

/**
 * The effective edge list. A flag wins for the URL (as everywhere in cascade), Redis weights win over
 * `@WEIGHT` (that is how operators move traffic live), and a drained edge counts as weight 0.
 */
export function resolveEdges(statics: readonly EdgeSpec[], snapshot: ControlSnapshot | undefined): EdgeConfig[] {
  const out = new Map<string, EdgeConfig>();
  const add = (id: string, url: string, baseWeight: number, source: EdgeSource) => {
    const drain = snapshot?.drained.has(id) ?? false;
    const weight = drain ? 0 : (snapshot?.weights.get(id) ?? baseWeight);
    out.set(id, { id, url, weight, drain, source });
  };
  for (const e of statics) add(e.id, e.url, e.weight, 'static');
  for (const [id, url] of snapshot?.registered ?? []) {
    if (!out.has(id)) add(id, url, DEFAULT_WEIGHT, 'redis');
  }
  return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function sameEdges(a: readonly EdgeConfig[], b: readonly EdgeConfig[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const o = b[i]!;
    return e.id === o.id && e.url === o.url && e.weight === o.weight && e.drain === o.drain && e.source === o.source;
  });
}
