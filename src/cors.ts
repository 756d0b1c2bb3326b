// CORS for browser players on other origins, made in one place. The base app's middleware adds these
// headers to what Hono sends on stream and API paths; a handler that writes straight to Node's response
// (the edge's replies, the origin's streamed bodies) adds the same object itself, because a response
// written to the socket never passes back through the middleware.

/** Any page may read: the streams are public, and access control (tokens) is the hooks' business. */
export const ALLOW_ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ 'access-control-allow-origin': '*' });

/** Response headers every role lets a player read; roles name their own on top (X-Cache, X-Served-By). */
const EXPOSED_BY_EVERY_ROLE = ['Content-Length', 'Content-Range', 'ETag', 'Last-Modified', 'Age', 'Location'];

/**
 * The CORS headers of every non-preflight response, built once per role. Names are lower-case, as in
 * Node's and undici's header objects, so spreading them into one never sends a field twice.
 */
export function corsHeaders(exposeHeaders: readonly string[] = []): Readonly<Record<string, string>> {
  return Object.freeze({
    ...ALLOW_ANY_ORIGIN,
    'access-control-expose-headers': [...EXPOSED_BY_EVERY_ROLE, ...exposeHeaders].join(', '),
  });
}

/** The answer to a preflight (OPTIONS) for a path served with `allowMethods`. */
export function preflightHeaders(allowMethods: readonly string[], requestedHeaders: string | undefined): Record<string, string> {
  return {
    ...ALLOW_ANY_ORIGIN,
    'access-control-allow-methods': allowMethods.join(', '),
    'access-control-max-age': '86400',
    ...(requestedHeaders ? { 'access-control-allow-headers': requestedHeaders } : {}),
    vary: 'Access-Control-Request-Headers',
  };
}
