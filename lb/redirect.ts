// The answer to GET/HEAD /hls/..., Pingora's response_filter for the LB: a 302 (or 307) to the chosen edge
// with the request target byte for byte, or a 503 when no edge is usable; the response hook sees it before
// it goes out. CORS on it comes from the base app (src/app.ts): a browser player cannot follow a redirect
// without it. Other methods get a 405.
import { Hono } from 'hono';
import { deniedAnswer } from '../src/access.js';
import { peerAddress, requestTargetOf, streamPathOf } from '../src/app.js';
import { HookFailed, type HookRunner } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { AdmitRequest } from './access.js';
import type { Decide } from './decision.js';
import type { EdgeEntry } from './edges.js';
import { candidateOf, LB_HOOKS, type LbHooks } from './hooks.js';
import type { LbMetrics } from './metrics.js';
import type { RateMeter } from './rate.js';

export interface RedirectOptions {
  /** The access phase (lb/access.ts); undefined when nothing is checked and nobody gets a session. */
  admit: AdmitRequest | undefined;
  decide: Decide;
  hooks: HookRunner<LbHooks>;
  usable(edge: EdgeEntry): boolean;
  redirectCode: 302 | 307;
  /** The Retry-After of a 503. */
  retryAfter: string;
  log: Logger;
  stats: LbMetrics;
  redirects: RateMeter;
}

/** Every redirect's fields besides Location (and CORS, from the base app); lb/fast-redirect.ts sends the same. */
export const REDIRECT_FIELDS: Readonly<Record<string, string>> = { 'cache-control': 'no-store', 'content-length': '0' };

/** The answer before the response hook: the redirect to `edge`, or the 503 without one. */
function answerOf(edge: EdgeEntry | undefined, pathAndQuery: string, redirectCode: 302 | 307, retryAfter: string): { status: number; headers: Headers } {
  return edge
    ? { status: redirectCode, headers: new Headers({ location: edge.url + pathAndQuery, ...REDIRECT_FIELDS }) }
    : { status: 503, headers: new Headers({ 'Retry-After': retryAfter, 'Cache-Control': 'no-store' }) };
}

function recordOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((v, k) => { out[k] = v; });
  return out;
}

export function redirectRoutes({ admit, decide, hooks, usable, redirectCode, retryAfter, log, stats, redirects }: RedirectOptions): Hono {
  const routes = new Hono();
  routes.get('/hls/*', async function redirectToEdge(c) {
    const { stream } = streamPathOf(c);
    const req = { request: c.req.raw, stream, peer: peerAddress(c), log: log.child({ stream }) };
    // The raw target, byte for byte (plus a new player's session): the edge must see exactly what the player asked for.
    const target = requestTargetOf(c);
    const admitted = admit?.({ ...target, stream: streamPathOf(c) }, req.peer, c.req.header('x-forwarded-for'));
    if (admitted?.denied) {
      stats.request(admitted.denied.reason === 'rate' ? 'rate_limited' : 'denied');
      const refusal = deniedAnswer(admitted.denied);
      return c.text(refusal.body, refusal.status, refusal.headers);
    }
    try {
      const edge = await decide(req);
      const { status, headers } = answerOf(edge, admitted?.target ?? target.pathAndQuery, redirectCode, retryAfter);
      if (hooks.has('response')) {
        await hooks.call('response', { request: req.request, log: req.log, stream, edge: edge && candidateOf(edge, usable(edge)), status, headers }, LB_HOOKS.response.valid);
      }
      if (!edge) {
        stats.request('no_edge');
        return c.text('no edge available\n', 503, recordOf(headers));
      }
      stats.request('redirect');
      stats.redirect(edge.id);
      redirects.add(edge.id);
      return c.body(null, redirectCode, recordOf(headers));
    } catch (err) {
      if (!(err instanceof HookFailed)) throw err;
      stats.request('hook_failed');
      return c.text(`${err.message}\n`, 500, { 'Cache-Control': 'no-store' });
    }
  });
  routes.all('/hls/*', function methodNotAllowed(c) {
    stats.request('method_not_allowed');
    return c.text('method not allowed\n', 405, { Allow: 'GET, HEAD, OPTIONS' });
  });
  return routes;
}
