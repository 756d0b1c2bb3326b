// GET/HEAD /hls/<stream>/<path> through Hono, phase by phase (hooks from edge/hooks.ts in quotes):
//   access (edge/access.ts: rate limit, signed URL) -> 'request' -> classification (edge/classify.ts: drain redirect, upstream path) -> 'cacheKey' ->
//   fresh hit, or 'selectOrigin' and the coalesced fetch ('ttl' before storing) -> delivery ('response'
//   on the way out). Plain fresh GET hits without hooks never get here: edge/fresh-hit.ts answers them
//   before Hono's dispatch, classified by the same RequestClassifier.
import type { IncomingHttpHeaders } from 'node:http';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { nodeBindingsOf, requestTargetOf, streamPathOf } from '../src/app.js';
import { HookFailed } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import { streamUrlPath } from '../src/stream-path.js';
import { deniedAnswer } from '../src/access.js';
import { withUrlToken } from '../src/url-token.js';
import type { EdgeAccess } from './access.js';
import type { CachedObject } from './cache-store.js';
import type { RequestClassifier } from './classify.js';
import type { CoalescingCache, FetchTarget } from './coalescing-cache.js';
import type { Asked, Delivery } from './delivery.js';
import type { EdgeHookPhases, HookedRequest } from './hooks.js';
import type { EdgeMetrics } from './metrics.js';
import type { OriginPool } from './origin-pool.js';
import { forwardedFor } from './fresh-hit.js';
import type { CacheOutcome } from './outcome.js';
import { edgeHeaders } from './respond.js';

export interface StreamServing {
  id: string;
  log: Logger;
  access: EdgeAccess;
  classifier: RequestClassifier;
  hooks: EdgeHookPhases;
  cache: CoalescingCache;
  origins: OriginPool;
  delivery: Delivery;
  stats: EdgeMetrics;
}

export function streamHandler(edge: StreamServing): (c: Context) => Promise<Response> {
  const { id, log, access, classifier, hooks, cache, origins, delivery, stats } = edge;
  const failed = (c: Context, message: string, status: ContentfulStatusCode) => {
    stats.request('ERROR');
    return c.text(`${message}\n`, status, { ...edgeHeaders('ERROR', id), 'cache-control': 'no-store' });
  };

  return async function serveStream(c) {
    const target = requestTargetOf(c);
    const streamPath = streamPathOf(c);
    const { stream, token } = streamPath;
    let { path } = streamPath;
    const node = nodeBindingsOf(c);
    const admission = node
      ? access.admit(node.incoming, streamPath, node.incoming.socket.remoteAddress, forwardedFor(node.incoming))
      : access.admit(c.req.raw, streamPath, undefined, c.req.header('x-forwarded-for'));
    if (admission.denied) {
      const refusal = deniedAnswer(admission.denied);
      return c.text(refusal.body, refusal.status, { ...refusal.headers, 'x-served-by': id });
    }
    let { query } = target;
    const hookLog = hooks.any ? log.child({ stream }) : log;
    const hooked = (): HookedRequest => ({ request: c.req.raw, log: hookLog, stream, path });
    try {
      const decision = await hooks.request(hooked(), query);
      if (decision instanceof Response) return decision;
      if (decision && 'deny' in decision) return c.text(`${decision.message ?? 'denied'}\n`, decision.deny as ContentfulStatusCode, { 'cache-control': 'no-store' });
      if (decision) {
        path = decision.path ?? path;
        query = decision.query ?? query;
      }
      const route = classifier.classify({ pathname: streamUrlPath(stream, path), query, pathAndQuery: target.pathAndQuery });
      if (route.redirect !== undefined) {
        stats.request('REDIRECT');
        return c.body(null, 302, { ...edgeHeaders('REDIRECT', id), location: route.redirect, 'cache-control': 'no-store' });
      }
      const request = hooked();
      const key = await hooks.cacheKey(request, route.upstreamPath);
      const asked: Asked = {
        method: c.req.method,
        headers: node ? node.incoming.headers : headerRecord(c.req.raw.headers),
        viewer: route.playlist ? access.viewer(streamPath, admission) : '',
        target: token === undefined ? target.pathAndQuery : withUrlToken(target.pathAndQuery, stream, token, undefined),
        token,
        stream,
        playlist: route.playlist,
      };
      const outgoing = node?.outgoing;
      const plainReply = !hooks.has('response');
      const deliver = async (outcome: CacheOutcome, obj: CachedObject, setCookie?: string[]): Promise<Response> => {
        if (outgoing && plainReply && !setCookie && delivery.writeWhole(outgoing, asked, obj, outcome)) return RESPONSE_ALREADY_SENT;
        const reply = await delivery.reply(outcome, obj, asked);
        if (setCookie) reply.setCookie = setCookie;
        await hooks.response(request, reply, outcome);
        return delivery.send(c, reply);
      };

      const hit = cache.fresh(key);
      if (hit) return await deliver('HIT', hit);
      const fetchTarget: FetchTarget = { key, upstreamPath: route.upstreamPath, path, stream };
      // Only the request that will actually go upstream chooses its origins.
      if (!cache.joinable(key)) {
        const chosen = await hooks.selectOrigin(request, () => origins.candidates());
        if (chosen) fetchTarget.origins = chosen;
      }
      const found = await cache.fetch(fetchTarget);
      if (found.obj === undefined) return failed(c, 'upstream unavailable', found.status);
      return await deliver(found.outcome, found.obj, found.setCookie);
    } catch (err) {
      if (!(err instanceof HookFailed)) throw err;
      return failed(c, err.message, 500);
    }
  };
}

/** An in-process request's headers in Node's shape (lower-case names), as conditionals and ranges read them. */
function headerRecord(headers: Headers): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  headers.forEach((value, name) => { out[name] = value; });
  return out;
}
