// Low-latency uploads made from the real CMAF fixtures (test/fixtures/cmaf: ffmpeg's dash muxer in the
// transcoder's LL mode, 10 fps video a fragment per frame, AAC audio a fragment per ~0.49 s), made unique
// per upload so that no two uploads have the same bytes, cut into the chunks the muxer sends (one per
// fragment, the `styp` first), and an encoder that uploads them as the muxer does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NTP_UNIX_OFFSET, parseInit, scanSegment, type InitSegment } from '../../src/cmaf.js';
import { root } from './chart.js';
import { handBody, putWith, type HandBody } from './hand-body.js';

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
export function taggedInit(t: LlTrack, tag: string): Buffer<ArrayBuffer> {
  return Buffer.concat([t.init, freeBox(tag)]);
}

/** Segment `k` (of the two) with `tag` after its `styp`: the scanner counts it into the first fragment. */
export function taggedSegment(t: LlTrack, k: number, tag: string): Buffer {
  const seg = t.segments[k % t.segments.length]!;
  const styp = seg.readUInt32BE(0);
  return Buffer.concat([seg.subarray(0, styp), freeBox(tag), seg.subarray(styp)]);
}

/**
 * `bytes` with a `prft` (version 1, as ffmpeg's -write_prft writes it) before its first `moof`: the wall clock
 * `unixMs` paired with that fragment's decode time.
 */
export function withPrft(t: LlTrack, bytes: Buffer, unixMs: number): Buffer {
  const { fragments } = scanSegment(t.parsed, bytes);
  const first = fragments[0]!;
  const box = Buffer.alloc(32);
  box.writeUInt32BE(32, 0);
  box.write('prft', 4, 'latin1');
  box.writeUInt32BE(0x01_000018, 8); // version 1, flags 0x18 (as ffmpeg's)
  box.writeUInt32BE(first.trackId, 12);
  const seconds = Math.floor(unixMs / 1000);
  box.writeUInt32BE(seconds + NTP_UNIX_OFFSET, 16);
  box.writeUInt32BE(Math.round(((unixMs - seconds * 1000) / 1000) * 2 ** 32), 20);
  box.writeBigUInt64BE(BigInt(first.decodeTime), 24);
  return Buffer.concat([bytes.subarray(0, first.moofOffset), box, bytes.subarray(first.moofOffset)]);
}

/** The chunks the dash muxer sends for a segment: the `styp` (with what follows it before the first `moof`), then a fragment each. */
export function fragmentChunks(t: LlTrack, bytes: Buffer): Buffer[] {
  const { fragments, error } = scanSegment(t.parsed, bytes);
  if (error) throw new Error(error.message);
  const first = fragments[0]!;
  return [bytes.subarray(0, first.moofOffset), ...fragments.map((f, i) => bytes.subarray(i === 0 ? first.moofOffset : f.offset, f.offset + f.length))];
}

/** Sends an upload request (in-process `app.request`, or over HTTP with fetch). */
export type Send = (path: string, init: RequestInit) => Promise<Response>;

interface OpenSegment {
  name: string;
  bytes: Buffer;
  chunks: Buffer[];
  sent: number;
  body: HandBody;
  response: Promise<Response>;
}

/**
 * An encoder run as ffmpeg's dash muxer uploads it (docs/low-latency.md): per rendition an init section at
 * start, then each segment over one PUT, a chunk per fragment, and `media_<n>.m3u8` written when a segment
 * opens: the segments so far and EXT-X-PREFETCH of the one being written. Segments of a run have names of
 * their own (`chunk-<run>-<n>-<k>.m4s`), as the transcoder's do, and bytes of their own.
 */
export class LlEncoder {
  /** The `prft` wall clock (Unix ms) written into segment k of rendition n (undefined: no `prft`). */
  prft: (n: number, k: number) => number | undefined = () => undefined;
  /** The EXT-X-PROGRAM-DATE-TIME the uploader's playlists give segment k (after EXTINF; undefined: none). */
  pdt: (k: number) => number | undefined = () => undefined;
  private readonly done: string[][];
  private readonly open: (OpenSegment | undefined)[];
  private readonly next: number[];

  constructor(
    private readonly send: Send, readonly stream: string, readonly tracks: readonly LlTrack[], readonly run: string,
    private readonly listSize = 6, private readonly targetDuration = 1,
  ) {
    this.done = tracks.map(() => []);
    this.open = tracks.map(() => undefined);
    this.next = tracks.map(() => 1);
  }

  private url(path: string): string {
    return `/hls/${this.stream}/${path}`;
  }

  private async put(path: string, body: string | Uint8Array<ArrayBuffer>): Promise<number> {
    return (await this.send(this.url(path), { method: 'PUT', body })).status;
  }

  /** The init sections and the master (naming every rendition's playlist before any exists). */
  async start(): Promise<void> {
    for (const [n, t] of this.tracks.entries()) assert.equal(await this.put(`init-${this.run}-${n}.m4s`, taggedInit(t, `${this.run}-${n}`)), 201);
    const variants = this.tracks.map((_, n) => `#EXT-X-STREAM-INF:BANDWIDTH=${100_000 * (n + 1)}\nmedia_${n}.m3u8`);
    assert.equal(await this.put('index.m3u8', `#EXTM3U\n#EXT-X-VERSION:7\n${variants.join('\n')}\n`), 204);
  }

  /** Starts rendition n's next segment: its request and first chunk (the `styp`). */
  async openSegment(n: number): Promise<string> {
    assert.equal(this.open[n], undefined, 'a segment is open');
    const k = this.next[n]!++;
    const name = `chunk-${this.run}-${n}-${String(k).padStart(5, '0')}.m4s`;
    const tagged = taggedSegment(this.tracks[n]!, k, `${this.run}-${n}-${k}`);
    const clock = this.prft(n, k);
    const bytes = clock === undefined ? tagged : withPrft(this.tracks[n]!, tagged, clock);
    const body = handBody();
    const response = this.send(this.url(name), putWith(body));
    await body.reading;
    const chunks = fragmentChunks(this.tracks[n]!, bytes);
    body.send(chunks[0]!);
    this.open[n] = { name, bytes, chunks, sent: 1, body, response };
    return name;
  }

  /** The open segment of rendition n (its name and whole bytes, as they will be when complete). */
  current(n: number): { name: string; bytes: Buffer; fragmentsLeft: number } {
    const o = this.open[n]!;
    return { name: o.name, bytes: o.bytes, fragmentsLeft: o.chunks.length - o.sent };
  }

  /** Sends the next `count` fragments of rendition n's open segment. */
  feed(n: number, count = 1): void {
    const o = this.open[n]!;
    for (const c of o.chunks.slice(o.sent, o.sent + count)) o.body.send(c);
    o.sent = Math.min(o.chunks.length, o.sent + count);
  }

  /** Sends the rest of rendition n's open segment and ends its request. */
  async closeSegment(n: number): Promise<string> {
    const o = this.open[n]!;
    this.feed(n, o.chunks.length);
    o.body.end();
    assert.equal((await o.response).status, 201);
    this.open[n] = undefined;
    this.done[n]!.push(o.name);
    return o.name;
  }

  /** The uploader dies: its open uploads end without their last chunk. */
  async kill(): Promise<void> {
    for (const [n, o] of this.open.entries()) {
      if (!o) continue;
      o.body.fail();
      await o.response;
      this.open[n] = undefined;
    }
  }

  /** Rendition n's playlist as the muxer writes it: its last segments, PDT after EXTINF, the open one prefetched. */
  playlistText(n: number): string {
    const list = this.done[n]!.slice(-this.listSize);
    const first = this.done[n]!.length - list.length + 1;
    const open = this.open[n];
    return ['#EXTM3U', '#EXT-X-VERSION:6', `#EXT-X-TARGETDURATION:${this.targetDuration}`, `#EXT-X-MEDIA-SEQUENCE:${first}`, `#EXT-X-MAP:URI="init-${this.run}-${n}.m4s"`,
      ...list.flatMap((name) => {
        const pdt = this.pdt(Number(/-(\d{5})\.m4s$/.exec(name)![1]));
        return ['#EXTINF:1.000000,', ...(pdt !== undefined ? [`#EXT-X-PROGRAM-DATE-TIME:${new Date(pdt).toISOString()}`] : []), name];
      }), ...(open ? [`#EXT-X-PREFETCH:${open.name}`] : [])].join('\n') + '\n';
  }

  async playlist(n: number): Promise<void> {
    assert.equal(await this.put(`media_${n}.m3u8`, this.playlistText(n)), 204);
  }

  /** The muxer's beat for rendition n: the open segment ends, the next opens, and the playlist says so. */
  async nextSegment(n: number): Promise<void> {
    if (this.open[n]) await this.closeSegment(n);
    await this.openSegment(n);
    await this.playlist(n);
  }
}
