// LL-HLS parts cut from a segment's CMAF fragments as they arrive (src/cmaf.ts reports them): consecutive
// whole fragments grouped so that no part lasts longer than the part target, each with its byte range in
// the segment, so a part can be published as a byte range of the segment URI or under a URI of its own.
//
// draft-pantos-hls-rfc8216bis 4.4.4.9: "The duration of a Partial Segment MUST be less than or equal to
// the Part Target Duration"; a part is INDEPENDENT=YES when it "contains an independent frame" (here: when
// its first sample is a sync sample, so a player can start decoding at the part's first byte); and the
// parts of a segment together are the segment. A part is closed as soon as the next fragment of the same
// duration would not fit, so it is published the moment its last frame arrives, not one frame later; a
// fragment that turns out longer than predicted closes the part before it. Audio renditions (every
// fragment a sync sample) get INDEPENDENT=YES on every part; video ones where a key frame starts the part
// (with the transcoder's GOP = segment duration, the first part of each segment).
//
// Pure: no I/O, no clock. Nothing throws: problems are typed results.
import type { Fragment } from '../src/cmaf.js';

export interface Part {
  /** Position in the segment, from 0. */
  index: number;
  /** Byte range in the segment (the first part starts at 0 and carries the `styp`). */
  offset: number;
  length: number;
  /** In the fragments' timescale. */
  duration: number;
  timescale: number;
  /** duration / timescale: EXT-X-PART DURATION. */
  seconds: number;
  /** Decode time of the first sample, in the timescale. */
  decodeTime: number;
  /** Its first sample is a sync sample: INDEPENDENT=YES. */
  independent: boolean;
  fragments: number;
}

/** Worth knowing, not fatal: the parts stay valid byte ranges of the segment. */
export type PartCondition =
  /** A single fragment lasts longer than the target: its part does too (the origin must declare more). */
  | { kind: 'fragment_longer_than_target'; part: number; duration: number; timescale: number; targetMs: number }
  /** The segment ended with no fragment in it: no parts. */
  | { kind: 'no_fragments'; segmentLength: number }
  /** Bytes after the last fragment (no media) that no part holds, because that part was already closed. */
  | { kind: 'untiled_tail'; offset: number; length: number };

/** The cutter stopped: the input broke its contract. */
export type PartCutError =
  /** A fragment that does not start where the previous one ended. */
  | { kind: 'not_contiguous'; expectedOffset: number; offset: number }
  /** A fragment in another timescale than the first (one track per segment expected). */
  | { kind: 'timescale_changed'; timescale: number; previous: number }
  /** finish() with fewer bytes than the fragments hold, or add()/finish() after finish(). */
  | { kind: 'bad_finish'; segmentLength: number; fragmentsEnd: number }
  | { kind: 'finished' };

export interface CutStep {
  /** Parts completed by this call, in order. */
  parts: Part[];
  conditions: PartCondition[];
  /** Set once the cutter has stopped; it stays set. */
  error: PartCutError | undefined;
}

interface OpenPart {
  offset: number;
  end: number;
  duration: number;
  decodeTime: number;
  independent: boolean;
  fragments: number;
  /** Duration of its last fragment: the prediction for the next one. */
  last: number;
}

export class PartCutter {
  private open: OpenPart | undefined;
  private timescale: number | undefined;
  private next = 0;
  private end = 0;
  private done = false;
  private failed: PartCutError | undefined;

  /** @param targetMs the part target (EXT-X-PART-INF PART-TARGET), in ms. */
  constructor(readonly targetMs: number) {}

  get error(): PartCutError | undefined {
    return this.failed;
  }

  /** The part being filled (for a preload hint): where it starts and what it holds so far. */
  get pending(): { index: number; offset: number; length: number; duration: number } | undefined {
    const p = this.open;
    return p && { index: this.next, offset: p.offset, length: p.end - p.offset, duration: p.duration };
  }

  /** The next fragment of the segment, in order. */
  add(f: Fragment): CutStep {
    const step: CutStep = { parts: [], conditions: [], error: undefined };
    if (this.failed) return { ...step, error: this.failed };
    if (this.done) return this.stop(step, { kind: 'finished' });
    if (f.offset !== this.end) return this.stop(step, { kind: 'not_contiguous', expectedOffset: this.end, offset: f.offset });
    if (this.timescale !== undefined && f.timescale !== this.timescale) return this.stop(step, { kind: 'timescale_changed', timescale: f.timescale, previous: this.timescale });
    this.timescale = f.timescale;
    this.end = f.offset + f.length;

    if (this.open && this.over(this.open.duration + f.duration)) this.close(step);
    if (!this.open) {
      this.open = { offset: f.offset, end: f.offset, duration: 0, decodeTime: f.decodeTime, independent: f.startsWithSync, fragments: 0, last: 0 };
      if (this.over(f.duration)) {
        step.conditions.push({ kind: 'fragment_longer_than_target', part: this.next, duration: f.duration, timescale: f.timescale, targetMs: this.targetMs });
      }
    }
    const p = this.open;
    p.end = this.end;
    p.duration += f.duration;
    p.fragments++;
    p.last = f.duration;
    // Closed now when a fragment like this one would not fit after it (so also when it is over already).
    if (this.over(p.duration + p.last)) this.close(step);
    return step;
  }

  /** The segment's upload completed with `segmentLength` bytes: the last part closes. */
  finish(segmentLength: number): CutStep {
    const step: CutStep = { parts: [], conditions: [], error: undefined };
    if (this.failed) return { ...step, error: this.failed };
    if (this.done) return this.stop(step, { kind: 'finished' });
    if (segmentLength < this.end) return this.stop(step, { kind: 'bad_finish', segmentLength, fragmentsEnd: this.end });
    this.done = true;
    if (this.open) {
      this.open.end = segmentLength;
      this.close(step);
    } else if (this.next === 0) {
      step.conditions.push({ kind: 'no_fragments', segmentLength });
    } else if (segmentLength > this.end) {
      step.conditions.push({ kind: 'untiled_tail', offset: this.end, length: segmentLength - this.end });
    }
    return step;
  }

  private over(duration: number): boolean {
    // Integer arithmetic: 15 frames of 1/30 s are exactly 500 ms, never 500.0000001.
    return duration * 1000 > this.targetMs * this.timescale!;
  }

  private close(step: CutStep): void {
    const p = this.open!;
    this.open = undefined;
    step.parts.push({
      index: this.next++, offset: p.offset, length: p.end - p.offset, duration: p.duration, timescale: this.timescale!,
      seconds: p.duration / this.timescale!, decodeTime: p.decodeTime, independent: p.independent, fragments: p.fragments,
    });
  }

  private stop(step: CutStep, error: PartCutError): CutStep {
    this.failed ??= error;
    return { ...step, error: this.failed };
  }
}

/** Cuts a whole segment at once (tests, tools): the same parts as feeding the fragments one by one. */
export function cutParts(fragments: readonly Fragment[], targetMs: number, segmentLength: number): CutStep {
  const cutter = new PartCutter(targetMs);
  const all: CutStep = { parts: [], conditions: [], error: undefined };
  for (const step of [...fragments.map((f) => cutter.add(f)), cutter.finish(segmentLength)]) {
    all.parts.push(...step.parts);
    all.conditions.push(...step.conditions);
    all.error = step.error;
  }
  return all;
}
