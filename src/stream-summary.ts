// What the origin says about its streams (`GET /api/streams` on the origin, docs/contract.md), and what
// the LB makes of it: the rules for "live", "stalled" and "ended" live here once, as does the check of a
// summary read over the network (an origin's answer is bounded and validated before the LB shows it).
import { isValidStreamName } from './stream-path.js';

/** live: republished recently; stalled: not for STALL_TARGET_DURATIONS target durations; ended: ENDLIST. */
export type RenditionState = 'live' | 'stalled' | 'ended';

export interface RenditionSummary {
  /** The media playlist's path in the stream, e.g. `720p/index.m3u8`. */
  path: string;
  /** Newest published media sequence number. */
  mediaSequence: number;
  /** Seconds since the playlist was last published (a new segment or part). */
  ageSeconds: number;
  targetDuration: number;
  /** Restarts of the stream's transcoder the origin saw (new epochs) that this rendition joined. */
  epoch: number;
  /** BANDWIDTH and AVERAGE-BANDWIDTH as measured from the segments (bit/s); null before a measurement. */
  bandwidth: number | null;
  averageBandwidth: number | null;
  lowLatency: boolean;
  state: RenditionState;
}

export interface StreamSummary {
  name: string;
  /** live if any rendition is, ended if all are, else stalled. */
  state: RenditionState;
  /** Transcoder restarts detected (new epochs). */
  restarts: number;
  /** Master playlists' paths. */
  masters: string[];
  renditions: RenditionSummary[];
}

/** A playlist unpublished for this many target durations is stalled: players run dry about then. */
export const STALL_TARGET_DURATIONS = 3;
/** ...but never sooner than this (s): short segments and a loaded machine. */
export const MIN_STALL_SECONDS = 6;
export const MAX_SUMMARY_STREAMS = 500;
export const MAX_SUMMARY_RENDITIONS = 32;
const MAX_PATH_LENGTH = 256;

export function renditionState(ageSeconds: number, targetDuration: number, ended: boolean): RenditionState {
  if (ended) return 'ended';
  return ageSeconds > Math.max(MIN_STALL_SECONDS, STALL_TARGET_DURATIONS * targetDuration) ? 'stalled' : 'live';
}

export function streamState(renditions: readonly { state: RenditionState }[]): RenditionState {
  if (renditions.some((r) => r.state === 'live')) return 'live';
  return renditions.length > 0 && renditions.every((r) => r.state === 'ended') ? 'ended' : 'stalled';
}

const isCount = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1e12;
const isPath = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_PATH_LENGTH && !/[\u0000-\u001f<>]/.test(v);
const STATES: ReadonlySet<unknown> = new Set(['live', 'stalled', 'ended']);

function parseRendition(raw: unknown): RenditionSummary | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const nullableRate = (v: unknown) => (v === null ? null : isAmount(v) ? v : undefined);
  const bandwidth = nullableRate(r.bandwidth);
  const averageBandwidth = nullableRate(r.averageBandwidth);
  if (!isPath(r.path) || !isCount(r.mediaSequence) || !isAmount(r.ageSeconds) || !isAmount(r.targetDuration) || !isCount(r.epoch)
    || bandwidth === undefined || averageBandwidth === undefined || typeof r.lowLatency !== 'boolean' || !STATES.has(r.state)) return undefined;
  return {
    path: r.path, mediaSequence: r.mediaSequence, ageSeconds: r.ageSeconds, targetDuration: r.targetDuration, epoch: r.epoch,
    bandwidth, averageBandwidth, lowLatency: r.lowLatency, state: r.state as RenditionState,
  };
}

/**
 * An origin's `/api/streams` answer as the LB takes it: `{ streams: [...] }` with every entry well formed
 * (an entry that is not is dropped, not the whole answer), at most MAX_SUMMARY_STREAMS streams of at most
 * MAX_SUMMARY_RENDITIONS renditions. undefined when it is not such an answer at all.
 */
export function parseStreamSummaries(raw: unknown): StreamSummary[] | undefined {
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { streams?: unknown }).streams)) return undefined;
  const out: StreamSummary[] = [];
  for (const entry of ((raw as { streams: unknown[] }).streams).slice(0, MAX_SUMMARY_STREAMS)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const s = entry as Record<string, unknown>;
    if (typeof s.name !== 'string' || !isValidStreamName(s.name) || !isCount(s.restarts) || !STATES.has(s.state)
      || !Array.isArray(s.masters) || !Array.isArray(s.renditions)) continue;
    const renditions = s.renditions.slice(0, MAX_SUMMARY_RENDITIONS).map(parseRendition).filter((r) => r !== undefined);
    const masters = s.masters.slice(0, MAX_SUMMARY_RENDITIONS).filter(isPath);
    out.push({ name: s.name, state: s.state as RenditionState, restarts: s.restarts, masters, renditions });
  }
  return out;
}
