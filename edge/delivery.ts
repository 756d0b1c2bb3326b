// The delivery phase: what goes out for a cached (or arriving) object, and how. A playlist is counted as
// a viewer's and a master goes out through the LB (master-rewrite.ts); the reply (304/206/416/HEAD/
// whole, respond.ts) is written straight to the socket, or returned as a web Response in-process.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { StatusCode } from 'hono/utils/http-status';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { nodeBindingsOf } from '../src/app.js';
import { writeFast, type FastRequest } from '../src/fast-http.js';
import type { CachedObject } from './cache-store.js';
import type { MasterViaLb } from './master-rewrite.js';
import type { EdgeMetrics } from './metrics.js';
import type { CacheOutcome } from './outcome.js';
import { headersOut, isPlainGet, replyFor, webResponse, wholeHeadOf, writeReply, writeWhole, type Reply } from './respond.js';
import type { ViewerCounter } from './viewers.js';

/** The request as delivery needs it, from a socket or in-process. */
export interface Asked {
  method: string;
  headers: IncomingHttpHeaders;
  /** Whom a playlist request counts as a viewer (edge/access.ts: its session, else its address); '' for other requests. */
  viewer: string;
  /** Path and query as the player sent them, without a URL token: a master's variants carry its query. */
  target: string;
  /** The URL token segment the player sent, if any: a master's variants of its stream carry it. */
  token: string | undefined;
  stream: string;
  playlist: boolean;
}

export interface DeliveryOptions {
  servedBy: string;
  now: () => number;
  /** Set with an LB URL and --master-via-lb. */
  masters: MasterViaLb | undefined;
  viewers: ViewerCounter;
  stats: EdgeMetrics;
}

export class Delivery {
  private readonly onBytes: (n: number) => void;

  constructor(private readonly options: DeliveryOptions) {
    this.onBytes = (n) => options.stats.bytesOut.inc(n);
  }

  /** The fast path on a connection Node's server holds: a fresh hit, written now (the object is whole, so its master view is too). */
  writeFreshHit(outgoing: ServerResponse, asked: Asked, found: CachedObject): void {
    if (this.writeWhole(outgoing, asked, found, 'HIT')) return;
    const { servedBy, now, stats } = this.options;
    const hit = this.shown(found, asked);
    this.countViewer(hit, asked);
    stats.request('HIT');
    writeReply(outgoing, replyFor(hit, { method: 'GET', request: asked.headers, outcome: 'HIT', servedBy, now: now() }), this.onBytes);
  }

  /**
   * A fresh hit on the raw socket (src/fast-http.ts; the request is a plain GET): a whole 200 goes out as
   * the object's pre-built head and body in one write; anything else is left to Hono (false, nothing done).
   */
  writeRawHit(req: FastRequest, asked: Asked, found: CachedObject): boolean {
    const { servedBy, now, stats } = this.options;
    const hit = this.shown(found, asked);
    if (hit.status !== 200 || hit.body.state !== 'complete') return false;
    this.countViewer(hit, asked);
    stats.request('HIT');
    writeFast(req, wholeHeadOf(hit, 'HIT', servedBy), now(), hit.body.buffer);
    this.onBytes(hit.body.length);
    return true;
  }

  /**
   * A whole 200 to a plain GET, written at once with the object's precomputed head: hits, and the
   * waiters a fetch releases together (hundreds for a blocking LL reload), so each costs one write.
   * False, with nothing done, for anything else.
   */
  writeWhole(outgoing: ServerResponse, asked: Asked, obj: CachedObject, outcome: CacheOutcome): boolean {
    if (asked.method !== 'GET' || obj.status !== 200 || obj.body.state !== 'complete' || !isPlainGet(asked.headers)) return false;
    const { servedBy, now, stats } = this.options;
    const shown = this.shown(obj, asked);
    this.countViewer(shown, asked);
    stats.request(outcome);
    writeWhole(outgoing, shown, outcome, servedBy, now(), this.onBytes);
    return true;
  }

  /** A complete object as this player gets it: a master through the LB, with the player's URL token. */
  private shown(obj: CachedObject, asked: Asked): CachedObject {
    const { masters } = this.options;
    return asked.playlist && masters ? masters.view(obj, asked.target, asked.token) : obj;
  }

  /** What to answer with `obj`, counted by outcome; a master still arriving is waited for, to go out through the LB. */
  async reply(outcome: CacheOutcome, obj: CachedObject, asked: Asked): Promise<Reply> {
    const { masters, servedBy, now, stats } = this.options;
    stats.request(outcome);
    const shown = asked.playlist && masters ? await masters.settledView(obj, asked.target, asked.token) : obj;
    this.countViewer(shown, asked);
    return replyFor(shown, { method: asked.method, request: asked.headers, outcome, servedBy, now: now() });
  }

  send(c: Context, reply: Reply): Response {
    // Hono answers HEAD by running the GET route and re-wrapping its Response, which would write the
    // headers a second time after a direct write; a bodiless reply goes through Hono instead.
    if (reply.body === undefined) return c.body(null, reply.status as StatusCode, headersOut(reply));
    const outgoing = nodeBindingsOf(c)?.outgoing;
    if (!outgoing) return webResponse(reply, this.onBytes);
    writeReply(outgoing, reply, this.onBytes);
    return RESPONSE_ALREADY_SENT;
  }

  /** Only a playlist served with 2xx counts: made-up stream names must not become series (or map entries). */
  private countViewer(obj: CachedObject, asked: Asked): void {
    if (asked.playlist && obj.status >= 200 && obj.status < 300) this.options.viewers.touch(asked.stream, asked.viewer);
  }
}
