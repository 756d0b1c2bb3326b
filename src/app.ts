// What every role's Hono app has: CORS on stream paths, /healthz, /metrics, and errors that never leak as 500 for client faults.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
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
}

export function createBaseApp(options: BaseAppOptions): Hono {
  const app = new Hono();
  options.early?.(app);
  const corsMiddleware = cors({
    origin: '*',
    allowMethods: options.allowMethods ?? ['GET', 'HEAD', 'OPTIONS'],
    allowHeaders: ['Range', 'If-None-Match', 'If-Modified-Since', 'Authorization', 'Content-Type'],
    exposeHeaders: ['Content-Length', 'Content-Range', 'ETag', 'Last-Modified', 'Age', 'Location', ...(options.exposeHeaders ?? [])],
    maxAge: 86400,
  });
  app.use('/hls/*', corsMiddleware);
  app.use('/api/*', corsMiddleware);
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
