// Stored responses, bounded by bytes with LRU eviction. Freshness is ours (millisecond clocks, stale
// bounds), so lru-cache only does what it is best at: size accounting and recency.
import { LRUCache } from 'lru-cache';
import type { ResponseHead } from '../src/fast-http.js';
import type { CacheOutcome } from './outcome.js';
import type { SharedBody } from './shared-body.js';

export interface CachedObject {
  status: number;
  /**
   * Lower-case end-to-end response headers passed on to clients, repeated field lines combined (RFC 9110
   * §5.3); without hop-by-hop fields, Content-Length and Age (computed per reply) and Set-Cookie (never stored).
   */
  headers: Record<string, string>;
  body: SharedBody;
  /** Our clock when the upstream headers arrived: the base for `Age`. */
  receivedAt: number;
  /** Upstream `Age` (seconds) at that moment; with a fraction when a sibling worker was the upstream. */
  upstreamAge: number;
  /** Fresh while now < freshUntil; may stand in for failing origins while now < staleUntil. */
  freshUntil: number;
  staleUntil: number;
  /** Kept until then (at least staleUntil): an entry with a validator stays to be revalidated. */
  retainUntil: number;
  /**
   * The head of a whole 200 to a plain GET, per X-Cache value: built on the first such answer (hits, and
   * the waiters a fetch releases together; edge/respond.ts wholeHeadOf).
   */
  wholeHeads?: Partial<Record<CacheOutcome, ResponseHead>>;
}

/** Headers, key and bookkeeping: counted so that many tiny 404s cannot exceed the budget unnoticed. */
const ENTRY_OVERHEAD_BYTES = 512;

export class CacheStore {
  private readonly lru: LRUCache<string, CachedObject>;

  constructor(maxBytes: number) {
    this.lru = new LRUCache<string, CachedObject>({
      maxSize: maxBytes,
      sizeCalculation: (obj, key) => obj.body.length + key.length + ENTRY_OVERHEAD_BYTES,
    });
  }

  /** The entry if it can still be used at all: fresh, within its stale bound, or to be revalidated. */
  get(key: string, now: number): CachedObject | undefined {
    const obj = this.lru.get(key);
    if (obj && now >= obj.retainUntil) {
      this.lru.delete(key);
      return undefined;
    }
    return obj;
  }

  set(key: string, obj: CachedObject): void {
    this.lru.set(key, obj);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  get maxBytes(): number {
    return this.lru.maxSize;
  }
}
