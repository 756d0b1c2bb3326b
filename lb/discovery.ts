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
  onSnapshot(snapshot: ControlSnapshot): void;
  onState(state: RedisState): void;
  /** Called once per rejected entry (again only after it was fixed and broke anew), not on every read. */
  onRejected(entry: RejectedEntry): void;
}

export interface Discovery {
  /** Reads now; resolves after a read that started after the call. */
  refresh(): Promise<void>;
  close(): void;
}

export function startDiscovery(options: DiscoveryOptions): Discovery {
  const keys = controlKeys(options.prefix);
  let state: RedisState | undefined;
  const setState = (next: RedisState) => {
    if (state === next) return;
    state = next;
    options.onState(next);
  };
  const redis = connectRedis(options.url, options.log, (up) => {
    if (up) void refresh();
    else setState('down');
  });
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
    options.onSnapshot(read.snapshot);
    setState('up');
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
