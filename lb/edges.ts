// Discovery: which edges exist and with what weight, merged from the static `--edge` list and the
// Redis control plane. Pure functions; the LB swaps in a new selector only when the result changes.
import { UsageError } from '../src/options.js';
import type { WeightedEdge } from './selector.js';

export const DEFAULT_WEIGHT = 100;
const EDGE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const MAX_WEIGHT = 1_000_000;
/** Most edges taken from Redis (ids in sorted order, so every LB takes the same ones). */
export const MAX_REDIS_EDGES = 1000;

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
  /** Ids still in the edges hash whose heartbeat lapsed or was withdrawn (not the same as gone from Redis). */
  lapsed: Set<string>;
  drained: Set<string>;
}

export function isValidEdgeId(id: string): boolean {
  return EDGE_ID_RE.test(id);
}

/**
 * An integer weight 0..MAX_WEIGHT, or undefined: one rule for `--edge ...@W`, `cascade weight` and the
 * weights hash in Redis (where a malformed value is ignored, so the edge keeps its flag or default weight).
 */
export function parseWeight(text: string): number | undefined {
  if (!/^\d{1,7}$/.test(text.trim())) return undefined;
  const w = Number(text);
  return w <= MAX_WEIGHT ? w : undefined;
}

/**
 * An edge's base URL as it goes into every player's `Location`: absolute http(s), no credentials (a
 * browser refuses to follow a redirect carrying them, and every player would see them), no query or
 * fragment (the player's path is appended). Returned as the URL parser serialises it, without trailing
 * slashes, so no byte of the stored text (tabs, CR/LF the parser skips) reaches a header.
 */
export function checkEdgeUrl(text: string): { url: string } | { reason: string } {
  if (text.length > 2048) return { reason: 'URL longer than 2048' };
  // The URL parser would quietly drop some of these; a value that needs that is no edge's URL.
  if (/[\x00-\x20\x7f-\uffff]/.test(text)) return { reason: 'space, control or non-ASCII character in URL' };
  if (!URL.canParse(text)) return { reason: 'not a URL' };
  const u = new URL(text);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { reason: 'not http(s)' };
  if (u.username || u.password) return { reason: 'credentials in URL' };
  if (u.search || u.hash || /[?#]/.test(text)) return { reason: 'query or fragment in URL' };
  return { url: u.href.replace(/\/+$/, '') };
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
 * moves in the moment before they register again.
 */
export function retainedEdges(previous: readonly EdgeConfig[], snapshot: ControlSnapshot, isDown: (id: string) => boolean): Map<string, string> {
  const kept = new Map<string, string>();
  for (const e of previous) {
    if (e.source === 'redis' && !snapshot.registered.has(e.id) && !snapshot.lapsed.has(e.id) && !isDown(e.id)) kept.set(e.id, e.url);
  }
  return kept;
}

/**
 * The effective edge list. A flag wins for the URL (as everywhere in cascade), Redis weights win over
 * `@WEIGHT` (that is how operators move traffic live), and a drained edge counts as weight 0.
 * `retained` are registrations Redis lost (see retainedEdges).
 */
export function resolveEdges(statics: readonly EdgeSpec[], snapshot: ControlSnapshot | undefined, retained: ReadonlyMap<string, string> = new Map()): EdgeConfig[] {
  const out = new Map<string, EdgeConfig>();
  const add = (id: string, url: string, baseWeight: number, source: EdgeSource) => {
    const drain = snapshot?.drained.has(id) ?? false;
    const weight = drain ? 0 : (snapshot?.weights.get(id) ?? baseWeight);
    out.set(id, { id, url, weight, drain, source });
  };
  for (const e of statics) add(e.id, e.url, e.weight, 'static');
  for (const [id, url] of [...(snapshot?.registered ?? []), ...retained]) {
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
