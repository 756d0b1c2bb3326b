// Freshness policy of a shared cache (RFC 9111), with HLS lifetimes for playlists and media that come
// without freshness information: whether a response may be stored, how long it stays fresh, and how
// long it may still stand in when every origin fails. Milliseconds throughout: nginx's whole-second
// TTLs are too coarse for playlists that change every couple of seconds.
import { parsePlaylist, type Playlist } from '../src/playlist.js';
import { isMediaPath, isMediaType, isPlaylistPath, isPlaylistType } from '../src/media-types.js';
import { parseCacheControl, parseHttpDate, parseTargetedCacheControl, varyMembers, type CacheControl } from './cache-fields.js';
import { partTargetOf } from './low-latency.js';

export interface FreshnessDefaults {
  /** Segments and other media objects without freshness information (ms). */
  segmentTtlMs: number;
  /** Master playlists without freshness information (ms). */
  masterPlaylistTtlMs: number;
  /** 404 and 410 of HLS objects without freshness information (ms): long enough to coalesce a burst, short enough not to stick. */
  notFoundTtlMs: number;
  /** How long past freshness a segment may be served when every origin fails (ms). */
  segmentStaleMs: number;
  /** Same for playlists; undefined means one target duration (masters: their TTL). */
  playlistStaleMs?: number;
}

export const DEFAULT_FRESHNESS: Readonly<FreshnessDefaults> = Object.freeze({
  segmentTtlMs: 10 * 60_000,
  masterPlaylistTtlMs: 2_000,
  notFoundTtlMs: 1_000,
  segmentStaleMs: 60 * 60_000,
});

/**
 * An LL playlist answering a blocking reload (draft-pantos-hls-rfc8216bis §6.2.5.2), without freshness
 * information: its URL asks for "this segment or part, or later", which the version it got keeps
 * answering; six part targets, as long as a player's PART-HOLD-BACK (at least three part targets) twice.
 */
const BLOCKING_RESPONSE_PART_TARGETS = 6;
/** Media playlists with no freshness information and an unparsable body still must not stick. */
const FALLBACK_PLAYLIST_TTL_MS = 1_000;
/** An immutable HLS object without max-age: a day is forever for a live segment. */
const IMMUTABLE_TTL_MS = 24 * 3_600_000;
/**
 * RFC 9111 §4.2.2: "If the response has a Last-Modified header field, caches are encouraged to use a
 * heuristic expiration value that is no more than some fraction of the interval since that time. A
 * typical setting of this fraction might be 10%."
 */
const HEURISTIC_FRACTION = 0.1;
/** Bound on a heuristic lifetime: a file untouched for years is not fresh for months. */
const HEURISTIC_MAX_MS = 24 * 3_600_000;

/**
 * RFC 9110 §15.1: the statuses that are "heuristically cacheable" (206 aside: the edge asks for whole
 * bodies). Only these may be stored without explicit freshness.
 */
const HEURISTICALLY_CACHEABLE = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414]);
/** With explicit freshness (RFC 9111 §3) the edge stores these too; 5xx never: they are failures it fails over from. */
const EXPLICITLY_CACHEABLE = new Set([...HEURISTICALLY_CACHEABLE, 302, 307]);
/** What the HLS defaults cover: objects and their absence. */
const HLS_DEFAULT_STATUSES = new Set([200, 203, 404, 410]);

/**
 * `Vary` members the edge honours by construction: every upstream request carries
 * `Accept-Encoding: identity` and no `Origin`, so the response is the same whatever the client sent (and
 * identity is acceptable to every client; CORS is the edge's own). Any other member would need one
 * stored variant per value set — nginx keys variants on a hash of the named request headers and Varnish
 * keeps variants under one hash, both forwarding every request header — but the edge forwards no
 * client header and keys on path and LL-HLS parameters only, so such responses pass through unstored.
 * RFC 9111 §4.1: "A stored response with a Vary header field value containing a member "*" always
 * fails to match", so `*` is never stored either.
 */
const HONOURED_VARY = new Set(['accept-encoding', 'origin']);

export type ObjectKind = 'playlist' | 'media' | 'other';

/** Playlists and media by extension or content type; the HLS defaults apply to these only. */
export function objectKind(path: string, contentType: string | undefined): ObjectKind {
  if (isPlaylistPath(path) || (contentType !== undefined && isPlaylistType(contentType))) return 'playlist';
  if (isMediaPath(path) || (contentType !== undefined && isMediaType(contentType))) return 'media';
  return 'other';
}

/**
 * Why a response must not be stored, judged from its status and headers alone (before the body
 * arrives); undefined when it may be. Set-Cookie: the edge never hands one client's cookie to another.
 */
export function storageRefusal(status: number, headers: Readonly<Record<string, string>>, hasSetCookie: boolean): string | undefined {
  if (!EXPLICITLY_CACHEABLE.has(status)) return 'status';
  const { cc } = directivesOf(headers);
  if (cc.noStore) return 'no-store';
  if (cc.private) return 'private';
  if (hasSetCookie) return 'set-cookie';
  if (varyMembers(headers.vary).some((m) => !HONOURED_VARY.has(m))) return 'vary';
  return undefined;
}

export interface Freshness {
  /** Fresh for this long after the headers arrived (ms); 0 means stale at once. */
  ttlMs: number;
  /** How long after going stale the entry may stand in for failing origins (ms). */
  staleMs: number;
}

export interface ResponseFacts {
  status: number;
  /** End-to-end response headers, lower case, repeated field lines combined (RFC 9110 §5.3). */
  headers: Readonly<Record<string, string>>;
  /** The upstream `Age` in seconds, already parsed (cache-fields `parseAge`): time spent in caches above us. */
  ageSeconds: number;
  kind: ObjectKind;
  /** Our clock when the headers arrived: the `Date` of a response that has none (RFC 9110 §6.6.1). */
  receivedAt: number;
  /** The complete body, read only for playlists without explicit freshness. */
  body: () => Buffer;
  /** The answer to a blocking playlist reload (`_HLS_msn` in the request). */
  blocking?: boolean;
}

const NEVER: Freshness = { ttlMs: 0, staleMs: 0 };

export function freshnessOf(facts: ResponseFacts, defaults: FreshnessDefaults): Freshness {
  const { status, headers, kind } = facts;
  if (!EXPLICITLY_CACHEABLE.has(status)) return NEVER;
  const { cc, targeted } = directivesOf(headers);
  const notFound = status === 404 || status === 410;
  const hls = kind !== 'other' && HLS_DEFAULT_STATUSES.has(status);

  let playlist: Playlist | undefined;
  const parsed = (): Playlist | undefined => {
    if (playlist === undefined && kind === 'playlist' && !notFound) {
      try { playlist = parsePlaylist(facts.body().toString('utf8')); } catch { /* not a playlist: fallbacks apply */ }
    }
    return playlist;
  };

  let lifetimeMs = explicitLifetimeMs(cc, targeted ? {} : headers, facts.receivedAt);
  if (lifetimeMs === undefined) {
    if (hls) lifetimeMs = hlsDefaultLifetimeMs(cc, kind, notFound, parsed, defaults, facts.blocking ?? false);
    else if (HEURISTICALLY_CACHEABLE.has(status)) lifetimeMs = heuristicLifetimeMs(headers, facts.receivedAt);
    else return NEVER;
  }
  // RFC 9111 §4.2: "response_is_fresh = (freshness_lifetime > current_age)". The current age at receipt
  // is the upstream Age (see docs/edge.md for why the Date-based apparent age is left out).
  // §5.2.2.4 no-cache: "the cache MUST NOT use the response to satisfy any other request without
  // successful validation on the origin server": stale at once, kept only to be revalidated.
  const ttlMs = cc.noCache ? 0 : Math.max(0, lifetimeMs - facts.ageSeconds * 1000);
  return { ttlMs, staleMs: staleBoundMs(cc, hls ? kind : 'other', notFound, lifetimeMs, parsed, defaults) };
}

/**
 * The edge is a CDN cache, so RFC 9213's `CDN-Cache-Control` is aimed at it: "a cache that implements
 * this specification ... MUST behave as if the Cache-Control and Expires header fields were not present
 * in the response" when it is there and valid (§2.1). `targeted`: it was used.
 */
function directivesOf(headers: Readonly<Record<string, string>>): { cc: CacheControl; targeted: boolean } {
  const value = headers['cdn-cache-control'];
  const targeted = value === undefined ? undefined : parseTargetedCacheControl(value);
  if (targeted !== undefined) return { cc: targeted, targeted: true };
  return { cc: parseCacheControl(headers['cache-control']), targeted: false };
}

/**
 * RFC 9111 §4.2.1, for a shared cache: s-maxage, else max-age, else Expires minus Date; undefined when
 * the response has none. Invalid values (not delta-seconds, conflicting repeats, an Expires that is not
 * an HTTP-date) give 0: "Caches are encouraged to consider responses that have invalid freshness
 * information (e.g., a max-age directive with non-integer content) to be stale", and §5.3: "A cache
 * recipient MUST interpret invalid date formats, especially the value "0", as representing a time in
 * the past (i.e., "already expired")."
 */
function explicitLifetimeMs(cc: CacheControl, headers: Readonly<Record<string, string>>, receivedAt: number): number | undefined {
  const seconds = cc.sMaxAge ?? cc.maxAge;
  if (seconds !== undefined) return seconds === 'invalid' ? 0 : seconds * 1000;
  if (headers.expires === undefined) return undefined;
  const expires = parseSingletonDate(headers.expires);
  if (expires === undefined) return 0;
  const date = parseSingletonDate(headers.date) ?? receivedAt;
  return Math.max(0, expires - date);
}

/**
 * A date field whose repeated lines were combined with ", " (HTTP-dates contain a comma themselves):
 * one date, or the same date repeated; differing dates are "more than one value" (§4.2.1), invalid.
 */
function parseSingletonDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const whole = parseHttpDate(value);
  if (whole !== undefined) return whole;
  const parts = value.split(/,\s*(?=(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun))/).map((p) => parseHttpDate(p));
  return parts.length > 1 && parts.every((p) => p !== undefined && p === parts[0]) ? parts[0] : undefined;
}

/** RFC 9111 §4.2.2: a fraction of the time since Last-Modified, or nothing without it. */
function heuristicLifetimeMs(headers: Readonly<Record<string, string>>, receivedAt: number): number {
  const lastModified = parseSingletonDate(headers['last-modified']);
  if (lastModified === undefined) return 0;
  const date = parseSingletonDate(headers.date) ?? receivedAt;
  return Math.min(HEURISTIC_MAX_MS, Math.max(0, (date - lastModified) * HEURISTIC_FRACTION));
}

function hlsDefaultLifetimeMs(cc: CacheControl, kind: ObjectKind, notFound: boolean, parsed: () => Playlist | undefined, defaults: FreshnessDefaults, blocking: boolean): number {
  if (notFound) return defaults.notFoundTtlMs;
  if (cc.immutable) return IMMUTABLE_TTL_MS;
  if (kind !== 'playlist') return defaults.segmentTtlMs;
  const pl = parsed();
  // A finished (VOD/EVENT-ended) playlist never changes again; a live one changes about once per
  // target duration (an LL one once per part target), and half of it bounds how late a player sees
  // what is new.
  if (pl?.type === 'media') {
    if (pl.endList) return defaults.segmentTtlMs;
    const partTarget = partTargetOf(pl.header);
    if (partTarget === undefined) return (pl.targetDuration * 1000) / 2;
    return blocking ? BLOCKING_RESPONSE_PART_TARGETS * partTarget * 1000 : (partTarget * 1000) / 2;
  }
  if (pl?.type === 'master') return defaults.masterPlaylistTtlMs;
  return FALLBACK_PLAYLIST_TTL_MS;
}

/**
 * How long a stale copy may answer for failing origins. RFC 9111 §4.2.4: "A cache MUST NOT generate a
 * stale response if it is prohibited by an explicit in-protocol directive (e.g., by a no-cache response
 * directive, a must-revalidate response directive, or an applicable s-maxage or proxy-revalidate
 * response directive; see Section 5.2.2)." Otherwise `stale-if-error` (RFC 5861 §4) when given, the HLS
 * bounds for playlists and media, and nothing for the rest.
 */
function staleBoundMs(cc: CacheControl, kind: ObjectKind, notFound: boolean, lifetimeMs: number, parsed: () => Playlist | undefined, defaults: FreshnessDefaults): number {
  if (cc.noCache || cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge !== undefined) return 0;
  if (cc.staleIfError !== undefined) return cc.staleIfError === 'invalid' ? 0 : cc.staleIfError * 1000;
  if (notFound || kind === 'other') return 0;
  if (kind === 'media') return defaults.segmentStaleMs;
  if (defaults.playlistStaleMs !== undefined) return defaults.playlistStaleMs;
  const pl = parsed();
  return pl?.type === 'media' ? pl.targetDuration * 1000 : lifetimeMs;
}
