// Parts cut from an upload while it is written, with the real CMAF fixtures in random chunkings: the same
// parts as cutting the finished segment, announced as each closes; kept after a failed upload; and bad bytes
// stop the cutting with one problem, never an exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { scanSegment } from '../src/cmaf.js';
import { cutParts } from './part-cutter.js';
import { SegmentParts, type PartsProblem } from './segment-parts.js';
import { UploadVersion } from './upload-version.js';
import { LL_AUDIO, LL_VIDEO, taggedSegment, type LlTrack } from '../test/helpers/ll-uploads.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

/** Splits `bytes` at the given cut points (sorted, deduplicated). */
function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) out.push(bytes.subarray(from, c));
    from = c;
  }
  return out;
}

function watch(track: LlTrack, upload: UploadVersion) {
  const events = { changed: 0, problems: [] as PartsProblem[] };
  const parts = new SegmentParts(upload, track.parsed, 500, { changed: () => events.changed++, problem: (p) => events.problems.push(p) });
  return { parts, events };
}

describe('SegmentParts', () => {
  for (const [name, track] of [['video', LL_VIDEO], ['audio', LL_AUDIO]] as const) {
    it(`${name}: any chunking, cutting from any point on, gives the parts of the finished segment, each announced as it closes`, () => {
      fc.assert(fc.property(fc.nat(1), fc.array(fc.nat(), { maxLength: 30 }), fc.nat(), (k, cuts, startAt) => {
        const bytes = taggedSegment(track, k, 'x');
        const expected = cutParts(scanSegment(track.parsed, bytes).fragments, 500, bytes.length).parts;
        const upload = new UploadVersion(1, 's.m4s');
        const pieces = chunks(bytes, cuts);
        const before = startAt % (pieces.length + 1);
        for (const c of pieces.slice(0, before)) upload.append(c);
        const { parts, events } = watch(track, upload);
        const replayed = parts.parts.length;
        assert.equal(events.changed, 0, 'quiet while replaying what arrived before');
        for (const c of pieces.slice(before)) {
          const had = parts.parts.length;
          upload.append(c);
          // Parts only of bytes that arrived, closed as soon as their last fragment is in.
          const last = parts.parts.at(-1);
          assert.ok(last === undefined || last.offset + last.length <= upload.size);
          assert.equal(parts.next, parts.parts.length);
          if (parts.parts.length > had) assert.ok(events.changed > 0);
        }
        const announced = events.changed;
        upload.complete('h', 0);
        assert.deepEqual(parts.parts, expected);
        assert.equal(events.changed, announced + 1, 'the end is announced');
        assert.ok(events.changed <= expected.length - replayed + 1, 'at most one announcement per part, and one for the end');
        assert.deepEqual([parts.cutting, parts.tiled, parts.next], [false, true, undefined]);
        assert.deepEqual(events.problems, []);
        assert.deepEqual(parts.settled(expected.length), { part: undefined }, 'no part after the last');
        assert.deepEqual(parts.settled(0), { part: expected[0] });
      }), { numRuns: RUNS });
    });
  }

  it('an upload that fails keeps the bytes of its closed parts, and no more parts come', () => {
    const bytes = taggedSegment(LL_VIDEO, 0, 'x');
    const whole = cutParts(scanSegment(LL_VIDEO.parsed, bytes).fragments, 500, bytes.length).parts;
    const upload = new UploadVersion(1, 's.m4s');
    const { parts, events } = watch(LL_VIDEO, upload);
    upload.append(bytes.subarray(0, whole[1]!.offset + 10));
    assert.equal(parts.parts.length, 1);
    assert.equal(parts.settled(1), undefined, 'part 1 may still come');
    upload.abort();
    assert.deepEqual([parts.cutting, parts.tiled, parts.next], [false, false, undefined]);
    assert.deepEqual(parts.settled(1), { part: undefined });
    assert.deepEqual(parts.keptBytes(whole[0]!), bytes.subarray(0, whole[0]!.length));
    assert.equal(parts.memoryBytes, whole[0]!.length);
    assert.equal(events.changed, 2);
    // Nothing follows an upload that is not being written.
    const done = new UploadVersion(2, 't.m4s');
    done.complete('h', 0);
    const late = watch(LL_VIDEO, done);
    assert.deepEqual([late.parts.cutting, late.parts.parts.length], [false, 0]);
  });

  it('bytes that are not CMAF stop the cutting with one problem; the parts before them stay', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), (garbage, where) => {
      const bytes = taggedSegment(LL_VIDEO, 1, 'x');
      const whole = cutParts(scanSegment(LL_VIDEO.parsed, bytes).fragments, 500, bytes.length).parts;
      const cut = whole[0]!.offset + whole[0]!.length + (where % 3 === 0 ? 0 : 1 + (where % 50));
      const upload = new UploadVersion(1, 's.m4s');
      const { parts, events } = watch(LL_VIDEO, upload);
      upload.append(bytes.subarray(0, cut));
      upload.append(Buffer.from(garbage));
      upload.append(bytes.subarray(cut));
      upload.complete('h', 0);
      assert.deepEqual(parts.parts[0], whole[0]);
      assert.ok(events.problems.length <= 1, 'one problem per upload');
      if (!parts.tiled) assert.equal(events.problems.length, 1);
      assert.equal(parts.cutting, false);
    }), { numRuns: RUNS });
  });
});
