// The LB's side of the Redis control plane: keeping the LB in step with it. A poll every `pollMs` (a plain
// `redis-cli HSET` publishes nothing) plus a subscription to the events channel for instant changes; each
// read is src/control-plane.ts's snapshot, by its rules, followed by the load reports of the LB's edges.
// While Redis is away the LB keeps the last snapshot and load reports; the shared client fails fast and
// reconnects.
import {
  connectRedis, controlKeys, readControlPlane, readLoads, type ControlRead, type ControlSnapshot, type EdgeLoad, type RejectedEntry,
} from '../src/control-plane.js';
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
  /** The edges whose load reports to read (after the snapshot was applied). */
  loadIds(): string[];
  /** The valid load reports of those edges, after every read (none while Redis is away: the last ones stand). */
  onLoads(loads: Map<string, EdgeLoad>): void;
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
  const reported = { control: new Set<string>(), load: new Set<string>() };
  const readOnce = async () => {
    if (redis.status !== 'ready') return setState('down');
    let read: ControlRead;
    try {
      read = await readControlPlane(redis, keys, last);
    } catch {
      return setState('down');
    }
    last = read.snapshot;
    reportRejected(read.rejected);
    setState('up');
    options.onSnapshot(read.snapshot, Date.now() - backAt < REJOIN_GRACE_MS);
    try {
      const { loads, rejected } = await readLoads(redis, keys, options.loadIds());
      reportRejected(rejected, 'load');
      options.onLoads(loads);
    } catch {
      setState('down');
    }
  };
  /** Each rejected entry once (again only after it was fixed and broke anew); `part`: which read. */
  const reportRejected = (rejected: RejectedEntry[], part: 'control' | 'load' = 'control') => {
    const now = new Set<string>();
    for (const r of rejected) {
      // A load report changes every beat: the same fault in a new report is the same fault.
      const key = JSON.stringify([r.key, r.id, r.key === 'load' ? '' : r.value, r.reason]);
      now.add(key);
      if (!reported[part].has(key)) options.onRejected(r);
    }
    reported[part] = now;
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
