// Edge groups by client network, as the CCC LB routes them: clients from the event network go to the
// on-site edges, everyone else to the public ones (edges in no group), and either falls back to every
// edge when its group has no healthy edge. Built as a `selectEdges` hook, so it is also the example of one.
import { Networks } from '../src/networks.js';
import { UsageError } from '../src/options.js';
import type { LbHooks } from './hooks.js';

export interface EdgeGroup {
  name: string;
  /** Client networks, e.g. 94.45.224.0/19 or 2001:67c:20a1::/48 */
  cidrs: string[];
  /** Edge ids serving those clients. */
  edges: string[];
}

/** `NAME=EDGE[+EDGE]@CIDR[+CIDR]`, e.g. `onsite=e1+e2@94.45.224.0/19+2001:67c:20a1::/48` */
export function parseEdgeGroup(spec: string): EdgeGroup {
  const m = /^([A-Za-z0-9_-]+)=([^@]+)@(.+)$/.exec(spec.trim());
  if (!m) throw new UsageError(`--edge-group: expected NAME=EDGE[+EDGE]@CIDR[+CIDR], got '${spec}'`);
  const group = { name: m[1]!, edges: m[2]!.split('+').filter(Boolean), cidrs: m[3]!.split('+').filter(Boolean) };
  networksOf([group]);
  return group;
}

function networksOf(groups: readonly EdgeGroup[]): Networks[] {
  return groups.map((g) => {
    try {
      return new Networks(g.cidrs);
    } catch (err) {
      throw new UsageError(`--edge-group ${g.name}: ${(err as Error).message}`);
    }
  });
}

export function cidrGroups(groups: readonly EdgeGroup[]): NonNullable<LbHooks['selectEdges']> {
  const networks = networksOf(groups);
  const grouped = new Set(groups.flatMap((g) => g.edges));
  return function selectEdgesByNetwork({ clientAddress, edges }) {
    const index = networks.findIndex((n) => n.has(clientAddress));
    const members = index === -1
      ? edges.filter((e) => !grouped.has(e.id))
      : edges.filter((e) => groups[index]!.edges.includes(e.id));
    // Nobody healthy in the group: every edge is better than a 503.
    return members.some((e) => e.healthy && e.weight > 0) ? members.map((e) => e.id) : undefined;
  };
}
