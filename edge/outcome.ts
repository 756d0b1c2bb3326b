// How the edge answered a request: at once the `X-Cache` value, the metric label and what tests assert.
export const CACHE_OUTCOMES = [
  /** Served from a fresh cache entry. */
  'HIT',
  /** This request started the upstream fetch (a cold miss or the refresh of an expired entry). */
  'MISS',
  /** This request revalidated an expired entry upstream and got 304: the stored body, refreshed headers. */
  'REVALIDATED',
  /** Joined a fetch another request started; got its status, headers and bytes as they arrived. */
  'COALESCED',
  /** Every origin failed; served an expired entry still inside its stale bound. */
  'STALE',
  /** Fetched but not cacheable (too large, no-store); streamed through. */
  'PASS',
  /** Draining: a playlist request sent back to the load balancer. */
  'REDIRECT',
  /** No origin answered and nothing stale was left. */
  'ERROR',
] as const;

export type CacheOutcome = (typeof CACHE_OUTCOMES)[number];
