// The fast hit path: a plain GET that is a fresh hit, answered before Hono's dispatch, only without hooks
// or operator middleware (which must see every request). On plain HTTP/1.1 connections it is answered on
// the raw socket with the entry's pre-built response (src/fast-http.ts), and only when access control has
// nothing to count or refuse (EdgeAccess.open); on connections Node's server holds (handed over, TLS,
// HTTP/2), before Hono's routing, context and middleware (+14% playlist hits/s, docs/edge.md). Both run
// the access phase (edge/access.ts) and classify with the same RequestClassifier as serveStream; anything
// they do not answer (refusal, miss, HEAD, drain redirect, bad target, a conditional or ranged request)
// goes on to Hono.
import type { IncomingHttpHeaders } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Hono } from 'hono';
import { checkIncomingTarget } from '../src/app.js';
import { parsedTarget, type FastAnswer } from '../src/fast-http.js';
import { streamUrlPath, type Checked, type RequestTarget } from '../src/stream-path.js';
import { withUrlToken } from '../src/url-token.js';
import type { EdgeAccess } from './access.js';
import type { CachedObject } from './cache-store.js';
import type { RequestClassifier } from './classify.js';
import type { CoalescingCache } from './coalescing-cache.js';
import type { Asked, Delivery } from './delivery.js';

export interface FreshHits {
  access: EdgeAccess;
  classifier: RequestClassifier;
  cache: CoalescingCache;
  delivery: Delivery;
}

/** Puts the fast hit path in front of `app`'s dispatch, for requests that came in on a socket. */
export function answerFreshHitsFirst(app: Hono, hits: FreshHits): void {
  const dispatch = app.fetch;
  app.fetch = (request, env, ctx) => {
    const node = env as HttpBindings | undefined;
    if (!node?.outgoing || node.incoming.method !== 'GET') return dispatch(request, env, ctx);
    const { incoming } = node;
    const hit = freshHitOf(hits, {
      key: incoming,
      raw: incoming.url ?? '',
      check: () => checkIncomingTarget(incoming),
      headers: incoming.headers,
      socketAddress: incoming.socket.remoteAddress,
      forwardedFor: forwardedFor(incoming),
    });
    if (!hit) return dispatch(request, env, ctx);
    hits.delivery.writeFreshHit(node.outgoing, hit.asked, hit.found);
    return RESPONSE_ALREADY_SENT;
  };
}

/**
 * The raw-socket answer (src/fast-http.ts): plain GETs that are fresh whole 200s. Only for an edge whose
 * access phase is open (EdgeAccess.open): a request it declines is admitted again by Node's road, which
 * would count a rate limit twice.
 */
export function rawFreshHits(hits: FreshHits): FastAnswer {
  return (req) => {
    if (req.method !== 'GET') return false;
    // A repeated head reuses its request (src/fast-http.ts), and with it what was made of it here: with
    // open access nothing of it changes from one time to the next. The drain state and the cache are
    // asked each time.
    let ask = req.memo as Ask | undefined;
    if (ask === undefined) {
      ask = askOf(hits, {
        // Open access: admitting again on Node's road, should the request be declined, counts nothing twice.
        key: undefined,
        raw: req.target,
        check: () => parsedTarget(req),
        // Plain by construction: nothing conditional or ranged reaches the raw path.
        headers: {},
        socketAddress: req.socket.remoteAddress,
        forwardedFor: req.forwardedFor,
      });
      if (ask === undefined) return false;
      req.memo = ask;
    }
    const found = freshFor(hits, ask);
    return found !== undefined && hits.delivery.writeRawHit(req, ask.asked, found);
  };
}

interface Incoming {
  /** What the access verdict is remembered by (one per request); none where it need not be. */
  key: object | undefined;
  /** The raw request target. */
  raw: string;
  check: () => Checked<RequestTarget>;
  headers: IncomingHttpHeaders;
  socketAddress: string | undefined;
  forwardedFor: string | undefined;
}

/** A request as the fast path asks the cache for it: admitted, not redirected, what to look up. */
interface Ask { asked: Asked; upstreamPath: string }

function freshHitOf(hits: FreshHits, incoming: Incoming): { asked: Asked; found: CachedObject } | undefined {
  const ask = askOf(hits, incoming);
  const found = ask && freshFor(hits, ask);
  return found && { asked: ask.asked, found };
}

/** The cache's fresh entry for `ask`, unless a draining edge sends it to the LB. */
function freshFor({ classifier, cache }: FreshHits, { asked, upstreamPath }: Ask): CachedObject | undefined {
  return classifier.redirects(asked.playlist) ? undefined : cache.fresh(upstreamPath);
}

function askOf({ access, classifier }: FreshHits, incoming: Incoming): Ask | undefined {
  if (!incoming.raw.startsWith('/hls/')) return undefined;
  const parsed = incoming.check();
  if (!parsed.ok || !parsed.value.stream) return undefined;
  const target = parsed.value;
  const streamPath = parsed.value.stream;
  const { stream, path, token } = streamPath;
  // A refusal is answered through Hono, from the verdict made here (counted once).
  const admission = access.admit(incoming.key, streamPath, incoming.socketAddress, incoming.forwardedFor);
  if (admission.denied) return undefined;
  // The cache key is the stream path without a URL token: one copy serves every token.
  const route = classifier.classify(token === undefined ? target : { ...target, pathname: streamUrlPath(stream, path) });
  return {
    upstreamPath: route.upstreamPath,
    asked: {
      method: 'GET',
      headers: incoming.headers,
      viewer: route.playlist ? access.viewer(streamPath, admission) : '',
      target: token === undefined ? target.pathAndQuery : withUrlToken(target.pathAndQuery, stream, token, undefined),
      token,
      stream,
      playlist: route.playlist,
    },
  };
}

/** Node joins repeated X-Forwarded-For lines into one. */
export function forwardedFor(incoming: HttpBindings['incoming']): string | undefined {
  const value = incoming.headers['x-forwarded-for'];
  return Array.isArray(value) ? value.join(', ') : value;
}
