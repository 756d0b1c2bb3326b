// The redirect on the raw socket (src/fast-http.ts): without hooks or operator middleware, a plain GET/HEAD
// under /hls/ is decided (lb/decision.ts, the same pick) and answered with the same 302/307 as
// lb/redirect.ts before Node's HTTP server and Hono: the status line and every field but Location are
// pre-built, Date is redone once a second, so a redirect costs the Location string and one write. A
// request no edge can take (the 503), a bad target and everything else go on to Hono.
import { STATUS_CODES } from 'node:http';
import { dateLine, parsedTarget, writeFast, type FastAnswer, type FastRequest } from '../src/fast-http.js';
import type { DecideWithoutHooks } from './decision.js';
import type { LbMetrics } from './metrics.js';
import type { RateMeter } from './rate.js';
import { REDIRECT_FIELDS } from './redirect.js';

export interface FastRedirectOptions {
  decide: DecideWithoutHooks;
  redirectCode: 302 | 307;
  /** Fields the base app adds to every /hls/ answer (CORS). */
  cors: Readonly<Record<string, string>>;
  stats: LbMetrics;
  redirects: RateMeter;
}

/**
 * A request's redirect, kept with the request: the fast path reuses a request whose head a connection sends
 * again (src/fast-http.ts), as a player whose playlists are named through the LB does every target
 * duration. While the pick's inputs are the same objects, the answer is the same bytes but the date.
 */
interface Remembered {
  edges: object;
  health: number;
  edgeId: string;
  head: string;
}

export function fastRedirects({ decide, redirectCode, cors, stats, redirects }: FastRedirectOptions): FastAnswer {
  const statusAndLocation = `HTTP/1.1 ${redirectCode} ${STATUS_CODES[redirectCode]}\r\nlocation: `;
  const rest = '\r\n' + Object.entries({ ...REDIRECT_FIELDS, ...cors }).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const send = (req: FastRequest, edgeId: string, head: string): true => {
    stats.request('redirect');
    stats.redirect(edgeId);
    redirects.add(edgeId);
    writeFast(req, head + dateLine());
    return true;
  };
  return (req) => {
    if (!req.target.startsWith('/hls/')) return false;
    const inputs = decide.inputs();
    const remembered = req.memo as Remembered | undefined;
    if (remembered && inputs && remembered.edges === inputs.edges && remembered.health === inputs.health) {
      return send(req, remembered.edgeId, remembered.head);
    }
    const parsed = parsedTarget(req);
    if (!parsed.ok || !parsed.value.stream) return false;
    const edge = decide(parsed.value.stream.stream, req.socket.remoteAddress, req.forwardedFor);
    if (!edge) return false;
    const head = statusAndLocation + edge.url + parsed.value.pathAndQuery + rest;
    if (inputs) req.memo = { edges: inputs.edges, health: inputs.health, edgeId: edge.id, head } satisfies Remembered;
    return send(req, edge.id, head);
  };
}
