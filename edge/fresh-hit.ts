// The fast hit path: a plain GET that is a fresh hit, answered before Hono's dispatch. Skipping routing,
// context and middleware measured +14% playlist hits/s (docs/edge.md). Only without hooks or operator
// middleware, which must see every request. It classifies with the same RequestClassifier as
// serveStream; anything it does not answer (miss, HEAD, drain redirect, bad target) goes on to Hono.
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Hono } from 'hono';
import { checkIncomingTarget } from '../src/app.js';
import type { RequestClassifier } from './classify.js';
import type { CoalescingCache } from './coalescing-cache.js';
import type { Delivery } from './delivery.js';

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
    return node?.outgoing && answerFreshHit(hits, node) ? RESPONSE_ALREADY_SENT : dispatch(request, env, ctx);
  };
}

function answerFreshHit({ classifier, cache, delivery }: FreshHits, { incoming, outgoing }: HttpBindings): boolean {
  if (incoming.method !== 'GET' || !incoming.url?.startsWith('/hls/')) return false;
  const parsed = checkIncomingTarget(incoming);
  if (!parsed.ok || !parsed.value.stream) return false;
  const target = parsed.value;
  const stream = parsed.value.stream.stream;
  const route = classifier.classify(target);
  if (route.redirect !== undefined) return false;
  const found = cache.fresh(route.upstreamPath);
  if (!found) return false;
  delivery.writeFreshHit(outgoing, {
    method: 'GET',
    headers: incoming.headers,
    clientAddress: incoming.socket.remoteAddress ?? '',
    target: target.pathAndQuery,
    stream,
    playlist: route.playlist,
  }, found);
  return true;
}
