// Whose request is this: the client address behind any proxies the role trusts.
import { normalizeAddress } from './networks.js';

/**
 * The client's address. X-Forwarded-For is only believed with `trustedHops` > 0: each trusted proxy
 * appended the address it saw, so the client is the entry that many places from the right (or the
 * leftmost, when the chain is shorter than the trust). Without trust anyone could choose their address
 * (their edge, their rate-limit bucket, the scope their signed URL is checked against) by sending the header.
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trustedHops: number): string {
  if (trustedHops > 0 && forwardedFor) {
    const chain = forwardedFor.split(',').map((s) => s.trim()).filter(Boolean);
    const entry = chain[Math.max(chain.length - trustedHops, 0)];
    if (entry) return normalizeAddress(entry);
  }
  return normalizeAddress(socketAddress ?? '');
}
