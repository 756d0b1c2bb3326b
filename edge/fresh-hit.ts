// The fast hit path: a plain GET that is a fresh hit, answered before Hono's dispatch, only without hooks
// or operator middleware (which must see every request). On plain HTTP/1.1 connections it is answered on
// the raw socket with the entry's pre-built response (src/fast-http.ts); on connections already handed to
// Node's server, before Hono's routing, context and middleware (+14% playlist hits/s, docs/edge.md). It
// classifies with the same RequestClassifier as serveStream; anything it does not answer (miss, HEAD,
// drain redirect, bad target, a conditional or ranged request) goes on to Hono.
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Hono } from 'hono';
import { checkIncomingTarget } from '../src/app.js';
import type { FastAnswer } from '../src/fast-http.js';
import { parseRequestTarget, type Checked, type RequestTarget } from '../src/stream-path.js';
import type { CachedObject } from './cache-store.js';
import type { RequestClassifier } from './classify.js';
import type { CoalescingCache } from './coalescing-cache.js';
import type { Delivery, FreshHit } from './delivery.js';

export interface FreshHits {
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
    const hit = freshHitOf(hits, node.incoming.url ?? '', () => checkIncomingTarget(node.incoming), node.incoming.socket.remoteAddress);
    if (!hit) return dispatch(request, env, ctx);
    hits.delivery.writeFreshHit(node.outgoing, node.incoming.headers, hit);
    return RESPONSE_ALREADY_SENT;
  };
}

/** The raw-socket answer (src/fast-http.ts): plain GETs that are fresh whole 200s. */
export function rawFreshHits(hits: FreshHits): FastAnswer {
  return (req) => {
    if (req.method !== 'GET') return false;
    const hit = freshHitOf(hits, req.target, () => parseRequestTarget(req.target), req.socket.remoteAddress);
    return hit !== undefined && hits.delivery.writeRawHit(req, hit);
  };
}

function freshHitOf({ classifier, cache }: FreshHits, raw: string, check: () => Checked<RequestTarget>, clientAddress: string | undefined): FreshHit | undefined {
  if (!raw.startsWith('/hls/')) return undefined;
  const parsed = check();
  if (!parsed.ok || !parsed.value.stream) return undefined;
  const target = parsed.value;
  const route = classifier.classify(target);
  if (route.redirect !== undefined) return undefined;
  const found: CachedObject | undefined = cache.fresh(route.upstreamPath);
  if (!found) return undefined;
  return { found, target: target.pathAndQuery, stream: target.stream!.stream, playlist: route.playlist, clientAddress: clientAddress ?? '' };
}
