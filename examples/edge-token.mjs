// edge: players need ?token=<T> (or an X-Token header) before anything is served or fetched.
// `cascade edge --origin http://127.0.0.1:8090 --config examples/edge-token.mjs` with CASCADE_PLAYER_TOKEN=...
// Built in now (docs/access.md): signed, expiring URLs checked by the LB and every edge (`--playback-secret`,
// `cascade sign`); this example stays to show the request hook denying a request.
const expected = process.env.CASCADE_PLAYER_TOKEN ?? 'let-me-in';

/** @type {import('cascade').CascadeConfig<'edge'>} */
export default {
  hooks: {
    request({ request }) {
      const url = new URL(request.url);
      const token = url.searchParams.get('token') ?? request.headers.get('x-token');
      if (token !== expected) return { deny: 403, message: 'token required' };
      return undefined; // the token is not part of the cache key: other query parameters are dropped
    },
  },
};
