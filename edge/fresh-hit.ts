// The fast hit path: a plain GET that is a fresh hit, answered before Hono's dispatch. Skipping routing,
// context and middleware measured +14% playlist hits/s (docs/edge.md). Only without hooks or operator
// middleware, which must see every request. It classifies with the same RequestClassifier as
// serveStream; anything it does not answer (miss, HEAD, drain redirect, bad target) goes on to Hono.
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Hono } from 'hono';
import { checkIncomingTarget } from '../src/app.js';
import { streamUrlPath } from '../src/stream-path.js';
import { withUrlToken } from '../src/url-token.js';
import type { EdgeAccess } from './access.js';
import type { RequestClassifier } from './classify.js';
import type { CoalescingCache } from './coalescing-cache.js';
import type { Delivery } from './delivery.js';

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
    return node?.outgoing && answerFreshHit(hits, node) ? RESPONSE_ALREADY_SENT : dispatch(request, env, ctx);
  };
}

function answerFreshHit({ access, classifier, cache, delivery }: FreshHits, { incoming, outgoing }: HttpBindings): boolean {
  if (incoming.method !== 'GET' || !incoming.url?.startsWith('/hls/')) return false;
  const parsed = checkIncomingTarget(incoming);
  if (!parsed.ok || !parsed.value.stream) return false;
  const target = parsed.value;
  const streamPath = parsed.value.stream;
  const { stream, path, token } = streamPath;
  // A refusal is answered through Hono, from the verdict made here (counted once).
  const admission = access.admit(incoming, streamPath, incoming.socket.remoteAddress, forwardedFor(incoming));
  if (admission.denied) return false;
  // The cache key is the stream path without a URL token: one copy serves every token.
  const route = classifier.classify(token === undefined ? target : { ...target, pathname: streamUrlPath(stream, path) });
  if (route.redirect !== undefined) return false;
  const found = cache.fresh(route.upstreamPath);
  if (!found) return false;
  delivery.writeFreshHit(outgoing, {
    method: 'GET',
    headers: incoming.headers,
    viewer: route.playlist ? access.viewer(streamPath, admission) : '',
    target: token === undefined ? target.pathAndQuery : withUrlToken(target.pathAndQuery, stream, token, undefined),
    token,
    stream,
    playlist: route.playlist,
  }, found);
  return true;
}

/** Node joins repeated X-Forwarded-For lines into one. */
export function forwardedFor(incoming: HttpBindings['incoming']): string | undefined {
  const value = incoming.headers['x-forwarded-for'];
  return Array.isArray(value) ? value.join(', ') : value;
}
