// Reading the Redis control plane, and keeping an LB in step with it: a poll every `pollMs` (a plain
// `redis-cli HSET` publishes nothing) plus a subscription to the events channel for instant changes.
// While Redis is away the LB keeps the last snapshot; the shared client fails fast and reconnects.
import type { Redis } from 'ioredis';
import { connectRedis, controlKeys, type ControlKeys } from '../src/control-plane.js';
import { silentLogger, type Logger } from '../src/log.js';
import { isValidEdgeId, parseWeight, type ControlSnapshot } from './edges.js';

export type RedisState = 'off' | 'up' | 'down';

export async function readControlPlane(redis: Redis, keys: ControlKeys): Promise<ControlSnapshot> {
  const [weights, edges, drained] = await Promise.all([
    redis.hgetall(keys.weights),
    redis.hgetall(keys.edges),
    redis.smembers(keys.drain),
  ]);
  const ids = Object.keys(edges).filter(isValidEdgeId);
  const alive = ids.length > 0 ? await redis.exists(...ids.map((id) => keys.alive(id))) : 0;
  // EXISTS on many keys only counts; ask per key when some heartbeat has lapsed.
  const live = alive === ids.length
    ? ids
    : (await Promise.all(ids.map(async (id) => ((await redis.exists(keys.alive(id))) === 1 ? id : undefined)))).filter((id) => id !== undefined);
  const weightMap = new Map<string, number>();
  for (const [id, raw] of Object.entries(weights)) {
    const w = parseWeight(raw);
    if (w !== undefined) weightMap.set(id, w);
  }
  return {
    weights: weightMap,
    registered: new Map(live.map((id) => [id, edges[id]!.replace(/\/+$/, '')])),
    drained: new Set(drained),
  };
}

export interface SyncOptions {
  url: string;
  prefix: string;
  pollMs: number;
  log: Logger;
  onSnapshot(snapshot: ControlSnapshot): void;
  onState(state: RedisState): void;
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
  const readOnce = async () => {
    if (redis.status !== 'ready') return setState('down');
    try {
      const snapshot = await readControlPlane(redis, keys);
      options.onSnapshot(snapshot);
      setState('up');
    } catch {
      setState('down');
    }
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
