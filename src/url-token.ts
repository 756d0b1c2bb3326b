// Tokens in playback URLs: one path segment right after the stream name, marked by a leading '~':
//
//   /hls/<stream>/~e1767225600~n203.0.113.0_24~kQ2FzY2FkZS1zaWduYXR1cmU~sAbCdEfGhIjKlMnOp/index.m3u8
//
// A path segment and not a query, because it is what survives relative URI resolution (RFC 3986 5.2.2):
// a player resolves `240p.m3u8` and `240p_17.ts` against the playlist URL it was redirected to, and keeps
// every directory segment of it, while a query of the base is dropped from every relative reference. So
// the token reaches every media playlist and segment request without anyone rewriting a media playlist,
// and the LB's 302 (which keeps the path byte for byte) and the master's variant URIs through the LB
// (edge/master-rewrite.ts inserts the segment) keep it too. The origin only publishes downward-relative
// URIs (no '/' start, no '..'), so nothing can resolve past the segment. '~' is outside the contract's
// path alphabet: no stream path can be mistaken for a token, and no token for a path.
//
// The edge strips the segment from the cache key and the upstream request (src/stream-path.ts returns
// the stream path without it), so one cached copy serves every token. What the fields mean is decided by
// their users: src/playback-token.ts (e, n, k: a signed, expiring, optionally scoped URL) and
// src/session-token.ts (s: the session the LB gives a new player).

export const URL_TOKEN_MARK = '~';

/** The token segment's whole text (mark included); the fields use the contract's path alphabet. */
export const URL_TOKEN_SEGMENT_RE = /^~[A-Za-z0-9._-]+(?:~[A-Za-z0-9._-]+)*$/;

/** Field tags, one letter each: expiry, network scope, signature, session. */
export type UrlTokenField = 'e' | 'n' | 'k' | 's';
const FIELD_ORDER: readonly UrlTokenField[] = ['e', 'n', 'k', 's'];

export type UrlToken = Partial<Record<UrlTokenField, string>>;

export function isUrlTokenSegment(segment: string): boolean {
  return URL_TOKEN_SEGMENT_RE.test(segment);
}

/** The fields of a token segment (`~e..~k..`); undefined when a field is unknown, repeated or empty. */
export function parseUrlToken(segment: string): UrlToken | undefined {
  if (!isUrlTokenSegment(segment)) return undefined;
  const token: UrlToken = {};
  for (const field of segment.slice(1).split(URL_TOKEN_MARK)) {
    const tag = field[0] as UrlTokenField;
    const value = field.slice(1);
    if (!FIELD_ORDER.includes(tag) || value === '' || token[tag] !== undefined) return undefined;
    token[tag] = value;
  }
  return token;
}

/** The segment for `token`, fields in a fixed order (e, n, k, s). */
export function formatUrlToken(token: UrlToken): string {
  const fields = FIELD_ORDER.filter((tag) => token[tag] !== undefined).map((tag) => URL_TOKEN_MARK + tag + token[tag]);
  if (fields.length === 0) throw new Error('a URL token needs at least one field');
  const segment = fields.join('');
  if (!isUrlTokenSegment(segment)) throw new Error(`not a URL token: '${segment}'`);
  return segment;
}

/**
 * `pathAndQuery` (a checked target under /hls/<stream>/, with `current` its token segment or undefined)
 * with the token segment set to `segment`, or without one; everything else byte for byte.
 */
export function withUrlToken(pathAndQuery: string, stream: string, current: string | undefined, segment: string | undefined): string {
  const at = `/hls/${stream}/`.length;
  const rest = pathAndQuery.slice(at + (current === undefined ? 0 : current.length + 1));
  return segment === undefined ? pathAndQuery.slice(0, at) + rest : `${pathAndQuery.slice(0, at)}${segment}/${rest}`;
}
