// Freshness policy: how long an upstream response stays fresh, and how long it may still be served
// stale when every origin fails. Milliseconds throughout: nginx's whole-second TTLs are too coarse for
// playlists that change every couple of seconds.
import { parsePlaylist, type Playlist } from '../src/playlist.js';

export interface FreshnessDefaults {
  /** Segments and other media objects without Cache-Control (ms). */
  segmentTtlMs: number;
  /** Master playlists without Cache-Control (ms). */
  masterPlaylistTtlMs: number;
  /** 404 and 410 without Cache-Control (ms): long enough to coalesce a burst, short enough not to stick. */
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

/** Media playlists with no Cache-Control and an unparsable body still must not stick. */
const FALLBACK_PLAYLIST_TTL_MS = 1_000;

export interface CacheControl {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  immutable: boolean;
  maxAge?: number;
  sMaxAge?: number;
}

export function parseCacheControl(header: string | undefined): CacheControl {
  const cc: CacheControl = { noStore: false, noCache: false, private: false, immutable: false };
  if (!header) return cc;
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const raw = eq === -1 ? '' : part.slice(eq + 1).trim().replace(/^"|"$/g, '');
    const seconds = /^\d+$/.test(raw) ? Number(raw) : undefined;
    switch (name) {
      case 'no-store': cc.noStore = true; break;
      case 'no-cache': cc.noCache = true; break;
      case 'private': cc.private = true; break;
      case 'immutable': cc.immutable = true; break;
      case 'max-age': if (seconds !== undefined) cc.maxAge = seconds; break;
      case 's-maxage': if (seconds !== undefined) cc.sMaxAge = seconds; break;
    }
  }
  return cc;
}

export interface Freshness {
  /** 0 means "do not store" (the fetch is still shared by everyone who asked while it ran). */
  ttlMs: number;
  /** How long after going stale the entry may stand in for failing origins. */
  staleMs: number;
}

export interface ResponseFacts {
  status: number;
  cacheControl?: string;
  /** The upstream `Age` header in seconds: time already spent in caches above us. */
  ageSeconds?: number;
  isPlaylist: boolean;
  /** The complete body, read only for playlists without an explicit lifetime. */
  body: () => Buffer;
}

const NEVER: Freshness = { ttlMs: 0, staleMs: 0 };
/** An immutable object without max-age: a day is forever for a live segment. */
const IMMUTABLE_TTL_MS = 24 * 3_600_000;

export function freshnessOf(facts: ResponseFacts, defaults: FreshnessDefaults): Freshness {
  const { status } = facts;
  const cacheable = status === 200 || status === 203 || status === 404 || status === 410;
  if (!cacheable) return NEVER;
  const cc = parseCacheControl(facts.cacheControl);
  if (cc.noStore || cc.private) return NEVER;
  if (cc.noCache) return NEVER;
  const ageMs = (facts.ageSeconds ?? 0) * 1000;
  const notFound = status === 404 || status === 410;
  const explicit = cc.sMaxAge ?? cc.maxAge;

  let playlist: Playlist | undefined;
  const parsed = (): Playlist | undefined => {
    if (playlist === undefined && facts.isPlaylist && !notFound) {
      try { playlist = parsePlaylist(facts.body().toString('utf8')); } catch { /* not a playlist: fallbacks apply */ }
    }
    return playlist;
  };

  let lifetimeMs: number;
  if (explicit !== undefined) lifetimeMs = explicit * 1000;
  else if (notFound) lifetimeMs = defaults.notFoundTtlMs;
  else if (cc.immutable) lifetimeMs = IMMUTABLE_TTL_MS;
  else if (facts.isPlaylist) {
    const pl = parsed();
    if (pl?.type === 'media') {
      // A finished (VOD/EVENT-ended) playlist never changes again; a live one changes about once per
      // target duration, and half of it bounds how late a player sees a new segment.
      lifetimeMs = pl.endList ? defaults.segmentTtlMs : (pl.targetDuration * 1000) / 2;
    } else if (pl?.type === 'master') lifetimeMs = defaults.masterPlaylistTtlMs;
    else lifetimeMs = FALLBACK_PLAYLIST_TTL_MS;
  } else lifetimeMs = defaults.segmentTtlMs;

  const ttlMs = Math.max(0, lifetimeMs - ageMs);
  if (notFound) return { ttlMs, staleMs: 0 };
  if (!facts.isPlaylist) return { ttlMs, staleMs: defaults.segmentStaleMs };
  if (defaults.playlistStaleMs !== undefined) return { ttlMs, staleMs: defaults.playlistStaleMs };
  const pl = parsed();
  return { ttlMs, staleMs: pl?.type === 'media' ? pl.targetDuration * 1000 : lifetimeMs };
}
