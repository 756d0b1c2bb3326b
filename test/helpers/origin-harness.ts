// Drives a real in-process origin (createOrigin + app.request) with the uploads of a simulated encoder and
// checks the publishing invariants after every step. Used by the property-based suite and by the named
// regression tests made from its shrunk counterexamples (test/origin-properties.test.ts).
//
// The encoder: one stream, two renditions (v0, v1) uploaded as ffmpeg's hls muxer does (segment, then the
// playlist of its last `listSize` segments; TS, or fMP4 with an init file uploaded at every start), with
// ffmpeg's delete_segments DELETEs and optionally an EXT-X-PREFETCH hint of the next segment, plus everything
// that goes wrong around it: restarts (same names, new names, numbering jumps), duplicate uploads, late
// playlists, uploads held open, overlapping uploads of one path, aborted uploads, a failing disk (ENOSPC/EIO
// on every write), the clock, retention sweeps, memory pressure and origin restarts on the same storage.
// With `ll`, the uploads are real CMAF (test/helpers/ll-uploads.ts), fed fragment by fragment while held open,
// and the origin publishes LL-HLS parts of the hinted upload in progress: the part invariants are checked too.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePlaylist, type MediaPlaylist } from '../../src/playlist.js';
import { createOrigin, type Origin } from '../../origin/index.js';
import { DiskStorage } from '../../origin/storage.js';
import { FailingStorage } from './failing-storage.js';
import { handBody, putWith, type HandBody } from './hand-body.js';
import { uploadedName } from './published-names.js';
import { fragmentChunks, LL_AUDIO, LL_VIDEO, taggedInit, taggedSegment } from './ll-uploads.js';
import { lowLatencyViolations, playlistViolations } from './playlist-rules.js';

export type Op =
  /** The encoder's normal beat: the next segment, then the playlist naming it. */
  | { op: 'cycle'; r: number; dur: number }
  | { op: 'segment'; r: number; dur: number }
  | { op: 'playlist'; r: number }
  /** Starts an upload and holds it open: the next segment (back 0) or again one already produced (overlap). */
  | { op: 'begin'; r: number; back: number; dur: number }
  | { op: 'end'; pick: number }
  /** More of an open upload (with `ll`, whole fragments, as the dash muxer sends them). */
  | { op: 'feed'; pick: number; count: number }
  | { op: 'abort'; pick: number }
  /** The same bytes as the last winning upload of a produced segment, again (a retry). */
  | { op: 'duplicate'; r: number; back: number }
  | { op: 'restart'; kind: 'same' | 'fresh' | 'jump' }
  | { op: 'late'; r: number; back: number }
  /** ffmpeg's delete_segments: DELETE of a segment that left the encoder's list. */
  | { op: 'delete'; r: number; back: number }
  | { op: 'diskFull'; code: 'ENOSPC' | 'EIO' }
  | { op: 'diskOk' }
  | { op: 'tick'; ms: number }
  | { op: 'sweep' }
  | { op: 'originRestart' };

export interface HarnessOptions {
  /** With a data dir (a FailingStorage around a DiskStorage on a temp dir). */
  storage: boolean;
  /** The encoder's playlist length (hls_list_size). */
  listSize: number;
  /** fMP4 segments with an EXT-X-MAP init file (re-uploaded, new bytes, at every encoder start). */
  fmp4?: boolean;
  /** Playlists hint the next segment with EXT-X-PREFETCH. */
  prefetch?: boolean;
  /** The origin's --max-memory (bytes), small to make it evict. */
  maxMemoryBytes?: number;
  /**
   * LL-HLS: fMP4 made of the real CMAF fixtures (v0 video, v1 audio, 1 s segments), playlists that hint the
   * next segment; the origin cuts 0.5 s parts from the hinted upload while it is fed.
   */
  ll?: boolean;
}

export const LIMITS = { minWindow: 3, maxWindow: 5, segmentGraceMs: 10_000 };
const RENDITIONS = ['v0', 'v1'];
const STREAM = '/hls/s/';

interface Produced { k: number; name: string; dur: number }
/**
 * Uploaded bytes as latin1 strings (ASCII, or with `ll` CMAF); the same string means the same upload (or a
 * duplicate of it). An open upload has sent `bytes` up to its chunk end `ends[sent - 1]`.
 */
interface Open { path: string; body: HandBody; bytes: string; ends: number[]; sent: number; response: Response | Promise<Response>; start: number }
/** An upload's bytes and how many of them arrived (all, once it completed): parts may be cut only from those. */
interface Sent { path: string; bytes: string; arrived: number }

/** `s`'s bytes, one per char. */
function latin1(s: string): Uint8Array<ArrayBuffer> {
  return Buffer.from(s, 'latin1');
}
interface Seen { uri: string; gap: boolean; disc: number }

function within<T>(p: T | Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} hung for ${ms} ms`)), ms); });
  return Promise.race([Promise.resolve(p), timeout]).finally(() => clearTimeout(timer));
}

/** A low-latency playlist without its parts and preload hint. */
function withoutParts(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('#EXT-X-PART:') && !l.startsWith('#EXT-X-PRELOAD-HINT:')).join('\n');
}

/** Each segment's discontinuity sequence number. */
function discs(pl: MediaPlaylist): number[] {
  let d = pl.discontinuitySequence;
  return pl.segments.map((s) => (s.discontinuity ? ++d : d));
}

export class Harness {
  private origin!: Origin;
  private storage: FailingStorage | undefined;
  private dir: string | undefined;
  private readonly clock = { t: 1_000_000 };
  private diskFailing = false;
  // The encoder.
  private run = 0;
  private prefix = 'seg';
  private nextK = 0;
  private readonly produced: Produced[][] = RENDITIONS.map(() => []);
  private readonly sentPlaylists: string[][] = RENDITIONS.map(() => []);
  private uploads = 0;
  private starts = 0;
  private readonly open: Open[] = [];
  /** Every path anything was uploaded to. */
  private readonly paths = new Set<string>();
  // What each path's uploads did: start order of the newest winner; bodies of winners (the only bytes that may ever be published).
  private readonly newestWinner = new Map<string, number>();
  private readonly winners = new Map<string, Set<string>>();
  // What was published.
  private readonly bytesOf = new Map<string, Buffer>();
  /** Hinted URIs whose upload was complete when checked: their bytes, as readers may have them. */
  private readonly hinted = new Map<string, Buffer>();
  /** LL-HLS: bytes of the uploads a preload hint gave a name to, with the rendition, run and media sequence number it named. */
  private readonly llHinted = new Map<string, { r: number; run: number; msn: number }>();
  private readonly byMsn = RENDITIONS.map(() => new Map<number, Seen>());
  private readonly msnOfUri = new Map<string, number>();
  private readonly lastMsn = RENDITIONS.map(() => -1);
  private readonly lastDisc = RENDITIONS.map(() => -1);
  private readonly lastTd = RENDITIONS.map(() => 0);
  private readonly lastText: (string | undefined)[] = RENDITIONS.map(() => undefined);
  /** URIs no longer in any window -> when they left (ms); servable until the grace period after it. */
  private readonly left = new Map<string, number>();
  /** LL-HLS: every segment upload started; the bytes and media sequence number each part URI was first published with. */
  private readonly sent: Sent[] = [];
  private readonly partBytes = new Map<string, Buffer>();
  private readonly msnOfPart = new Map<string, number>();
  readonly log: string[] = [];

  constructor(private readonly options: HarnessOptions) {}

  async start(): Promise<void> {
    if (this.options.storage) {
      this.dir = await mkdtemp(join(tmpdir(), 'cascade-prop-'));
      this.storage = new FailingStorage(new DiskStorage(this.dir));
    }
    await this.startOrigin();
    await this.uploadInits();
  }

  private get ext(): string {
    return this.options.fmp4 || this.options.ll ? 'm4s' : 'ts';
  }

  private get fmp4(): boolean {
    return this.options.fmp4 === true || this.options.ll === true;
  }

  /** An fMP4 encoder uploads its renditions' init files when it starts. */
  private async uploadInits(): Promise<void> {
    if (!this.fmp4) return;
    for (const r of RENDITIONS.keys()) {
      const path = this.path(r, 'init.mp4');
      const bytes = this.bytes(r, -1);
      const start = this.starts++;
      const res = await within(this.origin.app.request(STREAM + path, { method: 'PUT', body: latin1(bytes) }), 10_000, 'an init upload');
      this.completed(path, bytes, start, res.status);
    }
  }

  private async startOrigin(): Promise<void> {
    this.origin = await createOrigin({
      ...(this.storage ? { storage: this.storage } : {}),
      ...LIMITS,
      ...(this.options.maxMemoryBytes !== undefined ? { maxMemoryBytes: this.options.maxMemoryBytes } : {}),
      sweepIntervalMs: 0,
      uploadIdleTimeoutMs: 120_000,
      now: () => this.clock.t,
    });
  }

  /** Ends what is open, closes the origin, checks nothing leaked on disk, removes the temp dir. */
  async stop(): Promise<void> {
    try {
      for (const o of this.open.splice(0)) {
        o.body.fail();
        await within(o.response, 5000, 'an aborted upload');
      }
      this.storage?.heal();
      this.diskFailing = false;
      // Past every grace period: what stays stored must be in a window or a path's current version.
      this.clock.t += LIMITS.segmentGraceMs;
      this.origin.sweep();
      await this.origin.flushed();
      await this.checkStorage();
    } finally {
      await this.origin.close();
      if (this.dir) await rm(this.dir, { recursive: true, force: true });
    }
  }

  // ---- the encoder -----------------------------------------------------------------------------------

  private path(r: number, name: string): string {
    return `${RENDITIONS[r]}/${name}`;
  }

  private produce(r: number, dur: number): Produced {
    const list = this.produced[r]!;
    const k = list.length > 0 ? list[list.length - 1]!.k + 1 : this.nextK;
    // The CMAF fixtures' segments last 1 s.
    const p = { k, name: `${this.prefix}${k}.${this.ext}`, dur: this.options.ll ? 1 : dur };
    list.push(p);
    return p;
  }

  private bytes(r: number, k: number): string {
    const n = this.uploads++;
    const tag = `${RENDITIONS[r]}|run${this.run}|k${k}|upload${n}|`;
    if (!this.options.ll) return tag.padEnd(40 + (n * 7) % 60, '.');
    const track = r === 0 ? LL_VIDEO : LL_AUDIO;
    return (k < 0 ? taggedInit(track, tag) : taggedSegment(track, k, tag)).toString('latin1');
  }

  /** Where an upload held open is sent in pieces: after each fragment with `ll`, else every 10 bytes. */
  private chunkEnds(r: number, bytes: string): number[] {
    if (this.options.ll) {
      let end = 0;
      return fragmentChunks(r === 0 ? LL_VIDEO : LL_AUDIO, Buffer.from(bytes, 'latin1')).map((c) => (end += c.length));
    }
    return Array.from({ length: Math.ceil(bytes.length / 10) }, (_, i) => Math.min(bytes.length, (i + 1) * 10));
  }

  /** Sends the next `count` chunks of an open upload. */
  private feed(o: Open, count: number): void {
    const to = Math.min(o.ends.length, o.sent + count);
    const from = o.sent === 0 ? 0 : o.ends[o.sent - 1]!;
    if (to > o.sent) o.body.send(latin1(o.bytes.slice(from, o.ends[to - 1])));
    o.sent = to;
    this.arrived(o.bytes, o.ends[to - 1] ?? 0);
  }

  /** Records how many bytes of an upload were sent. */
  private arrived(bytes: string, arrived: number): void {
    const s = this.sent.find((x) => x.bytes === bytes);
    if (s) s.arrived = Math.max(s.arrived, arrived);
  }

  private playlist(r: number): string {
    const list = this.produced[r]!.slice(-this.options.listSize);
    if (list.length === 0) return '';
    const td = Math.max(...list.map((p) => Math.ceil(p.dur)));
    const next = `${this.prefix}${list[list.length - 1]!.k + 1}.${this.ext}`;
    return ['#EXTM3U', `#EXT-X-VERSION:${this.options.fmp4 ? 7 : 3}`, `#EXT-X-TARGETDURATION:${td}`, `#EXT-X-MEDIA-SEQUENCE:${list[0]!.k}`,
      ...(this.fmp4 ? ['#EXT-X-MAP:URI="init.mp4"'] : []),
      ...list.flatMap((p) => [`#EXTINF:${p.dur.toFixed(3)},`, p.name]),
      ...(this.options.prefetch || this.options.ll ? [`#EXT-X-PREFETCH:${next}`] : [])].join('\n') + '\n';
  }

  // ---- steps -----------------------------------------------------------------------------------------

  /** Applies one step, then checks every invariant. */
  async step(op: Op): Promise<void> {
    this.log.push(JSON.stringify(op));
    const before = await this.snapshot();
    const superseded = await this.apply(op);
    await this.origin.flushed();
    const after = await this.snapshot();
    if (superseded) assert.deepEqual(after, before, 'a superseded upload changed what is published');
    await this.check();
  }

  /** Returns true when the step completed an upload that is superseded (it must change nothing). */
  private async apply(op: Op): Promise<boolean> {
    switch (op.op) {
      case 'cycle': {
        // Checked in between too: the segment alone may let a held-back playlist publish.
        const superseded = await this.apply({ op: 'segment', r: op.r, dur: op.dur });
        await this.origin.flushed();
        await this.check();
        await this.apply({ op: 'playlist', r: op.r });
        return superseded;
      }
      case 'segment': {
        const p = this.produce(op.r, op.dur);
        const path = this.path(op.r, p.name);
        const bytes = this.bytes(op.r, p.k);
        const start = this.starts++;
        this.sent.push({ path, bytes, arrived: bytes.length });
        const res = await within(this.origin.app.request(STREAM + path, { method: 'PUT', body: latin1(bytes) }), 10_000, 'a segment upload');
        return this.completed(path, bytes, start, res.status);
      }
      case 'duplicate': {
        const list = this.produced[op.r]!;
        if (list.length === 0) return false;
        const p = list[Math.max(0, list.length - 1 - op.back)]!;
        const path = this.path(op.r, p.name);
        const won = [...(this.winners.get(path) ?? [])].pop();
        if (won === undefined) return false;
        const start = this.starts++;
        const res = await within(this.origin.app.request(STREAM + path, { method: 'PUT', body: latin1(won) }), 10_000, 'a duplicate upload');
        return this.completed(path, won, start, res.status);
      }
      case 'playlist':
      case 'late': {
        const text = op.op === 'playlist' ? this.playlist(op.r) : this.sentPlaylists[op.r]!.at(-1 - op.back);
        if (!text) return false;
        if (op.op === 'playlist') this.sentPlaylists[op.r]!.push(text);
        const res = await within(this.origin.app.request(`${STREAM}${RENDITIONS[op.r]}/index.m3u8`, { method: 'PUT', body: text }), 10_000, 'a playlist upload');
        assert.equal(res.status, 204, `playlist upload: ${await res.text()}`);
        return false;
      }
      case 'begin': {
        const list = this.produced[op.r]!;
        const p = op.back === 0 || list.length === 0 ? this.produce(op.r, op.dur) : list[Math.max(0, list.length - op.back)]!;
        const path = this.path(op.r, p.name);
        const bytes = this.bytes(op.r, p.k);
        const body = handBody();
        const response = this.origin.app.request(STREAM + path, putWith(body));
        await within(body.reading, 5000, 'an upload starting');
        this.sent.push({ path, bytes, arrived: 0 });
        const o: Open = { path, body, bytes, ends: this.chunkEnds(op.r, bytes), sent: 0, response, start: this.starts++ };
        this.feed(o, 1);
        this.open.push(o);
        return false;
      }
      case 'feed': {
        const o = this.open[op.pick % Math.max(1, this.open.length)];
        if (o) this.feed(o, op.count);
        return false;
      }
      case 'end':
      case 'abort': {
        if (this.open.length === 0) return false;
        const [o] = this.open.splice(op.pick % this.open.length, 1);
        if (op.op === 'abort') {
          o!.body.fail();
          const res = await within(o!.response, 5000, 'an aborted upload');
          assert.equal(res.status, 400);
          return false;
        }
        this.feed(o!, o!.ends.length);
        o!.body.end();
        const res = await within(o!.response, 10_000, 'an upload finishing');
        return this.completed(o!.path, o!.bytes, o!.start, res.status);
      }
      case 'restart': {
        this.run++;
        for (const list of this.produced) list.length = 0;
        if (op.kind === 'same') { this.prefix = 'seg'; this.nextK = 0; }
        if (op.kind === 'fresh') { this.prefix = `r${this.run}-`; this.nextK = 0; }
        if (op.kind === 'jump') { this.prefix = 'seg'; this.nextK = 1000 * this.run; }
        await this.uploadInits();
        return false;
      }
      case 'delete': {
        const list = this.produced[op.r]!;
        const gone = list.slice(0, Math.max(0, list.length - this.options.listSize));
        const p = gone[Math.max(0, gone.length - 1 - op.back)];
        if (!p) return false;
        const res = await within(this.origin.app.request(STREAM + this.path(op.r, p.name), { method: 'DELETE' }), 5000, 'a DELETE');
        assert.equal(res.status, 204);
        return false;
      }
      case 'diskFull':
        if (this.storage) {
          this.storage.fail(op.code, ['put']);
          this.diskFailing = true;
        }
        return false;
      case 'diskOk':
        this.storage?.heal();
        this.diskFailing = false;
        return false;
      case 'tick':
        this.clock.t += op.ms;
        return false;
      case 'sweep':
        this.origin.sweep();
        return false;
      case 'originRestart': {
        if (!this.storage) return false;
        // An operator fixes the disk and restarts the origin: open uploads are cut, the state is flushed.
        for (const o of this.open.splice(0)) {
          o.body.fail();
          await within(o.response, 5000, 'an aborted upload');
        }
        this.storage.heal();
        this.diskFailing = false;
        this.origin.sweep();
        await this.origin.flushed();
        const before = await this.snapshot();
        await this.origin.close();
        await this.startOrigin();
        const after = await this.snapshot();
        if (this.options.ll) {
          // The parts of a segment being written lived in memory with its upload: a restarted origin withdraws
          // them and the preload hint (docs/origin.md, "Low-latency HLS"); with them gone, older segments' parts
          // may come back within three target durations of the end. Everything else is as it was.
          assert.deepEqual(after.map((t) => t && withoutParts(t)), before.map((t) => t && withoutParts(t)), 'a restarted origin publishes what it published, parts aside');
          const listed = after.join('\n');
          for (const uri of [...this.partBytes.keys()]) {
            if (listed.includes(`"${uri.slice(uri.indexOf('/') + 1)}"`)) continue;
            this.partBytes.delete(uri);
            this.left.delete(uri);
          }
        } else assert.deepEqual(after, before, 'a restarted origin publishes what it published');
        return false;
      }
    }
  }

  /** Records a finished upload; returns true when it was superseded (a newer upload of its path won first). */
  private completed(path: string, bytes: string, start: number, status: number): boolean {
    this.paths.add(path);
    const superseded = (this.newestWinner.get(path) ?? -1) > start;
    if (!superseded && this.diskFailing) {
      assert.equal(status, 507, `${path}: a failed write is a 507`);
      return false;
    }
    assert.equal(status, 201, `${path}: upload status`);
    if (superseded) return true;
    this.newestWinner.set(path, start);
    const set = this.winners.get(path) ?? new Set<string>();
    set.delete(bytes);
    set.add(bytes);
    this.winners.set(path, set);
    return false;
  }

  // ---- invariants ------------------------------------------------------------------------------------

  private async get(path: string): Promise<{ status: number; body: Buffer }> {
    const res = await within(this.origin.app.request(STREAM + path), 5000, `GET ${path}`);
    return { status: res.status, body: Buffer.from(await within(res.arrayBuffer(), 5000, `body of ${path}`)) };
  }

  /** The published text of every rendition (undefined: none yet). */
  private async snapshot(): Promise<(string | undefined)[]> {
    return Promise.all(RENDITIONS.map(async (v) => {
      const r = await this.get(`${v}/index.m3u8`);
      return r.status === 200 ? r.body.toString('latin1') : undefined;
    }));
  }

  private async check(): Promise<void> {
    const texts = await this.snapshot();
    const current = new Set<string>();
    const msnDisc = RENDITIONS.map(() => new Map<number, number>());
    for (const [r, text] of texts.entries()) {
      if (text === undefined) {
        assert.equal(this.lastText[r], undefined, `${RENDITIONS[r]}: a published playlist disappeared`);
        continue;
      }
      const pl = parsePlaylist(text);
      assert.equal(pl.type, 'media');
      const media = pl as MediaPlaylist;
      const where = `${RENDITIONS[r]} at\n${text}`;
      assert.ok(media.mediaSequence >= this.lastMsn[r]!, `media sequence went back (${this.lastMsn[r]} -> ${media.mediaSequence}) in ${where}`);
      assert.ok(media.discontinuitySequence >= this.lastDisc[r]!, `discontinuity sequence went back in ${where}`);
      assert.ok(media.targetDuration >= this.lastTd[r]!, `target duration went down in ${where}`);
      this.lastMsn[r] = media.mediaSequence;
      this.lastDisc[r] = media.discontinuitySequence;
      this.lastTd[r] = media.targetDuration;
      this.lastText[r] = text;
      const d = discs(media);
      for (const line of media.trailer) {
        if (!line.startsWith('#EXT-X-PREFETCH:')) continue;
        // A hint names an upload that may still be in progress: it must be there, not finished.
        const hint = `${RENDITIONS[r]}/${line.slice(line.indexOf(':') + 1)}`;
        const res = await within(this.origin.app.request(STREAM + hint, { method: 'HEAD' }), 5000, `HEAD ${hint}`);
        assert.equal(res.status, 200, `hinted ${hint} answers ${res.status} in ${where}`);
        // Complete, its bytes may be read in full under that name: whatever it names later must be them.
        if (res.headers.get('content-length') !== null) {
          const body = (await this.get(hint)).body;
          const first = this.hinted.get(hint);
          if (first === undefined) this.hinted.set(hint, body);
          else assert.ok(body.equals(first), `hinted ${hint} changed its bytes`);
        }
      }
      for (const [i, seg] of media.segments.entries()) {
        const msn = media.mediaSequence + i;
        const uri = `${RENDITIONS[r]}/${seg.uri}`;
        const map = seg.map !== undefined ? /URI="([^"]+)"/.exec(seg.map)?.[1] : undefined;
        if (map !== undefined) current.add(`${RENDITIONS[r]}/${map}`);
        assert.ok(Math.round(seg.duration) <= media.targetDuration, `EXTINF ${seg.duration} above the target duration in ${where}`);
        const seen = this.byMsn[r]!.get(msn);
        const now: Seen = { uri, gap: seg.gap, disc: d[i]! };
        if (seen) assert.deepEqual(now, seen, `media sequence ${msn} changed in ${where}`);
        else this.byMsn[r]!.set(msn, now);
        if (!seg.gap) {
          const first = this.msnOfUri.get(uri);
          if (first === undefined) this.msnOfUri.set(uri, msn);
          else assert.equal(msn, first, `${uri} republished under another media sequence in ${where}`);
        }
        msnDisc[r]!.set(msn, d[i]!);
        current.add(uri);
      }
      if (this.options.ll) await this.checkParts(r, text, where, current);
    }
    for (const [msn, disc] of msnDisc[0]!) {
      const other = msnDisc[1]!.get(msn);
      if (other !== undefined) assert.equal(disc, other, `renditions disagree on the discontinuity sequence of ${msn}:\n${texts.join('\n')}`);
    }
    // Every URI published and not yet past its grace period serves the bytes it was first published with.
    for (const uri of current) this.left.delete(uri);
    for (const uri of [...this.bytesOf.keys(), ...this.partBytes.keys()]) if (!current.has(uri) && !this.left.has(uri)) this.left.set(uri, this.clock.t);
    const graced = [...this.left].filter(([, at]) => this.clock.t - at < LIMITS.segmentGraceMs).map(([uri]) => uri);
    for (const uri of new Set([...current, ...graced])) {
      const r = await this.get(uri);
      assert.equal(r.status, 200, `published ${uri} answers ${r.status}`);
      const first = this.bytesOf.get(uri) ?? this.partBytes.get(uri);
      if (first === undefined) {
        assert.ok(this.winners.get(uploadedName(uri))?.has(r.body.toString('latin1')), `${uri} serves bytes no winning upload of ${uploadedName(uri)} had: ${r.body}`);
        const hinted = this.hinted.get(uri);
        if (hinted !== undefined) assert.ok(r.body.equals(hinted), `${uri} is published with other bytes than it was hinted with`);
        this.bytesOf.set(uri, r.body);
      } else {
        assert.ok(r.body.equals(first), `${uri} changed its bytes`);
      }
    }
  }

  /**
   * LL-HLS, rendition r's parts (docs/origin.md, "Low-latency HLS"): each segment's parts are listed from
   * part 0 and named after its published name; a part URI is listed under one media sequence number only;
   * the parts so far are a prefix of an upload of the segment's path, made only of bytes that had arrived,
   * and a listed segment's parts tile it exactly; video parts are independent at a segment's start, audio
   * parts always; the preload hint names the next part and answers. Servability within the grace period
   * is checked with the other URIs (`current`).
   */
  private async checkParts(r: number, text: string, where: string, current: Set<string>): Promise<void> {
    const dir = `${RENDITIONS[r]}/`;
    assert.deepEqual([...playlistViolations(text, `${dir}index.m3u8`), ...lowLatencyViolations(text)], [], `RFC 8216 / LL rules broken in ${where}`);
    const lines = text.split('\n');
    let msn = Number(/^#EXT-X-MEDIA-SEQUENCE:(\d+)$/m.exec(text)?.[1] ?? 0);
    const groups: { msn: number; segment?: string; parts: { uri: string; independent: boolean }[] }[] = [];
    let parts: { uri: string; independent: boolean }[] = [];
    for (const line of lines) {
      if (line.startsWith('#EXT-X-PART:')) parts.push({ uri: dir + /URI="([^"]+)"/.exec(line)![1]!, independent: line.includes('INDEPENDENT=YES') });
      else if (line !== '' && !line.startsWith('#')) {
        groups.push({ msn: msn++, segment: dir + line, parts });
        parts = [];
      }
    }
    groups.push({ msn, parts });
    const hint = /^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"$/m.exec(text)?.[1];
    if (hint !== undefined) {
      const res = await within(this.origin.app.request(`${STREAM}${dir}${hint}`, { method: 'HEAD' }), 5000, `HEAD ${hint}`);
      assert.equal(res.status, 200, `hinted part ${hint} answers ${res.status} in ${where}`);
      assert.match(hint, new RegExp(`\\.p${parts.length}\\.m4s$`), `the hint names the next part in ${where}`);
      if (parts.length > 0) assert.equal(hint.replace(/\.p\d+\.m4s$/, ''), parts[0]!.uri.slice(dir.length).replace(/\.p0\.m4s$/, ''), `the hint is of the partial segment in ${where}`);
      // The hint gives the segment's name to the upload being written: it keeps the name (and its bytes
      // stay stored) until a segment is listed at that number, even when a newer upload of the path wins.
      const path = `${dir}${hint.slice(0, hint.indexOf('.'))}.${this.ext}`;
      for (const o of this.open) if (o.path === path) this.llHinted.set(o.bytes, { r, run: this.run, msn });
    }
    for (const g of groups) {
      if (g.parts.length === 0) continue;
      const stem = g.parts[0]!.uri.replace(/\.p0\.m4s$/, '');
      assert.deepEqual(g.parts.map((p) => p.uri), g.parts.map((_, i) => `${stem}.p${i}.m4s`), `parts listed from 0, named after one segment, in ${where}`);
      if (g.segment !== undefined) assert.equal(g.segment, `${stem}.m4s`, `parts named after their segment's published name in ${where}`);
      assert.deepEqual(g.parts.map((p) => p.independent), g.parts.map((_, i) => r === 1 || i === 0), `INDEPENDENT in ${where}`);
      const bodies: Buffer[] = [];
      for (const p of g.parts) {
        const seen = this.msnOfPart.get(p.uri);
        if (seen === undefined) this.msnOfPart.set(p.uri, g.msn);
        else assert.equal(g.msn, seen, `${p.uri} listed under another media sequence number in ${where}`);
        const res = await this.get(p.uri);
        assert.equal(res.status, 200, `listed part ${p.uri} answers ${res.status} in ${where}`);
        const first = this.partBytes.get(p.uri);
        if (first) assert.ok(res.body.equals(first), `${p.uri} changed its bytes`);
        else this.partBytes.set(p.uri, res.body);
        bodies.push(res.body);
        current.add(p.uri);
      }
      const sofar = Buffer.concat(bodies).toString('latin1');
      const source = uploadedName(`${stem}.m4s`);
      assert.ok(this.sent.some((u) => u.path === source && sofar.length <= u.arrived && u.bytes.startsWith(sofar)),
        `the parts of ${stem} are not bytes that arrived for an upload of ${source}, in ${where}`);
      if (g.segment !== undefined) {
        const whole = await this.get(g.segment);
        assert.equal(whole.body.toString('latin1'), sofar, `the parts of ${g.segment} do not tile it, in ${where}`);
      }
    }
  }

  /**
   * No temporary file, and no stored blob that nothing can reach: every one is in a published window, under a
   * name hinted before, the current version of an uploaded path, or (LL-HLS) the upload the listed parts of a
   * segment still being published were cut from (they are its first bytes; the partial is settled, and the
   * upload released with it, when a segment is pushed at its number), or (LL-HLS) an upload a preload hint
   * named, until a segment is listed at its number. Called with nothing in progress, past every grace period.
   */
  private async checkStorage(): Promise<void> {
    if (!this.dir) return;
    const files = await readdir(this.dir, { recursive: true });
    assert.deepEqual(files.filter((f) => f.endsWith('.tmp')), [], 'temporary files left behind');
    const reachable = new Set<string>();
    const cutFrom: string[] = [];
    const lastListed = RENDITIONS.map(() => -1);
    for (const [r, text] of (await this.snapshot()).entries()) {
      if (text === undefined) continue;
      const listed = parsePlaylist(text) as MediaPlaylist;
      lastListed[r] = listed.mediaSequence + listed.segments.length - 1;
      for (const seg of listed.segments) {
        const map = seg.map !== undefined ? /URI="([^"]+)"/.exec(seg.map)?.[1] : undefined;
        for (const uri of [seg.uri, ...(map !== undefined ? [map] : [])]) reachable.add((await this.get(`${RENDITIONS[r]}/${uri}`)).body.toString('latin1'));
      }
      const trailing = text.slice(text.lastIndexOf('#EXTINF'));
      const parts = [...trailing.matchAll(/^#EXT-X-PART:.*URI="([^"]+)"/gm)].map((m) => m[1]!);
      if (parts.length > 0) cutFrom.push((await Promise.all(parts.map(async (uri) => (await this.get(`${RENDITIONS[r]}/${uri}`)).body))).map((b) => b.toString('latin1')).join(''));
    }
    // A name hinted while its upload was complete stays that upload's until its segment is listed (readers
    // may have its bytes), even when a newer upload of the path is hinted since.
    for (const path of [...this.paths, ...this.hinted.keys()]) {
      const r = await this.get(path);
      if (r.status === 200) reachable.add(r.body.toString('latin1'));
    }
    // An upload an LL preload hint named, in this run, whose number no listed segment has reached yet.
    for (const [bytes, { r, run, msn }] of this.llHinted) if (run === this.run && msn > lastListed[r]!) reachable.add(bytes);
    for (const f of files.filter((x) => /(^|\/)blobs\/\d+$/.test(x))) {
      const body = (await readFile(join(this.dir, f))).toString('latin1');
      assert.ok(reachable.has(body) || cutFrom.some((sofar) => body.startsWith(sofar)), `stored blob ${f} is neither published nor the current version of a path: ${body}`);
    }
  }
}

/** Runs a whole scenario, stopping the harness whatever happens. */
export async function runScenario(ops: Op[], options: HarnessOptions): Promise<void> {
  const h = new Harness(options);
  await h.start();
  try {
    for (const op of ops) await h.step(op);
  } finally {
    await h.stop();
  }
}
