// The cache lock, Pingora-style, with Varnish/ATS read-while-write: at most one upstream fetch per key at
// a time — for a cold miss, the refresh of an expired entry and a 404 alike. Everyone who asks while it
// runs gets the same object as soon as its headers arrive and reads the body as it is written. The fetch
// belongs to no client, so no client's abort or slowness reaches it.
//
// Outcomes of a fetch, for the requests that shared it:
//   headers < 500, body completes   -> stored if cacheable; everyone got every byte
//   headers < 500, body ends short  -> never stored; every reader's response is cut (no short 200)
//   5xx from the last origin        -> stale entry if within its bound (STALE), else the 5xx passes through
//   no origin answered              -> stale entry if within its bound (STALE), else 502 (504 on timeout)
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { contentTypeFor } from '../src/media-types.js';
import type { Logger } from '../src/log.js';
import { CacheStore, type CachedObject } from './cache-store.js';
import { parseAge } from './cache-fields.js';
import { freshnessOf, objectKind, storageRefusal, type Freshness, type FreshnessDefaults } from './freshness.js';
import { isBlockingReload, type BlockingTimeouts } from './low-latency.js';
import { UpstreamError, type Upstream } from './origin-pool.js';
import type { CacheOutcome } from './outcome.js';
import { SharedBody } from './shared-body.js';

export type Lookup =
  /** ERROR with an object: the last origin's 5xx, passed on because nothing stale was left. */
  | {
    outcome: Extract<CacheOutcome, 'MISS' | 'REVALIDATED' | 'COALESCED' | 'STALE' | 'PASS' | 'ERROR'>;
    obj: CachedObject;
    /** The upstream Set-Cookie lines, for the request that started the fetch only. */
    setCookie?: string[];
  }
  | { outcome: Extract<CacheOutcome, 'ERROR'>; status: 502 | 504; message: string; obj?: undefined };

type FlightResult =
  | { obj: CachedObject; failed: boolean; cacheable: boolean; revalidated: boolean; setCookie?: string[] }
  | { error: UpstreamError };

interface Flight {
  result: Promise<FlightResult>;
  /** Set once headers arrived; its body's readers count as waiting clients until it ends. */
  obj?: CachedObject;
}

/**
 * How long an expired entry with a validator is kept to be revalidated (beyond its stale bound): a 304
 * then costs no body transfer. The LRU still evicts it first when room is needed.
 */
const REVALIDATION_RETAIN_MS = 10 * 60_000;

/** RFC 9110 §7.6.1: hop-by-hop fields, never forwarded (nor the fields that Connection names). */
const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer']);
/** Computed by the edge for every reply (length of what it sends, its own Age), or never stored. */
const NOT_FORWARDED = new Set(['content-length', 'age', 'set-cookie']);

export interface CoalescingCacheOptions {
  store: CacheStore;
  origins: Upstream;
  freshness: FreshnessDefaults;
  /** Larger bodies are streamed through to whoever asked, never stored. */
  maxObjectSize: number;
  now: () => number;
  log: Logger;
  /** The `ttl` hook: the final freshness lifetime (ms) given the default; a rejection means "do not store". */
  adjustTtl?: (target: FetchTarget, obj: CachedObject, defaultTtlMs: number) => Promise<number>;
  /** Upstream timeouts of blocking playlist reloads, learned from the media playlists fetched. */
  blocking: BlockingTimeouts;
}

export interface FetchTarget {
  key: string;
  /** Path and kept query sent upstream. */
  upstreamPath: string;
  /** The path's file name decides the default content type, and with it whether HLS lifetimes apply. */
  path: string;
  stream: string;
  /** Origins to try in this order (the `selectOrigin` hook); default: the pool's own order. */
  origins?: readonly string[];
}

export class CoalescingCache {
  private readonly inflight = new Map<string, Flight>();
  private awaitingHeaders = 0;

  constructor(private readonly options: CoalescingCacheOptions) {}

  /** A fresh entry, if there is one: the synchronous fast path every hit takes. */
  fresh(key: string): CachedObject | undefined {
    const now = this.options.now();
    const entry = this.options.store.get(key, now);
    return entry && now < entry.freshUntil ? entry : undefined;
  }

  /** For a key without a fresh entry: joins the fetch in flight, or starts it. */
  async fetch(target: FetchTarget): Promise<Lookup> {
    let flight = this.inflight.get(target.key);
    const leader = flight === undefined;
    flight ??= this.start(target);
    this.awaitingHeaders++;
    let result: FlightResult;
    try {
      result = await flight.result;
    } finally {
      this.awaitingHeaders--;
    }
    if ('error' in result || result.failed) {
      const now = this.options.now();
      const stale = this.options.store.get(target.key, now);
      if (stale && now < stale.staleUntil) return { outcome: 'STALE', obj: stale };
      if ('error' in result) return { outcome: 'ERROR', status: result.error.timedOut ? 504 : 502, message: result.error.message };
      return { outcome: 'ERROR', obj: result.obj };
    }
    if (!leader) return { outcome: 'COALESCED', obj: result.obj };
    const outcome = result.revalidated ? 'REVALIDATED' : result.cacheable ? 'MISS' : 'PASS';
    return { outcome, obj: result.obj, ...(result.setCookie ? { setCookie: result.setCookie } : {}) };
  }

  /** Whether a request for this key now would join a running fetch rather than start one. */
  joinable(key: string): boolean {
    return this.inflight.has(key);
  }

  /** Upstream fetches running now (headers pending or body still arriving). */
  get fetching(): number {
    return this.inflight.size;
  }

  /** Clients waiting on a fetch: for its headers, or reading a body still being written. */
  get waiting(): number {
    let readers = 0;
    for (const f of this.inflight.values()) readers += f.obj?.body.readers ?? 0;
    return this.awaitingHeaders + readers;
  }

  private start(target: FetchTarget): Flight {
    const flight: Flight = { result: this.request(target, () => flight) };
    this.inflight.set(target.key, flight);
    return flight;
  }

  private async request(target: FetchTarget, self: () => Flight): Promise<FlightResult> {
    const { origins, now, maxObjectSize } = this.options;
    // An expired entry with a validator is revalidated rather than fetched again (RFC 9111 §4.3.1).
    const stored = this.options.store.get(target.key, now());
    const previous = stored && stored.status === 200 && stored.body.state === 'complete' ? stored : undefined;
    const conditional = previous ? validatorsOf(previous) : undefined;
    const how = isBlockingReload(target.upstreamPath) ? { holdMs: this.options.blocking.timeoutFor(playlistPathOf(target)) } : {};
    let upstream;
    try {
      upstream = await origins.fetch(target.upstreamPath, target.origins, conditional, how);
    } catch (err) {
      this.inflight.delete(target.key);
      const error = err instanceof UpstreamError ? err : new UpstreamError(String(err), false);
      this.options.log.warn('upstream_failed', { stream: target.stream, path: target.upstreamPath, err: error.message });
      return { error };
    }
    const { headers, setCookie } = endToEnd(upstream.headers);
    const receivedAt = now();
    const upstreamAge = upstream.ageMs !== undefined ? upstream.ageMs / 1000 : parseAge(fieldValue(upstream.headers.age)) ?? 0;
    if (previous && conditional && upstream.status === 304) {
      upstream.body.resume();
      const obj = updated(previous, headers, receivedAt, upstreamAge);
      self().obj = obj;
      const cacheable = storageRefusal(obj.status, obj.headers, setCookie !== undefined) === undefined;
      if (!cacheable) this.options.store.delete(target.key);
      this.settle(target, obj, cacheable);
      return { obj, failed: false, cacheable, revalidated: true, ...(setCookie ? { setCookie } : {}) };
    }
    const kindType = headers['content-type'];
    headers['content-type'] ??= contentTypeFor(target.path);
    const lengthHeader = upstream.headers['content-length'];
    const expectedLength = typeof lengthHeader === 'string' && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const obj: CachedObject = {
      status: upstream.status,
      headers,
      body: new SharedBody(expectedLength),
      receivedAt,
      upstreamAge,
      freshUntil: 0,
      staleUntil: 0,
      retainUntil: 0,
    };
    const failed = upstream.status >= 500;
    const refusal = failed ? 'error' : storageRefusal(obj.status, headers, setCookie !== undefined);
    const cacheable = refusal === undefined && (expectedLength === undefined || expectedLength <= maxObjectSize);
    self().obj = obj;
    const kind = objectKind(target.path, kindType);
    this.fill(target, upstream.body, obj, cacheable, kind);
    // A playlist is written whole by the origin and arrives right behind its headers: its waiters are
    // woken once it is complete, so each gets its answer in one write rather than head, chunk and end.
    if (kind === 'playlist') await obj.body.settled();
    return { obj, failed, cacheable, revalidated: false, ...(setCookie ? { setCookie } : {}) };
  }

  /** Reads the upstream body as fast as the origin sends it, whoever is (or is not) reading along. */
  private fill(target: FetchTarget, body: Readable, obj: CachedObject, cacheable: boolean, kind: ReturnType<typeof objectKind>): void {
    const { maxObjectSize } = this.options;
    let storable = cacheable;
    let settled = false;
    body.on('data', (chunk: Buffer) => {
      obj.body.push(chunk);
      if (obj.body.length > maxObjectSize) storable = false;
    });
    const done = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (obj.body.state === 'open') {
        if (err === undefined) obj.body.end();
        else obj.body.abort();
      }
      if (obj.body.state === 'aborted') {
        this.options.log.warn('upstream_body_aborted', { stream: target.stream, path: target.upstreamPath, received: obj.body.length, expected: obj.body.expectedLength, ...(err ? { err } : {}) });
      }
      this.settle(target, obj, storable && obj.body.state === 'complete', kind);
    };
    body.once('end', () => done());
    body.once('error', (err) => done(err));
    body.once('close', () => done(new Error('upstream body closed early')));
  }

  /** Decides the complete object's freshness (and the `ttl` hook's word on it), then finishes the flight. */
  private settle(target: FetchTarget, obj: CachedObject, storable: boolean, kind = objectKind(target.path, obj.headers['content-type'])): void {
    if (kind === 'playlist' && obj.status === 200 && obj.body.state === 'complete') this.options.blocking.learn(playlistPathOf(target), obj.body.buffer);
    if (!storable) return this.finish(target, obj, undefined);
    const f = freshnessOf({
      status: obj.status,
      headers: obj.headers,
      ageSeconds: obj.upstreamAge,
      kind,
      receivedAt: obj.receivedAt,
      body: () => obj.body.buffer,
      blocking: isBlockingReload(target.upstreamPath),
    }, this.options.freshness);
    const { adjustTtl } = this.options;
    if (!adjustTtl) return this.finish(target, obj, f);
    // The flight stays registered while the hook decides, so nobody fetches the key meanwhile.
    adjustTtl(target, obj, f.ttlMs).then(
      (ttlMs) => this.finish(target, obj, ttlMs > 0 ? { ttlMs, staleMs: f.staleMs } : undefined),
      () => this.finish(target, obj, undefined),
    );
  }

  /**
   * Stores a complete object (fresh, or stale at once but revalidatable), then ends its flight: in that
   * order, so no request falls in between. `f` undefined: not stored.
   */
  private finish(target: FetchTarget, obj: CachedObject, f: Freshness | undefined): void {
    if (f !== undefined) {
      obj.freshUntil = obj.receivedAt + f.ttlMs;
      obj.staleUntil = obj.freshUntil + f.staleMs;
      const revalidatable = obj.status === 200 && validatorsOf(obj) !== undefined;
      obj.retainUntil = revalidatable ? Math.max(obj.staleUntil, obj.freshUntil + REVALIDATION_RETAIN_MS) : obj.staleUntil;
      if (f.ttlMs > 0 || revalidatable) this.options.store.set(target.key, obj);
    }
    this.inflight.delete(target.key);
  }
}

/**
 * The end-to-end fields of an upstream response, as a CDN passes them: hop-by-hop fields and those named
 * in Connection dropped (RFC 9110 §7.6.1), repeated field lines combined into one value (RFC 9110 §5.3;
 * undici hands them over as an array), Set-Cookie kept apart since it cannot be combined and is never stored.
 */
function endToEnd(upstream: IncomingHttpHeaders): { headers: Record<string, string>; setCookie?: string[] } {
  const connection = new Set((fieldValue(upstream.connection) ?? '').split(',').map((s) => s.trim().toLowerCase()));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connection.has(name) || NOT_FORWARDED.has(name)) continue;
    headers[name] = fieldValue(value)!;
  }
  const cookies = upstream['set-cookie'];
  const setCookie = cookies === undefined ? undefined : Array.isArray(cookies) ? cookies : [cookies];
  return setCookie && setCookie.length > 0 ? { headers, setCookie } : { headers };
}

/** The playlist a request names, without its query: what blocking timeouts are learned and looked up by. */
function playlistPathOf(target: FetchTarget): string {
  const q = target.upstreamPath.indexOf('?');
  return q === -1 ? target.upstreamPath : target.upstreamPath.slice(0, q);
}

function fieldValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The edge's own preconditions for revalidating a stored response (RFC 9111 §4.3.1). */
function validatorsOf(obj: CachedObject): Record<string, string> | undefined {
  const { etag } = obj.headers;
  const lastModified = obj.headers['last-modified'];
  if (etag === undefined && lastModified === undefined) return undefined;
  return { ...(etag !== undefined ? { 'if-none-match': etag } : {}), ...(lastModified !== undefined ? { 'if-modified-since': lastModified } : {}) };
}

/**
 * RFC 9111 §4.3.4: a 304 freshens the stored response: "the cache MUST ... use other header fields
 * provided in the 304 (Not Modified) response to replace all instances of the corresponding header
 * fields in the stored response" (§3.2: Content-Length aside, which the edge computes anyway). The body
 * is the stored one; the new object gets its own precomputed hit head.
 */
function updated(previous: CachedObject, fresh: Record<string, string>, receivedAt: number, upstreamAge: number): CachedObject {
  return {
    status: previous.status,
    headers: { ...previous.headers, ...fresh },
    body: previous.body,
    receivedAt,
    upstreamAge,
    freshUntil: 0,
    staleUntil: 0,
    retainUntil: 0,
  };
}
