// Low-latency uploads made from the real CMAF fixtures (test/fixtures/cmaf: ffmpeg's dash muxer in the
// transcoder's LL mode, 10 fps video a fragment per frame, AAC audio a fragment per ~0.49 s), made unique
// per upload so that no two uploads have the same bytes, and cut into the chunks the muxer sends (one per
// fragment, the `styp` first).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInit, scanSegment, type InitSegment } from '../../src/cmaf.js';
import { root } from './chart.js';

export interface LlTrack {
  init: Buffer;
  parsed: InitSegment;
  segments: Buffer[];
}

function track(name: string): LlTrack {
  const dir = join(root, 'test', 'fixtures', 'cmaf', name);
  const init = readFileSync(join(dir, 'init.mp4'));
  const parsed = parseInit(init);
  if (!parsed.ok) throw new Error(`${name}: ${parsed.error.message}`);
  return { init, parsed: parsed.value, segments: [readFileSync(join(dir, 'seg1.m4s')), readFileSync(join(dir, 'seg2.m4s'))] };
}

/** 1 s segments of 10 frames, each its own fragment; 0.5 s parts are 5 frames, the first independent. */
export const LL_VIDEO = track('ll-video');
/** 1 s segments of three fragments (23, 23 and 1 AAC frames). */
export const LL_AUDIO = track('ll-audio');

/** A `free` box holding `tag` (ISO/IEC 14496-12 8.1.2: its contents are ignored). */
function freeBox(tag: string): Buffer {
  const box = Buffer.alloc(8 + Buffer.byteLength(tag, 'latin1'));
  box.writeUInt32BE(box.length, 0);
  box.write('free', 4, 'latin1');
  box.write(tag, 8, 'latin1');
  return box;
}

/** An init section with `tag` after it: the same tracks, other bytes. */
export function taggedInit(t: LlTrack, tag: string): Buffer {
  return Buffer.concat([t.init, freeBox(tag)]);
}

/** Segment `k` (of the two) with `tag` after its `styp`: the scanner counts it into the first fragment. */
export function taggedSegment(t: LlTrack, k: number, tag: string): Buffer {
  const seg = t.segments[k % t.segments.length]!;
  const styp = seg.readUInt32BE(0);
  return Buffer.concat([seg.subarray(0, styp), freeBox(tag), seg.subarray(styp)]);
}

/** The chunks the dash muxer sends for a segment: the `styp` (with what follows it before the first `moof`), then a fragment each. */
export function fragmentChunks(t: LlTrack, bytes: Buffer): Buffer[] {
  const { fragments, error } = scanSegment(t.parsed, bytes);
  if (error) throw new Error(error.message);
  const first = fragments[0]!;
  return [bytes.subarray(0, first.moofOffset), ...fragments.map((f, i) => bytes.subarray(i === 0 ? first.moofOffset : f.offset, f.offset + f.length))];
}
