// The one rule for request targets and stream paths, shared by every role (origin, edge, lb).
//
// The contract's stream paths (docs/contract.md): /hls/<stream>/<path>, stream [A-Za-z0-9_-]{1,64}, path
// 1..4 segments of [A-Za-z0-9._-], no '.'/'..', no empty segment. Requests are checked on the RAW request
// target, before Node, Hono or the WHATWG URL parser normalise it: `/hls/x/%2e%2e/t/seg0.ts` is
// `/hls/t/seg0.ts` to the URL parser, so a check of the parsed URL lets one stream write over another's files.
//
// Percent-encoding in the path is refused, even of allowed characters (`%41`): the contract's alphabet
// needs none, so an escape is either a probe or a client bug, and decoding harmless escapes would give
// one resource several spellings (several edge cache keys, LB hash keys and origin lookups for the same
// bytes). With no escapes and no dot segments, the raw path IS the path every parser sees.
//
// One segment right after the stream name may be a URL token (`~...`, src/url-token.ts): it is returned
// apart from the path, so the path is the same with and without one, and it counts towards no depth.

import { isUrlTokenSegment, URL_TOKEN_MARK } from './url-token.js';

export const HLS_PREFIX = '/hls/';
const STREAM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
export const MAX_PATH_DEPTH = 4;
/** Longest path segment: a file name on every common file system (the origin's data dir). */
export const MAX_SEGMENT_LENGTH = 255;
/** Longest request target (path and query) taken at all; Node itself allows ~16 KB of headers. */
export const MAX_TARGET_LENGTH = 4096;

// RFC 3986 pchar without pct-encoded (unreserved, sub-delims, ':' and '@'): paths outside /hls/
// (/healthz, /play/<stream>, operator routes). None of these is changed by the WHATWG URL parser.
const GENERIC_SEGMENT_RE = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;
// RFC 3986 query: pchar / "/" / "?", escapes well formed. Queries carry player tokens, so escapes are fine.
const QUERY_RE = /^(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*$/;

export interface StreamPath {
  stream: string;
  /** The path inside the stream, e.g. `720p/seg1.ts`. */
  path: string;
  /** The URL token segment between stream and path (`~e..~k..`), when the target has one. */
  token?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };
export type StreamPathResult = Checked<StreamPath>;

/** A request target that passed `parseRequestTarget`: every parser resolves it to `pathname` as written. */
export interface RequestTarget {
  /** Path and query as received (of an absolute-form target, what follows the authority), e.g. `/hls/demo/index.m3u8?_HLS_msn=3`. */
  pathAndQuery: string;
  pathname: string;
  /** The query without '?' ('' when absent). */
  query: string;
  /** Set for targets under /hls/ (which are refused unless they are valid stream paths). */
  stream: StreamPath | undefined;
}

export function isValidStreamName(name: string): boolean {
  return STREAM_RE.test(name);
}

/** Validates a relative path inside a stream (as found in playlists after resolution, or in URLs). */
export function checkRelativePath(path: string): string | undefined {
  const parts = path.split('/');
  if (parts.length > MAX_PATH_DEPTH) return `path deeper than ${MAX_PATH_DEPTH} segments`;
  for (const p of parts) {
    if (p === '') return 'empty path segment';
    if (p === '.' || p === '..') return 'dot segment in path';
    if (!SEGMENT_RE.test(p)) return 'invalid character in path';
    if (p.length > MAX_SEGMENT_LENGTH) return `path segment longer than ${MAX_SEGMENT_LENGTH}`;
  }
  return undefined;
}

/**
 * Parses a URL pathname that starts with /hls/. A URL token segment is taken only with `token: true`
 * (request targets of players); the origin's paths and the URIs in playlists have none.
 */
export function parseStreamPath(pathname: string, options: { token?: boolean } = {}): StreamPathResult {
  if (!pathname.startsWith(HLS_PREFIX)) return { ok: false, reason: 'not under /hls/' };
  const rest = pathname.slice(HLS_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash === -1) return { ok: false, reason: 'missing path after stream name' };
  const stream = rest.slice(0, slash);
  if (!isValidStreamName(stream)) return { ok: false, reason: 'invalid stream name' };
  let path = rest.slice(slash + 1);
  let token: string | undefined;
  if (path.startsWith(URL_TOKEN_MARK)) {
    const end = path.indexOf('/');
    token = end === -1 ? path : path.slice(0, end);
    if (!isUrlTokenSegment(token)) return { ok: false, reason: 'invalid character in path' };
    if (token.length > MAX_SEGMENT_LENGTH) return { ok: false, reason: `path segment longer than ${MAX_SEGMENT_LENGTH}` };
    if (end === -1) return { ok: false, reason: 'missing path after URL token' };
    if (!options.token) return { ok: false, reason: 'URL token in a path that takes none' };
    path = path.slice(end + 1);
  }
  const bad = checkRelativePath(path);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, value: token === undefined ? { stream, path } : { stream, path, token } };
}

function checkGenericPath(pathname: string): string | undefined {
  if (pathname === '/') return undefined;
  for (const p of pathname.slice(1).split('/')) {
    if (p === '') return 'empty path segment';
    if (p === '.' || p === '..') return 'dot segment in path';
    if (!GENERIC_SEGMENT_RE.test(p)) return 'invalid character in path';
  }
  return undefined;
}

// What @hono/node-server takes as absolute-form (lower-case scheme), with a plain host or IP literal:
// no userinfo, no empty host (`http:///x` would make the URL parser take `x` for the host).
const ABSOLUTE_FORM_RE = /^https?:\/\/(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?=[/?#]|$)/;

/**
 * Checks a raw HTTP request target (Node's `incoming.url`, byte for byte). Only targets whose path needs
 * no decoding and no normalisation pass; everything else gets a reason for a 400. Absolute-form
 * (`GET http://host/path`) is accepted as RFC 9112 §3.2.2 requires of servers, and checked by the same
 * rule: only its path and query count, its authority never (no role is a proxy).
 */
export function parseRequestTarget(raw: string): Checked<RequestTarget> {
  if (raw.length > MAX_TARGET_LENGTH) return { ok: false, reason: `target longer than ${MAX_TARGET_LENGTH}` };
  if (raw.includes('#')) return { ok: false, reason: 'fragment in target' };
  let pathAndQuery = raw;
  if (!raw.startsWith('/')) {
    const absolute = ABSOLUTE_FORM_RE.exec(raw);
    if (!absolute || !URL.canParse(raw)) return { ok: false, reason: /^[A-Za-z][A-Za-z0-9+.-]*:/.test(raw) ? 'bad absolute-form target' : 'not an origin-form target' };
    const rest = raw.slice(absolute[0].length);
    pathAndQuery = rest.startsWith('/') ? rest : `/${rest}`;
  }
  const q = pathAndQuery.indexOf('?');
  const pathname = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  const query = q === -1 ? '' : pathAndQuery.slice(q + 1);
  if (pathname.includes('%')) return { ok: false, reason: 'percent-encoding in path' };
  if (pathname.includes('\\')) return { ok: false, reason: 'backslash in path' };
  if (!QUERY_RE.test(query)) return { ok: false, reason: 'invalid query' };
  if (pathname === '/hls' || pathname.startsWith(HLS_PREFIX)) {
    const parsed = parseStreamPath(pathname === '/hls' ? HLS_PREFIX : pathname, { token: true });
    return parsed.ok ? { ok: true, value: { pathAndQuery, pathname, query, stream: parsed.value } } : parsed;
  }
  const bad = checkGenericPath(pathname);
  return bad ? { ok: false, reason: bad } : { ok: true, value: { pathAndQuery, pathname, query, stream: undefined } };
}

/** The URL path of a stream path; with `token`, the token segment between stream and path. */
export function streamUrlPath(stream: string, path: string, token?: string): string {
  return token === undefined ? `${HLS_PREFIX}${stream}/${path}` : `${HLS_PREFIX}${stream}/${token}/${path}`;
}
