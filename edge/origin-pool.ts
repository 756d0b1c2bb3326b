// The origins, in order of preference, over undici keep-alive pools. A connect error, a timeout or a
// 5xx moves on to the next origin and benches the failing one for `retryMs`; when that passes, the next
// request probes it again. Benched origins are still tried last rather than failing outright. A 404 for a
// segment (not a playlist) is tried once at the next origin before it is the answer: redundant origins fed
// the same uploads may each have missed a different one (docs/edge.md, "Origins").
import { Pool, errors as undiciErrors } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { isPlaylistPath } from '../src/media-types.js';

export interface UpstreamResponse {
  origin: string;
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  /** The response's age to the millisecond, when the upstream knows it (a sibling worker; edge/worker-shield.ts). */
  ageMs?: number;
}

/** Where a cache fetches from: the origins, or the worker that owns the key (edge/worker-shield.ts). */
export interface Upstream {
  fetch(path: string, preferred?: readonly string[], conditional?: Readonly<Record<string, string>>, how?: FetchOptions): Promise<UpstreamResponse>;
}

/** undici's "other side closed" and a reset or broken pipe on an established connection. */
const CLOSED_CONNECTION = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
  }
}

export interface OriginPoolOptions {
  /** Headers timeout and body idle timeout per origin (ms). */
  timeoutMs: number;
  /** How long a failing origin is skipped (ms). */
  retryMs: number;
  /** Concurrent connections per origin. */
  connections?: number;
  userAgent: string;
  now: () => number;
  /** Reports every upstream attempt (status, or 'error'/'timeout'), for metrics and logs. */
  onAttempt?: (origin: string, result: string, seconds: number, err?: unknown) => void;
  /** Called when a segment's 404 from `origin` sends the request on to the next origin. */
  onNotFoundNext?: (origin: string) => void;
}

/** One upstream origin of the pool (not the origin role: this is its URL and connections as the edge sees them). */
interface PooledOrigin {
  url: string;
  pool: Pool;
  /** Blocking playlist reloads, on connections of their own (made on first use). */
  holdPool?: Pool;
  benchedUntil: number;
}

/**
 * Connections per origin for blocking playlist reloads. The origin holds each one up to three target
 * durations, one per distinct key (playlist x _HLS_msn/_HLS_part/_HLS_skip) in flight; on the ordinary
 * pool, a few dozen streams' held reloads would take every connection and parts and segments would
 * queue behind them.
 */
export const HOLD_CONNECTIONS = 1024;

/** How a request is sent: `holdMs` marks a blocking reload and is its headers timeout (ms). */
export interface FetchOptions {
  holdMs?: number;
}

export class OriginPool implements Upstream {
  private readonly origins: PooledOrigin[];

  constructor(urls: readonly string[], private readonly options: OriginPoolOptions) {
    if (urls.length === 0) throw new Error('at least one origin is required');
    this.origins = urls.map((url) => ({ url, benchedUntil: 0, pool: this.newPool(url, options.connections ?? 128) }));
  }

  private newPool(url: string, connections: number): Pool {
    return new Pool(url, {
      // undici 8 negotiates h2 with a TLS origin that offers it; stay on HTTP/1.1, which
      // `connections` sizes and the tests cover.
      allowH2: false,
      connections,
      keepAliveTimeout: 30_000,
      headersTimeout: this.options.timeoutMs,
      bodyTimeout: this.options.timeoutMs,
      connect: { timeout: Math.min(this.options.timeoutMs, 5_000) },
    });
  }

  /** The configured origins in order, and whether each is in service now. */
  candidates(): { url: string; healthy: boolean }[] {
    const now = this.options.now();
    return this.origins.map((o) => ({ url: o.url, healthy: o.benchedUntil <= now }));
  }

  isConfigured(url: string): boolean {
    return this.origins.some((o) => o.url === url);
  }

  private order(): PooledOrigin[] {
    const now = this.options.now();
    const healthy = this.origins.filter((o) => o.benchedUntil <= now);
    if (healthy.length === this.origins.length) return healthy;
    const benched = this.origins.filter((o) => o.benchedUntil > now).sort((a, b) => a.benchedUntil - b.benchedUntil);
    return [...healthy, ...benched];
  }

  /**
   * GETs `path` from the first origin that answers below 500 (in `preferred` order when given: a
   * subset of the configured origins). When every origin fails, returns the last 5xx response if
   * there was one, else throws UpstreamError. A segment's 404 is tried once at the next origin, and stands
   * when that one fails or has none either. `conditional` adds the edge's own validators
   * (If-None-Match, If-Modified-Since) when it revalidates a stored response.
   *
   * A blocking reload (`holdMs`) that gets a 503 has its answer: draft-pantos-hls-rfc8216bis §6.2.5.2
   * "the server MUST ... return 503 if the Playlist has not been updated" in three target durations —
   * the stream stalled, not the origin. It is passed on; the origin is neither benched nor failed over
   * from (another origin would hold the player three target durations more).
   */
  async fetch(path: string, preferred?: readonly string[], conditional?: Readonly<Record<string, string>>, how: FetchOptions = {}): Promise<UpstreamResponse> {
    const order = preferred ? preferred.map((url) => this.origins.find((o) => o.url === url)!) : this.order();
    // A playlist's 404 is an answer; a segment's may be one origin's miss: one try at the next.
    const segment = !isPlaylistPath(path.split('?', 1)[0]!);
    let notFound: UpstreamResponse | undefined;
    let lastError: unknown;
    for (let i = 0; i < order.length; i++) {
      const origin = order[i]!;
      const started = performance.now();
      try {
        const res = await this.request(origin, path, conditional, how.holdMs);
        this.options.onAttempt?.(origin.url, String(res.statusCode), (performance.now() - started) / 1000);
        const response = { origin: origin.url, status: res.statusCode, headers: res.headers, body: res.body };
        // A held request's 503 is the origin's answer (its hold ran out), not a failure.
        const answered = res.statusCode < 500 || (how.holdMs !== undefined && res.statusCode === 503);
        origin.benchedUntil = answered ? 0 : this.options.now() + this.options.retryMs;
        if (res.statusCode === 404 && segment && notFound === undefined && i < order.length - 1) {
          notFound = response;
          this.options.onNotFoundNext?.(origin.url);
          continue;
        }
        if (answered || (notFound === undefined && i === order.length - 1)) {
          notFound?.body.resume();
          return response;
        }
        res.body.resume();
        lastError = new UpstreamError(`${origin.url} answered ${res.statusCode}`, false);
      } catch (err) {
        const timedOut = err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.ConnectTimeoutError;
        this.options.onAttempt?.(origin.url, timedOut ? 'timeout' : 'error', (performance.now() - started) / 1000, err);
        origin.benchedUntil = this.options.now() + this.options.retryMs;
        lastError = new UpstreamError(`${origin.url}: ${(err as Error).message}`, timedOut);
      }
      // The origin after the one that had no such segment failed too: the 404 stands.
      if (notFound !== undefined) return notFound;
    }
    throw lastError instanceof UpstreamError ? lastError : new UpstreamError(String(lastError), false);
  }

  /**
   * One GET, sent again once when the connection broke before any response byte: a kept-alive
   * connection the origin closed just as the request went out (the idle-timeout race) says nothing
   * about the origin, and a GET is safe to repeat — what Go's http.Transport does for idempotent
   * requests on a reused connection. Anything else, or a second failure, is the origin's.
   */
  private async request(origin: PooledOrigin, path: string, conditional?: Readonly<Record<string, string>>, holdMs?: number) {
    const pool = holdMs === undefined ? origin.pool : (origin.holdPool ??= this.newPool(origin.url, HOLD_CONNECTIONS));
    const send = () => pool.request({
      path,
      method: 'GET',
      headers: { ...conditional, 'user-agent': this.options.userAgent, 'accept-encoding': 'identity' },
      ...(holdMs !== undefined ? { headersTimeout: holdMs } : {}),
    });
    try {
      return await send();
    } catch (err) {
      if (!CLOSED_CONNECTION.has((err as { code?: string }).code ?? '')) throw err;
      return await send();
    }
  }

  async close(): Promise<void> {
    // Held reloads are not waited for: nobody is left to answer, and the origin could hold them for seconds.
    await Promise.all(this.origins.map(async (o) => {
      await o.holdPool?.destroy().catch(() => undefined);
      await o.pool.close().catch(() => o.pool.destroy());
    }));
  }
}
