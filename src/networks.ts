// Client networks (CIDRs) and the client addresses checked against them: the LB's edge groups, the
// scope of a signed playback URL, the allow-list of the rate limits. One parser and one matcher, on
// Node's BlockList.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client, whether it came direct or through a proxy's header. */
export function normalizeAddress(address: string): string {
  const a = address.trim();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a plain address (a /32 or /128); undefined when it is neither. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!m) return undefined;
  const address = m[1]!;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  return prefix <= max ? { address, prefix, family } : undefined;
}

export class Networks {
  private readonly list = new BlockList();

  /** Throws an Error naming the first entry that is not a network. */
  constructor(readonly cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const net = parseCidr(cidr);
      if (!net) throw new Error(`bad network '${cidr}'`);
      this.list.addSubnet(net.address, net.prefix, net.family);
    }
  }

  /** Whether `address` is in one of the networks (false for anything that is no address). */
  has(address: string): boolean {
    const a = normalizeAddress(address);
    const family = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : undefined;
    return family !== undefined && this.list.check(a, family);
  }
}
