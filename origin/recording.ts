// --record (docs/relive.md): every segment a stream publishes, of every rendition, is copied into the
// recording as it is published, so the live window's retention and the recording's are independent
// (the live sweep deletes what left the window; the recording keeps its copy until --record-retention).
// A stream's recording lives in storage under `<stream>/record/`: a manifest (its id, renditions, masters,
// whether the stream ended) and per rendition a RecordingIndex (origin/recording-index.ts).
//
// The recorder follows what the streams publish: a media playlist's new segments are recorded, an
// EXT-X-ENDLIST in every recorded rendition ends the stream, and so does no new segment for
// --relive-after; the next segment starts it again (docs/relive.md, "Relive").
import type { Logger } from '../src/log.js';
import type { Entry } from './publisher.js';
import { recordedExtension } from '../src/recording-paths.js';
import { RecordingIndex, type RecordedSegment, type SegmentDraft } from './recording-index.js';
import type { Storage } from './storage.js';
import type { OriginStream } from './stream.js';
import type { UploadVersion } from './upload-version.js';

export interface RecordingConfig {
  /** How long a recorded segment is kept (ms). */
  retentionMs: number;
  /** A recording in memory: past `max` bytes held, its oldest chunks are dropped whatever their age. */
  memory?: { bytes(): number; max: number };
  /** A stream that publishes no new segment for this long has ended (ms). */
  reliveAfterMs: number;
}

interface Manifest {
  /** Names this recording in segment URIs: a recording made again (its storage lost) never reuses one. */
  id: string;
  /** Rendition path -> its number in keys and URIs. */
  renditions: Record<string, number>;
  /** Master path -> its published text. */
  masters: Record<string, string>;
  /** Set when the stream ended; cleared by its next recorded segment. */
  ended?: { at: number; why: 'endlist' | 'idle' };
}

/** Segments waiting to be copied, per stream: beyond it, new ones are left out (a discontinuity marks the hole). */
const MAX_PENDING = 64;
/** Chunks a retention pass drops at most for a recording in memory past its budget. */
const MAX_PRESSURE_DROPS = 16;
/** Renditions recorded per stream: a stream's uploader cannot make the recorder hold an index per path it invents. */
const MAX_RENDITIONS = 64;

const PDT_TAG = '#EXT-X-PROGRAM-DATE-TIME:';

/** Why a published segment is not recorded: too many copies pending, its bytes gone, or a rendition too many. */
export type DropReason = 'busy' | 'unreadable' | 'renditions';

export interface RecordingEvents {
  ended(stream: string, why: 'endlist' | 'idle'): void;
  dropped(stream: string, rendition: string, reason: DropReason): void;
  storageFailed(stream: string, err: unknown): void;
}

export class StreamRecording {
  private readonly queued = new Map<number, number>();
  private readonly endList = new Set<number>();
  private pending = 0;
  private saving: Promise<void> = Promise.resolve();
  private manifestDirty = false;

  private constructor(
    readonly stream: string,
    private readonly storage: Storage,
    private readonly manifest: Manifest,
    readonly indexes: Map<number, RecordingIndex>,
    private readonly events: RecordingEvents,
  ) {}

  /** The stream's recording as storage holds it, or a new one. */
  static async open(stream: string, storage: Storage, now: number, events: RecordingEvents): Promise<StreamRecording> {
    const stored = await storage.get(`${stream}/record/manifest.json`);
    const manifest: Manifest = stored ? (JSON.parse(stored.toString('utf8')) as Manifest) : { id: now.toString(36), renditions: {}, masters: {} };
    const indexes = new Map<number, RecordingIndex>();
    for (const rid of Object.values(manifest.renditions)) {
      indexes.set(rid, await RecordingIndex.load(storage, `${stream}/record/${rid}`, (err) => events.storageFailed(stream, err)));
    }
    const recording = new StreamRecording(stream, storage, manifest, indexes, events);
    if (!stored) recording.save();
    return recording;
  }

  get id(): string {
    return this.manifest.id;
  }

  /** Whether (and why) the stream ended; not while segments are still being copied, so a relive never ends short of them. */
  get ended(): Manifest['ended'] {
    return this.pending === 0 ? this.manifest.ended : undefined;
  }

  /** Recorded renditions: path -> number. */
  get renditions(): Readonly<Record<string, number>> {
    return this.manifest.renditions;
  }

  get masters(): Readonly<Record<string, string>> {
    return this.manifest.masters;
  }

  /** A playlist of `stream` was published: a master is remembered, a media playlist's new segments recorded. */
  published(live: OriginStream, path: string, master: boolean, now: number): void {
    // A manifest write that failed is tried again with every change: until it lands, a restart loses the recording.
    if (this.manifestDirty) this.save();
    if (master) {
      const text = live.playlist(path)?.text;
      if (text !== undefined && this.manifest.masters[path] !== text) {
        this.manifest.masters[path] = text;
        this.save();
      }
      return;
    }
    const rendition = live.publisher.state.renditions[path];
    if (rendition === undefined) return;
    const rid = this.ridOf(path);
    if (rid === undefined) {
      if (rendition.entries.length > 0) this.events.dropped(this.stream, path, 'renditions');
      return;
    }
    const index = this.indexes.get(rid)!;
    const after = this.queued.get(rid) ?? index.last?.msn ?? -1;
    const entries = rendition.entries.filter((e) => !e.tags.includes('#EXT-X-GAP'));
    // Lower numbers than the recording's last: the live state started over (its storage was lost).
    const fresh = (entries.at(-1)?.msn ?? after) < after ? entries : entries.filter((e) => e.msn > after);
    for (const e of fresh) this.record(live, path, rid, index, e, now);
    if (rendition.endList) this.endList.add(rid);
    else if (fresh.length > 0) this.endList.delete(rid);
    if (rendition.endList) this.endIfEveryRenditionEnded(now);
  }

  /**
   * After an origin restart, what the live stream publishes and the manifest may have missed (its write
   * failed, and was lost with the process): the masters, and which renditions ended with EXT-X-ENDLIST,
   * so a relive published as VOD stays VOD. Segments are not recorded here: the next playlist does that.
   */
  resume(live: OriginStream, now: number): void {
    for (const path of Object.keys(live.publisher.state.masters)) this.published(live, path, true, now);
    for (const [path, rid] of Object.entries(this.manifest.renditions)) {
      if (live.publisher.state.renditions[path]?.endList) this.endList.add(rid);
    }
    this.endIfEveryRenditionEnded(now);
  }

  private endIfEveryRenditionEnded(now: number): void {
    const rids = Object.values(this.manifest.renditions);
    if (this.manifest.ended === undefined && rids.length > 0 && rids.every((r) => this.endList.has(r))) this.end(now, 'endlist');
  }

  private ridOf(path: string): number | undefined {
    const known = this.manifest.renditions[path];
    if (known !== undefined) return known;
    const rid = Object.keys(this.manifest.renditions).length;
    if (rid >= MAX_RENDITIONS) return undefined;
    this.manifest.renditions[path] = rid;
    this.indexes.set(rid, RecordingIndex.empty(this.storage, `${this.stream}/record/${rid}`, (err) => this.events.storageFailed(this.stream, err)));
    this.save();
    return rid;
  }

  private record(live: OriginStream, path: string, rid: number, index: RecordingIndex, e: Entry, now: number): void {
    this.queued.set(rid, e.msn);
    if (this.manifest.ended !== undefined) {
      delete this.manifest.ended;
      this.save();
    }
    const blob = live.file(e.name)?.blob;
    const init = e.mapName !== undefined ? live.file(e.mapName)?.blob : undefined;
    const unreadable = blob === undefined || (e.mapName !== undefined && init === undefined);
    if (unreadable || this.pending >= MAX_PENDING) {
      this.events.dropped(this.stream, path, unreadable ? 'unreadable' : 'busy');
      return;
    }
    const pdtTag = e.tags.find((t) => t.startsWith(PDT_TAG));
    const pdt = pdtTag !== undefined ? Date.parse(pdtTag.slice(PDT_TAG.length)) : Number.NaN;
    const draft: SegmentDraft = {
      msn: e.msn, ldisc: e.disc, discontinuity: e.discontinuity, name: e.name, dur: e.duration,
      pdt: Number.isFinite(pdt) ? pdt : undefined, ext: recordedExtension(e.name), at: now, ...(e.mapName !== undefined ? { map: e.mapName } : {}),
    };
    const range = e.offset !== undefined && e.bytes !== undefined ? [e.offset, e.offset + e.bytes - 1] as const : undefined;
    this.pending++;
    // A copy that could not be stored was counted as a storage error by the index.
    void index.append(draft, () => bytesOf(blob, range), () => bytesOf(init!, undefined)).then((result) => {
      if (result === 'unreadable') this.events.dropped(this.stream, path, 'unreadable');
    }).finally(() => this.pending--);
  }

  private end(now: number, why: 'endlist' | 'idle'): void {
    this.manifest.ended = { at: now, why };
    this.save();
    this.events.ended(this.stream, why);
  }

  /** Retention (at most one chunk per rendition per call) and the idle end of the stream. */
  async sweep(now: number, config: RecordingConfig): Promise<void> {
    const lastAt = Math.max(-Infinity, ...[...this.indexes.values()].map((i) => i.last?.at ?? -Infinity));
    if (this.manifest.ended === undefined && this.pending === 0 && Number.isFinite(lastAt) && now - lastAt >= config.reliveAfterMs) this.end(now, 'idle');
    for (const index of this.indexes.values()) await index.expire(now - config.retentionMs);
    if (this.manifestDirty) this.save();
  }

  /** The rendition's index, by path. */
  index(path: string): RecordingIndex | undefined {
    const rid = this.manifest.renditions[path];
    return rid === undefined ? undefined : this.indexes.get(rid);
  }

  /** Where the recording starts and ends (ms), over every rendition. */
  async span(): Promise<{ from: number; to: number } | undefined> {
    let from = Infinity;
    let to = -Infinity;
    for (const index of this.indexes.values()) {
      const first = await index.oldest();
      const last = index.last;
      if (first === undefined || last === undefined) continue;
      from = Math.min(from, first.pdt);
      to = Math.max(to, endOf(last));
    }
    return Number.isFinite(from) ? { from, to } : undefined;
  }

  private save(): void {
    this.manifestDirty = true;
    this.saving = this.saving.then(async () => {
      if (!this.manifestDirty) return;
      this.manifestDirty = false;
      try {
        await this.storage.put(`${this.stream}/record/manifest.json`, JSON.stringify(this.manifest));
      } catch (err) {
        this.manifestDirty = true;
        this.events.storageFailed(this.stream, err);
      }
    });
  }

  /** Resolves once every copy and write issued so far was tried. */
  async settled(): Promise<void> {
    await Promise.all([this.saving, ...[...this.indexes.values()].map((i) => i.settled())]);
  }
}

/** Every stream's recording: opened at its first published playlist, loaded from storage at start. */
export class Recorder {
  private readonly recordings = new Map<string, StreamRecording>();
  private readonly opening = new Map<string, Promise<StreamRecording>>();

  constructor(
    /** Where the recordings are: the origin's storage, or memory. */
    readonly storage: Storage,
    readonly config: RecordingConfig,
    private readonly now: () => number,
    private readonly events: RecordingEvents,
    private readonly log: Logger,
  ) {}

  /** Loads every recording storage holds, each brought up to what its live stream (`live`) publishes; returns their streams. */
  async load(isStream: (name: string) => boolean, live: (stream: string) => OriginStream | undefined): Promise<string[]> {
    for (const name of (await this.storage.list('')).filter(isStream)) {
      if (!(await this.storage.list(`${name}/record`)).includes('manifest.json')) continue;
      const recording = await this.open(name);
      const stream = live(name);
      if (stream !== undefined) recording.resume(stream, this.now());
    }
    return [...this.recordings.keys()];
  }

  get(stream: string): StreamRecording | undefined {
    return this.recordings.get(stream);
  }

  private open(stream: string): Promise<StreamRecording> {
    const known = this.opening.get(stream);
    if (known !== undefined) return known;
    const opening = StreamRecording.open(stream, this.storage, this.now(), this.events).then((r) => {
      this.recordings.set(stream, r);
      return r;
    });
    this.opening.set(stream, opening);
    return opening;
  }

  /** A stream published a playlist (after it is servable). */
  published(live: OriginStream, path: string, master: boolean): void {
    const ready = this.recordings.get(live.name);
    if (ready !== undefined) {
      ready.published(live, path, master, this.now());
      return;
    }
    // The first playlist of a stream that has no recording yet: segments wait for the manifest's read.
    this.open(live.name).then((r) => r.published(live, path, master, this.now()), (err: unknown) => {
      this.opening.delete(live.name);
      this.log.error('record_open_failed', { stream: live.name, err });
    });
  }

  async sweep(): Promise<void> {
    for (const r of this.recordings.values()) await r.sweep(this.now(), this.config);
    const memory = this.config.memory;
    // Bounded: a few chunks a pass; the next pass goes on.
    for (let i = 0; i < MAX_PRESSURE_DROPS && memory !== undefined && memory.bytes() > memory.max; i++) {
      const indexes = [...this.recordings.values()].flatMap((r) => [...r.indexes.values()]).filter((x) => x.oldestChunkAt !== undefined);
      const oldest = indexes.sort((a, b) => a.oldestChunkAt! - b.oldestChunkAt!)[0];
      if (oldest === undefined || !await oldest.expire(Infinity)) break;
      this.log.warn('record_memory_full', { prefix: oldest.prefix, bytes: memory.bytes(), max: memory.max });
    }
  }

  async settled(): Promise<void> {
    await Promise.all([...this.opening.values()]);
    await Promise.all([...this.recordings.values()].map((r) => r.settled()));
  }
}

export function endOf(seg: RecordedSegment): number {
  return seg.pdt + seg.dur * 1000;
}

async function bytesOf(blob: UploadVersion, range: readonly [number, number] | undefined): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const reader = (range ? blob.stream(range[0], range[1]) : blob.stream()).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return Buffer.concat(chunks);
}
