// Per-client rate limits: the LB's new sessions per address (`--session-rate 50/10s`, the CCC's haproxy
// rule) and the edge's requests per address (`--request-rate`). Answered 429 with Retry-After by the role.
//
// Counting: a sliding window, estimated from the current and the previous fixed window (the previous
// one weighted by how much of it still overlaps), so a client cannot get twice its limit across a
// window boundary. Only allowed requests count: a client gets at most `limit` per window however fast
// it retries, and is let in again as soon as the estimate falls below the limit.
//
// Memory: a fixed-size table of the most recently seen clients (lru-cache with a max). A client pushed
// out by `maxClients` newer ones starts again from zero: under a flood of that many distinct addresses
// limits loosen (nobody is wrongly refused), where a sketch with fixed memory would start refusing
// innocent clients whose cells collide with the flood's. IPv6 clients count per /64, the block one
// subscriber gets, or a single client could walk through 2^64 addresses.
import { isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';
import { normalizeAddress, type Networks } from './networks.js';
import { parseDuration } from './options.js';

export interface Rate {
  limit: number;
  windowMs: number;
}

/** Clients tracked at once by default: 100,000 measured at ~15 MB of heap (docs/access.md). */
export const RATE_TABLE_SIZE = 100_000;

/** `50/10s`, `20/s`, `20` (per `defaultWindowMs`); throws an Error saying what is wrong. */
export function parseRate(text: string, defaultWindowMs: number): Rate {
  const m = /^(\d+)(?:\/(.+))?$/.exec(text.trim());
  if (!m) throw new Error(`not a rate: '${text}' (examples: 50/10s, 20/s, 100)`);
  const limit = Number(m[1]);
  if (limit < 1 || limit > 1_000_000) throw new Error(`the limit must be 1..1000000 (got ${m[1]})`);
  let windowMs = defaultWindowMs;
  if (m[2] !== undefined) {
    const spelled = /^[a-z]+$/i.test(m[2]) ? `1${m[2]}` : m[2];
    windowMs = parseDuration(spelled);
  }
  if (windowMs < 100 || windowMs > 3_600_000) throw new Error(`the window must be 100ms..1h (got '${m[2]}')`);
  return { limit, windowMs };
}

/** The first 64 bits of an IPv6 address as `a:b:c:d::/64`; anything else as it is. */
export function clientKey(address: string): string {
  const a = normalizeAddress(address);
  if (!isIPv6(a)) return a;
  const bare = a.split('%')[0]!.toLowerCase();
  const [head = '', tail] = bare.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((g) => {
    if (!g.includes('.')) return [g];
    const [b0, b1, b2, b3] = g.split('.').map(Number) as [number, number, number, number];
    return [((b0 << 8) | b1).toString(16), ((b2 << 8) | b3).toString(16)];
  }));
  const front = groups(head);
  const back = tail === undefined ? [] : groups(tail);
  const all = [...front, ...Array<string>(Math.max(8 - front.length - back.length, 0)).fill('0'), ...back];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

interface Window {
  /** Index of the current fixed window (time / window length). */
  index: number;
  current: number;
  previous: number;
}

export interface RateLimiterOptions {
  /** Clients never limited (nor tracked). */
  allow?: Networks | undefined;
  maxClients?: number;
  now?: () => number;
}

export class RateLimiter {
  private readonly windows: LRUCache<string, Window>;
  private readonly now: () => number;

  constructor(readonly rate: Rate, private readonly options: RateLimiterOptions = {}) {
    this.windows = new LRUCache({ max: options.maxClients ?? RATE_TABLE_SIZE });
    this.now = options.now ?? Date.now;
  }

  /** Clients tracked now (at most maxClients). */
  get size(): number {
    return this.windows.size;
  }

  /**
   * Counts one request of `address` and returns undefined, or, when it is over the limit, returns the
   * whole seconds after which it would be let in (for Retry-After) and counts nothing.
   */
  take(address: string): number | undefined {
    if (this.options.allow?.has(address)) return undefined;
    const { limit, windowMs } = this.rate;
    const now = this.now();
    const index = Math.floor(now / windowMs);
    const key = clientKey(address);
    let w = this.windows.get(key);
    if (w === undefined) {
      w = { index, current: 0, previous: 0 };
      this.windows.set(key, w);
    } else if (w.index !== index) {
      w.previous = w.index === index - 1 ? w.current : 0;
      w.current = 0;
      w.index = index;
    }
    const elapsed = (now - index * windowMs) / windowMs;
    if (w.current + w.previous * (1 - elapsed) + 1 <= limit) {
      w.current++;
      return undefined;
    }
    return Math.max(1, Math.ceil(this.waitMs(w, elapsed) / 1000));
  }

  /** How long until one more request fits under the limit, if nothing else is counted meanwhile. */
  private waitMs({ current, previous }: Window, elapsed: number): number {
    const { limit, windowMs } = this.rate;
    const room = limit - 1;
    // Still in this window, once enough of the previous one has slid out: previous * (1 - t) <= room - current.
    if (current <= room && previous > 0) return ((1 - (room - current) / previous) - elapsed) * windowMs;
    // In the next window, once enough of this one has slid out: current * (1 - t) <= room.
    return (1 - elapsed + Math.max(0, 1 - room / current)) * windowMs;
  }
}
