// Reading the Redis control plane, and keeping an LB in step with it: a poll every `pollMs` (a plain
// `redis-cli HSET` publishes nothing) plus a subscription to the events channel for instant changes.
// While Redis is away the LB keeps the last snapshot; the shared client fails fast and reconnects.
import { ReplyError, type Redis } from 'ioredis';
import { connectRedis, controlKeys, type ControlKeys } from '../src/control-plane.js';
import { silentLogger, type Logger } from '../src/log.js';
import { checkEdgeUrl, isValidEdgeId, MAX_REDIS_EDGES, parseWeight, type ControlSnapshot } from './edges.js';

export type RedisState = 'off' | 'up' | 'down';

/** The keys the LB reads, as they name rejected entries in logs and metrics. */
export type ControlKeyName = 'edges' | 'weights' | 'drain';

/** An entry read from Redis and not used: anyone who can write to Redis must not steer players. */
export interface RejectedEntry {
  key: ControlKeyName;
  /** The edge id it was for ('' for a whole key, e.g. of the wrong type). */
  id: string;
  value: string;
  reason: string;
}

export interface ControlRead {
  snapshot: ControlSnapshot;
  /** At most MAX_REPORTED_REJECTIONS of them. */
  rejected: RejectedEntry[];
}

const MAX_REPORTED_REJECTIONS = 100;
const WEIGHT_RULE = 'not a whole number 0..1000000';

/** Ids in sorted order, at most MAX_REDIS_EDGES: every LB keeps the same ones from a hostile flood. */
function bounded(ids: Iterable<string>): string[] {
  return [...ids].sort().slice(0, MAX_REDIS_EDGES);
}

/**
 * Reads the control plane. Each entry is checked by the rules the CLI applies to the same values; a key
 * of the wrong type keeps what `previous` had for it (as if Redis were away for that key).
 */
export async function readControlPlane(redis: Redis, keys: ControlKeys, previous?: ControlSnapshot): Promise<ControlRead> {
  const rejected: RejectedEntry[] = [];
  const reject = (key: ControlKeyName, id: string, value: string, reason: string) => {
    if (rejected.length < MAX_REPORTED_REJECTIONS) rejected.push({ key, id, value: value.slice(0, 200), reason });
  };
  const results = (await redis.pipeline().hgetall(keys.weights).hgetall(keys.edges).smembers(keys.drain).exec()) ?? [];
  const valueOf = <T>(i: number, key: ControlKeyName): T | undefined => {
    const [err, value] = results[i] ?? [new Error('no reply'), undefined];
    if (!err) return value as T;
    // A reply error (WRONGTYPE) is about that key's data; anything else is Redis being away.
    if (!(err instanceof (ReplyError as typeof Error))) throw err;
    reject(key, '', '', err.message);
    return undefined;
  };
  const weightsRaw = valueOf<Record<string, string>>(0, 'weights');
  const edgesRaw = valueOf<Record<string, string>>(1, 'edges');
  const drainedRaw = valueOf<string[]>(2, 'drain');

  let weights = previous?.weights ?? new Map<string, number>();
  if (weightsRaw) {
    weights = new Map();
    for (const id of bounded(Object.keys(weightsRaw))) {
      const w = parseWeight(weightsRaw[id]!);
      if (!isValidEdgeId(id)) reject('weights', id, weightsRaw[id]!, 'invalid edge id');
      else if (w === undefined) reject('weights', id, weightsRaw[id]!, WEIGHT_RULE);
      else weights.set(id, w);
    }
  }

  let registered = previous?.registered ?? new Map<string, string>();
  let lapsed = previous?.lapsed ?? new Set<string>();
  if (edgesRaw) {
    const urls = new Map<string, string>();
    for (const id of bounded(Object.keys(edgesRaw))) {
      const checked = checkEdgeUrl(edgesRaw[id]!);
      if (!isValidEdgeId(id)) reject('edges', id, edgesRaw[id]!, 'invalid edge id');
      else if ('reason' in checked) reject('edges', id, edgesRaw[id]!, checked.reason);
      else urls.set(id, checked.url);
    }
    const ids = [...urls.keys()];
    const alive = ids.length > 0 ? ((await redis.pipeline(ids.map((id) => ['exists', keys.alive(id)])).exec()) ?? []) : [];
    registered = new Map();
    lapsed = new Set();
    ids.forEach((id, i) => {
      const [err, exists] = alive[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      if (exists === 1) registered.set(id, urls.get(id)!);
      else lapsed.add(id);
    });
  }

  let drained = previous?.drained ?? new Set<string>();
  if (drainedRaw) {
    drained = new Set();
    for (const id of bounded(drainedRaw)) {
      if (isValidEdgeId(id)) drained.add(id);
      else reject('drain', id, id, 'invalid edge id');
    }
  }
  return { snapshot: { weights, registered, lapsed, drained }, rejected };
}

export interface SyncOptions {
  url: string;
  prefix: string;
  pollMs: number;
  log: Logger;
  onSnapshot(snapshot: ControlSnapshot): void;
  onState(state: RedisState): void;
  /** Called once per rejected entry (again only after it was fixed and broke anew), not on every read. */
  onRejected(entry: RejectedEntry): void;
}

export interface ControlPlaneSync {
  /** Reads now; resolves after a read that started after the call. */
  refresh(): Promise<void>;
  close(): void;
}

export function syncControlPlane(options: SyncOptions): ControlPlaneSync {
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
