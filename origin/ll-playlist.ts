// The low-latency lines of a published media playlist (draft-pantos-hls-rfc8216bis; docs/origin.md,
// "Low-latency HLS"), and the delta update of a published playlist. Pure functions: the publisher decides
// what a rendition has, these write it down.
//
// Parts are published under URIs of their own, named after their segment's published name
// (`chunk-5.42.m4s` -> `chunk-5.42.p0.m4s`), rather than as byte ranges of the segment URI: hls.js cannot
// use open-ended byte-range parts and ignores preload hints, and an edge that caches whole objects
// would answer a range of a segment still being written with the whole body (200), or have to hold it.
// A part URI is one small immutable object each cache stores whole; hls.js, Shaka and AVPlayer all take
// part URIs. Deriving the name from the segment's published name makes parts follow whatever rule names
// segments: a part URI is never reused for other bytes because its segment's name never is.
import { isMediaPath } from '../src/media-types.js';
import { parsePlaylist, serializeMedia, type MediaPlaylist, type MediaSegment } from '../src/playlist.js';

/** A published part: a byte range of its segment's upload. */
export interface PartRecord {
  offset: number;
  length: number;
  /** Seconds (EXT-X-PART DURATION). */
  duration: number;
  /** Starts with a sync sample (INDEPENDENT=YES). */
  independent: boolean;
}

/** PART-HOLD-BACK in part targets: the draft's minimum is 2, and it recommends at least 3. */
export const PART_HOLD_BACK_PARTS = 3;
/** CAN-SKIP-UNTIL in target durations: the draft's minimum. */
export const CAN_SKIP_TARGETS = 6;
/** Parts of a segment are listed while it starts at most this many target durations from the end (draft 6.2.2). */
export const PART_LISTING_TARGETS = 3;

/**
 * `v0/chunk-5.42.m4s`, 3 -> `v0/chunk-5.42.p3.m4s`: the segment's media extension stays last (it gives the
 * content type); a name without one gets `.p3` appended (`seg.42` -> `seg.42.p3`, never another segment's).
 */
export function partName(segment: string, index: number): string {
  if (!isMediaPath(segment)) return `${segment}.p${index}`;
  const dot = segment.lastIndexOf('.');
  return `${segment.slice(0, dot)}.p${index}${segment.slice(dot)}`;
}

/** A decimal-floating-point (RFC 8216 4.2): no exponent, at most 6 decimals, no trailing zeros. */
export function formatSeconds(seconds: number): string {
  return seconds.toFixed(6).replace(/\.?0+$/, '');
}

export function serverControlLine(targetDuration: number, partTargetMs: number): string {
  return `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${formatSeconds((PART_HOLD_BACK_PARTS * partTargetMs) / 1000)},`
    + `CAN-SKIP-UNTIL=${formatSeconds(CAN_SKIP_TARGETS * targetDuration)}`;
}

export function partInfLine(partTargetMs: number): string {
  return `#EXT-X-PART-INF:PART-TARGET=${formatSeconds(partTargetMs / 1000)}`;
}

export function partLine(uri: string, part: PartRecord): string {
  return `#EXT-X-PART:DURATION=${formatSeconds(part.duration)},URI="${uri}"${part.independent ? ',INDEPENDENT=YES' : ''}`;
}

export function preloadHintLine(uri: string): string {
  return `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${uri}"`;
}

/** LAST-PART only when the rendition's last segment (or the one in progress) has parts. */
export function renditionReportLine(uri: string, lastMsn: number, lastPart: number | undefined): string {
  return `#EXT-X-RENDITION-REPORT:URI="${uri}",LAST-MSN=${lastMsn}${lastPart !== undefined ? `,LAST-PART=${lastPart}` : ''}`;
}

/** Segment tags with part lines, which go before the segment's EXTINF (after its DISCONTINUITY, MAP, KEY). */
export function withPartLines(tags: readonly string[], lines: readonly string[]): string[] {
  const at = tags.findIndex((t) => t.startsWith('#EXTINF:'));
  return [...tags.slice(0, at), ...lines, ...tags.slice(at)];
}

/**
 * Index of the first segment whose parts are still listed: the draft removes EXT-X-PART tags "after they
 * are greater than three Target Durations from the end of the Playlist". A segment's parts go together,
 * once its start is further than that from the end (`after`: seconds published after the last segment).
 */
export function firstListingParts(durations: readonly number[], targetDuration: number, after: number): number {
  let end = after;
  let i = durations.length;
  while (i > 0 && end + durations[i - 1]! <= PART_LISTING_TARGETS * targetDuration) end += durations[--i]!;
  return i;
}

/**
 * The Playlist Delta Update (draft 6.2.5.1) of a published low-latency playlist: the oldest segments, those
 * further than CAN-SKIP-UNTIL from the end of the last segment, replaced by EXT-X-SKIP. Conservative where
 * the draft leaves room: segments are skipped only up to the first one with a discontinuity (the remaining
 * segments' discontinuity sequence numbers count the tags before them), the date ranges of skipped
 * segments stay (only `v2` with CAN-SKIP-DATERANGES may drop them, and that is not offered), and the
 * first remaining segment repeats the init section and keys in force.
 */
export function deltaUpdate(text: string, canSkipUntil: number): string {
  const pl = parsePlaylist(text) as MediaPlaylist;
  const total = pl.segments.reduce((s, seg) => s + seg.duration, 0);
  let skipped = 0;
  let start = 0;
  for (const seg of pl.segments) {
    if (seg.discontinuity || total - start <= canSkipUntil) break;
    start += seg.duration;
    skipped++;
  }
  const dateRanges = pl.segments.slice(0, skipped).flatMap((s) => s.tags.filter((t) => t.startsWith('#EXT-X-DATERANGE:')));
  const rest: MediaSegment[] = pl.segments.slice(skipped);
  if (rest.length > 0 && dateRanges.length > 0) rest[0] = { ...rest[0]!, tags: [...dateRanges, ...rest[0]!.tags] };
  // EXT-X-SKIP needs version 9.
  return serializeMedia({ ...pl, version: Math.max(pl.version ?? 1, 9), header: [...pl.header, `#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`], segments: rest });
}
