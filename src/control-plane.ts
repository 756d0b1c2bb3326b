// The Redis control plane, in one place: its keys (docs/contract.md, "Redis"), the rules its values must
// meet, the one read of all of it (a snapshot) and of the edges' load reports, and every write — the
// edge's registration, heartbeat and load report, the operator's weight, drain and undrain. Edge
// registration (edge/registration.ts), LB discovery (lb/discovery.ts) and the ops commands (cli/ops.ts)
// all go through here, so they cannot disagree on a key, on which entries count, or on what "drained" means.
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from './log.js';
import { parseRedisUrl, redactRedisUrl, redisConnection } from './redis-url.js';

/**
 * ioredis, loaded when the first client is made rather than with this module, which every role imports
 * for its keys and rules: a role without --redis does not carry it (an idle edge's anonymous memory is
 * 31 MiB without it, 45 with it). CommonJS, so `require` loads it synchronously and caches it.
 */
const require = createRequire(import.meta.url);
const ioredis = (): typeof import('ioredis') => require('ioredis') as typeof import('ioredis');

export const DEFAULT_REDIS_PREFIX = 'cascade:';

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
  /** string with TTL: the edge's load report (EdgeLoad as JSON), rewritten every heartbeat */
  load(edgeId: string): string;
}

export function controlKeys(prefix = DEFAULT_REDIS_PREFIX): ControlKeys {
  return {
    weights: `${prefix}weights`,
    edges: `${prefix}edges`,
    alive: (id) => `${prefix}edge:${id}:alive`,
    drain: `${prefix}drain`,
    events: `${prefix}events`,
    drainedWeights: `${prefix}drain:weights`,
    load: (id) => `${prefix}edge:${id}:load`,
  };
}

// ---- the rules: what an edge id, a weight and an edge URL are (for --edge and `cascade weight` too) -----

export const DEFAULT_WEIGHT = 100;
export const MAX_WEIGHT = 1_000_000;
/** Most edges taken from Redis (ids in sorted order, so every reader takes the same ones from a flood). */
export const MAX_REDIS_EDGES = 1000;
const EDGE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function isValidEdgeId(id: string): boolean {
  return EDGE_ID_RE.test(id);
}

/**
 * An integer weight 0..MAX_WEIGHT, or undefined: one rule for `--edge ...@W`, `cascade weight` and the
 * weights hash in Redis (where a malformed value is ignored, so the edge keeps its flag or default weight).
 */
export function parseWeight(text: string): number | undefined {
  if (!/^\d{1,7}$/.test(text.trim())) return undefined;
  const w = Number(text);
  return w <= MAX_WEIGHT ? w : undefined;
}

/**
 * An edge's base URL as it goes into every player's `Location`: absolute http(s), no credentials (a
 * browser refuses to follow a redirect carrying them, and every player would see them), no query or
 * fragment (the player's path is appended). Returned as the URL parser serialises it, without trailing
 * slashes, so no byte of the stored text (tabs, CR/LF the parser skips) reaches a header.
 */
export function checkEdgeUrl(text: string): { url: string } | { reason: string } {
  if (text.length > 2048) return { reason: 'URL longer than 2048' };
  // The URL parser would quietly drop some of these; a value that needs that is no edge's URL.
  if (/[\x00-\x20\x7f-\uffff]/.test(text)) return { reason: 'space, control or non-ASCII character in URL' };
  if (!URL.canParse(text)) return { reason: 'not a URL' };
  const u = new URL(text);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { reason: 'not http(s)' };
  if (u.username || u.password) return { reason: 'credentials in URL' };
  if (u.search || u.hash || /[?#]/.test(text)) return { reason: 'query or fragment in URL' };
  return { url: u.href.replace(/\/+$/, '') };
}

// ---- reading: one snapshot of everything, by the rules above ------------------------------------------

/** The control plane as read, every entry checked. Registrations are only those whose heartbeat key is alive. */
export interface ControlSnapshot {
  weights: Map<string, number>;
  registered: Map<string, string>;
  /** Ids still in the edges hash whose heartbeat lapsed or was withdrawn (not the same as gone from Redis). */
  lapsed: Set<string>;
  drained: Set<string>;
}

/**
 * The one definition of an edge's weight: 0 while drained, whatever the weights hash says; else the
 * hash's weight; else `fallback` (its `--edge` weight, or DEFAULT_WEIGHT).
 */
export function effectiveWeight(snapshot: ControlSnapshot | undefined, id: string, fallback: number): number {
  if (snapshot?.drained.has(id)) return 0;
  return snapshot?.weights.get(id) ?? fallback;
}

/** The keys read, as they name rejected entries in logs and metrics. */
export type ControlKeyName = 'edges' | 'weights' | 'drain' | 'load';

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
  /** Every edge of the edges hash that passed the rules, heartbeat or not, with its URL. */
  listed: Map<string, string>;
  /** At most MAX_REPORTED_REJECTIONS of them. */
  rejected: RejectedEntry[];
}

const MAX_REPORTED_REJECTIONS = 100;
const WEIGHT_RULE = 'not a whole number 0..1000000';

/** Ids in sorted order, at most MAX_REDIS_EDGES: every reader keeps the same ones from a hostile flood. */
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
    if (!(err instanceof (ioredis().ReplyError as typeof Error))) throw err;
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
  const listed = new Map<string, string>();
  if (edgesRaw) {
    for (const id of bounded(Object.keys(edgesRaw))) {
      const checked = checkEdgeUrl(edgesRaw[id]!);
      if (!isValidEdgeId(id)) reject('edges', id, edgesRaw[id]!, 'invalid edge id');
      else if ('reason' in checked) reject('edges', id, edgesRaw[id]!, checked.reason);
      else listed.set(id, checked.url);
    }
    const ids = [...listed.keys()];
    const alive = ids.length > 0 ? ((await redis.pipeline(ids.map((id) => ['exists', keys.alive(id)])).exec()) ?? []) : [];
    registered = new Map();
    lapsed = new Set();
    ids.forEach((id, i) => {
      const [err, exists] = alive[i] ?? [new Error('no reply'), 0];
      if (err) throw err;
      if (exists === 1) registered.set(id, listed.get(id)!);
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
  return { snapshot: { weights, registered, lapsed, drained }, listed, rejected };
}

// ---- load reports: what each edge carries, for the LBs' bounded loads and the status page ---------------

/** An edge's load as it reports it every heartbeat (`edge:<id>:load`, JSON). Rates are over the last beat. */
export interface EdgeLoad {
  /** Distinct clients (per stream, summed) with a playlist request within `windowMs`. */
  viewers: number;
  /** The same per stream, the most watched first, at most MAX_LOAD_STREAMS of them. */
  streams: Record<string, number>;
  windowMs: number;
  bytesPerSecond: number;
  requestsPerSecond: number;
  /** Requests answered without an upstream fetch of their own (HIT, COALESCED, STALE); null without requests. */
  hitRatio: number | null;
  /** Event-loop delay, the 99th percentile over the last beat (ms). */
  loopLagMs: number;
  /** CPU time over wall time in the last beat: 1 = one core. */
  cpu: number;
  /** When it was measured (ms since the epoch, the edge's clock). */
  at: number;
}

export const MAX_LOAD_STREAMS = 100;
const MAX_LOAD_BYTES = 16_384;
const STREAM_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A load report as read from Redis, or the reason it is not one (anyone who can write there must not steer players). */
export function parseEdgeLoad(text: string): { load: EdgeLoad } | { reason: string } {
  if (text.length > MAX_LOAD_BYTES) return { reason: `longer than ${MAX_LOAD_BYTES}` };
  let raw: unknown;
  try { raw = JSON.parse(text); } catch { return { reason: 'not JSON' }; }
  if (typeof raw !== 'object' || raw === null) return { reason: 'not an object' };
  const r = raw as Record<string, unknown>;
  const num = (name: string, max: number, integer = false): number | undefined => {
    const v = r[name];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= max && (!integer || Number.isInteger(v)) ? v : undefined;
  };
  const viewers = num('viewers', 1e8, true);
  const windowMs = num('windowMs', 3_600_000);
  const bytesPerSecond = num('bytesPerSecond', 1e12);
  const requestsPerSecond = num('requestsPerSecond', 1e9);
  const loopLagMs = num('loopLagMs', 3_600_000);
  const cpu = num('cpu', 1024);
  const at = num('at', 1e14);
  const hitRatio = r.hitRatio === null ? null : num('hitRatio', 1);
  const streams = r.streams;
  if (viewers === undefined || windowMs === undefined || bytesPerSecond === undefined || requestsPerSecond === undefined
    || loopLagMs === undefined || cpu === undefined || at === undefined || hitRatio === undefined) return { reason: 'a field missing or out of range' };
  if (typeof streams !== 'object' || streams === null || Array.isArray(streams)) return { reason: 'streams not an object' };
  const entries = Object.entries(streams);
  if (entries.length > MAX_LOAD_STREAMS || !entries.every(([name, n]) => STREAM_NAME_RE.test(name) && typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= viewers)) {
    return { reason: 'streams: bad name or count' };
  }
  return { load: { viewers, streams: Object.fromEntries(entries) as Record<string, number>, windowMs, bytesPerSecond, requestsPerSecond, hitRatio, loopLagMs, cpu, at } };
}

/** The load reports of `ids` that are there and valid; the others are absent (and reported when malformed). */
export async function readLoads(redis: Redis, keys: ControlKeys, ids: readonly string[]): Promise<{ loads: Map<string, EdgeLoad>; rejected: RejectedEntry[] }> {
  const loads = new Map<string, EdgeLoad>();
  const rejected: RejectedEntry[] = [];
  const listed = bounded(ids);
  if (listed.length === 0) return { loads, rejected };
  const values = await redis.mget(listed.map((id) => keys.load(id)));
  listed.forEach((id, i) => {
    const value = values[i];
    if (value === null || value === undefined) return;
    const parsed = parseEdgeLoad(value);
    if ('load' in parsed) loads.set(id, parsed.load);
    else if (rejected.length < MAX_REPORTED_REJECTIONS) rejected.push({ key: 'load', id, value: value.slice(0, 200), reason: parsed.reason });
  });
  return { loads, rejected };
}

// ---- writing: each change is announced on the events channel, so readers apply it at once -------------

/**
 * One heartbeat of an edge: reads whether it is drained and, with a `publicUrl`, (re-)registers it with an
 * alive key that outlives five beats. Re-written every beat, so an edge re-registers by itself after Redis
 * lost its data (FLUSHALL, restarted empty; keyspace events would need server config and FLUSHALL sends
 * none per key); the same transaction reads what was there first, so noticing the loss costs no round trip.
 * With `load`, the same transaction writes the load report, which lives three beats: a report older than
 * that says nothing about the edge now.
 */
export async function heartbeat(redis: Redis, keys: ControlKeys, id: string, publicUrl: string | undefined, intervalMs: number, load?: EdgeLoad): Promise<{
  /** undefined when the reply did not say. */
  drained: boolean | undefined;
  /** The registration was missing or different before this beat (and LBs were told). */
  registered: boolean;
}> {
  const batch = redis.multi().sismember(keys.drain, id);
  if (publicUrl !== undefined) {
    const ttlSeconds = Math.max(1, Math.ceil((intervalMs * 5) / 1000));
    batch.hget(keys.edges, id).exists(keys.alive(id)).hset(keys.edges, id, publicUrl).set(keys.alive(id), publicUrl, 'EX', ttlSeconds);
  }
  if (load) batch.set(keys.load(id), JSON.stringify(load), 'PX', Math.max(1000, intervalMs * 3));
  const results = await batch.exec();
  const member = results?.[0]?.[1];
  const registered = publicUrl !== undefined && (results?.[1]?.[1] !== publicUrl || results?.[2]?.[1] !== 1);
  // LBs re-read at once instead of at their next poll (which finds it anyway if this message is lost).
  if (registered) await redis.publish(keys.events, `register ${id}`).catch(() => undefined);
  return { drained: typeof member === 'number' ? member === 1 : undefined, registered };
}

/** Ends an edge's heartbeat key, so LBs stop sending new players to it at once (its URL stays listed). */
export async function withdraw(redis: Redis, keys: ControlKeys, id: string): Promise<void> {
  await redis.del(keys.alive(id));
}

/** Sets an edge's weight. A drained edge stays at 0: the weight is kept for undrain instead ('deferred'). */
export async function setWeight(redis: Redis, keys: ControlKeys, id: string, weight: number): Promise<'set' | 'deferred'> {
  const drained = (await redis.sismember(keys.drain, id)) === 1;
  await redis.multi().hset(drained ? keys.drainedWeights : keys.weights, id, weight).publish(keys.events, `weight ${id}`).exec();
  return drained ? 'deferred' : 'set';
}

/**
 * Drains an edge: the drain flag (its playlist requests are sent back to the LB) and weight 0 in the hash
 * too, for anyone who reads the hash alone; the weight it had is kept for undrain. False if it was drained.
 */
export async function drainEdge(redis: Redis, keys: ControlKeys, id: string): Promise<boolean> {
  const [already, weight] = await Promise.all([redis.sismember(keys.drain, id), redis.hget(keys.weights, id)]);
  const tx = redis.multi();
  if (!already && weight !== null) tx.hset(keys.drainedWeights, id, weight);
  await tx.hset(keys.weights, id, 0).sadd(keys.drain, id).publish(keys.events, `drain ${id}`).exec();
  return !already;
}

/**
 * Undrains an edge and restores the weight it had before drain (none: the default). Returns that weight
 * as stored (null: none), or undefined when the edge was not drained.
 */
export async function undrainEdge(redis: Redis, keys: ControlKeys, id: string): Promise<{ restored: string | null } | undefined> {
  const [drained, saved] = await Promise.all([redis.sismember(keys.drain, id), redis.hget(keys.drainedWeights, id)]);
  if (!drained) return undefined;
  const tx = redis.multi().srem(keys.drain, id).hdel(keys.drainedWeights, id);
  if (saved !== null) tx.hset(keys.weights, id, saved);
  else tx.hdel(keys.weights, id);
  await tx.publish(keys.events, `undrain ${id}`).exec();
  return { restored: saved };
}

// ---- connections ----------------------------------------------------------------------------------------

/** A client for a `--redis` URL (plain or redis-sentinel://, src/redis-url.ts) with these options on top. */
function redisClient(url: string, options: RedisOptions, sentinel: { failoverDetector?: boolean } = {}): Redis {
  const connection = redisConnection(parseRedisUrl(url), sentinel);
  const merged = { ...connection.options, ...options };
  const { Redis } = ioredis();
  return connection.url !== undefined ? new Redis(connection.url, merged) : new Redis(merged);
}

/**
 * A client that never stops a role serving: commands fail fast while Redis is away (no offline queue), it
 * reconnects with capped backoff (through Sentinel: to whichever primary the sentinels name then), and
 * logs each transition once. `failoverDetector`: follow a Sentinel failover at once (the command
 * connection; a subscriber only needs to get its messages again, which its reconnect gives).
 */
export function connectRedis(url: string, log: Logger, onStateChange?: (up: boolean) => void, { failoverDetector = false } = {}): Redis {
  const redis = redisClient(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  }, { failoverDetector });
  let up: boolean | undefined;
  const shown = redactRedisUrl(url);
  const set = (next: boolean, err?: unknown) => {
    if (up === next) return;
    up = next;
    if (next) log.info('redis_up', { url: shown });
    else log.warn('redis_down', { url: shown, ...(err ? { err } : {}) });
    onStateChange?.(next);
  };
  redis.on('ready', () => set(true));
  redis.on('error', (err) => set(false, err));
  redis.on('close', () => set(false));
  return redis;
}

/**
 * A client for a one-shot command: unlike a role, it connects once and fails clearly. Rejects with
 * `cannot reach Redis at <url>: <why>`.
 */
export async function connectRedisOnce(url: string): Promise<Redis> {
  const redis = redisClient(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => { lastError = err; });
  try {
    await redis.connect();
  } catch (err) {
    // connect() only says the connection closed; the error event says why.
    throw new Error(`cannot reach Redis at ${redactRedisUrl(url)}: ${(lastError ?? (err as Error)).message}`);
  }
  return redis;
}
