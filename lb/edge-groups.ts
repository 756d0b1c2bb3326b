// Edge groups by client network, as the CCC LB routes them: clients from the event network go to the
// on-site edges, everyone else to the public ones (edges in no group), and either falls back to every
// edge when its group has no healthy edge. Built as a `selectEdges` hook, so it is also the example of one.
import { BlockList, isIPv6 } from 'node:net';
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

function networksOf(groups: readonly EdgeGroup[]): BlockList[] {
  return groups.map((g) => {
    const list = new BlockList();
    for (const cidr of g.cidrs) {
      const [net, bits] = cidr.split('/');
      const type = isIPv6(net ?? '') ? 'ipv6' : 'ipv4';
      const prefix = Number(bits ?? (type === 'ipv6' ? 128 : 32));
      try {
        list.addSubnet(net!, prefix, type);
      } catch {
        throw new UsageError(`--edge-group ${g.name}: bad network '${cidr}'`);
      }
    }
    return list;
  });
}

export function cidrGroups(groups: readonly EdgeGroup[]): NonNullable<LbHooks['selectEdges']> {
  const networks = networksOf(groups);
  const grouped = new Set(groups.flatMap((g) => g.edges));
  return function selectEdgesByNetwork({ clientAddress, edges }) {
    const type = isIPv6(clientAddress) ? 'ipv6' : 'ipv4';
    const index = networks.findIndex((n) => {
      try {
        return n.check(clientAddress, type);
      } catch {
        return false;
      }
    });
    const members = index === -1
      ? edges.filter((e) => !grouped.has(e.id))
      : edges.filter((e) => groups[index]!.edges.includes(e.id));
    // Nobody healthy in the group: every edge is better than a 503.
    return members.some((e) => e.healthy && e.weight > 0) ? members.map((e) => e.id) : undefined;
  };
}
