// An incremental, bounded ISO-BMFF / CMAF scanner for live uploads: read an init segment once, then feed
// a media segment's bytes in whatever chunks they arrive and learn of each complete fragment (`moof` +
// `mdat`) as soon as its last byte is in: where it lies in the segment, when it starts, how long it lasts
// and whether it starts with a sync sample. Low-latency HLS parts are cut from these (origin/part-cutter.ts).
//
// Hostile input is the normal case (anyone with an upload token can send bytes): nothing here throws on
// bad input. A problem is a typed CmafError, reported once; the scanner then stops and keeps reporting it.
// Memory is bounded: only a `moof` is buffered (up to maxMoofSize); `mdat` and every other top-level box
// are counted past, never held. Nesting is bounded by construction: the scanner descends only along the
// fixed paths it reads (moov/trak/mdia/mdhd, moov/mvex/trex, moof/traf/tfhd...), at most four deep, and
// never recurses into boxes it does not know.
//
// References: ISO/IEC 14496-12 (boxes named below), ISO/IEC 23000-19 (CMAF: one `tfdt` per `traf`).

export type CmafErrorCode =
  /** A box size smaller than its header, or a box that does not fit in its parent. */
  | 'bad_box_size'
  /** A size-0 box ("extends to the end of the file"): a live upload has no known end. */
  | 'size_zero_box'
  /** A box larger than the configured cap (maxBoxSize, or maxMoofSize for `moof`). */
  | 'box_too_large'
  /** A box where it cannot be: `mdat` without its `moof`, anything between a `moof` and its `mdat`. */
  | 'unexpected_box'
  /** A box CMAF requires is missing (`moov`, `trak` parts, `tfhd`, `tfdt`). */
  | 'missing_box'
  /** A box whose content is too short for its version and flags, or has an unknown version. */
  | 'bad_box'
  /** A `traf` for a track the init segment does not declare. */
  | 'unknown_track'
  /** A `trun` with more samples than maxSamples. */
  | 'too_many_samples'
  /** A 64-bit value above 2^53-1 (decode times, box sizes): it would lose precision as a number. */
  | 'value_too_large'
  /** The segment ended inside a box, or with a `moof` whose `mdat` never came. */
  | 'truncated';

export interface CmafError {
  code: CmafErrorCode;
  /** One line for logs and HTTP answers. */
  message: string;
  /** Byte offset (in the segment or init segment) of the box at fault. */
  offset: number;
  /** The four-character type of that box, when known. */
  box?: string;
}

export interface TrackDefaults {
  sampleDuration: number;
  sampleFlags: number;
}

export interface Track {
  trackId: number;
  /** `hdlr` handler type: 'vide', 'soun', 'subt', 'text', ... */
  handler: string;
  /** `mdhd` timescale: ticks per second of this track's times and durations. */
  timescale: number;
  /** `trex` defaults (zero when the init segment has none for this track). */
  defaults: TrackDefaults;
}

export interface InitSegment {
  tracks: Track[];
  /** The track fragments are summarised by: the first video track, else the first track. */
  primaryTrackId: number;
}

export interface TrackFragment {
  trackId: number;
  /** `tfdt` baseMediaDecodeTime, in the track's timescale. */
  decodeTime: number;
  /** Sum of the sample durations, in the track's timescale. */
  duration: number;
  sampleCount: number;
  /** The first sample is a sync sample (see isSyncSample). False when the fragment has no samples. */
  startsWithSync: boolean;
}

export interface Fragment {
  /**
   * Byte range in the segment: from the end of the previous fragment (or 0) to the end of this one's
   * `mdat`, so the boxes before a `moof` (`styp`, `sidx`, `prft`, `emsg`) travel with it and the fragments
   * of a segment tile it without gaps.
   */
  offset: number;
  length: number;
  /** Where its `moof` starts. */
  moofOffset: number;
  /** `mfhd` sequence_number. */
  sequenceNumber: number;
  /** The primary track's values (InitSegment.primaryTrackId); zero / false when this `moof` has none of it. */
  trackId: number;
  timescale: number;
  decodeTime: number;
  duration: number;
  sampleCount: number;
  startsWithSync: boolean;
  /** Every `traf` of the `moof`, in order (a muxed segment has one per track). */
  tracks: TrackFragment[];
  /** From a `prft` box before the `moof` (ffmpeg's -write_prft): the wall clock paired with a media time. */
  producerTime?: ProducerTime;
}

export interface ProducerTime {
  trackId: number;
  /** The NTP timestamp as Unix milliseconds (fractions kept). */
  wallClockMs: number;
  /** The media time it belongs to, in that track's timescale. */
  mediaTime: number;
}

export interface ScanLimits {
  /** Largest `moof` buffered (default 1 MiB; one video frame's is ~100 bytes, a 2 s fragment's ~2 KiB). */
  maxMoofSize?: number;
  /** Largest box of any other type, `mdat` included (default 64 MiB, the origin's --max-file-size). */
  maxBoxSize?: number;
  /** Most samples in one `traf` (default 100,000). */
  maxSamples?: number;
}

export type CmafResult<T> = { ok: true; value: T } | { ok: false; error: CmafError };

export interface ScanUpdate {
  /** Fragments completed by the bytes just pushed, in order. */
  fragments: Fragment[];
  /** Set once the scanner has stopped; it stays set. */
  error: CmafError | undefined;
}

const DEFAULT_MAX_MOOF = 1024 * 1024;
const DEFAULT_MAX_BOX = 64 * 1024 * 1024;
const DEFAULT_MAX_SAMPLES = 100_000;

// Sample flags (ISO/IEC 14496-12 8.8.3.1): is_leading(2) sample_depends_on(2) sample_is_depended_on(2)
// sample_has_redundancy(2) sample_padding_value(3) sample_is_non_sync_sample(1) degradation_priority(16).
const dependsOn = (flags: number) => (flags >>> 24) & 3;
const nonSync = (flags: number) => (flags >>> 16) & 1;

/**
 * A sync sample: one that says it depends on no other (sample_depends_on == 2, an I-picture), or one not
 * marked non-sync that does not say it depends on others. The second half is what ffmpeg's demuxer reads
 * as a key frame (so ffprobe agrees); the first also counts an I-picture whose non-sync bit an encoder set.
 */
export function isSyncSample(flags: number): boolean {
  return dependsOn(flags) === 2 || (nonSync(flags) === 0 && dependsOn(flags) !== 1);
}

function fourcc(bytes: Uint8Array, at: number): string {
  return String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
}

interface BoxHeader {
  type: string;
  size: number;
  headerSize: number;
}

/** Reads a box header at `at`; 'more' when fewer than its header's bytes are available. */
function readHeader(bytes: Uint8Array, at: number, available: number, maxSize: number): BoxHeader | 'more' | CmafError {
  if (available - at < 8) return 'more';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size32 = view.getUint32(at);
  const type = fourcc(bytes, at + 4);
  if (size32 === 0) return { code: 'size_zero_box', message: `box '${type}' has size 0 (to the end of the file), which a live upload cannot have`, offset: at, box: type };
  let size = size32;
  let headerSize = 8;
  if (size32 === 1) {
    if (available - at < 16) return 'more';
    const large = view.getBigUint64(at + 8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER)) return { code: 'value_too_large', message: `box '${type}' has a 64-bit size above 2^53-1`, offset: at, box: type };
    size = Number(large);
    headerSize = 16;
  }
  if (size < headerSize) return { code: 'bad_box_size', message: `box '${type}' has size ${size}, smaller than its ${headerSize}-byte header`, offset: at, box: type };
  if (size > maxSize) return { code: 'box_too_large', message: `box '${type}' has ${size} bytes, more than the ${maxSize} allowed`, offset: at, box: type };
  return { type, size, headerSize };
}

const isError = (x: unknown): x is CmafError => typeof x === 'object' && x !== null && 'code' in x;

interface Child {
  type: string;
  /** Offset of the box's content (after its header), relative to the bytes given. */
  start: number;
  end: number;
}

/**
 * The direct children of the content bytes[start, end). `base` turns offsets into positions in the
 * whole upload for error reports. A child that overruns its parent is an error.
 */
function children(bytes: Uint8Array, start: number, end: number, base: number): Child[] | CmafError {
  const out: Child[] = [];
  let at = start;
  while (at < end) {
    const h = readHeader(bytes, at, end, end - at);
    if (h === 'more') return { code: 'bad_box_size', message: `${end - at} stray bytes where a box header should be`, offset: base + at };
    if (isError(h)) {
      const overrun = h.code === 'box_too_large';
      return overrun ? { ...h, code: 'bad_box_size', message: `box '${h.box}' overruns its parent`, offset: base + at } : { ...h, offset: base + at };
    }
    out.push({ type: h.type, start: at + h.headerSize, end: at + h.size });
    at += h.size;
  }
  return out;
}

function badBox(box: string, offset: number, why: string): CmafError {
  return { code: 'bad_box', message: `box '${box}': ${why}`, offset, box };
}

function missing(box: string, inside: string, offset: number): CmafError {
  return { code: 'missing_box', message: `no '${box}' in '${inside}'`, offset, box };
}

/** The first child of a type, which the parent must have (init segment: offsets are the bytes'). */
function need(kids: Child[], type: string, parent: Child): Child | CmafError {
  return kids.find((b) => b.type === type) ?? missing(type, parent.type, parent.start);
}

/** Full-box version; the content must hold at least `need` bytes after version and flags. */
function fullBox(bytes: Uint8Array, c: Child, base: number, need: (version: number, flags: number) => number): { version: number; flags: number } | CmafError {
  if (c.end - c.start < 4) return badBox(c.type, base + c.start, 'shorter than a full box header');
  const version = bytes[c.start]!;
  const flags = (bytes[c.start + 1]! << 16) | (bytes[c.start + 2]! << 8) | bytes[c.start + 3]!;
  const n = need(version, flags);
  if (n < 0) return badBox(c.type, base + c.start, `unknown version ${version}`);
  if (c.end - c.start - 4 < n) return badBox(c.type, base + c.start, `content too short for version ${version} and flags 0x${flags.toString(16)}`);
  return { version, flags };
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) >>> 0) + (bytes[at + 1]! << 16) + (bytes[at + 2]! << 8) + bytes[at + 3]!;
}

function u64(bytes: Uint8Array, at: number, box: string, offset: number): number | CmafError {
  const hi = u32(bytes, at);
  const lo = u32(bytes, at + 4);
  if (hi > 0x1fffff) return { code: 'value_too_large', message: `box '${box}': a 64-bit value above 2^53-1`, offset, box };
  return hi * 2 ** 32 + lo;
}

/** The 32-bit field after a full box's creation and modification times (32 bits each in version 0, 64 in
 * version 1): `tkhd` track_ID, `mdhd` timescale. */
function afterTimes(bytes: Uint8Array, box: Child): number | CmafError {
  const fb = fullBox(bytes, box, 0, (v) => (v === 0 ? 12 : v === 1 ? 20 : -1));
  if (isError(fb)) return fb;
  return u32(bytes, box.start + 4 + (fb.version === 1 ? 16 : 8));
}

/** Parses an init segment (`ftyp` + `moov`): tracks, timescales, handlers, `trex` defaults. */
export function parseInit(bytes: Uint8Array): CmafResult<InitSegment> {
  const fail = (error: CmafError): CmafResult<InitSegment> => ({ ok: false, error });
  const top = children(bytes, 0, bytes.length, 0);
  if (isError(top)) return fail(top);
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) return fail(missing('moov', 'init segment', 0));
  const moovKids = children(bytes, moov.start, moov.end, 0);
  if (isError(moovKids)) return fail(moovKids);

  const defaults = new Map<number, TrackDefaults>();
  for (const mvex of moovKids.filter((b) => b.type === 'mvex')) {
    const kids = children(bytes, mvex.start, mvex.end, 0);
    if (isError(kids)) return fail(kids);
    for (const trex of kids.filter((b) => b.type === 'trex')) {
      const fb = fullBox(bytes, trex, 0, (v) => (v === 0 ? 20 : -1));
      if (isError(fb)) return fail(fb);
      const p = trex.start + 4;
      defaults.set(u32(bytes, p), { sampleDuration: u32(bytes, p + 8), sampleFlags: u32(bytes, p + 16) });
    }
  }

  const tracks: Track[] = [];
  for (const trak of moovKids.filter((b) => b.type === 'trak')) {
    const kids = children(bytes, trak.start, trak.end, 0);
    if (isError(kids)) return fail(kids);
    const tkhd = need(kids, 'tkhd', trak);
    const mdia = need(kids, 'mdia', trak);
    if (isError(tkhd)) return fail(tkhd);
    if (isError(mdia)) return fail(mdia);
    const trackId = afterTimes(bytes, tkhd);
    if (isError(trackId)) return fail(trackId);
    const mkids = children(bytes, mdia.start, mdia.end, 0);
    if (isError(mkids)) return fail(mkids);
    const mdhd = need(mkids, 'mdhd', mdia);
    const hdlr = need(mkids, 'hdlr', mdia);
    if (isError(mdhd)) return fail(mdhd);
    if (isError(hdlr)) return fail(hdlr);
    const timescale = afterTimes(bytes, mdhd);
    if (isError(timescale)) return fail(timescale);
    if (timescale === 0) return fail(badBox('mdhd', mdhd.start, 'timescale 0'));
    const hh = fullBox(bytes, hdlr, 0, () => 8);
    if (isError(hh)) return fail(hh);
    if (tracks.some((t) => t.trackId === trackId)) return fail(badBox('tkhd', tkhd.start, `track ${trackId} declared twice`));
    tracks.push({ trackId, handler: fourcc(bytes, hdlr.start + 8), timescale, defaults: defaults.get(trackId) ?? { sampleDuration: 0, sampleFlags: 0 } });
  }
  if (tracks.length === 0) return fail(missing('trak', 'moov', moov.start));
  const primary = tracks.find((t) => t.handler === 'vide') ?? tracks[0]!;
  return { ok: true, value: { tracks, primaryTrackId: primary.trackId } };
}

/** Summarises one whole `moof` box (`base` = where it starts in the segment). */
function parseMoof(
  init: InitSegment, bytes: Uint8Array, headerSize: number, base: number, maxSamples: number,
): { sequenceNumber: number; tracks: TrackFragment[] } | CmafError {
  const kids = children(bytes, headerSize, bytes.length, base);
  if (isError(kids)) return kids;
  let sequenceNumber = 0;
  const mfhd = kids.find((b) => b.type === 'mfhd');
  if (mfhd) {
    const fb = fullBox(bytes, mfhd, base, () => 4);
    if (isError(fb)) return fb;
    sequenceNumber = u32(bytes, mfhd.start + 4);
  }
  const tracks: TrackFragment[] = [];
  for (const traf of kids.filter((b) => b.type === 'traf')) {
    const t = parseTraf(init, bytes, traf, base, maxSamples);
    if (isError(t)) return t;
    tracks.push(t);
  }
  return { sequenceNumber, tracks };
}

function parseTraf(init: InitSegment, bytes: Uint8Array, traf: Child, base: number, maxSamples: number): TrackFragment | CmafError {
  const kids = children(bytes, traf.start, traf.end, base);
  if (isError(kids)) return kids;
  const tfhd = kids.find((b) => b.type === 'tfhd');
  if (!tfhd) return missing('tfhd', 'traf', base + traf.start);
  // tfhd: track_ID, then optional fields in flag order (8.8.7).
  const OPTIONAL: [flag: number, bytes: number][] = [[0x01, 8], [0x02, 4], [0x08, 4], [0x10, 4], [0x20, 4]];
  const th = fullBox(bytes, tfhd, base, (_v, f) => 4 + OPTIONAL.reduce((n, [flag, len]) => n + (f & flag ? len : 0), 0));
  if (isError(th)) return th;
  const trackId = u32(bytes, tfhd.start + 4);
  const track = init.tracks.find((t) => t.trackId === trackId);
  if (!track) return { code: 'unknown_track', message: `'traf' for track ${trackId}, which the init segment does not declare`, offset: base + tfhd.start, box: 'tfhd' };
  let at = tfhd.start + 8;
  let defaultDuration = track.defaults.sampleDuration;
  let defaultFlags = track.defaults.sampleFlags;
  for (const [flag, len] of OPTIONAL) {
    if (!(th.flags & flag)) continue;
    if (flag === 0x08) defaultDuration = u32(bytes, at);
    if (flag === 0x20) defaultFlags = u32(bytes, at);
    at += len;
  }

  const tfdt = kids.find((b) => b.type === 'tfdt');
  if (!tfdt) return missing('tfdt', 'traf', base + traf.start);
  const td = fullBox(bytes, tfdt, base, (v) => (v === 0 ? 4 : v === 1 ? 8 : -1));
  if (isError(td)) return td;
  const decodeTime = td.version === 1 ? u64(bytes, tfdt.start + 4, 'tfdt', base + tfdt.start) : u32(bytes, tfdt.start + 4);
  if (isError(decodeTime)) return decodeTime;

  let sampleCount = 0;
  let duration = 0;
  let firstFlags: number | undefined;
  for (const trun of kids.filter((b) => b.type === 'trun')) {
    const head = fullBox(bytes, trun, base, (v, f) => (v > 1 ? -1 : 4 + (f & 0x01 ? 4 : 0) + (f & 0x04 ? 4 : 0)));
    if (isError(head)) return head;
    const f = head.flags;
    const count = u32(bytes, trun.start + 4);
    if (sampleCount + count > maxSamples) {
      return { code: 'too_many_samples', message: `'traf' of track ${trackId} has more than ${maxSamples} samples`, offset: base + trun.start, box: 'trun' };
    }
    let p = trun.start + 8 + (f & 0x01 ? 4 : 0);
    const firstSampleFlags = f & 0x04 ? u32(bytes, p) : undefined;
    if (f & 0x04) p += 4;
    const entry = [0x100, 0x200, 0x400, 0x800].reduce((n, flag) => n + (f & flag ? 4 : 0), 0);
    if (count * entry > trun.end - p) return badBox('trun', base + trun.start, `${count} samples of ${entry} bytes do not fit in it`);
    if (count > 0 && firstFlags === undefined) firstFlags = firstSampleFlags ?? (f & 0x400 ? u32(bytes, p + (f & 0x100 ? 4 : 0) + (f & 0x200 ? 4 : 0)) : defaultFlags);
    if (f & 0x100) {
      for (let i = 0; i < count; i++) duration += u32(bytes, p + i * entry);
    } else {
      duration += count * defaultDuration;
    }
    sampleCount += count;
  }
  return { trackId, decodeTime, duration, sampleCount, startsWithSync: firstFlags !== undefined && isSyncSample(firstFlags) };
}

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET = 2_208_988_800;
/** A `prft` is 32 bytes (version 1); larger ones are skipped, not buffered. */
const MAX_PRFT = 64;

/** `prft` (ISO/IEC 14496-12 8.16.5): reference_track_ID, ntp_timestamp (64), media_time (32 or 64). */
function parsePrft(bytes: Uint8Array, headerSize: number, base: number): ProducerTime | CmafError {
  const c: Child = { type: 'prft', start: headerSize, end: bytes.length };
  const fb = fullBox(bytes, c, base, (v) => (v === 0 ? 16 : v === 1 ? 20 : -1));
  if (isError(fb)) return fb;
  const mediaTime = fb.version === 1 ? u64(bytes, c.start + 16, 'prft', base) : u32(bytes, c.start + 16);
  if (isError(mediaTime)) return mediaTime;
  const seconds = u32(bytes, c.start + 8);
  const fraction = u32(bytes, c.start + 12);
  return { trackId: u32(bytes, c.start + 4), wallClockMs: (seconds - NTP_UNIX_OFFSET) * 1000 + (fraction / 2 ** 32) * 1000, mediaTime };
}

/**
 * Scans one media segment as it arrives. Create one per segment with the init segment it belongs to;
 * push() every chunk, end() when the upload completed.
 */
export class FragmentScanner {
  private readonly maxMoof: number;
  private readonly maxBox: number;
  private readonly maxSamples: number;
  private readonly primary: Track;
  /** Bytes consumed so far = the offset of the next byte. */
  private pos = 0;
  /** The header of the next top-level box, being assembled (8 bytes, 16 with a 64-bit size). */
  private readonly head = new Uint8Array(16);
  private headLen = 0;
  /** The top-level box whose content is being read. */
  private box: { type: string; start: number; size: number; headerSize: number } | undefined;
  /** The `moof` or `prft` being buffered, header included. */
  private held: Uint8Array | undefined;
  private heldFill = 0;
  /** The last `prft` since the previous fragment. */
  private producerTime: ProducerTime | undefined;
  /** The parsed `moof` waiting for its `mdat`. */
  private pending: { start: number; sequenceNumber: number; tracks: TrackFragment[] } | undefined;
  /** Where the next fragment's byte range starts. */
  private fragmentStart = 0;
  private failed: CmafError | undefined;
  private out: Fragment[] = [];

  constructor(readonly init: InitSegment, limits: ScanLimits = {}) {
    this.maxMoof = limits.maxMoofSize ?? DEFAULT_MAX_MOOF;
    this.maxBox = limits.maxBoxSize ?? DEFAULT_MAX_BOX;
    this.maxSamples = limits.maxSamples ?? DEFAULT_MAX_SAMPLES;
    this.primary = init.tracks.find((t) => t.trackId === init.primaryTrackId) ?? init.tracks[0]!;
  }

  /** Bytes consumed so far (after an error: up to where it stopped). */
  get bytesScanned(): number {
    return this.pos;
  }

  /** End of the last complete fragment: every byte before it belongs to a reported fragment. */
  get fragmentsEnd(): number {
    return this.fragmentStart;
  }

  get error(): CmafError | undefined {
    return this.failed;
  }

  push(chunk: Uint8Array): ScanUpdate {
    this.out = [];
    let i = 0;
    while (i < chunk.length && !this.failed) {
      if (!this.box) {
        i += this.takeHeader(chunk, i);
        continue;
      }
      const b = this.box;
      const take = Math.min(chunk.length - i, b.start + b.size - this.pos);
      if (this.held) {
        this.held.set(chunk.subarray(i, i + take), this.heldFill);
        this.heldFill += take;
      }
      i += take;
      this.pos += take;
      if (this.pos === b.start + b.size) this.closeBox(b);
    }
    return { fragments: this.out, error: this.failed };
  }

  /** The upload is complete: a box or a `moof` left unfinished is an error ('truncated'). */
  end(): ScanUpdate {
    if (this.box || this.headLen > 0) {
      const box = this.box?.type;
      this.fail({ code: 'truncated', message: `the segment ended inside ${box ? `box '${box}'` : 'a box header'}`, offset: this.box?.start ?? this.pos - this.headLen, ...(box ? { box } : {}) });
    } else if (this.pending) {
      this.fail({ code: 'truncated', message: "the segment ended after a 'moof' without its 'mdat'", offset: this.pending.start, box: 'moof' });
    }
    return { fragments: [], error: this.failed };
  }

  private fail(error: CmafError): void {
    this.failed ??= error;
  }

  /** Takes header bytes of the next top-level box from chunk[i..]; returns how many it took. */
  private takeHeader(chunk: Uint8Array, i: number): number {
    const want = this.headLen < 8 ? 8 : 16;
    const take = Math.min(want - this.headLen, chunk.length - i);
    this.head.set(chunk.subarray(i, i + take), this.headLen);
    this.headLen += take;
    this.pos += take;
    const h = readHeader(this.head, 0, this.headLen, this.maxBox);
    if (h === 'more') return take;
    const start = this.pos - this.headLen;
    this.headLen = 0;
    if (isError(h)) {
      this.fail({ ...h, offset: start });
    } else if (h.type === 'moof' && this.pending) {
      this.fail({ code: 'unexpected_box', message: "a second 'moof' before the first one's 'mdat'", offset: start, box: 'moof' });
    } else if (h.type === 'moof' && h.size > this.maxMoof) {
      this.fail({ code: 'box_too_large', message: `'moof' has ${h.size} bytes, more than the ${this.maxMoof} allowed`, offset: start, box: 'moof' });
    } else if (h.type === 'mdat' && !this.pending) {
      this.fail({ code: 'unexpected_box', message: "an 'mdat' without a 'moof' before it", offset: start, box: 'mdat' });
    } else if (h.type !== 'mdat' && h.type !== 'moof' && this.pending) {
      this.fail({ code: 'unexpected_box', message: `box '${h.type}' between a 'moof' and its 'mdat'`, offset: start, box: h.type });
    } else {
      this.box = { start, ...h };
      if (h.type === 'moof' || (h.type === 'prft' && h.size <= MAX_PRFT)) {
        this.held = new Uint8Array(h.size);
        this.held.set(this.head.subarray(0, h.headerSize));
        this.heldFill = h.headerSize;
      }
      if (h.size === h.headerSize) this.closeBox(this.box);
    }
    return take;
  }

  private closeBox(b: { type: string; start: number; size: number; headerSize: number }): void {
    this.box = undefined;
    const held = this.held;
    this.held = undefined;
    if (b.type === 'moof') {
      const parsed = parseMoof(this.init, held!, b.headerSize, b.start, this.maxSamples);
      if (isError(parsed)) this.fail(parsed);
      else this.pending = { start: b.start, ...parsed };
    } else if (b.type === 'prft' && held) {
      const parsed = parsePrft(held, b.headerSize, b.start);
      if (isError(parsed)) this.fail(parsed);
      else this.producerTime = parsed;
    } else if (b.type === 'mdat') {
      const p = this.pending!;
      this.pending = undefined;
      const main = p.tracks.find((t) => t.trackId === this.primary.trackId);
      const end = b.start + b.size;
      this.out.push({
        offset: this.fragmentStart, length: end - this.fragmentStart, moofOffset: p.start, sequenceNumber: p.sequenceNumber,
        trackId: main?.trackId ?? 0, timescale: main ? this.primary.timescale : 0, decodeTime: main?.decodeTime ?? 0,
        duration: main?.duration ?? 0, sampleCount: main?.sampleCount ?? 0, startsWithSync: main?.startsWithSync ?? false,
        tracks: p.tracks, ...(this.producerTime ? { producerTime: this.producerTime } : {}),
      });
      this.fragmentStart = end;
      this.producerTime = undefined;
    }
  }
}

/** Scans a whole segment at once (tests, tools): every fragment, and the error that stopped it, if any. */
export function scanSegment(init: InitSegment, bytes: Uint8Array, limits: ScanLimits = {}): ScanUpdate {
  const scanner = new FragmentScanner(init, limits);
  const { fragments } = scanner.push(bytes);
  return { fragments, error: scanner.end().error };
}
