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
import { headersOut, hitHeadOf, isPlainGet, replyFor, webResponse, writeHit, writeReply, type Reply } from './respond.js';
import type { ViewerCounter } from './viewers.js';

/** A fresh hit found by the fast path (edge/fresh-hit.ts), before the master view. */
export interface FreshHit {
  found: CachedObject;
  /** Path and query as the player sent them. */
  target: string;
  stream: string;
  playlist: boolean;
  /** '' when unknown. */
  clientAddress: string;
}

/** The request as delivery needs it, from a socket or in-process. */
export interface Asked {
  method: string;
  headers: IncomingHttpHeaders;
  /** '' in-process (no socket). */
  clientAddress: string;
  /** Path and query as the player sent them: a master's variants carry its query. */
  target: string;
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

  /** A fresh hit on a connection Node's server holds, written now (the object is whole, so its master view is too). */
  writeFreshHit(outgoing: ServerResponse, request: IncomingHttpHeaders, fresh: FreshHit): void {
    const { servedBy, now } = this.options;
    const hit = this.shown(fresh);
    this.countHit(hit, fresh);
    if (hit.status === 200 && hit.body.state === 'complete' && isPlainGet(request)) writeHit(outgoing, hit, servedBy, now(), this.onBytes);
    else writeReply(outgoing, replyFor(hit, { method: 'GET', request, outcome: 'HIT', servedBy, now: now() }), this.onBytes);
  }

  /** A fresh hit on the raw socket (src/fast-http.ts): a whole 200 goes out pre-built; anything else is left to Hono. */
  writeRawHit(req: FastRequest, fresh: FreshHit): boolean {
    const hit = this.shown(fresh);
    if (hit.status !== 200 || hit.body.state !== 'complete') return false;
    this.countHit(hit, fresh);
    writeFast(req, hitHeadOf(hit, this.options.servedBy).at(this.options.now()), hit.body.buffer);
    this.onBytes(hit.body.length);
    return true;
  }

  private shown(fresh: FreshHit): CachedObject {
    const { masters } = this.options;
    return fresh.playlist && masters ? masters.view(fresh.found, fresh.target) : fresh.found;
  }

  private countHit(hit: CachedObject, fresh: FreshHit): void {
    this.countViewer(hit, fresh);
    this.options.stats.request('HIT');
  }

  /** What to answer with `obj`, counted by outcome; a master still arriving is waited for, to go out through the LB. */
  async reply(outcome: CacheOutcome, obj: CachedObject, asked: Asked): Promise<Reply> {
    const { masters, servedBy, now, stats } = this.options;
    stats.request(outcome);
    const shown = asked.playlist && masters ? await masters.settledView(obj, asked.target) : obj;
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
  private countViewer(obj: CachedObject, asked: Pick<Asked, 'playlist' | 'stream' | 'clientAddress'>): void {
    if (asked.playlist && obj.status >= 200 && obj.status < 300) this.options.viewers.touch(asked.stream, asked.clientAddress);
  }
}
