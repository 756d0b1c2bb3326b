// The origin's configuration and its defaults: one object that createOrigin, the option spec of
// `cascade origin` and its --help all read.
import type { MiddlewareHandler } from 'hono';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';
import type { OriginHooks } from './hooks.js';
import { DEFAULT_MAX_SEGMENT_DURATION } from './publisher.js';
import type { Storage } from './storage.js';
import type { StreamTokensSource } from './upload-credentials.js';

export interface OriginConfig {
  /** Where content and rewrite state survive restarts; in memory only without it. */
  dataDir?: string;
  /** Where content and rewrite state are kept instead of `dataDir` (tests inject failures with it). */
  storage?: Storage;
  /** Uploads need `Bearer <token>` or Basic with this password; without it, loopback peers only. */
  uploadToken?: string;
  /** Per-stream tokens (a file or a Redis hash), each good for its stream only, beside `uploadToken`. */
  uploadTokens?: StreamTokensSource;
  /** How often the per-stream tokens' source is checked for changes (ms). */
  uploadTokensPollMs?: number;
  /**
   * Origins fed the same uploads (base URLs): they publish the same names, and a segment this origin lacks is
   * fetched from them (docs/origin.md, "Redundant origins").
   */
  peers: readonly string[];
  /** How long a segment that never arrived is asked of the peers before it becomes a gap (ms). */
  peerFillTimeoutMs: number;
  /**
   * Without peers, part of what roots new renditions' names, so that a restart without state never names
   * other bytes as before (default: random per process). Origins that must agree without peering pass the same.
   */
  bootTag?: string;
  maxPlaylistBytes: number;
  maxFileBytes: number;
  /** An upload that sends nothing for this long is aborted (ms). */
  uploadIdleTimeoutMs: number;
  /** Fewest / most segments in a published window (it follows the uploader's playlist length between them). */
  minWindow: number;
  maxWindow: number;
  /** How long a segment stays servable after leaving the window (ms). */
  segmentGraceMs: number;
  /** Playlists with a longer EXTINF or EXT-X-TARGETDURATION are refused (ms). */
  maxSegmentDurationMs: number;
  /** Uploaded bytes kept in memory; beyond it, uploads no playlist names are evicted, oldest first. */
  maxMemoryBytes: number;
  /** Cache lifetime of master playlists (s). */
  masterMaxAge: number;
  /**
   * Low-latency HLS: parts of at most this long (ms) are cut from hinted fMP4 uploads (EXT-X-PART-INF
   * PART-TARGET); 0: no parts. At least the transcoder's --part-target, which sizes its audio fragments.
   */
  partTargetMs: number;
  /** Requests held for a blocking playlist reload or a hinted part, per stream and in total; past them: 503. */
  maxHeldRequestsPerStream: number;
  maxHeldRequests: number;
  /** --record: every published segment is kept in a recording (docs/relive.md) until `recordRetentionMs`. */
  record: boolean;
  recordRetentionMs: number;
  /** Length of the DVR playlist (ms); 0: the whole recording (EXT-X-PLAYLIST-TYPE:EVENT). */
  dvrWindowMs: number;
  /** A recorded stream that publishes no new segment for this long has ended: its relive is VOD (ms). */
  reliveAfterMs: number;
  /** How often retention runs (ms); 0: only when `sweep()` is called (tests with a fake clock). */
  sweepIntervalMs: number;
  /** Called with every newly published playlist (after it is servable). */
  onPublished?: (event: PublishedEvent) => void;
  hooks?: OriginHooks;
  /** How long a hook may take before its request fails (ms). */
  hookTimeoutMs: number;
  /** Hono middleware from the config file, run before the routes. */
  use?: MiddlewareHandler[];
  log?: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export interface PublishedEvent {
  stream: string;
  path: string;
  text: string;
  master: boolean;
}

export const ORIGIN_DEFAULTS = {
  peers: [],
  peerFillTimeoutMs: 3_000,
  maxPlaylistBytes: 1024 ** 2,
  maxFileBytes: 64 * 1024 ** 2,
  uploadIdleTimeoutMs: 10_000,
  minWindow: 3,
  maxWindow: 1000,
  segmentGraceMs: 30_000,
  maxSegmentDurationMs: DEFAULT_MAX_SEGMENT_DURATION * 1000,
  maxMemoryBytes: 1024 ** 3,
  masterMaxAge: 5,
  partTargetMs: 500,
  maxHeldRequestsPerStream: 10_000,
  maxHeldRequests: 50_000,
  record: false,
  recordRetentionMs: 7 * 86_400_000,
  dvrWindowMs: 2 * 3_600_000,
  reliveAfterMs: 60_000,
  sweepIntervalMs: 1000,
  hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
} satisfies Partial<OriginConfig>;
