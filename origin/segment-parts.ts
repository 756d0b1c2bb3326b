// The LL-HLS parts of one segment upload, cut while it is being written: the upload's bytes, as each chunk
// is appended, go through the CMAF scanner (src/cmaf.ts) and the part cutter (origin/part-cutter.ts), so a
// part exists the moment its last fragment has arrived. What was cut is what the publisher may publish:
// a part is only ever made of bytes that arrived, and never changes.
//
// Parts are cut only from uploads a playlist hints while they are written (docs/origin.md, "Low-latency
// HLS"): the hint says which rendition, and so which init section, the bytes belong to.
//
// If the upload fails, its closed parts were published already and stay servable (for the grace period, as
// anything published): their bytes are kept here, since the upload's own are dropped.
import { FragmentScanner, type CmafError, type InitSegment } from '../src/cmaf.js';
import { PartCutter, type Part, type PartCondition, type PartCutError } from './part-cutter.js';
import type { UploadParts } from './publisher.js';
import type { UploadVersion } from './upload-version.js';

/** What went wrong with a segment's parts, for one log line: the parts cut so far stay valid. */
export type PartsProblem = PartCondition | PartCutError | { kind: 'bad_cmaf'; error: CmafError };

export interface SegmentPartsEvents {
  /** A part closed, or the cutting ended (upload complete, failed, or not CMAF after all). */
  changed(): void;
  /** The first problem with this upload's parts (one per upload: a log line, not one per part). */
  problem(problem: PartsProblem): void;
}

/** Implements what the publisher reads (FileView.parts). */
export class SegmentParts implements UploadParts {
  readonly parts: Part[] = [];
  /** More parts may come: the upload goes on and its bytes were cut cleanly so far. */
  cutting = true;
  tiled = false;
  /**
   * The wall clock at the segment's start (Unix ms), from the `prft` before its first fragment (ffmpeg's
   * -write_prft): in the bytes, so every origin fed the same upload reads the same.
   */
  producerTimeMs: number | undefined;
  /** The bytes of the closed parts of an upload that failed (its own are gone). */
  private kept: Buffer | undefined;
  private readonly scanner: FragmentScanner;
  private readonly cutter: PartCutter;
  /** Quiet while the chunks that arrived before are replayed: the publisher is reading us then. */
  private replaying = true;
  private reported = false;
  private scanned = 0;

  /** Starts cutting `upload`, which must still be written (`UploadVersion.observe`). */
  constructor(readonly upload: UploadVersion, init: InitSegment, targetMs: number, private readonly events: SegmentPartsEvents) {
    this.scanner = new FragmentScanner(init);
    this.cutter = new PartCutter(targetMs);
    if (!upload.observe({ chunk: (c) => this.chunk(c), complete: () => this.complete(), abort: () => this.abort() })) this.cutting = false;
    this.replaying = false;
  }

  /** Bytes held for the parts of a failed upload. */
  get memoryBytes(): number {
    return this.kept?.length ?? 0;
  }

  /** The part being filled, announced with a preload hint: undefined once no further part can come. */
  get next(): number | undefined {
    return this.cutting ? this.parts.length : undefined;
  }

  /** Part `index` once it exists; undefined once it never will. */
  settled(index: number): { part: Part | undefined } | undefined {
    if (index < this.parts.length) return { part: this.parts[index] };
    return this.cutting ? undefined : { part: undefined };
  }

  /** The bytes of a closed part of a failed upload (a live or completed upload serves its own). */
  keptBytes(part: { offset: number; length: number }): Buffer | undefined {
    return this.kept?.subarray(part.offset, part.offset + part.length);
  }

  private chunk(bytes: Buffer): void {
    if (!this.cutting) return;
    const { fragments, error } = this.scanner.push(bytes);
    const before = this.parts.length;
    const first = fragments[0];
    if (first && this.scanned === 0 && first.producerTime && first.timescale > 0) {
      // The prft pairs its wall clock with a media time; the segment starts at the first fragment's decode time.
      const pt = first.producerTime;
      this.producerTimeMs = pt.wallClockMs - ((pt.mediaTime - first.decodeTime) * 1000) / first.timescale;
    }
    this.scanned += fragments.length;
    for (const f of fragments) this.take(this.cutter.add(f));
    if (error) this.stop({ kind: 'bad_cmaf', error });
    else if (this.parts.length > before) this.notify();
  }

  private complete(): void {
    if (!this.cutting) return;
    const { error } = this.scanner.end();
    if (error) return this.stop({ kind: 'bad_cmaf', error });
    const step = this.cutter.finish(this.upload.size);
    this.take(step);
    const last = this.parts.at(-1);
    this.tiled = step.error === undefined && last !== undefined && last.offset + last.length === this.upload.size;
    this.stop();
  }

  private abort(): void {
    if (this.parts.length > 0) {
      const last = this.parts.at(-1)!;
      // A copy: the upload's chunks are released once this returns.
      this.kept = Buffer.from(this.upload.bytes().subarray(0, last.offset + last.length));
    }
    this.stop();
  }

  private take(step: { parts: Part[]; conditions: PartCondition[]; error: PartCutError | undefined }): void {
    this.parts.push(...step.parts);
    for (const c of step.conditions) this.report(c);
    if (step.error) this.stop(step.error);
  }

  private stop(problem?: PartsProblem): void {
    if (!this.cutting) return;
    this.cutting = false;
    if (problem) this.report(problem);
    this.notify();
  }

  private report(problem: PartsProblem): void {
    if (this.reported) return;
    this.reported = true;
    this.events.problem(problem);
  }

  private notify(): void {
    if (!this.replaying) this.events.changed();
  }
}
