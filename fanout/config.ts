// The upload fan-out's settings (docs/fanout.md): the origins it feeds, how long it retries, how far a slow
// origin may fall behind. Every default is FANOUT_DEFAULTS'.
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';

export interface FanoutConfig {
  /** Origin base URLs (e.g. http://origin-a:8090); every upload goes to each. */
  origins: readonly string[];
  /** Uploads need `Bearer <token>` or Basic with this password; without it, loopback peers only. */
  uploadToken?: string;
  /** Sent to the origins as `Bearer <token>`; without it, the uploader's Authorization header is passed on. */
  originToken?: string;
  /** Sent with every upload as `Cascade-Feed`: the origins root their names in it (default: random per process). */
  feedId?: string;
  /** A segment (or DELETE) is retried for this long after its upload ended (ms): about a segment's duration. */
  segmentRetryMs: number;
  /** A playlist is retried until a newer upload of its path supersedes it, or for this long (ms). */
  playlistRetryMs: number;
  /** Longest wait between two tries of one upload (ms); the first retry comes after 100 ms. */
  maxBackoffMs: number;
  /** An origin more than this many bytes behind the fastest one loses that upload (it stalls, or is far slower). */
  maxLagBytes: number;
  /** Uploads per origin being sent or waiting for a retry; past it the oldest waiting one is dropped. */
  maxQueuedPerOrigin: number;
  maxFileBytes: number;
  maxPlaylistBytes: number;
  /** An upload that sends nothing for this long is aborted (ms). */
  uploadIdleTimeoutMs: number;
  /** One try at an origin: headers and body idle timeout (ms). */
  originTimeoutMs: number;
  /** The uploader is answered once an origin took the upload, or after this long with 202 (ms). */
  answerTimeoutMs: number;
  log?: Logger;
  metrics?: Metrics;
  now?: () => number;
}

export const FANOUT_DEFAULTS = {
  segmentRetryMs: 4_000,
  playlistRetryMs: 30_000,
  maxBackoffMs: 1_000,
  maxLagBytes: 8 * 1024 ** 2,
  maxQueuedPerOrigin: 64,
  maxFileBytes: 64 * 1024 ** 2,
  maxPlaylistBytes: 1024 ** 2,
  uploadIdleTimeoutMs: 10_000,
  originTimeoutMs: 10_000,
  answerTimeoutMs: 2_000,
} satisfies Partial<FanoutConfig>;
