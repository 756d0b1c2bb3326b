// The CMAF scanner against real ffmpeg output (test/fixtures/cmaf, checked against ffprobe), against boxes
// built here for every rule, and against hostile bytes: random, truncated, mutated, split anywhere.
// FUZZ_RUNS=2000 node --import tsx --test src/cmaf.test.ts runs the property tests longer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { FragmentScanner, isSyncSample, parseInit, scanSegment, type Fragment, type InitSegment, type ScanUpdate } from './cmaf.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const FIXTURES = new URL('../test/fixtures/cmaf/', import.meta.url).pathname;
const fixtureDirs = readdirSync(FIXTURES, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const fixture = (dir: string, file: string) => readFileSync(join(FIXTURES, dir, file));

// ---- boxes ------------------------------------------------------------------------------------------
const u8 = (...n: number[]) => Buffer.from(n);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b; };
function box(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
}
/** A box with a 64-bit size (size field 1). */
function largeBox(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(1), Buffer.from(type, 'latin1'), u64(BigInt(16 + body.length)), body]);
}
const full = (type: string, version: number, flags: number, ...parts: Buffer[]) =>
  box(type, u8(version, (flags >> 16) & 255, (flags >> 8) & 255, flags & 255), ...parts);

interface TrackSpec { id: number; handler: string; timescale: number; trex?: { duration?: number; flags?: number }; v1?: boolean }
function initSegment(tracks: TrackSpec[]): Buffer {
  const traks = tracks.map((t) => box('trak',
    t.v1 ? full('tkhd', 1, 3, u64(0n), u64(0n), u32(t.id), Buffer.alloc(60)) : full('tkhd', 0, 3, u32(0), u32(0), u32(t.id), Buffer.alloc(68)),
    box('mdia',
      t.v1 ? full('mdhd', 1, 0, u64(0n), u64(0n), u32(t.timescale), u64(0n), u32(0)) : full('mdhd', 0, 0, u32(0), u32(0), u32(t.timescale), u32(0), u32(0)),
      full('hdlr', 0, 0, u32(0), Buffer.from(t.handler, 'latin1'), Buffer.alloc(12), u8(0)),
      box('minf')),
  ));
  const trexes = tracks.filter((t) => t.trex).map((t) => full('trex', 0, 0, u32(t.id), u32(1), u32(t.trex!.duration ?? 0), u32(0), u32(t.trex!.flags ?? 0)));
  return Buffer.concat([box('ftyp', Buffer.from('iso6', 'latin1'), u32(0)), box('moov', full('mvhd', 0, 0, Buffer.alloc(96)), ...traks, box('mvex', ...trexes))]);
}

interface Sample { duration?: number; size?: number; flags?: number }
interface TrafSpec {
  track: number;
  decodeTime?: number | bigint;
  samples: Sample[];
  /** tfhd defaults. */
  duration?: number;
  flags?: number;
  firstFlags?: number;
  tfdtVersion?: 0 | 1;
  noTfdt?: boolean;
  noTfhd?: boolean;
  extra?: Buffer[];
}
function traf(t: TrafSpec): Buffer {
  let tfhdFlags = 0x20000;
  const tfhdFields: Buffer[] = [];
  if (t.duration !== undefined) { tfhdFlags |= 0x08; tfhdFields.push(u32(t.duration)); }
  if (t.flags !== undefined) { tfhdFlags |= 0x20; tfhdFields.push(u32(t.flags)); }
  const s0 = t.samples[0] ?? {};
  let trunFlags = 0x01;
  if (t.firstFlags !== undefined) trunFlags |= 0x04;
  if (s0.duration !== undefined) trunFlags |= 0x100;
  if (s0.size !== undefined) trunFlags |= 0x200;
  if (s0.flags !== undefined) trunFlags |= 0x400;
  const entries = t.samples.map((s) => Buffer.concat([
    ...(trunFlags & 0x100 ? [u32(s.duration!)] : []), ...(trunFlags & 0x200 ? [u32(s.size!)] : []), ...(trunFlags & 0x400 ? [u32(s.flags!)] : []),
  ]));
  const v1 = t.tfdtVersion === 1 || typeof t.decodeTime === 'bigint';
  return box('traf',
    ...(t.noTfhd ? [] : [full('tfhd', 0, tfhdFlags, u32(t.track), ...tfhdFields)]),
    ...(t.noTfdt ? [] : [v1 ? full('tfdt', 1, 0, u64(BigInt(t.decodeTime ?? 0))) : full('tfdt', 0, 0, u32(Number(t.decodeTime ?? 0)))]),
    full('trun', 0, trunFlags, u32(t.samples.length), u32(0), ...(t.firstFlags !== undefined ? [u32(t.firstFlags)] : []), ...entries),
    ...(t.extra ?? []),
  );
}
const moof = (seq: number, ...trafs: TrafSpec[]) => box('moof', full('mfhd', 0, 0, u32(seq)), ...trafs.map(traf));
const mdat = (n: number) => box('mdat', Buffer.alloc(n, 0xab));
const fragment = (seq: number, ...trafs: TrafSpec[]) => Buffer.concat([moof(seq, ...trafs), mdat(16)]);

const KEY = 0x02000000; // sample_depends_on = 2
const NON_KEY = 0x01010000; // depends_on = 1, non-sync
const VIDEO: TrackSpec = { id: 1, handler: 'vide', timescale: 90000 };
const AUDIO: TrackSpec = { id: 2, handler: 'soun', timescale: 48000 };

function initOf(bytes: Buffer): InitSegment {
  const r = parseInit(bytes);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

/** Pushes `bytes` split at `cuts` (positions), then end(): everything reported. */
function scanChunks(init: InitSegment, bytes: Uint8Array, cuts: number[], limits = {}): ScanUpdate {
  const s = new FragmentScanner(init, limits);
  const fragments: Fragment[] = [];
  let prev = 0;
  for (const c of [...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b).concat(bytes.length)) {
    fragments.push(...s.push(bytes.subarray(prev, c)).fragments);
    prev = c;
  }
  return { fragments, error: s.end().error };
}

/** Fragments tile [0, end) without gaps, each inside the bytes. */
function assertTiles(fragments: Fragment[], length: number): void {
  let at = 0;
  for (const f of fragments) {
    assert.equal(f.offset, at);
    assert.ok(f.length > 0 && f.moofOffset >= f.offset && f.moofOffset < f.offset + f.length);
    at += f.length;
  }
  assert.ok(at <= length);
}

describe('real ffmpeg output (test/fixtures/cmaf), against ffprobe', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'cmaf-test-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

  for (const dir of fixtureDirs) {
    it(`${dir}: every fragment's samples, durations, decode times and first-sample key flag agree with ffprobe`, () => {
      const initBytes = fixture(dir, 'init.mp4');
      const init = initOf(initBytes);
      for (const name of ['seg1.m4s', 'seg2.m4s']) {
        const seg = fixture(dir, name);
        const { fragments, error } = scanSegment(init, seg);
        assert.equal(error, undefined, `${dir}/${name}: ${error?.message}`);
        assertTiles(fragments, seg.length);
        assert.equal(fragments.at(-1)!.offset + fragments.at(-1)!.length, seg.length, 'the fragments hold the whole segment');

        const file = join(tmp, `${dir}-${name}.mp4`);
        writeFileSync(file, Buffer.concat([initBytes, seg]));
        const probe = spawnSync('ffprobe', ['-v', 'error', '-show_streams', '-show_packets', '-show_entries',
          'stream=index,id:packet=stream_index,pts,dts,duration,flags,pos', '-of', 'json', file], { encoding: 'utf8' });
        assert.equal(probe.status, 0, probe.stderr);
        const out = JSON.parse(probe.stdout) as {
          streams: { index: number; id: string }[];
          packets: { stream_index: number; pts: number; dts: number; duration?: number; flags: string; pos: string }[];
        };
        const trackOf = new Map(out.streams.map((s) => [s.index, Number.parseInt(s.id, 16)]));
        // ffprobe gives no duration for the AAC priming packet the edit list cuts (the first of the file): the next one's dts tells it.
        out.packets.forEach((p, i) => {
          if (p.duration !== undefined) return;
          const next = out.packets.slice(i + 1).find((q) => q.stream_index === p.stream_index);
          const first = out.packets.find((q) => q.stream_index === p.stream_index) === p;
          assert.ok(first && next, `a packet without a duration at ${p.pos}`);
          p.duration = next.dts - p.dts;
        });
        let samples = 0;
        const dtsOffset = new Map<number, number>();
        for (const f of fragments) {
          for (const t of f.tracks) {
            const pk = out.packets
              .filter((p) => trackOf.get(p.stream_index) === t.trackId)
              .filter((p) => Number(p.pos) - initBytes.length >= f.moofOffset && Number(p.pos) - initBytes.length < f.offset + f.length)
              .sort((a, b) => Number(a.pos) - Number(b.pos));
            assert.equal(pk.length, t.sampleCount, `${dir}/${name} fragment at ${f.offset} track ${t.trackId}: samples`);
            assert.equal(pk.reduce((n, p) => n + p.duration!, 0), t.duration, `${dir}/${name} fragment at ${f.offset}: duration`);
            assert.equal(pk[0]!.flags.includes('K'), t.startsWithSync, `${dir}/${name} fragment at ${f.offset}: key flag of the first sample`);
            // ffprobe shifts by the edit list (B-frames, AAC priming); the shift is one per track.
            const shift = pk[0]!.dts - t.decodeTime;
            assert.equal(dtsOffset.get(t.trackId) ?? shift, shift, `${dir}/${name} fragment at ${f.offset}: decode time`);
            dtsOffset.set(t.trackId, shift);
            samples += pk.length;
          }
          const primary = f.tracks.find((t) => t.trackId === init.primaryTrackId)!;
          assert.deepEqual([f.trackId, f.decodeTime, f.duration, f.sampleCount, f.startsWithSync],
            [primary.trackId, primary.decodeTime, primary.duration, primary.sampleCount, primary.startsWithSync]);
        }
        assert.equal(samples, out.packets.length, `${dir}/${name}: every packet ffprobe reads is in a fragment`);
      }
    });
  }

  it('the fixtures cover what the transcoder and the hls muxer write', () => {
    const frags = (dir: string) => scanSegment(initOf(fixture(dir, 'init.mp4')), fixture(dir, 'seg1.m4s')).fragments;
    // LL video: a fragment per frame, the first a key frame, the others not.
    assert.ok(frags('ll-video').every((f) => f.sampleCount === 1));
    assert.deepEqual(frags('ll-video').map((f) => f.startsWithSync), frags('ll-video').map((_, i) => i === 0));
    // LL audio: 23 AAC frames (490.7 ms) per fragment, every one a sync sample.
    assert.ok(frags('ll-audio').slice(0, -1).every((f) => f.sampleCount === 23 && f.duration === 23 * 1024 && f.startsWithSync));
    assert.equal(initOf(fixture('hls-muxed', 'init.mp4')).tracks.length, 2);
    assert.ok(frags('hls-muxed').every((f) => f.tracks.length === 2));
    assert.ok(frags('prft-video').every((f) => f.producerTime && f.producerTime.mediaTime === f.decodeTime && f.moofOffset - f.offset >= 32));
    const pt = frags('prft-video')[0]!.producerTime!;
    assert.ok(pt.wallClockMs > Date.parse('2024-01-01') && pt.wallClockMs < Date.parse('2100-01-01'), `NTP time as Unix ms: ${pt.wallClockMs}`);
  });

  it('bytes pushed in any chunks give the same fragments as one push', () => {
    fc.assert(fc.property(
      fc.constantFrom(...fixtureDirs), fc.constantFrom('seg1.m4s', 'seg2.m4s'), fc.array(fc.nat(), { maxLength: 40 }),
      (dir, name, cuts) => {
        const seg = fixture(dir, name);
        const init = initOf(fixture(dir, 'init.mp4'));
        const whole = scanSegment(init, seg);
        const split = scanChunks(init, seg, cuts.map((c) => c % seg.length));
        assert.deepEqual(split, whole);
      },
    ), { numRuns: RUNS });
    // One byte at a time, the extreme.
    const seg = fixture('ll-video', 'seg1.m4s');
    const init = initOf(fixture('ll-video', 'init.mp4'));
    assert.deepEqual(scanChunks(init, seg, Array.from({ length: seg.length }, (_, i) => i)), scanSegment(init, seg));
  });
});

describe('hostile input: typed errors, never an exception', () => {
  const videoInit = initOf(fixture('ll-video', 'init.mp4'));
  const segments = fixtureDirs.flatMap((dir) => ['seg1.m4s', 'seg2.m4s'].map((name) => ({ init: initOf(fixture(dir, 'init.mp4')), seg: fixture(dir, name) })));

  it('random bytes, split anywhere: a typed error or fragments, the same either way', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const whole = scanSegment(videoInit, bytes);
      assertTiles(whole.fragments, bytes.length);
      assert.deepEqual(scanChunks(videoInit, bytes, cuts.map((c) => c % Math.max(1, bytes.length))), whole);
    }), { numRuns: RUNS * 5 });
    assert.doesNotThrow(() => parseInit(new Uint8Array(0)));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => { parseInit(bytes); }), { numRuns: RUNS * 5 });
  });

  it('real segments with bytes changed: typed errors or fragments, the same however split, inside the bytes', () => {
    fc.assert(fc.property(
      fc.constantFrom(...segments), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }),
      ({ init, seg }, edits, cuts) => {
        const bytes = Buffer.from(seg);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        const whole = scanSegment(init, bytes);
        assertTiles(whole.fragments, bytes.length);
        for (const f of whole.fragments) assert.ok(Number.isSafeInteger(f.decodeTime) && Number.isSafeInteger(f.duration) && f.sampleCount >= 0);
        assert.deepEqual(scanChunks(init, bytes, cuts.map((c) => c % bytes.length)), whole);
      },
    ), { numRuns: RUNS * 2 });
    // Mutated init segments too.
    fc.assert(fc.property(fc.constantFrom(...fixtureDirs), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (dir, edits) => {
      const bytes = Buffer.from(fixture(dir, 'init.mp4'));
      for (const [at, value] of edits) bytes[at % bytes.length] = value;
      const r = parseInit(bytes);
      if (r.ok) assert.ok(r.value.tracks.every((t) => t.timescale > 0));
    }), { numRuns: RUNS * 2 });
  });

  it('a segment cut short: the fragments completed before the cut, and "truncated" unless it ends between boxes', () => {
    const full = scanSegment(videoInit, fixture('ll-video', 'seg1.m4s'));
    const seg = fixture('ll-video', 'seg1.m4s');
    fc.assert(fc.property(fc.integer({ min: 0, max: seg.length }), (n) => {
      const r = scanSegment(videoInit, seg.subarray(0, n));
      assert.deepEqual(r.fragments, full.fragments.filter((f) => f.offset + f.length <= n));
      const atBoundary = n === 0 || n === 24 || full.fragments.some((f) => f.offset + f.length === n);
      assert.equal(r.error?.code, atBoundary ? undefined : 'truncated', `cut at ${n}`);
    }), { numRuns: RUNS * 2 });
  });
});

describe('box rules', () => {
  const init = initOf(initSegment([VIDEO, AUDIO]));
  const styp = box('styp', Buffer.from('msdh', 'latin1'), u32(0), Buffer.from('msdhmsix', 'latin1'));
  const video = (seq: number, decodeTime: number, key: boolean) => fragment(seq, { track: 1, decodeTime, samples: [{ duration: 3000, size: 16, flags: key ? KEY : NON_KEY }] });

  it('styp, sidx, prft, emsg and unknown boxes are skipped and travel with the next fragment', () => {
    const prft = full('prft', 1, 0x18, u32(1), u64(0xeeb76105_80000000n), u64(3000n));
    const emsg = full('emsg', 0, 0, Buffer.from('urn:x\0\0', 'latin1'), u32(90000), u32(0), u32(0), u32(1));
    const sidx = full('sidx', 0, 0, Buffer.alloc(24));
    const seg = Buffer.concat([styp, sidx, video(1, 0, true), prft, emsg, box('free', Buffer.alloc(5)), video(2, 3000, false)]);
    const { fragments, error } = scanSegment(init, seg);
    assert.equal(error, undefined);
    assert.deepEqual(fragments.map((f) => [f.offset, f.moofOffset, f.decodeTime, f.startsWithSync]), [
      [0, styp.length + sidx.length, 0, true],
      [fragments[1]!.offset, fragments[1]!.offset + 32 + emsg.length + 13, 3000, false],
    ]);
    assert.equal(fragments[1]!.offset + fragments[1]!.length, seg.length);
    // prft: NTP 0xeeb76105.8 s = 2026-11-30T02:42:13.5Z
    assert.deepEqual(fragments[1]!.producerTime, { trackId: 1, wallClockMs: (0xeeb76105 - 2_208_988_800) * 1000 + 500, mediaTime: 3000 });
    assert.equal(fragments[0]!.producerTime, undefined);
  });

  it('64-bit box sizes are read; one above 2^53-1 is refused', () => {
    const m = moof(1, { track: 1, samples: [{ duration: 3000, size: 4, flags: KEY }] });
    const seg = Buffer.concat([styp, m, largeBox('mdat', Buffer.alloc(4))]);
    const { fragments, error } = scanSegment(init, seg);
    assert.equal(error, undefined);
    assert.deepEqual(fragments.map((f) => [f.offset, f.length, f.duration]), [[0, seg.length, 3000]]);
    const huge = Buffer.concat([u32(1), Buffer.from('mdat', 'latin1'), u64(2n ** 60n)]);
    assert.equal(scanSegment(init, Buffer.concat([m, huge])).error?.code, 'value_too_large');
  });

  it('size 0, a size below the header, and boxes over the caps are refused', () => {
    const zero = Buffer.concat([u32(0), Buffer.from('mdat', 'latin1'), Buffer.alloc(8)]);
    assert.deepEqual(scanSegment(init, Buffer.concat([styp, zero])).error, {
      code: 'size_zero_box', message: "box 'mdat' has size 0 (to the end of the file), which a live upload cannot have", offset: styp.length, box: 'mdat',
    });
    assert.equal(scanSegment(init, Buffer.concat([u32(7), Buffer.from('free', 'latin1')])).error?.code, 'bad_box_size');
    const v = video(1, 0, true);
    assert.equal(scanSegment(init, v, { maxBoxSize: 20 }).error?.code, 'box_too_large');
    assert.equal(scanSegment(init, v, { maxMoofSize: 20 }).error?.code, 'box_too_large');
    assert.equal(scanSegment(init, v, { maxMoofSize: 1000, maxBoxSize: 1000 }).error, undefined);
    // A box inside the moof that overruns it.
    const bad = Buffer.from(moof(1, { track: 1, samples: [{ duration: 1, size: 1, flags: KEY }] }));
    bad.writeUInt32BE(1000, 8);
    assert.equal(scanSegment(init, Buffer.concat([bad, mdat(1)])).error?.code, 'bad_box_size');
  });

  it('boxes out of place: mdat without moof, moof after moof, anything between them; a moof at the end', () => {
    const m = moof(1, { track: 1, samples: [{ duration: 1, size: 1, flags: KEY }] });
    assert.equal(scanSegment(init, Buffer.concat([styp, mdat(4)])).error?.code, 'unexpected_box');
    assert.equal(scanSegment(init, Buffer.concat([m, m, mdat(4)])).error?.code, 'unexpected_box');
    assert.equal(scanSegment(init, Buffer.concat([m, box('free'), mdat(4)])).error?.code, 'unexpected_box');
    assert.deepEqual(scanSegment(init, Buffer.concat([styp, m])).error, { code: 'truncated', message: "the segment ended after a 'moof' without its 'mdat'", offset: styp.length, box: 'moof' });
    // After an error the scanner stays stopped.
    const s = new FragmentScanner(init);
    assert.equal(s.push(mdat(4)).error?.code, 'unexpected_box');
    assert.deepEqual(s.push(video(1, 0, true)).fragments, []);
    assert.equal(s.end().error?.code, 'unexpected_box');
  });

  it('track fragments CMAF requires: tfhd, tfdt, a known track; trun sample counts checked', () => {
    assert.equal(scanSegment(init, fragment(1, { track: 9, samples: [{ duration: 1, size: 1, flags: KEY }] })).error?.code, 'unknown_track');
    assert.equal(scanSegment(init, fragment(1, { track: 1, noTfdt: true, samples: [{ duration: 1, size: 1, flags: KEY }] })).error?.code, 'missing_box');
    assert.equal(scanSegment(init, fragment(1, { track: 1, noTfhd: true, samples: [{ duration: 1, size: 1, flags: KEY }] })).error?.code, 'missing_box');
    const many = Array.from({ length: 50 }, () => ({ duration: 1, size: 1, flags: NON_KEY }));
    assert.equal(scanSegment(init, fragment(1, { track: 1, samples: many }), { maxSamples: 49 }).error?.code, 'too_many_samples');
    assert.equal(scanSegment(init, fragment(1, { track: 1, samples: many }), { maxSamples: 50 }).error, undefined);
    // A trun that claims more samples than it holds.
    const lying = Buffer.from(moof(1, { track: 1, samples: [{ duration: 1, size: 1, flags: KEY }] }));
    const trunAt = lying.indexOf('trun', 0, 'latin1');
    lying.writeUInt32BE(1000, trunAt + 8);
    assert.equal(scanSegment(init, Buffer.concat([lying, mdat(1)])).error?.code, 'bad_box');
    // A 4 billion sample trun without per-sample fields is refused before any sum.
    const bare = Buffer.from(fragment(1, { track: 1, duration: 1, samples: [{}] }));
    bare.writeUInt32BE(0xffffffff, bare.indexOf('trun', 0, 'latin1') + 8);
    assert.equal(scanSegment(init, bare).error?.code, 'too_many_samples');
    assert.equal(scanSegment(init, fragment(1, { track: 1, decodeTime: 2n ** 53n, samples: [{ duration: 1, size: 1, flags: KEY }] })).error?.code, 'value_too_large');
    const big = scanSegment(init, fragment(1, { track: 1, decodeTime: 2n ** 52n, samples: [{ duration: 1, size: 1, flags: KEY }] }));
    assert.equal(big.fragments[0]!.decodeTime, 2 ** 52);
  });

  it('durations and first-sample flags: trun, then tfhd defaults, then trex defaults', () => {
    const withTrex = initOf(initSegment([{ ...VIDEO, trex: { duration: 1001, flags: NON_KEY } }, AUDIO]));
    const scan = (t: TrafSpec, i = withTrex) => {
      const { fragments, error } = scanSegment(i, fragment(1, t));
      assert.equal(error, undefined);
      return [fragments[0]!.duration, fragments[0]!.sampleCount, fragments[0]!.startsWithSync];
    };
    assert.deepEqual(scan({ track: 1, samples: [{ size: 1 }, { size: 1 }] }), [2002, 2, false], 'trex defaults');
    assert.deepEqual(scan({ track: 1, duration: 3000, flags: KEY, samples: [{ size: 1 }, { size: 1 }] }), [6000, 2, true], 'tfhd over trex');
    assert.deepEqual(scan({ track: 1, duration: 3000, flags: KEY, samples: [{ duration: 10, size: 1, flags: NON_KEY }, { duration: 20, size: 1, flags: KEY }] }), [30, 2, false], 'trun over tfhd');
    assert.deepEqual(scan({ track: 1, firstFlags: KEY, samples: [{ duration: 10, size: 1, flags: NON_KEY }] }), [10, 1, true], 'first_sample_flags over the sample\'s');
    assert.deepEqual(scan({ track: 1, samples: [] }), [0, 0, false], 'no samples');
    assert.deepEqual(scan({ track: 2, samples: [{ duration: 1024, size: 1 }] }), [0, 0, false], 'no primary-track traf: zero for the primary');
    // Several truns: the first sample is the first trun's with samples.
    const two = Buffer.concat([box('moof', full('mfhd', 0, 0, u32(1)), box('traf',
      full('tfhd', 0, 0x20000, u32(1)), full('tfdt', 0, 0, u32(0)),
      full('trun', 0, 0x401, u32(0), u32(0)),
      full('trun', 0, 0x501, u32(1), u32(0), u32(7), u32(KEY)),
      full('trun', 0, 0x501, u32(1), u32(0), u32(8), u32(NON_KEY)))), mdat(1)]);
    const r = scanSegment(withTrex, two).fragments[0]!;
    assert.deepEqual([r.duration, r.sampleCount, r.startsWithSync], [15, 2, true]);
  });

  it('a muxed fragment reports every track and summarises the primary (video) one', () => {
    const seg = fragment(3, { track: 2, decodeTime: 96000, samples: [{ duration: 1024, size: 1, flags: 0 }] }, { track: 1, decodeTime: 180000, samples: [{ duration: 3000, size: 1, flags: KEY }] });
    const f = scanSegment(init, seg).fragments[0]!;
    assert.deepEqual([f.sequenceNumber, f.trackId, f.timescale, f.decodeTime, f.duration], [3, 1, 90000, 180000, 3000]);
    assert.deepEqual(f.tracks.map((t) => [t.trackId, t.decodeTime, t.startsWithSync]), [[2, 96000, true], [1, 180000, true]]);
  });

  it('nesting is bounded by construction: 10,000 boxes deep inside a traf are skipped, not walked', () => {
    let deep = box('abcd');
    for (let i = 0; i < 10_000; i++) deep = box('abcd', deep);
    const seg = fragment(1, { track: 1, samples: [{ duration: 5, size: 1, flags: KEY }], extra: [deep] });
    const started = performance.now();
    const { fragments, error } = scanSegment(init, seg);
    assert.equal(error, undefined);
    assert.equal(fragments[0]!.duration, 5);
    assert.ok(performance.now() - started < 1000);
  });

  it('init segments: version 1 boxes, trex defaults, handler, primary track; typed errors', () => {
    const i = initOf(initSegment([{ ...AUDIO, v1: true, trex: { duration: 1024, flags: 0x02000000 } }, { ...VIDEO, id: 7, v1: true }]));
    assert.deepEqual(i, {
      tracks: [
        { trackId: 2, handler: 'soun', timescale: 48000, defaults: { sampleDuration: 1024, sampleFlags: 0x02000000 } },
        { trackId: 7, handler: 'vide', timescale: 90000, defaults: { sampleDuration: 0, sampleFlags: 0 } },
      ],
      primaryTrackId: 7,
    });
    const err = (b: Buffer) => { const r = parseInit(b); return r.ok ? undefined : r.error.code; };
    assert.equal(err(box('ftyp')), 'missing_box');
    assert.equal(err(box('moov', full('mvhd', 0, 0))), 'missing_box');
    assert.equal(err(initSegment([{ ...VIDEO, timescale: 0 }])), 'bad_box');
    assert.equal(err(initSegment([VIDEO, VIDEO])), 'bad_box');
    assert.equal(err(Buffer.concat([box('ftyp'), u32(0), Buffer.from('moov', 'latin1')])), 'size_zero_box');
    assert.equal(err(box('moov', box('trak', full('tkhd', 2, 0, Buffer.alloc(80))))), 'missing_box');
    assert.equal(err(box('moov', box('trak', full('tkhd', 2, 0, Buffer.alloc(80)), box('mdia')))), 'bad_box');
  });

  it('sync samples: depends_on == 2, or not non-sync and not depends_on == 1 (what ffmpeg reads as a key frame)', () => {
    const flags = (dependsOn: number, nonSync: number) => (dependsOn << 24) | (nonSync << 16);
    assert.deepEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [3, 1]].map(([d, n]) => isSyncSample(flags(d!, n!))),
      [true, false, false, false, true, true, true, false]);
  });
});
