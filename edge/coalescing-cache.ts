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
import { freshnessOf, parseCacheControl, type Freshness, type FreshnessDefaults } from './freshness.js';
import { OriginPool, UpstreamError } from './origin-pool.js';
import type { CacheOutcome } from './outcome.js';
import { SharedBody } from './shared-body.js';

export type Lookup =
  /** ERROR with an object: the last origin's 5xx, passed on because nothing stale was left. */
  | { outcome: Extract<CacheOutcome, 'MISS' | 'COALESCED' | 'STALE' | 'PASS' | 'ERROR'>; obj: CachedObject }
  | { outcome: Extract<CacheOutcome, 'ERROR'>; status: 502 | 504; message: string; obj?: undefined };

type FlightResult =
  | { obj: CachedObject; failed: boolean; cacheable: boolean }
  | { error: UpstreamError };

interface Flight {
  result: Promise<FlightResult>;
  /** Set once headers arrived; its body's readers count as waiting clients until it ends. */
  obj?: CachedObject;
}

const NOT_STORED: Freshness = { ttlMs: 0, staleMs: 0 };

/** Upstream headers a client may see again from the cache; everything else is hop-by-hop or ours. */
const KEPT_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'expires', 'content-encoding', 'content-language', 'content-disposition'] as const;

export interface CoalescingCacheOptions {
  store: CacheStore;
  origins: OriginPool;
  freshness: FreshnessDefaults;
  /** Larger bodies are streamed through to whoever asked, never stored. */
  maxObjectSize: number;
  now: () => number;
  log: Logger;
  /** The `ttl` hook: the final freshness lifetime (ms) given the default; a rejection means "do not store". */
  adjustTtl?: (target: FetchTarget, obj: CachedObject, defaultTtlMs: number) => Promise<number>;
}

export interface FetchTarget {
  key: string;
  /** Path and kept query sent upstream. */
  upstreamPath: string;
  /** The path's file name decides the default content type. */
  path: string;
  isPlaylist: boolean;
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
      const stale = this.options.store.get(target.key, this.options.now());
      if (stale) return { outcome: 'STALE', obj: stale };
      if ('error' in result) return { outcome: 'ERROR', status: result.error.timedOut ? 504 : 502, message: result.error.message };
      return { outcome: 'ERROR', obj: result.obj };
    }
    if (!leader) return { outcome: 'COALESCED', obj: result.obj };
    return { outcome: result.cacheable ? 'MISS' : 'PASS', obj: result.obj };
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
    let upstream;
    try {
      upstream = await origins.fetch(target.upstreamPath, target.origins);
    } catch (err) {
      this.inflight.delete(target.key);
      const error = err instanceof UpstreamError ? err : new UpstreamError(String(err), false);
      this.options.log.warn('upstream_failed', { stream: target.stream, path: target.upstreamPath, err: error.message });
      return { error };
    }
    const lengthHeader = upstream.headers['content-length'];
    const expectedLength = typeof lengthHeader === 'string' && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const obj: CachedObject = {
      status: upstream.status,
      headers: keptHeaders(upstream.headers, target.path),
      body: new SharedBody(expectedLength),
      receivedAt: now(),
      upstreamAge: Number(upstream.headers.age) || 0,
      freshUntil: 0,
      staleUntil: 0,
    };
    const failed = upstream.status >= 500;
    const cc = parseCacheControl(obj.headers['cache-control']);
    const cacheable = !failed && !cc.noStore && !cc.private && (expectedLength === undefined || expectedLength <= maxObjectSize);
    self().obj = obj;
    this.fill(target, upstream.body, obj, cacheable);
    return { obj, failed, cacheable };
  }

  /** Reads the upstream body as fast as the origin sends it, whoever is (or is not) reading along. */
  private fill(target: FetchTarget, body: Readable, obj: CachedObject, cacheable: boolean): void {
    const { maxObjectSize, freshness } = this.options;
    let storable = cacheable;
    let settled = false;
    body.on('data', (chunk: Buffer) => {
      obj.body.push(chunk);
      if (obj.body.length > maxObjectSize) storable = false;
    });
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (obj.body.state === 'open') {
        if (err === undefined) obj.body.end();
        else obj.body.abort();
      }
      if (obj.body.state === 'aborted') {
        this.options.log.warn('upstream_body_aborted', { stream: target.stream, path: target.upstreamPath, received: obj.body.length, expected: obj.body.expectedLength, ...(err ? { err } : {}) });
      }
      if (obj.body.state !== 'complete' || !storable) return this.finish(target, obj, NOT_STORED);
      const f = freshnessOf({
        status: obj.status,
        cacheControl: obj.headers['cache-control'],
        ageSeconds: obj.upstreamAge,
        isPlaylist: target.isPlaylist,
        body: () => obj.body.buffer,
      }, freshness);
      const { adjustTtl } = this.options;
      if (!adjustTtl) return this.finish(target, obj, f);
      // The flight stays registered while the hook decides, so nobody fetches the key meanwhile.
      adjustTtl(target, obj, f.ttlMs).then(
        (ttlMs) => this.finish(target, obj, { ttlMs, staleMs: f.staleMs }),
        () => this.finish(target, obj, NOT_STORED),
      );
    };
    body.once('end', () => settle());
    body.once('error', (err) => settle(err));
    body.once('close', () => settle(new Error('upstream body closed early')));
  }

  /** Stores a complete object, then ends its flight: in that order, so no request falls in between. */
  private finish(target: FetchTarget, obj: CachedObject, f: Freshness): void {
    if (f.ttlMs > 0) {
      obj.freshUntil = obj.receivedAt + f.ttlMs;
      obj.staleUntil = obj.freshUntil + f.staleMs;
      this.options.store.set(target.key, obj);
    }
    this.inflight.delete(target.key);
  }
}

function keptHeaders(upstream: IncomingHttpHeaders, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const v = upstream[name];
    if (typeof v === 'string') out[name] = v;
  }
  out['content-type'] ??= contentTypeFor(path);
  return out;
}
