// Whose request is this: the key the selector hashes.

export type HashBy = 'client' | 'stream';

/** `::ffff:10.0.0.1` and `10.0.0.1` are one client whether it came direct or through a proxy's header. */
function normalize(address: string): string {
  const a = address.trim();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * The client's address. X-Forwarded-For is only believed with `trustedHops` > 0: each trusted proxy
 * appended the address it saw, so the client is the entry that many places from the right (or the
 * leftmost, when the chain is shorter than the trust).
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trustedHops: number): string {
  if (trustedHops > 0 && forwardedFor) {
    const chain = forwardedFor.split(',').map((s) => s.trim()).filter(Boolean);
    const entry = chain[Math.max(chain.length - trustedHops, 0)];
    if (entry) return normalize(entry);
  }
  return normalize(socketAddress ?? '');
}
