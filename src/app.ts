// What every role's Hono app has: CORS on stream paths, /healthz, /metrics, and errors that never leak as 500 for client faults.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface BaseAppOptions {
  metrics: Metrics;
  log: Logger;
  /** Extra response headers CORS lets players read (X-Cache, X-Served-By, ...). */
  exposeHeaders?: string[];
  /** Methods answered in preflight for stream paths. */
  allowMethods?: string[];
  /** false while the process cannot serve (e.g. shutting down). */
  healthy?: () => boolean;
  /**
   * Registers routes ahead of the shared middleware. For handlers that write to Node's response
   * themselves and return RESPONSE_ALREADY_SENT: a middleware that touches `c.res` after them makes
   * @hono/node-server write headers a second time. Such handlers set their own CORS headers.
   */
  early?: (app: Hono) => void;
  /** Operator middleware from the config file, run before the role's routes. */
  use?: MiddlewareHandler[];
}

/** The peer's address; undefined for in-process requests (app.request in tests), which have no socket. */
export function peerAddress(c: Context): string | undefined {
  return (c.env as { incoming?: unknown } | undefined)?.incoming ? getConnInfo(c).remote.address : undefined;
}

const ALREADY_SENT = 'x-hono-already-sent';
const CORS_KEY = 'cascade.cors';

/** The CORS headers for this request, for handlers that write to Node's response themselves. */
export function corsHeadersOf(c: Context): Record<string, string> {
  return (c.get(CORS_KEY as never) as Record<string, string> | undefined) ?? {};
}

/**
 * CORS for players on other origins. Not hono/cors: it sets headers before the handler runs, which makes
 * Hono rebuild the handler's response, and a response already written straight to the socket (streamed
 * bodies) then gets written twice.
 */
function corsMiddleware(allowMethods: string[], exposeHeaders: string[]): MiddlewareHandler {
  const base = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': exposeHeaders.join(', ') };
  const preflight = {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Methods': allowMethods.join(', '),
    'Access-Control-Max-Age': '86400',
  };
  return async function cors(c, next) {
    if (c.req.method === 'OPTIONS') {
      const requested = c.req.header('access-control-request-headers');
      return c.body(null, 204, { ...preflight, ...(requested ? { 'Access-Control-Allow-Headers': requested } : {}), Vary: 'Access-Control-Request-Headers' });
    }
    c.set(CORS_KEY as never, base as never);
    await next();
    if (c.res.headers.get(ALREADY_SENT)) return;
    for (const [k, v] of Object.entries(base)) c.res.headers.set(k, v);
  };
}

export function createBaseApp(options: BaseAppOptions): Hono {
  const app = new Hono();
  options.early?.(app);
  const cors = corsMiddleware(options.allowMethods ?? ['GET', 'HEAD', 'OPTIONS'],
    ['Content-Length', 'Content-Range', 'ETag', 'Last-Modified', 'Age', 'Location', ...(options.exposeHeaders ?? [])]);
  app.use('/hls/*', cors);
  app.use('/api/*', cors);
  for (const m of options.use ?? []) app.use(m);
  app.get('/healthz', (c) => {
    const ok = options.healthy?.() ?? true;
    return c.text(ok ? 'ok\n' : 'unavailable\n', ok ? 200 : 503, { 'Cache-Control': 'no-store' });
  });
  app.get('/metrics', async (c) => {
    const { body, contentType } = await options.metrics.render();
    return c.body(body, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  });
  app.onError((err, c) => {
    options.log.error('request_failed', { method: c.req.method, path: c.req.path, err });
    return c.text('internal error\n', 500);
  });
  app.notFound((c) => c.text('not found\n', 404));
  return app;
}
