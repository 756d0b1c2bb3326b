// One rendition's recording (--record, docs/relive.md): its segments' bytes and an index of them, both in
// storage, under a key prefix. S3 has no append, so the index is cut into chunks of CHUNK_SIZE segments:
// the open chunk is rewritten as it grows (coalesced: one write per burst), a full one is written once
// and never again, and a catalog names the closed chunks with what a search needs (positions, times).
// Memory holds the catalog (one summary per chunk), the open chunk and a few closed chunks read back:
// never a list of every segment, however long the event.
//
// Numbers: `seq` names a segment's objects and URIs, and is never given out twice, also across a
// restart (a restarted index starts a new chunk, so a segment served before a crash but not yet in the
// stored index can never name other bytes); `pos` counts segments without holes (the media sequence
// number of a recording playlist).
import type { Storage } from './storage.js';

export const CHUNK_SIZE = 256;
/** Closed chunks kept in memory after being read back (for playlists and segment requests). */
const CACHED_CHUNKS = 4;
/** The open chunk is written after this many new segments even if more keep coming. */
const FLUSH_EVERY = 32;

/** One recorded segment, as the index stores it. */
export interface RecordedSegment {
  seq: number;
  pos: number;
  /** Live media sequence number and discontinuity sequence number (of the published live playlist). */
  msn: number;
  ldisc: number;
  /** Published (live) name. */
  name: string;
  /** Seconds. */
  dur: number;
  /** Program date-time (ms since epoch); never earlier than the segment before's. */
  pdt: number;
  /** A discontinuity comes before it (a restart, or segments missing from the recording). */
  disc: boolean;
  /** Discontinuity sequence number: discontinuities up to and including this one. */
  dseq: number;
  size: number;
  /** Extension of its URIs. */
  ext: string;
  /** The live name of its init section (fMP4), and the seq whose init object holds it. */
  map?: string;
  init?: number;
  /** Size of the init object stored with this segment (only on the segment that owns it). */
  isize?: number;
  /** When it was recorded (ms since epoch): retention counts from this. */
  at: number;
}

/** What the recorder knows of a live segment to record. */
export interface SegmentDraft {
  msn: number;
  ldisc: number;
  discontinuity: boolean;
  name: string;
  dur: number;
  pdt: number | undefined;
  ext: string;
  map?: string;
  at: number;
}

interface ChunkSummary {
  n: number;
  count: number;
  firstPos: number;
  /** First segment's PDT, last segment's end (ms). */
  from: number;
  to: number;
  maxDur: number;
  lastAt: number;
}

interface Catalog {
  /** The chunk that is or will be open: numbers below it are closed or dropped. */
  next: number;
  chunks: ChunkSummary[];
}

export class RecordingIndex {
  private open: RecordedSegment[] = [];
  private readonly cache = new Map<number, RecordedSegment[]>();
  private writes: Promise<void> = Promise.resolve();
  private dirty = 0;
  private lastSegment: RecordedSegment | undefined;
  /** A segment was left out since the last one recorded. */
  private missed = false;

  private constructor(
    readonly storage: Storage,
    /** Key prefix of this rendition's objects, e.g. `demo/record/0`. */
    readonly prefix: string,
    private catalog: Catalog,
    /** Called with each failed storage write (a copy, the index); the next write retries the index. */
    private readonly failed: (err: unknown) => void,
  ) {}

  static empty(storage: Storage, prefix: string, failed: (err: unknown) => void): RecordingIndex {
    return new RecordingIndex(storage, prefix, { next: 0, chunks: [] }, failed);
  }

  static async load(storage: Storage, prefix: string, failed: (err: unknown) => void): Promise<RecordingIndex> {
    const stored = await storage.get(`${prefix}/catalog.json`);
    const catalog: Catalog = stored ? (JSON.parse(stored.toString('utf8')) as Catalog) : { next: 0, chunks: [] };
    const index = new RecordingIndex(storage, prefix, catalog, failed);
    // The open chunk of the previous run, and any chunk closed after the catalog was last written: closed now.
    let closed = false;
    for (;;) {
      const entries = await index.readChunk(catalog.next);
      if (entries === undefined) break;
      if (entries.length > 0) catalog.chunks.push(summarize(catalog.next, entries));
      catalog.next++;
      closed = true;
    }
    // A chunk whose index was never stored (its writes failed) but whose first segment was: its numbers
    // may have been served from memory, so they are not given out again.
    while (await storage.get(index.segmentKey(catalog.next * CHUNK_SIZE)) !== undefined) {
      catalog.next++;
      closed = true;
    }
    if (closed || !stored) await index.saveCatalog();
    const last = catalog.chunks.at(-1);
    if (last !== undefined) index.lastSegment = (await index.chunk(last.n)).at(-1);
    return index;
  }

  segmentKey(seq: number): string {
    return `${this.prefix}/seg/${seq}`;
  }

  initKey(seq: number): string {
    return `${this.prefix}/init/${seq}`;
  }

  private chunkKey(n: number): string {
    return `${this.prefix}/index/${n}.json`;
  }

  get last(): RecordedSegment | undefined {
    return this.lastSegment;
  }

  /** The oldest segment still recorded (read from storage if its chunk is not in memory). */
  async oldest(): Promise<RecordedSegment | undefined> {
    const oldest = this.catalog.chunks[0];
    return oldest === undefined ? this.open[0] : (await this.chunk(oldest.n))[0];
  }

  /** EXT-X-TARGETDURATION of any playlist of this recording: its longest segment, rounded (RFC 8216 4.3.3.1). */
  targetDuration(): number {
    let max = 0;
    for (const c of this.catalog.chunks) max = Math.max(max, c.maxDur);
    for (const e of this.open) max = Math.max(max, e.dur);
    return Math.max(1, Math.round(max));
  }

  /** In-memory sizes, for the bound tests: segments held, chunk summaries. */
  get memory(): { segments: number; summaries: number } {
    let segments = this.open.length;
    for (const c of this.cache.values()) segments += c.length;
    return { segments, summaries: this.catalog.chunks.length };
  }

  /**
   * Records a segment: its bytes (and its init section's, when the chunk has no copy of it yet) are stored
   * first, then it enters the index, so the index never names an object that is not there. Appends run
   * one after another in call order. A segment whose bytes cannot be read, or stored (reported to
   * `failed`), is left out, and the next one starts with a discontinuity.
   */
  append(draft: SegmentDraft, bytes: () => Promise<Uint8Array>, initBytes: () => Promise<Uint8Array>): Promise<'recorded' | 'unreadable' | 'unstored'> {
    const done = this.writes.then(() => this.store(draft, bytes, initBytes));
    this.writes = done.then(() => undefined);
    return done;
  }

  private async store(draft: SegmentDraft, bytes: () => Promise<Uint8Array>, initBytes: () => Promise<Uint8Array>): Promise<'recorded' | 'unreadable' | 'unstored'> {
    // A full chunk whose closing write failed is closed first: a chunk never holds more than its numbers.
    if (this.open.length === CHUNK_SIZE && !await this.close()) {
      this.missed = true;
      return 'unstored';
    }
    const seq = this.catalog.next * CHUNK_SIZE + this.open.length;
    const last = this.lastSegment;
    const ownInit = draft.map !== undefined && (last?.map !== draft.map || last.init === undefined || Math.floor(last.init / CHUNK_SIZE) !== this.catalog.next);
    let body: Uint8Array;
    let init: Uint8Array | undefined;
    try {
      body = await bytes();
      init = ownInit ? await initBytes() : undefined;
    } catch {
      // Left out, so what follows must not look continuous with what came before.
      this.missed = true;
      return 'unreadable';
    }
    try {
      await this.storage.put(this.segmentKey(seq), body);
      if (init !== undefined) await this.storage.put(this.initKey(seq), init);
    } catch (err) {
      this.failed(err);
      this.missed = true;
      return 'unstored';
    }
    const size = body.length;
    const isize = init?.length;
    const disc = last !== undefined && (this.missed || draft.discontinuity || draft.ldisc !== last.ldisc || draft.msn !== last.msn + 1);
    const lastEnd = last ? last.pdt + last.dur * 1000 : undefined;
    const pdt = draft.pdt !== undefined && (last === undefined || draft.pdt >= last.pdt) ? draft.pdt : lastEnd ?? draft.at - draft.dur * 1000;
    const seg: RecordedSegment = {
      seq, pos: last ? last.pos + 1 : this.catalog.chunks[0]?.firstPos ?? 0, msn: draft.msn, ldisc: draft.ldisc, name: draft.name, dur: draft.dur,
      pdt, disc, dseq: (last?.dseq ?? 0) + (disc ? 1 : 0), size, ext: draft.ext, at: draft.at,
      ...(draft.map !== undefined ? { map: draft.map, init: ownInit ? seq : last!.init! } : {}),
      ...(isize !== undefined ? { isize } : {}),
    };
    this.open.push(seg);
    this.lastSegment = seg;
    this.missed = false;
    if (this.open.length === CHUNK_SIZE) await this.close();
    else if (++this.dirty >= FLUSH_EVERY) await this.flush();
    else this.writes = this.writes.then(() => this.flush());
    return 'recorded';
  }

  /** Writes the open chunk if it changed since its last write. */
  private async flush(): Promise<void> {
    if (this.dirty === 0 || this.open.length === 0) return;
    this.dirty = 0;
    try {
      await this.storage.put(this.chunkKey(this.catalog.next), JSON.stringify(this.open));
    } catch (err) {
      this.dirty++;
      this.failed(err);
    }
  }

  /** The open chunk, full (or aged out), is written for good and joins the catalog; the next one opens. False if it could not be written. */
  private async close(): Promise<boolean> {
    const n = this.catalog.next;
    const entries = this.open;
    try {
      await this.storage.put(this.chunkKey(n), JSON.stringify(entries));
    } catch (err) {
      // Kept open: the next append tries again.
      this.failed(err);
      return false;
    }
    this.catalog = { next: n + 1, chunks: [...this.catalog.chunks, summarize(n, entries)] };
    this.open = [];
    this.dirty = 0;
    this.remember(n, entries);
    await this.saveCatalog();
    return true;
  }

  private async saveCatalog(): Promise<void> {
    try {
      await this.storage.put(`${this.prefix}/catalog.json`, JSON.stringify(this.catalog));
    } catch (err) {
      this.failed(err);
    }
  }

  private remember(n: number, entries: RecordedSegment[]): void {
    this.cache.delete(n);
    this.cache.set(n, entries);
    while (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value!);
  }

  private async readChunk(n: number): Promise<RecordedSegment[] | undefined> {
    const stored = await this.storage.get(this.chunkKey(n));
    return stored === undefined ? undefined : (JSON.parse(stored.toString('utf8')) as RecordedSegment[]);
  }

  /** The segments of chunk `n` (open or closed); throws if a closed one cannot be read. */
  private async chunk(n: number): Promise<RecordedSegment[]> {
    if (n === this.catalog.next) return this.open;
    const cached = this.cache.get(n);
    if (cached !== undefined) {
      this.remember(n, cached);
      return cached;
    }
    const entries = await this.readChunk(n);
    if (entries === undefined) throw new Error(`recording chunk ${this.prefix}#${n} is missing`);
    this.remember(n, entries);
    return entries;
  }

  /** Chunk numbers holding segments, oldest first (the open one last). */
  private chunkNumbers(): number[] {
    return [...this.catalog.chunks.map((c) => c.n), ...(this.open.length > 0 ? [this.catalog.next] : [])];
  }

  /** The segment recorded under `seq`, if it is still recorded. */
  async bySeq(seq: number): Promise<RecordedSegment | undefined> {
    const n = Math.floor(seq / CHUNK_SIZE);
    if (n !== this.catalog.next && !this.catalog.chunks.some((c) => c.n === n)) return undefined;
    return (await this.chunk(n)).find((e) => e.seq === seq);
  }

  /** The last segment whose PDT is at or before `t` (before, if `strict`). */
  async lastStartingBefore(t: number, strict: boolean): Promise<RecordedSegment | undefined> {
    const before = (e: { pdt: number } | { from: number }) => {
      const at = 'pdt' in e ? e.pdt : e.from;
      return strict ? at < t : at <= t;
    };
    const numbers = this.chunkNumbers();
    let found: RecordedSegment | undefined;
    for (let i = numbers.length - 1; i >= 0 && found === undefined; i--) {
      const n = numbers[i]!;
      const summary = this.catalog.chunks.find((c) => c.n === n);
      if (summary !== undefined && !before(summary)) continue;
      const entries = await this.chunk(n);
      for (let j = entries.length - 1; j >= 0; j--) {
        if (before(entries[j]!)) {
          found = entries[j];
          break;
        }
      }
    }
    return found;
  }

  /** Segments from position `from` to `to` (inclusive; to the end without it), one chunk read at a time. */
  async *walk(from: number, to = Number.POSITIVE_INFINITY): AsyncGenerator<RecordedSegment[]> {
    for (const n of this.chunkNumbers()) {
      const summary = this.catalog.chunks.find((c) => c.n === n);
      if (summary !== undefined && summary.firstPos + summary.count <= from) continue;
      if (summary !== undefined && summary.firstPos > to) return;
      const entries = (await this.chunk(n)).filter((e) => e.pos >= from && e.pos <= to);
      if (entries.length > 0) yield entries;
      if ((entries.at(-1)?.pos ?? -1) >= to) return;
    }
  }

  /**
   * Retention: drops the oldest chunk if everything in it was recorded before `cutoff` (the open one too,
   * once it is that old: it is closed first). The catalog stops naming it before its objects go, so no
   * index names a removed object. Returns whether it dropped one; one per call keeps a sweep bounded.
   */
  async expire(cutoff: number): Promise<boolean> {
    const run = this.writes.then(() => this.expireOldest(cutoff));
    this.writes = run.then(() => undefined);
    return run;
  }

  private async expireOldest(cutoff: number): Promise<boolean> {
    if (this.catalog.chunks.length === 0 && this.open.length > 0 && this.open.at(-1)!.at < cutoff) await this.close();
    const oldest = this.catalog.chunks[0];
    if (oldest === undefined || oldest.lastAt >= cutoff) return false;
    const entries = await this.chunk(oldest.n);
    this.catalog = { ...this.catalog, chunks: this.catalog.chunks.slice(1) };
    await this.saveCatalog();
    this.cache.delete(oldest.n);
    for (const e of entries) {
      await this.storage.remove(this.segmentKey(e.seq)).catch(this.failed);
      if (e.isize !== undefined) await this.storage.remove(this.initKey(e.seq)).catch(this.failed);
    }
    await this.storage.remove(this.chunkKey(oldest.n)).catch(this.failed);
    return true;
  }

  /** When the oldest chunk's last segment was recorded (retention's order), if there is one. */
  get oldestChunkAt(): number | undefined {
    return this.catalog.chunks[0]?.lastAt ?? this.open.at(-1)?.at;
  }

  /** Resolves once every append and write issued so far was tried. */
  async settled(): Promise<void> {
    for (let w = this.writes; ; w = this.writes) {
      await w;
      if (w === this.writes) return;
    }
  }
}

function summarize(n: number, entries: RecordedSegment[]): ChunkSummary {
  const last = entries.at(-1)!;
  return {
    n, count: entries.length, firstPos: entries[0]!.pos, from: entries[0]!.pdt, to: last.pdt + last.dur * 1000,
    maxDur: Math.max(...entries.map((e) => e.dur)), lastAt: last.at,
  };
}
