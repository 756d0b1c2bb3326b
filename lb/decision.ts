// Which edge a request under /hls/ goes to, Pingora's upstream_peer for the LB, in three phases: the key
// (whose request: the client address or the stream, then the hashKey hook), the candidates (the
// selectEdges hook; every usable edge without it) and the selector's pick among them. While some edge
// passes clients on because the edges' reported loads put it over its bound (lb/balance.ts), a client
// it passes on goes to a usable edge with room, candidate or not. Discovery and health only feed it: the
// edge set is swapped whole by lb/edge-set.ts, health is asked per candidate.
import type { HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { BoundedLoads } from './balance.js';
import { clientAddress } from '../src/client-address.js';
import type { HashBy } from './client-key.js';
import type { EdgeSet, EdgeSetVersion } from './edge-set.js';
import type { EdgeEntry } from './edges.js';
import { candidateOf, defaultHashKey, LB_HOOKS, type LbHooks } from './hooks.js';

/** One request under /hls/ as the phases see it. */
export interface RedirectRequest {
  request: Request;
  stream: string;
  /** The socket's peer address; undefined in process (app.request). */
  peer: string | undefined;
  log: Logger;
}

export interface DecisionOptions {
  hash: HashBy;
  trustProxyHops: number;
  edgeSet: EdgeSet;
  usable(edge: EdgeEntry): boolean;
  hooks: HookRunner<LbHooks>;
  /** Bounded loads; without it (or while no edge passes clients on) the plain pick. */
  balance?: BoundedLoads;
}

/** The edge for a request, or undefined when none is usable. Throws HookFailed. */
export type Decide = (req: RedirectRequest) => Promise<EdgeEntry | undefined>;

/** The same decision without hooks, in one synchronous step (lb/fast-redirect.ts); X-Forwarded-For as received. */
export interface DecideWithoutHooks {
  (stream: string, peer: string | undefined, forwardedFor: string | undefined): EdgeEntry | undefined;
  /**
   * What every pick depends on besides its request: a pick made under the same inputs is the same pick.
   * Undefined while some edge passes clients on by bounded loads (picks then follow the edges' loads).
   */
  inputs(): { edges: EdgeSetVersion; health: number } | undefined;
}

export function decisionWithoutHooks({ hash, trustProxyHops, edgeSet, usable, balance, healthChanges }: Omit<DecisionOptions, 'hooks'> & { healthChanges: () => number }): DecideWithoutHooks {
  const decide = (stream: string, peer: string | undefined, forwardedFor: string | undefined) => {
    const key = defaultHashKey(hash, clientAddress(peer, trustProxyHops > 0 ? forwardedFor : undefined, trustProxyHops), stream);
    return pick(edgeSet, key, usable, usable, balance);
  };
  return Object.assign(decide, { inputs: () => (balance?.active ? undefined : { edges: edgeSet.current, health: healthChanges() }) });
}

/** Phase pick: the selector's edge for `key` among `allowed`; while some edge passes clients on, bounded by the reported loads. */
function pick(edgeSet: EdgeSet, key: string, allowed: (edge: EdgeEntry) => boolean, usable: (edge: EdgeEntry) => boolean, balance: BoundedLoads | undefined): EdgeEntry | undefined {
  const { selector } = edgeSet.current;
  return balance?.active ? selector.pickBounded(key, allowed, usable, (e) => balance.spill(e.id), (e) => balance.room(e.id)) : selector.pick(key, allowed);
}

export function createDecision({ hash, trustProxyHops, edgeSet, usable, hooks, balance }: DecisionOptions): Decide {
  const clientOf = ({ peer, request }: RedirectRequest): string =>
    clientAddress(peer, trustProxyHops > 0 ? request.headers.get('x-forwarded-for') ?? undefined : undefined, trustProxyHops);

  /** Phase hashKey: the string the selector hashes. */
  async function hashKey({ request, log, stream }: RedirectRequest, client: string): Promise<string> {
    const defaultKey = defaultHashKey(hash, client, stream);
    if (!hooks.has('hashKey')) return defaultKey;
    return (await hooks.call('hashKey', { request, log, stream, clientAddress: client, defaultKey }, LB_HOOKS.hashKey.valid)) ?? defaultKey;
  }

  /** Phase selectEdges: which edges the pick may choose from. */
  async function candidates({ request, log, stream }: RedirectRequest, client: string): Promise<(edge: EdgeEntry) => boolean> {
    if (!hooks.has('selectEdges')) return usable;
    const edges = edgeSet.current.edges.map((e) => candidateOf(e, usable(e)));
    const chosen = await hooks.call('selectEdges', { request, log, stream, clientAddress: client, edges }, LB_HOOKS.selectEdges.valid);
    if (chosen === undefined) return usable;
    const ids = new Set(chosen.map((x) => (typeof x === 'string' ? x : x.id)));
    return (e) => ids.has(e.id) && usable(e);
  }

  return async function decide(req) {
    const client = clientOf(req);
    const key = await hashKey(req, client);
    return pick(edgeSet, key, await candidates(req, client), usable, balance);
  };
}
