// The contract's stream paths: /hls/<stream>/<path>, stream [A-Za-z0-9_-]{1,64},
// path 1..4 segments of [A-Za-z0-9._-], no '.'/'..', no empty segment.

export const HLS_PREFIX = '/hls/';
const STREAM_RE = /^[A-Za-z0-9_-]{1,64}$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
export const MAX_PATH_DEPTH = 4;

export interface StreamPath {
  stream: string;
  /** The path inside the stream, e.g. `720p/seg1.ts`. */
  path: string;
}

export type StreamPathResult = { ok: true; value: StreamPath } | { ok: false; reason: string };

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
  }
  return undefined;
}

/** Parses a URL pathname that starts with /hls/. */
export function parseStreamPath(pathname: string): StreamPathResult {
  if (!pathname.startsWith(HLS_PREFIX)) return { ok: false, reason: 'not under /hls/' };
  const rest = pathname.slice(HLS_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash === -1) return { ok: false, reason: 'missing path after stream name' };
  const stream = rest.slice(0, slash);
  if (!isValidStreamName(stream)) return { ok: false, reason: 'invalid stream name' };
  const path = rest.slice(slash + 1);
  const bad = checkRelativePath(path);
  if (bad) return { ok: false, reason: bad };
  return { ok: true, value: { stream, path } };
}

export function streamUrlPath(stream: string, path: string): string {
  return `${HLS_PREFIX}${stream}/${path}`;
}
