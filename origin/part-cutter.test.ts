// LL-HLS part cutting: properties over random fragment sequences, the frame and AAC arithmetic of real
// ladders, every typed outcome, and parts cut from real ffmpeg segments read back by ffprobe.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseInit, scanSegment, type Fragment } from '../src/cmaf.js';
import { cutParts, PartCutter, type Part } from './part-cutter.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

/** Fragments of the given durations and sync flags, laid out from offset `start` (the styp before). */
function fragments(timescale: number, spec: { duration: number; sync: boolean; length?: number }[], start = 24): Fragment[] {
  let at = 0;
  let time = 0;
  return spec.map((s, i) => {
    const length = (i === 0 ? start : 0) + (s.length ?? 100);
    const f: Fragment = {
      offset: at, length, moofOffset: at + (i === 0 ? start : 0), sequenceNumber: i + 1, trackId: 1, timescale, decodeTime: time,
      duration: s.duration, sampleCount: 1, startsWithSync: s.sync, tracks: [],
    };
    at += length;
    time += s.duration;
    return f;
  });
}
const end = (fs: Fragment[]) => (fs.length ? fs.at(-1)!.offset + fs.at(-1)!.length : 0);
const frames = (n: number, duration: number, keyEvery = Infinity) => Array.from({ length: n }, (_, i) => ({ duration, sync: i % keyEvery === 0 }));
const shape = (parts: Part[]) => parts.map((p) => [p.fragments, p.independent]);

describe('parts of real ladders', () => {
  it('30 fps video, 0.5 s target: four parts of 15 frames, the first independent', () => {
    const fs = fragments(15360, frames(60, 512, 60));
    const r = cutParts(fs, 500, end(fs));
    assert.deepEqual(shape(r.parts), [[15, true], [15, false], [15, false], [15, false]]);
    assert.deepEqual(r.parts.map((p) => p.seconds), [0.5, 0.5, 0.5, 0.5]);
    assert.deepEqual(r.conditions, []);
  });

  it('25 fps: 12 frames (480 ms) per part, the 50th and last two frames a short last part', () => {
    const fs = fragments(12800, frames(50, 512, 50));
    assert.deepEqual(cutParts(fs, 500, end(fs)).parts.map((p) => p.fragments), [12, 12, 12, 12, 2]);
  });

  it('AAC frames (1024 at 48 kHz) one per fragment: 23 per part, all independent; 94 frames leave a 2-frame part', () => {
    const fs = fragments(48000, frames(94, 1024, 1));
    const r = cutParts(fs, 500, end(fs));
    assert.deepEqual(shape(r.parts), [[23, true], [23, true], [23, true], [23, true], [2, true]]);
    assert.ok(r.parts.every((p) => p.seconds <= 0.5));
  });

  it("the transcoder's audio: 23-frame fragments are one part each", () => {
    const fs = fragments(48000, [...frames(4, 23 * 1024, 1), { duration: 2 * 1024, sync: true }]);
    assert.deepEqual(cutParts(fs, 500, end(fs)).parts.map((p) => p.fragments), [1, 1, 1, 1, 1]);
  });

  it('a part closes with the fragment that fills it, not when the next one arrives', () => {
    const cutter = new PartCutter(500);
    const fs = fragments(15360, frames(16, 512, 60));
    const emitted = fs.map((f) => cutter.add(f).parts.length);
    assert.deepEqual(emitted, [...Array(14).fill(0), 1, 0]);
    assert.deepEqual(cutter.pending, { index: 1, offset: fs[15]!.offset, length: fs[15]!.length, duration: 512 });
    const last = cutter.finish(end(fs) + 8);
    assert.deepEqual(last.parts.map((p) => [p.index, p.offset, p.length, p.fragments]), [[1, fs[15]!.offset, fs[15]!.length + 8, 1]]);
    assert.equal(cutter.pending, undefined);
  });

  it('a fragment longer than predicted closes the part before it; one like it would not fit after it, so it closes too', () => {
    const fs = fragments(1000, [{ duration: 100, sync: true }, { duration: 100, sync: false }, { duration: 350, sync: false }, { duration: 100, sync: false }]);
    assert.deepEqual(cutParts(fs, 500, end(fs)).parts.map((p) => p.duration), [200, 350, 100]);
  });
});

describe('typed outcomes', () => {
  it('a fragment longer than the target is a part of its own, reported', () => {
    const fs = fragments(1000, [{ duration: 100, sync: true }, { duration: 700, sync: false }, { duration: 100, sync: false }]);
    const r = cutParts(fs, 500, end(fs));
    assert.deepEqual(r.parts.map((p) => p.duration), [100, 700, 100]);
    assert.deepEqual(r.conditions, [{ kind: 'fragment_longer_than_target', part: 1, duration: 700, timescale: 1000, targetMs: 500 }]);
  });

  it('no fragments; bytes after a closed last part; fragments that do not follow each other; timescale changes; misuse', () => {
    assert.deepEqual(cutParts([], 500, 24), { parts: [], conditions: [{ kind: 'no_fragments', segmentLength: 24 }], error: undefined });
    const full = fragments(15360, frames(15, 512, 15));
    assert.deepEqual(cutParts(full, 500, end(full) + 10).conditions, [{ kind: 'untiled_tail', offset: end(full), length: 10 }]);

    const gap = fragments(1000, frames(3, 100));
    gap[2] = { ...gap[2]!, offset: gap[2]!.offset + 1 };
    assert.deepEqual(cutParts(gap, 500, 10_000).error, { kind: 'not_contiguous', expectedOffset: gap[2]!.offset - 1, offset: gap[2]!.offset });

    const mixed = fragments(1000, frames(3, 100));
    mixed[1] = { ...mixed[1]!, timescale: 90000 };
    assert.deepEqual(cutParts(mixed, 500, 10_000).error, { kind: 'timescale_changed', timescale: 90000, previous: 1000 });

    const c = new PartCutter(500);
    const fs = fragments(1000, frames(2, 100));
    c.add(fs[0]!);
    c.add(fs[1]!);
    assert.deepEqual(c.finish(10).error, { kind: 'bad_finish', segmentLength: 10, fragmentsEnd: end(fs) });
    assert.equal(c.add(fs[0]!).error?.kind, 'bad_finish', 'the first error stays');
    const done = new PartCutter(500);
    done.finish(0);
    assert.deepEqual(done.add(fs[0]!).error, { kind: 'finished' });
  });
});

describe('properties over random fragments', () => {
  const input = fc.record({
    timescale: fc.constantFrom(1000, 10240, 12800, 15360, 30000, 48000, 90000),
    targetMs: fc.integer({ min: 100, max: 2000 }),
    spec: fc.array(fc.record({ duration: fc.integer({ min: 0, max: 120_000 }), sync: fc.boolean(), length: fc.integer({ min: 1, max: 5000 }) }), { maxLength: 120 }),
    tail: fc.nat({ max: 64 }),
  });

  it('parts tile the segment, hold whole fragments in order, sum to its duration, stay within the target, and mark independence', () => {
    fc.assert(fc.property(input, ({ timescale, targetMs, spec, tail }) => {
      const fs = fragments(timescale, spec);
      const length = end(fs) + tail;
      const r = cutParts(fs, targetMs, length);
      assert.equal(r.error, undefined);
      if (fs.length === 0) return assert.deepEqual(r.conditions, [{ kind: 'no_fragments', segmentLength: length }]);

      // Tiling: from 0, contiguous, to the end (or to the last fragment, with the tail reported).
      let at = 0;
      let fi = 0;
      for (const [i, p] of r.parts.entries()) {
        assert.equal(p.index, i);
        assert.equal(p.offset, at);
        const mine = fs.slice(fi, fi + p.fragments);
        assert.equal(p.offset, mine[0]!.offset, 'a part starts where a fragment does');
        assert.equal(p.duration, mine.reduce((n, f) => n + f.duration, 0));
        assert.equal(p.decodeTime, mine[0]!.decodeTime);
        assert.equal(p.independent, mine[0]!.startsWithSync);
        assert.equal(p.seconds, p.duration / timescale);
        const over = p.duration * 1000 > targetMs * timescale;
        if (over) {
          assert.equal(p.fragments, 1, 'only a single fragment goes over the target');
          assert.ok(r.conditions.some((c) => c.kind === 'fragment_longer_than_target' && c.part === i));
        }
        at += p.length;
        fi += p.fragments;
      }
      assert.equal(fi, fs.length, 'every fragment is in a part');
      const tailCondition = r.conditions.find((c) => c.kind === 'untiled_tail');
      assert.equal(at, tailCondition ? end(fs) : length);
      if (tailCondition) assert.deepEqual(tailCondition, { kind: 'untiled_tail', offset: end(fs), length: tail });
      assert.equal(r.parts.reduce((n, p) => n + p.duration, 0), fs.reduce((n, f) => n + f.duration, 0));
    }), { numRuns: RUNS });
  });

  it('each part is published by the add() of its last fragment, or of the fragment that did not fit after it', () => {
    fc.assert(fc.property(input, ({ timescale, targetMs, spec }) => {
      const fs = fragments(timescale, spec);
      const cutter = new PartCutter(targetMs);
      const fits = (d: number) => d * 1000 <= targetMs * timescale;
      let done = 0;
      for (const [j, f] of fs.entries()) {
        for (const p of cutter.add(f).parts) {
          const last = done + p.fragments - 1;
          done += p.fragments;
          if (last === j) assert.ok(!fits(p.duration + fs[last]!.duration), 'closed early only when a like fragment would not fit');
          else {
            assert.equal(last, j - 1);
            assert.ok(!fits(p.duration + f.duration), 'closed before a fragment that did not fit');
          }
        }
      }
      // What stays open at the end: one part at most, with room for a fragment like its last.
      const pending = cutter.pending;
      if (pending) assert.ok(fits(pending.duration + fs.at(-1)!.duration));
      assert.equal(done + (pending ? fs.length - done : 0), fs.length);
    }), { numRuns: RUNS });
  });
});

describe('parts of real ffmpeg segments (test/fixtures/cmaf) read back by ffprobe', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'part-cutter-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const FIXTURES = new URL('../test/fixtures/cmaf/', import.meta.url).pathname;

  for (const [dir, targetMs, expected] of [
    ['ll-video', 500, [[5, true], [5, false]]],
    ['ll-video', 300, [[3, true], [3, false], [3, false], [1, false]]],
    ['ll-audio', 500, [[1, true], [1, true], [1, true]]], // 1 s of 48 kHz audio: 23 + 23 + 2 AAC frames
    ['frame-audio', 200, undefined],
  ] as const) {
    it(`${dir}, target ${targetMs} ms: each part's byte range is a playable piece with the durations and key frames ffprobe reads`, () => {
      const initBytes = readFileSync(join(FIXTURES, dir, 'init.mp4'));
      const init = parseInit(initBytes);
      assert.ok(init.ok);
      const seg = readFileSync(join(FIXTURES, dir, 'seg1.m4s'));
      const fs = scanSegment(init.value, seg).fragments;
      const r = cutParts(fs, targetMs, seg.length);
      assert.equal(r.error, undefined);
      if (expected) assert.deepEqual(shape(r.parts), expected);
      assert.equal(r.parts.reduce((n, p) => n + p.length, 0), seg.length);
      let fi = 0;
      for (const p of r.parts) {
        assert.ok(p.seconds <= targetMs / 1000);
        const samples = fs.slice(fi, (fi += p.fragments)).reduce((n, f) => n + f.sampleCount, 0);
        // The part alone after the init segment (what a player fetching the byte range gets; the first carries the styp).
        const file = join(tmp, `${dir}-${targetMs}-${p.index}.mp4`);
        writeFileSync(file, Buffer.concat([initBytes, seg.subarray(p.offset, p.offset + p.length)]));
        const probe = spawnSync('ffprobe', ['-v', 'error', '-show_packets', '-show_entries', 'packet=dts,duration,flags', '-of', 'json', file], { encoding: 'utf8' });
        assert.equal(probe.status, 0, probe.stderr);
        const packets = (JSON.parse(probe.stdout) as { packets: { dts: number; duration?: number; flags: string }[] }).packets;
        assert.equal(packets.length, samples, `part ${p.index}: samples`);
        assert.equal(packets[0]!.flags.includes('K'), p.independent, `part ${p.index} key frame`);
        // ffprobe leaves out the duration of a file's first AAC packet (the edit list's priming): the next dts tells
        // it, unless the part is that one packet.
        if (packets.length === 1 && packets[0]!.duration === undefined) continue;
        const durations = packets.map((x, i) => x.duration ?? packets[i + 1]!.dts - x.dts);
        assert.equal(durations.reduce((n, d) => n + d, 0), p.duration, `part ${p.index} duration`);
      }
    });
  }
});
