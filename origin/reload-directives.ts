// The delivery directives of a playlist request (draft-pantos-hls-rfc8216bis 6.2.5: `_HLS_msn`,
// `_HLS_part`, `_HLS_skip`) and the rules of a blocking playlist reload (6.2.5.2) against where a
// low-latency playlist stands. Pure: the delivery phase holds the request (origin/waiting-room.ts).
import type { LowLatencyPosition } from './publisher.js';

export interface Directives {
  /** `_HLS_msn`: hold until the playlist has this media sequence number. */
  msn?: number;
  /** `_HLS_part`: ... and this part of it. */
  part?: number;
  /** `_HLS_skip=YES` or `v2`: answer with a delta update. */
  skip: boolean;
}

export type DirectivesResult = { ok: true; value: Directives } | { ok: false; reason: string };

const DECIMAL_INTEGER = /^[0-9]+$/;

function integer(params: URLSearchParams, name: string): number | undefined | string {
  const all = params.getAll(name);
  if (all.length === 0) return undefined;
  if (all.length > 1) return `${name} given ${all.length} times`;
  const v = Number(all[0]);
  return DECIMAL_INTEGER.test(all[0]!) && Number.isSafeInteger(v) ? v : `${name} is not a decimal-integer: '${all[0]}'`;
}

/** The directives of a request's query; a malformed one is the client's mistake (400). Other parameters are ignored. */
export function parseDirectives(params: URLSearchParams): DirectivesResult {
  const msn = integer(params, '_HLS_msn');
  const part = integer(params, '_HLS_part');
  for (const v of [msn, part]) if (typeof v === 'string') return { ok: false, reason: v };
  // 6.2.5.2: "If the Playlist URI contains an _HLS_part directive but no _HLS_msn directive, the Server MUST return Bad Request".
  if (part !== undefined && msn === undefined) return { ok: false, reason: '_HLS_part without _HLS_msn' };
  const skips = params.getAll('_HLS_skip');
  if (skips.length > 1 || (skips.length === 1 && skips[0] !== 'YES' && skips[0] !== 'v2')) {
    return { ok: false, reason: `_HLS_skip must be YES or v2, once (got ${skips.map((s) => `'${s}'`).join(', ')})` };
  }
  return { ok: true, value: { ...(msn !== undefined ? { msn: msn as number } : {}), ...(part !== undefined ? { part: part as number } : {}), skip: skips.length === 1 } };
}

/**
 * 6.2.5.2: `_HLS_msn=M` alone waits for a media segment M or later; with `_HLS_part=P`, for part P of M or
 * anything later. "If the Client requests a Part Index greater than that of the final Partial Segment of
 * the Parent Segment, the Server MUST treat the request as one for Part Index 0 of the following Parent
 * Segment." A complete segment without parts holds all of its media, so any part of it is there.
 */
export function satisfies(at: LowLatencyPosition, want: { msn: number; part?: number }): boolean {
  const { msn, part } = want;
  if (part === undefined || at.msn > msn) return at.msn >= msn;
  if (at.msn === msn && (at.parts === 0 || part < at.parts)) return true;
  const target = at.msn === msn ? { msn: msn + 1, part: 0 } : { msn, part };
  const p = at.partial;
  return p !== undefined && (p.msn > target.msn || (p.msn === target.msn && p.parts > target.part));
}

/** 6.2.5.2: "three divided by the Part Target Duration if the Part Target Duration is less than one second, or three otherwise". */
export function advancePartLimit(partTargetMs: number): number {
  return partTargetMs < 1000 ? 3000 / partTargetMs : 3;
}

/**
 * 6.2.5.2: a request more than two segments past the last one, or a part past the last part by more than
 * the Advance Part Limit, is refused at once (400) rather than held. A part of a later segment than the
 * last part's is counted from that segment's start, so the limit is never applied more strictly than
 * the draft's.
 */
export function tooFarAhead(at: LowLatencyPosition, want: { msn: number; part?: number }): string | undefined {
  if (want.msn > at.msn + 2) return `_HLS_msn=${want.msn} is more than two segments past the last one (${at.msn})`;
  if (want.part === undefined) return undefined;
  const last = at.partial ?? (at.parts > 0 ? { msn: at.msn, parts: at.parts } : undefined);
  const ahead = last !== undefined && want.msn === last.msn ? want.part - (last.parts - 1)
    : want.msn > (last?.msn ?? at.msn) ? want.part + 1 : 0;
  const limit = advancePartLimit(at.partTargetMs);
  return ahead > limit ? `_HLS_part=${want.part} of ${want.msn} is ${ahead} parts past the last one, more than ${limit}` : undefined;
}
