// The edge's defaults, once: `cascade edge`'s option spec (and so its --help) and createEdge both read
// them. Sizes in bytes, times in milliseconds.
import { DEFAULT_REDIS_PREFIX } from '../src/control-plane.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../src/hooks.js';
import { DEFAULT_KEY_PARAMS } from './cache-key.js';
import { DEFAULT_FRESHNESS } from './freshness.js';

const MiB = 1024 ** 2;

export const EDGE_DEFAULTS = Object.freeze({
  port: 8081,
  /** Binary units like nginx's `512m`. */
  cacheSize: 512 * MiB,
  /** Larger objects are streamed through, not stored (never more than the cache size). */
  maxObjectSize: 64 * MiB,
  /** Per origin: headers timeout and body idle timeout (blocking LL-HLS reloads get longer: `blockingTimeoutMs`). */
  upstreamTimeoutMs: 10_000,
  /**
   * Upstream headers timeout of a blocking playlist reload (LL-HLS) for a playlist whose target duration
   * the edge has not seen; once seen, four target durations (at least `upstreamTimeoutMs`).
   */
  blockingTimeoutMs: 30_000,
  /** How long a failing origin is skipped before it is probed again. */
  originRetryMs: 5_000,
  keyParams: DEFAULT_KEY_PARAMS,
  freshness: DEFAULT_FRESHNESS,
  /** With an LB URL, masters name their variants through it (docs/edge.md, "Masters through the LB"). */
  masterViaLb: true,
  redisPrefix: DEFAULT_REDIS_PREFIX,
  /** Heartbeat and drain poll period; the alive key lives for five of them. */
  registrationIntervalMs: 1_000,
  /**
   * How long a client counts as a viewer in the load reported to the LBs: above the longest playlist
   * reload interval (a target duration), short enough that a client sent elsewhere stops counting soon.
   */
  loadWindowMs: 10_000,
  hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
  /** `--request-rate 50` without a window: per second. */
  requestRateWindowMs: 1_000,
  /** How long in-flight requests may finish after SIGTERM. */
  shutdownGraceMs: 10_000,
});
