// The LB's hooks, each declared once: its context, what it may return (LB_HOOKS checks it at every call)
// and what the LB decides without it. For each request under /hls/ they run in this order (docs/hooks.md,
// "Phases"): hashKey -> selectEdges -> [rendezvous hashing over the usable edges] -> response.
import { isOptionalString, isUndefined, type Awaitable, type BaseContext, type HookSpecs } from '../src/hooks.js';
import type { HashBy } from './client-key.js';
import type { EdgeEntry } from './edges.js';

/** An edge as hooks see it. */
export interface EdgeCandidate {
  id: string;
  url: string;
  weight: number;
  healthy: boolean;
}

export interface HashKeyContext extends BaseContext {
  stream: string;
  clientAddress: string;
  /** The built-in key (client address, or the stream with --hash stream). */
  defaultKey: string;
}

export interface SelectEdgesContext extends BaseContext {
  stream: string;
  clientAddress: string;
  /** Every configured edge with its weight and health. */
  edges: EdgeCandidate[];
}

export interface LbResponseContext extends BaseContext {
  stream: string;
  /** The chosen edge (undefined on 503). */
  edge: EdgeCandidate | undefined;
  status: number;
  /** Headers of the redirect; change them in place. */
  headers: Headers;
}

export interface LbHooks {
  /** The string hashed; undefined keeps `defaultKey` (defaultHashKey below). */
  hashKey?(ctx: HashKeyContext): Awaitable<string | undefined>;
  /**
   * The edges (ids or candidates) hashing may choose from; undefined keeps every usable edge. Built in:
   * `--edge-group`'s `cidrGroups` (lb/edge-groups.ts), which an operator's own selectEdges replaces.
   */
  selectEdges?(ctx: SelectEdgesContext): Awaitable<(string | EdgeCandidate)[] | undefined>;
  /** Sees the 302 or 503 before it goes out and may change its headers; returns nothing. */
  response?(ctx: LbResponseContext): Awaitable<void>;
}

const isEdgeSelection = (v: unknown): boolean =>
  v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string' || (typeof x === 'object' && x !== null && typeof (x as EdgeCandidate).id === 'string')));

export const LB_HOOKS: HookSpecs<LbHooks> = {
  hashKey: { valid: isOptionalString },
  selectEdges: { valid: isEdgeSelection },
  response: { valid: isUndefined },
};

/** The key hashed without a hashKey hook: the client address, or the stream with `--hash stream`. */
export function defaultHashKey(hashBy: HashBy, clientAddress: string, stream: string): string {
  return hashBy === 'stream' ? stream : clientAddress;
}

export function candidateOf(edge: EdgeEntry, healthy: boolean): EdgeCandidate {
  return { id: edge.id, url: edge.url, weight: edge.weight, healthy };
}
