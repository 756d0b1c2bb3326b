// The LB's edge list: which edges exist and with what weight, merged from the static `--edge` list and the
// Redis control plane's snapshot. Pure functions; the LB swaps in a new selector only when the result changes.
import {
  checkEdgeUrl, DEFAULT_WEIGHT, effectiveWeight, isValidEdgeId, MAX_WEIGHT, parseWeight, type ControlSnapshot,
} from '../src/control-plane.js';
import { UsageError } from '../src/options.js';
import type { WeightedEdge } from './selector.js';

export interface EdgeSpec {
  id: string;
  url: string;
  weight: number;
}

export type EdgeSource = 'static' | 'redis';

/** An edge as the LB uses it: where it is, its effective weight and where it came from. */
export interface EdgeEntry extends WeightedEdge {
  readonly id: string;
  readonly url: string;
  /** Effective weight: 0 while drained. */
  readonly weight: number;
  readonly drain: boolean;
  readonly source: EdgeSource;
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
  const checked = checkEdgeUrl(rest);
  if ('reason' in checked) throw new UsageError(`--edge: '${rest}': ${checked.reason} (expected an http(s) URL without credentials, query or fragment)`);
  return { id, url: checked.url, weight };
}

/**
 * Registered edges that vanished from Redis altogether (FLUSHALL, Redis restarted empty) rather than
 * withdrawing or missing heartbeats: the LB keeps them while their health checks pass, so no client
 * moves in the moment before they register again. `rejoining`: Redis has just come back from an outage
 * (a Sentinel failover, a restart from disk), during which no edge could heartbeat, so heartbeats that
 * lapsed meanwhile are no sign of a withdrawal either: those edges are kept too, until they beat again.
 */
export function retainedEdges(previous: readonly EdgeEntry[], snapshot: ControlSnapshot, isDown: (id: string) => boolean, rejoining = false): Map<string, string> {
  const kept = new Map<string, string>();
  for (const e of previous) {
    if (e.source !== 'redis' || snapshot.registered.has(e.id) || isDown(e.id)) continue;
    if (!snapshot.lapsed.has(e.id) || rejoining) kept.set(e.id, e.url);
  }
  return kept;
}

/**
 * The effective edge list. A flag wins for the URL (as everywhere in cascade), Redis weights win over
 * `@WEIGHT` (that is how operators move traffic live), and a drained edge counts as weight 0.
 * `retained` are registrations Redis lost (see retainedEdges).
 */
export function resolveEdges(statics: readonly EdgeSpec[], snapshot: ControlSnapshot | undefined, retained: ReadonlyMap<string, string> = new Map()): EdgeEntry[] {
  const out = new Map<string, EdgeEntry>();
  const add = (id: string, url: string, baseWeight: number, source: EdgeSource) => {
    out.set(id, { id, url, weight: effectiveWeight(snapshot, id, baseWeight), drain: snapshot?.drained.has(id) ?? false, source });
  };
  for (const e of statics) add(e.id, e.url, e.weight, 'static');
  for (const [id, url] of [...(snapshot?.registered ?? []), ...retained]) {
    if (!out.has(id)) add(id, url, DEFAULT_WEIGHT, 'redis');
  }
  return [...out.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function sameEdges(a: readonly EdgeEntry[], b: readonly EdgeEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const o = b[i]!;
    return e.id === o.id && e.url === o.url && e.weight === o.weight && e.drain === o.drain && e.source === o.source;
  });
}
