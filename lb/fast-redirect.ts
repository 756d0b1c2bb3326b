// The redirect on the raw socket (src/fast-http.ts): without hooks or operator middleware, a plain GET/HEAD
// under /hls/ is decided (lb/decision.ts, the same pick) and answered with the same 302/307 as
// lb/redirect.ts before Node's HTTP server and Hono: the status line and every field but Location are
// pre-built, Date is redone once a second, so a redirect costs the Location string and one write. A
// request no edge can take (the 503), a bad target and everything else go on to Hono.
import { STATUS_CODES } from 'node:http';
import { dateLine, writeFast, type FastAnswer } from '../src/fast-http.js';
import { parseRequestTarget } from '../src/stream-path.js';
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

export function fastRedirects({ decide, redirectCode, cors, stats, redirects }: FastRedirectOptions): FastAnswer {
  const statusAndLocation = `HTTP/1.1 ${redirectCode} ${STATUS_CODES[redirectCode]}\r\nlocation: `;
  const rest = '\r\n' + Object.entries({ ...REDIRECT_FIELDS, ...cors }).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return (req) => {
    if (!req.target.startsWith('/hls/')) return false;
    const parsed = parseRequestTarget(req.target);
    if (!parsed.ok || !parsed.value.stream) return false;
    const edge = decide(parsed.value.stream.stream, req.socket.remoteAddress, req.forwardedFor);
    if (!edge) return false;
    stats.request('redirect');
    stats.redirect(edge.id);
    redirects.add(edge.id);
    writeFast(req, statusAndLocation + edge.url + parsed.value.pathAndQuery + rest + dateLine());
    return true;
  };
}
