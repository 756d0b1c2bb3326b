// The LB's side of the Redis control plane: keeping the LB in step with it. A poll every `pollMs` (a plain
// `redis-cli HSET` publishes nothing) plus a subscription to the events channel for instant changes; each
// read is src/control-plane.ts's snapshot, by its rules. While Redis is away the LB keeps the last snapshot;
// the shared client fails fast and reconnects.
import { connectRedis, controlKeys, readControlPlane, type ControlRead, type ControlSnapshot, type RejectedEntry } from '../src/control-plane.js';
import { silentLogger, type Logger } from '../src/log.js';

export type RedisState = 'off' | 'up' | 'down';

export interface DiscoveryOptions {
  url: string;
  prefix: string;
  pollMs: number;
  log: Logger;
  /** `rejoining`: within REJOIN_GRACE_MS of Redis coming back from an outage. */
  onSnapshot(snapshot: ControlSnapshot, rejoining: boolean): void;
  onState(state: RedisState): void;
  /** Called once per rejected entry (again only after it was fixed and broke anew), not on every read. */
  onRejected(entry: RejectedEntry): void;
}

export interface Discovery {
  /** Reads now; resolves after a read that started after the call. */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * How long after Redis comes back from an outage edges whose heartbeat lapsed meanwhile are kept (while
 * healthy): the heartbeat key lives 5 s, and an edge beats again within its reconnect backoff (2 s at most)
 * plus one interval of coming back.
 */
export const REJOIN_GRACE_MS = 5000;

export function startDiscovery(options: DiscoveryOptions): Discovery {
  const keys = controlKeys(options.prefix);
  let state: RedisState | undefined;
  let wasUp = false;
  /** When Redis came back after being up before (ms), for REJOIN_GRACE_MS. */
  let backAt = -Infinity;
  const setState = (next: RedisState) => {
    if (state === next) return;
    if (next === 'up' && wasUp) backAt = Date.now();
    if (next === 'up') wasUp = true;
    state = next;
    options.onState(next);
  };
  const redis = connectRedis(options.url, options.log, (up) => {
    if (up) void refresh();
    else setState('down');
  }, { failoverDetector: true });
  // The subscriber's own outages are the same outage: only the command connection logs.
  const sub = connectRedis(options.url, silentLogger);
  sub.on('ready', () => { sub.subscribe(keys.events).catch(() => { /* retried on the next ready */ }); });
  sub.on('message', () => void refresh());

  let pending: Promise<void> | undefined;
  let dirty = false;
  let last: ControlSnapshot | undefined;
  let reported = new Set<string>();
  const readOnce = async () => {
    if (redis.status !== 'ready') return setState('down');
    let read: ControlRead;
    try {
      read = await readControlPlane(redis, keys, last);
    } catch {
      return setState('down');
    }
    last = read.snapshot;
    const now = new Set<string>();
    for (const r of read.rejected) {
      const key = JSON.stringify([r.key, r.id, r.value, r.reason]);
      now.add(key);
      if (!reported.has(key)) options.onRejected(r);
    }
    reported = now;
    setState('up');
    options.onSnapshot(read.snapshot, Date.now() - backAt < REJOIN_GRACE_MS);
  };
  function refresh(): Promise<void> {
    dirty = true;
    pending ??= (async () => {
      try {
        while (dirty) {
          dirty = false;
          await readOnce();
        }
      } finally {
        pending = undefined;
      }
    })();
    return pending;
  }
  const timer = setInterval(() => void refresh(), options.pollMs);
  setState('down');
  return {
    refresh,
    close() {
      clearInterval(timer);
      redis.disconnect();
      sub.disconnect();
    },
  };
}
