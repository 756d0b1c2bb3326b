// The cache key, which is also what goes upstream. Query parameters other than the kept ones are
// dropped from both: a player-added `?token=` or cache-buster must neither split the cache into one
// entry per viewer nor turn the edge into a way to send arbitrary queries to the origin. A recording
// playlist (origin --record) also keeps the time-shift clip's `start` and `end`: they select its content.
import { CLIP_PARAMS, isRecordingPlaylistUrl } from '../src/recording-paths.js';

/** LL-HLS blocking reload and delta update parameters (draft-pantos-hls-rfc8216bis 6.2.5.2, 6.2.5.1). */
export const DEFAULT_KEY_PARAMS: readonly string[] = ['_HLS_msn', '_HLS_part', '_HLS_skip'];

/** `path` is the validated request path; `query` the raw text after `?` (may be empty). */
export function cacheKeyOf(path: string, query: string, keep: readonly string[]): string {
  if (query === '') return path;
  const names = isRecordingPlaylistUrl(path) ? [...keep, ...CLIP_PARAMS] : keep;
  const params = new URLSearchParams(query);
  const kept = new URLSearchParams();
  // Fixed order, so `?_HLS_part=1&_HLS_msn=5` and `?_HLS_msn=5&_HLS_part=1` share an entry.
  for (const name of names) {
    const value = params.get(name);
    if (value !== null) kept.set(name, value);
  }
  const text = kept.toString();
  return text === '' ? path : `${path}?${text}`;
}
