// What every role's Hono app has: one check of the raw request target before anything else, CORS on
// stream paths, /healthz, /metrics, and errors that never leak as 500 for client faults.
import type { IncomingMessage } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { ALLOW_ANY_ORIGIN, corsHeaders, preflightHeaders } from './cors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { parseRequestTarget, type Checked, type RequestTarget, type StreamPath } from './stream-path.js';

export interface BaseAppOptions {
  metrics: Metrics;
  log: Logger;
  /** The role's own response headers CORS lets players read (X-Cache, X-Served-By, ...; src/cors.ts). */
  exposeHeaders?: readonly string[];
  /** Methods answered in preflight for stream paths. */
  allowMethods?: readonly string[];
  /** false while the process cannot serve (e.g. shutting down). */
  healthy?: () => boolean;
  /** Operator middleware from the config file, run before the role's routes. */
  use?: MiddlewareHandler[];
  /** Called with each refused request target (the role counts it in its own metrics too). */
  onBadTarget?: (raw: string, reason: string) => void;
}

/**
 * Node's request and response behind a request that came in on a socket; undefined for in-process
 * requests (`app.request`), which a handler then answers with a plain Response.
 */
export function nodeBindingsOf(c: Context): HttpBindings | undefined {
  const env = c.env as Partial<HttpBindings> | undefined;
  return env?.incoming && env.outgoing ? env as HttpBindings : undefined;
}

/** The peer's address; undefined for in-process requests (app.request in tests), which have no socket. */
export function peerAddress(c: Context): string | undefined {
  return nodeBindingsOf(c) ? getConnInfo(c).remote.address : undefined;
}

const ALREADY_SENT = 'x-hono-already-sent';
const CORS_KEY = 'cascade.cors';
const TARGET_KEY = 'cascade.target';

interface CheckedTarget {
  raw: string;
  verdict: Checked<RequestTarget>;
}

/**
 * Each request's raw target and its verdict, checked once: keyed by Node's IncomingMessage (listen's
 * shield, the base app's check and the edge's fast path share it), or by the Request of an in-process
 * `app.request` string (whose URL has already resolved dot segments).
 */
const checkedTargets = new WeakMap<object, CheckedTarget>();

function check(key: object, raw: string): CheckedTarget {
  const checked = { raw, verdict: parseRequestTarget(raw) };
  checkedTargets.set(key, checked);
  return checked;
}

/** The verdict on a socket request's raw target (`incoming.url` as it arrived), parsed once per request. */
export function checkIncomingTarget(incoming: IncomingMessage): Checked<RequestTarget> {
  return (checkedTargets.get(incoming) ?? check(incoming, incoming.url ?? '')).verdict;
}

/** Keeps a malformed target away from @hono/node-server, which would answer a bare 400 of its own: the app refuses it. */
export function shieldBadTarget(incoming: IncomingMessage): void {
  if (!checkIncomingTarget(incoming).ok) incoming.url = '/';
}

function checkedTargetOf(c: Context): CheckedTarget {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming) return checkedTargets.get(incoming) ?? check(incoming, incoming.url ?? '');
  const inProcess = checkedTargets.get(c.req.raw);
  if (inProcess) return inProcess;
  const url = new URL(c.req.url);
  return check(c.req.raw, url.pathname + url.search);
}

/** The request target as checked before routing (every route but a refused target's has one). */
export function requestTargetOf(c: Context): RequestTarget {
  const target = c.get(TARGET_KEY as never) as RequestTarget | undefined;
  if (!target) throw new Error('request target not checked: createBaseApp registers the check first');
  return target;
}

/** The stream path of a request routed under /hls/ (the target check refuses every other /hls/ target). */
export function streamPathOf(c: Context): StreamPath {
  const { stream } = requestTargetOf(c);
  if (!stream) throw new Error(`no stream path for ${c.req.path}`);
  return stream;
}

/** The answer to a refused request target, the same from every role. */
export function badTargetResponse(reason: string): Response {
  return new Response(`bad request target: ${reason}\n`, {
    status: 400,
    headers: { 'Content-Type': 'text/plain; charset=UTF-8', 'Cache-Control': 'no-store', ...ALLOW_ANY_ORIGIN },
  });
}

/** The CORS headers for this request (src/cors.ts), for handlers that write to Node's response themselves. */
export function corsHeadersOf(c: Context): Readonly<Record<string, string>> {
  return (c.get(CORS_KEY as never) as Record<string, string> | undefined) ?? {};
}

/**
 * CORS for players on other origins. Not hono/cors: it sets headers before the handler runs, which makes
 * Hono rebuild the handler's response, and a response already written straight to the socket (streamed
 * bodies) then gets written twice.
 */
function corsMiddleware(allowMethods: readonly string[], exposeHeaders: readonly string[]): MiddlewareHandler {
  const headers = corsHeaders(exposeHeaders);
  return async function cors(c, next) {
    if (c.req.method === 'OPTIONS') return c.body(null, 204, preflightHeaders(allowMethods, c.req.header('access-control-request-headers')));
    c.set(CORS_KEY as never, headers as never);
    await next();
    if (c.res.headers.get(ALREADY_SENT)) return;
    for (const [k, v] of Object.entries(headers)) c.res.headers.set(k, v);
  };
}

export function createBaseApp(options: BaseAppOptions): Hono {
  const app = new Hono();
  const refused = options.metrics.counter('bad_request_targets_total', 'Requests refused (400) for their raw request target, by reason', ['reason']);
  app.use('*', async function checkRequestTarget(c, next) {
    const { raw, verdict: target } = checkedTargetOf(c);
    if (!target.ok) {
      refused.inc({ reason: target.reason });
      options.onBadTarget?.(raw, target.reason);
      options.log.debug('bad_request_target', { method: c.req.method, reason: target.reason });
      return badTargetResponse(target.reason);
    }
    c.set(TARGET_KEY as never, target.value as never);
    await next();
  });
  // app.request() turns its string into a WHATWG Request, which resolves `%2e%2e` and `./` before any
  // check: keep the string as given, so in-process tests see what a socket would deliver.
  const request = app.request;
  app.request = (input, init, env, ctx) => {
    if (typeof input !== 'string' || /^https?:\/\//.test(input)) return request(input, init, env, ctx);
    let req: Request;
    try {
      req = new Request(`http://localhost${input.startsWith('/') ? input : `/${input}`}`, init);
    } catch {
      req = new Request('http://localhost/', init);
    }
    check(req, input);
    return app.fetch(req, env, ctx);
  };
  const cors = corsMiddleware(options.allowMethods ?? ['GET', 'HEAD', 'OPTIONS'], options.exposeHeaders ?? []);
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
