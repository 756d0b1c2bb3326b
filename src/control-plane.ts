// The Redis control plane (contract: key prefix `cascade:` by default). One place names every key, so
// edges, LBs and the ops commands agree on them.
import { Redis } from 'ioredis';
import type { Logger } from './log.js';

export interface ControlKeys {
  /** hash: edge id -> integer weight */
  weights: string;
  /** hash: edge id -> public URL (written by registering edges) */
  edges: string;
  /** string with TTL, kept alive by the edge's heartbeat */
  alive(edgeId: string): string;
  /** set: ids of edges in drain mode */
  drain: string;
  /** pub/sub channel: a message means "re-read the control plane now" */
  events: string;
  /** hash: edge id -> weight it had before `cascade drain`, restored by `cascade undrain` */
  drainedWeights: string;
}

export function controlKeys(prefix = 'cascade:'): ControlKeys {
  return {
    weights: `${prefix}weights`,
    edges: `${prefix}edges`,
    alive: (id) => `${prefix}edge:${id}:alive`,
    drain: `${prefix}drain`,
    events: `${prefix}events`,
    drainedWeights: `${prefix}drain:weights`,
  };
}

/**
 * A Redis client that never stops the role serving: commands fail fast while Redis is away
 * (no offline queue), it reconnects with capped backoff, and logs each transition once.
 */
export function connectRedis(url: string, log: Logger, onStateChange?: (up: boolean) => void): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  });
  let up: boolean | undefined;
  const set = (next: boolean, err?: unknown) => {
    if (up === next) return;
    up = next;
    if (next) log.info('redis_up', { url: redactUrl(url) });
    else log.warn('redis_down', { url: redactUrl(url), ...(err ? { err } : {}) });
    onStateChange?.(next);
  };
  redis.on('ready', () => set(true));
  redis.on('error', (err) => set(false, err));
  redis.on('close', () => set(false));
  return redis;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
