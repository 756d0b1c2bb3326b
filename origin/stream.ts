// One stream on the origin: its uploads (by upload id and by uploaded path), the publisher that rewrites
// its playlists, retention, (with storage, i.e. a data dir) persistence of both bytes and rewrite state, and
// for low-latency HLS the parts cut from hinted uploads while they are written.
import { createHash } from 'node:crypto';
import { parseInit, type InitSegment } from '../src/cmaf.js';
import { parsePlaylist, type Playlist } from '../src/playlist.js';
import { UploadVersion, type UploadVersionMeta } from './upload-version.js';
import { OriginError } from './errors.js';
import {
  emptyPublisherState, Publisher, type ApplyOutcome, type FileView, type LowLatencyPosition, type PublisherLimits, type PublisherState,
} from './publisher.js';
import { SegmentParts, type PartsProblem } from './segment-parts.js';
import type { PeerSegment } from './peer-fill.js';
import { storageErrorCode, type Storage, type StorageOp } from './storage.js';
import { UploadTable } from './uploads.js';

export interface StreamLimits extends PublisherLimits {
  /** How long a segment stays servable after it left every window (ms). */
  graceMs: number;
}

export interface PublishedPlaylist {
  text: string;
  /** `text` encoded once, for serving (lengths and ranges are in bytes). */
  bytes: Uint8Array<ArrayBuffer>;
  etag: string;
  at: number;
  master: boolean;
  targetDuration?: number;
  /** Low-latency HLS: where it stands, for blocking reloads; its delta update, made once when first asked for. */
  lowLatency?: LowLatencyPosition;
  delta?: { text: string; bytes: Uint8Array<ArrayBuffer>; etag: string };
}

/** A published part (immutable), or the part a preload hint announces (requestable before it exists). */
export type PartLookup =
  | { state: 'published'; length: number; read: (start: number, end: number) => ReadableStream<Uint8Array> }
  | { state: 'hinted'; parts: SegmentParts; index: number; targetDuration: number };

interface Snapshot {
  nextUpload: number;
  publisher: PublisherState;
  raw: Record<string, number>;
  blobs: UploadVersionMeta[];
}

/** Names asked of peers that a stream remembers (so each is asked once). */
const MAX_ASKED_PEERS = 1024;
/** Larger init sections are not read for cutting parts (a real one is a few hundred bytes). */
const MAX_INIT_BYTES = 1024 * 1024;

export function etagOf(text: string | Buffer): string {
  return `"${createHash('sha1').update(text).digest('hex').slice(0, 20)}"`;
}

export class OriginStream {
  readonly publisher: Publisher;
  private nextUpload = 0;
  private readonly blobs = new Map<number, UploadVersion>();
  private readonly uploads = new UploadTable();
  /** Published name -> upload id, for everything that must stay servable. */
  private names = new Map<string, number>();
  /** Upload ids that were ever servable under a published name (their raw name expires with them). */
  private readonly everPublished = new Set<number>();
  private readonly playlists = new Map<string, PublishedPlaylist>();
  /** Low-latency HLS: parts being cut (or kept after their upload failed), by upload id. */
  private readonly cuts = new Map<number, SegmentParts>();
  /** Init sections read for cutting, by upload id (null: not CMAF; 'loading': being read from storage). */
  private readonly inits = new Map<number, InitSegment | null | 'loading'>();
  /** Published part name -> its segment's upload and byte range; hinted part name -> its segment and index. */
  private partNames = new Map<string, { upload: number; offset: number; length: number }>();
  private hintedParts = new Map<string, { segment: string; index: number; targetDuration: number; upload?: number }>();
  private saving: Promise<void> = Promise.resolve();
  /** The stored state is older than the state in memory (a write is due, or the last one failed). */
  private stateDirty = false;
  /** Stored blobs to remove once the state that stops naming them has been written. */
  private readonly removals: string[] = [];
  /** Set by the owner: called with each newly published playlist path. */
  onPublished?: (path: string, playlist: PublishedPlaylist) => void;
  /** Set by the owner: called with each failed storage operation. */
  onStorageFailed?: (op: StorageOp, err: unknown) => void;
  /** Set by the owner: this origin's part of what roots new renditions' names (see the publisher's rootOf). */
  salt = '';
  /** Set by the owner with --peer: a published name of this stream from a peer, verified (origin/peer-fill.ts). */
  fromPeer?: (name: string) => Promise<PeerSegment | undefined>;
  /** Names asked of peers (each once), oldest first. */
  private readonly askedPeers = new Set<string>();
  /** Set by the owner: called when parts cut from an upload changed (a part closed, the cutting ended). */
  onPartsChanged?: (upload: number) => void;
  /** Set by the owner: called when an upload's bytes could not be cut cleanly into parts. */
  onPartsProblem?: (path: string, problem: PartsProblem) => void;

  /** The publisher sees each path as its current upload (see UploadTable): in progress, complete, or none. */
  private readonly files: FileView = {
    complete: (path, before) => {
      const b = this.uploads.current(path, before);
      return b?.state === 'complete' ? { id: b.id, hash: b.hash, size: b.size } : undefined;
    },
    writing: (path, before) => {
      const b = this.uploads.current(path, before);
      return b?.state === 'writing' ? { id: b.id } : undefined;
    },
    started: () => this.nextUpload,
    upload: (id) => {
      const b = this.blobs.get(id);
      if (b === undefined || b.state === 'aborted') return undefined;
      return b.state === 'complete' ? { state: 'complete', hash: b.hash } : { state: 'writing' };
    },
    parts: (upload, init) => this.cuts.get(upload) ?? (init !== undefined ? this.startCutting(upload, init) : undefined),
  };

  /** With `storage`, this stream's objects live under the key prefix `<name>/`. */
  constructor(
    readonly name: string,
    private readonly limits: StreamLimits,
    private readonly storage: Storage | undefined,
    private readonly now: () => number = Date.now,
    state: PublisherState = emptyPublisherState(),
  ) {
    this.publisher = new Publisher(state, limits);
  }

  static async load(name: string, limits: StreamLimits, storage: Storage, now: () => number = Date.now): Promise<OriginStream | undefined> {
    let snap: Snapshot;
    try {
      const text = await storage.get(`${name}/state.json`);
      if (text === undefined) return undefined;
      snap = JSON.parse(text.toString('utf8')) as Snapshot;
    } catch {
      return undefined;
    }
    const s = new OriginStream(name, limits, storage, now, snap.publisher);
    s.nextUpload = snap.nextUpload;
    for (const meta of snap.blobs) s.blobs.set(meta.id, UploadVersion.fromMeta(meta, storage, s.blobKey(meta.id)));
    for (const [path, id] of Object.entries(snap.raw)) {
      const b = s.blobs.get(id);
      if (b?.path === path) s.uploads.restore(b);
    }
    // The parts cut from a segment still being written lived in memory with its upload: they are withdrawn,
    // with the preload hints and the names hinted for uploads in progress (nothing is being written now).
    if (s.publisher.withdrawUnwritten((upload) => s.blobs.get(upload)?.state === 'complete')) s.publisher.uploadsChanged(s.files, now());
    s.refresh([...Object.keys(snap.publisher.masters), ...Object.keys(snap.publisher.renditions)]);
    // What the state does not name was left by a crash: a blob stored before the state naming it was
    // written, or the temporary file of an interrupted write. Nothing can reach it; removed with the next write.
    const files = await storage.list(`${name}/blobs`).catch(() => []);
    const stray = files.filter((f) => !s.blobs.has(Number(f)) || String(Number(f)) !== f);
    if (stray.length > 0) {
      s.removals.push(...stray.map((f) => `${name}/blobs/${f}`));
      s.save();
    }
    return s;
  }

  private blobKey(id: number): string {
    return `${this.name}/blobs/${id}`;
  }

  // ---- uploads -------------------------------------------------------------------------------------

  /** Starts an upload of a non-playlist file; its id is assigned now, in arrival order (which decides which upload of a path wins). */
  beginUpload(path: string): UploadVersion {
    const blob = new UploadVersion(this.nextUpload++, path);
    this.blobs.set(blob.id, blob);
    this.uploads.begin(blob);
    // A playlist may hint an upload before it starts (ffmpeg's dash muxer sends them 0-2 ms apart).
    if (this.publisher.hints(path)) this.uploadsChanged();
    return blob;
  }

  /**
   * The whole body arrived: store it (in storage first, with one) and let held-back segments publish.
   * Returns false when the upload is superseded (a newer upload of its path completed first): then it
   * changes nothing, though its readers get its whole body. Throws OriginError('storage_failed') when it
   * cannot be stored; the upload is aborted then, and its path falls back to what it was.
   */
  async finishUpload(blob: UploadVersion, hash: string): Promise<boolean> {
    const store = this.storage !== undefined && !this.uploads.isSuperseded(blob) ? this.storage : undefined;
    if (store !== undefined) {
      try {
        await store.put(this.blobKey(blob.id), blob.bytes());
      } catch (err) {
        this.onStorageFailed?.('blob_write', err);
        this.abortUpload(blob);
        throw new OriginError('storage_failed', `could not store the upload (${storageErrorCode(err)})`, { cause: err });
      }
    }
    blob.complete(hash, this.now());
    if (store !== undefined) blob.movedToStorage(store, this.blobKey(blob.id));
    // Even the same bytes again are a new upload: an encoder that restarted may reproduce its old
    // segments exactly, and the publisher tells that from a retry by what the next playlist says.
    if (!this.uploads.complete(blob)) return false; // retention drops it once nothing names it
    this.uploadsChanged();
    this.save();
    return true;
  }

  /** The upload failed: its readers are cut, and its path falls back to what is left. */
  abortUpload(blob: UploadVersion): void {
    blob.abort();
    this.uploads.abort(blob);
    this.blobs.delete(blob.id);
    this.uploadsChanged();
  }

  private uploadsChanged(save = true): string[] {
    const changed = this.publisher.uploadsChanged(this.files, this.now());
    this.refresh(changed, save);
    return changed;
  }

  /**
   * Parses and applies an uploaded playlist; `feed` is the uploader's feed id (`Cascade-Feed`), if it sent one.
   * Throws PlaylistError and then changes nothing.
   */
  applyPlaylist(path: string, text: string, feed = ''): { outcome: ApplyOutcome; playlist: Playlist } {
    const pl = parsePlaylist(text);
    const existing = this.playlists.get(path);
    if (existing && existing.master !== (pl.type === 'master')) {
      throw new OriginError('type_changed', `'${path}' was a ${existing.master ? 'master' : 'media'} playlist`);
    }
    if (pl.type === 'media' && this.fromPeer !== undefined) {
      this.publisher.validateMedia(path, pl);
      for (const missing of this.publisher.missingSegments(path, pl, this.files)) this.fillFromPeer(missing.source, missing.name);
    }
    const outcome = pl.type === 'master'
      ? this.publisher.applyMaster(path, pl)
      : this.publisher.applyMedia(path, pl, this.files, this.now(), `${feed}/${this.salt}`);
    // A media playlist's new segments may raise the bandwidth its masters publish.
    this.refresh([...(outcome === 'unchanged' ? [] : [path]), ...this.publisher.renderMasters()]);
    return { outcome, playlist: pl };
  }

  /**
   * A segment a playlist names that never arrived here, asked of the peers under its published name: an
   * upload of its path whose bytes come from a peer. While it runs, the segment waits like one still being
   * uploaded; when no peer has it in time (or its bytes are not what the peer says), the upload fails and
   * the segment becomes a gap, as without peers.
   */
  private fillFromPeer(source: string, name: string): void {
    if (this.askedPeers.has(name)) return;
    this.askedPeers.add(name);
    if (this.askedPeers.size > MAX_ASKED_PEERS) this.askedPeers.delete(this.askedPeers.values().next().value!);
    const blob = this.beginUpload(source);
    const fail = () => {
      if (blob.state === 'writing') this.abortUpload(blob);
    };
    void this.fromPeer!(name).then(async (got) => {
      if (got === undefined || blob.state !== 'writing') return fail();
      blob.append(got.bytes);
      await this.finishUpload(blob, got.hash);
    }).catch(fail);
  }

  /** DELETE of an uploaded name: forgets the name, never bytes a published playlist still names. */
  deletePath(path: string): boolean {
    const blob = this.uploads.forget(path);
    if (!blob) return false;
    if (!this.isServable(blob.id)) this.dropBlob(blob);
    this.save();
    return true;
  }

  // ---- low-latency parts ---------------------------------------------------------------------------

  /** Cuts an upload still being written into parts, with its init section (both upload ids), if both allow. */
  private startCutting(upload: number, init: number): SegmentParts | undefined {
    const blob = this.blobs.get(upload);
    const parsed = this.initOf(init);
    if (!this.limits.partTargetMs || blob?.state !== 'writing' || !parsed) return undefined;
    // The state is written when the first part is out (it names a media sequence number and an upload id
    // that must never be given out again) and when the cutting ends, not at every part: a restarted origin
    // withdraws the parts of a segment being written and the preload hints anyway (their bytes were in
    // memory), and with S3 each write is a PUT.
    let first = true;
    const cut = new SegmentParts(blob, parsed, this.limits.partTargetMs, {
      changed: () => {
        const save = (first && cut.parts.length > 0) || !cut.cutting;
        if (save) first = false;
        this.uploadsChanged(save);
        this.onPartsChanged?.(upload);
      },
      problem: (problem) => this.onPartsProblem?.(blob.path, problem),
    });
    this.cuts.set(upload, cut);
    return cut;
  }

  /** The parsed init section of an upload; one only in storage is read first, and the publisher asked again then. */
  private initOf(id: number): InitSegment | undefined {
    const known = this.inits.get(id);
    if (known !== undefined) return known === null || known === 'loading' ? undefined : known;
    const blob = this.blobs.get(id);
    if (blob?.state !== 'complete') return undefined;
    if (blob.size > MAX_INIT_BYTES) {
      this.inits.set(id, null);
      return undefined;
    }
    if (blob.stored === undefined) return this.parsedInit(id, blob.bytes());
    this.inits.set(id, 'loading');
    blob.stored.storage.get(blob.stored.key).then(
      (bytes) => {
        if (bytes !== undefined && this.parsedInit(id, bytes) !== undefined) this.uploadsChanged();
        else this.inits.set(id, null);
      },
      () => this.inits.delete(id), // unreadable now: asked again with the next playlist
    );
    return undefined;
  }

  private parsedInit(id: number, bytes: Uint8Array): InitSegment | undefined {
    const parsed = parseInit(bytes);
    this.inits.set(id, parsed.ok ? parsed.value : null);
    return parsed.ok ? parsed.value : undefined;
  }

  /** A published part or a hinted one, by its published name. */
  part(path: string): PartLookup | undefined {
    const published = this.partNames.get(path);
    if (published !== undefined) {
      // By its own upload: the segment's name may serve another one (Publisher.servable).
      const { upload: id, offset, length } = published;
      const blob = this.blobs.get(id);
      if (blob !== undefined && blob.state !== 'aborted') {
        return { state: 'published', length, read: (start, end) => blob.stream(offset + start, offset + end) };
      }
      const kept = this.cuts.get(id)?.keptBytes({ offset, length });
      if (kept === undefined) return undefined;
      return { state: 'published', length, read: (start, end) => new ReadableStream({ start: (c) => { c.enqueue(kept.subarray(start, end + 1)); c.close(); } }) };
    }
    const hinted = this.hintedParts.get(path);
    const id = hinted !== undefined ? hinted.upload ?? this.names.get(hinted.segment) : undefined;
    const parts = id !== undefined ? this.cuts.get(id) : undefined;
    return parts !== undefined ? { state: 'hinted', parts, index: hinted!.index, targetDuration: hinted!.targetDuration } : undefined;
  }

  // ---- reading -------------------------------------------------------------------------------------

  playlist(path: string): PublishedPlaylist | undefined {
    return this.playlists.get(path);
  }

  /** A published (immutable) name, or the newest upload under its own name (mutable, possibly still being written). */
  file(path: string): { blob: UploadVersion; immutable: boolean } | undefined {
    const id = this.names.get(path);
    if (id !== undefined) {
      const blob = this.blobs.get(id);
      if (blob) return { blob, immutable: true };
    }
    const blob = this.uploads.current(path);
    return blob ? { blob, immutable: false } : undefined;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const b of this.blobs.values()) n += b.memoryBytes;
    for (const c of this.cuts.values()) n += c.memoryBytes;
    return n;
  }

  // ---- retention -----------------------------------------------------------------------------------

  private isServable(id: number): boolean {
    for (const v of this.names.values()) if (v === id) return true;
    return false;
  }

  /** Rebuilds the servable names and published texts after the publisher changed. */
  private refresh(changedPaths: string[] = [], save = true): void {
    const names = new Map<string, number>();
    for (const [name, id] of this.publisher.servable()) {
      names.set(name, id);
      this.everPublished.add(id);
    }
    this.names = names;
    const parts = new Map<string, { upload: number; offset: number; length: number }>();
    for (const { name, ...part } of this.publisher.servableParts()) parts.set(name, part);
    this.partNames = parts;
    this.hintedParts = new Map([...this.publisher.preloadHints()].map(({ name, ...hint }) => [name, hint]));
    for (const path of changedPaths) {
      const text = this.publisher.published(path);
      if (text === undefined) continue;
      const master = this.publisher.isMaster(path);
      const td = this.publisher.targetDuration(path);
      const ll = this.publisher.lowLatency(path);
      const p: PublishedPlaylist = {
        text, bytes: new TextEncoder().encode(text), etag: etagOf(text), at: this.now(), master, ...(td !== undefined ? { targetDuration: td } : {}),
        ...(ll !== undefined ? { lowLatency: ll } : {}),
      };
      this.playlists.set(path, p);
      this.onPublished?.(path, p);
    }
    if (changedPaths.length > 0 && save) this.save();
  }

  /**
   * Periodic retention: segments that left every window more than `graceMs` ago are deleted, with their
   * uploaded name; uploads never named by a playlist (posters, ...) stay until memory runs short; uploads
   * in progress always stay. Also retries a state write that failed. Returns bytes freed.
   */
  sweep(memoryBudget: number): number {
    const expired = this.publisher.expire(this.now(), this.limits.graceMs);
    if (expired) this.refresh();
    const live = new Set(this.names.values());
    let freed = 0;
    let dropped = false;
    for (const [path, b] of [...this.uploads.completedPaths()]) {
      if (this.everPublished.has(b.id) && !live.has(b.id)) this.uploads.forget(path);
    }
    const tracked = new Set([...this.uploads.blobs()].map((b) => b.id));
    for (const b of [...this.blobs.values()]) {
      if (!live.has(b.id) && !tracked.has(b.id)) {
        freed += b.memoryBytes;
        dropped = true;
        this.dropBlob(b);
        this.everPublished.delete(b.id);
      }
    }
    // Cuts are needed while their upload is written, and the bytes kept for a failed one while its parts are servable.
    const partUploads = new Set([...this.partNames.values()].map((p) => p.upload));
    for (const [id, cut] of this.cuts) {
      if (this.blobs.get(id)?.state === 'writing' || (cut.memoryBytes > 0 && partUploads.has(id))) continue;
      freed += cut.memoryBytes;
      this.cuts.delete(id);
    }
    for (const id of this.inits.keys()) if (!this.blobs.has(id)) this.inits.delete(id);
    if (this.memoryBytes > memoryBudget) {
      // Oldest never-published uploads go first; nothing a playlist names is evicted.
      const candidates = [...this.uploads.completedPaths()]
        .filter(([, b]) => !live.has(b.id) && b.memoryBytes > 0)
        .sort((a, b) => a[1].completedAt - b[1].completedAt);
      for (const [path, b] of candidates) {
        if (this.memoryBytes <= memoryBudget) break;
        freed += b.memoryBytes;
        dropped = true;
        this.dropBlob(b);
        this.uploads.forget(path);
      }
    }
    if (expired || dropped || this.stateDirty) this.save();
    return freed;
  }

  private dropBlob(blob: UploadVersion): void {
    this.blobs.delete(blob.id);
    if (blob.stored !== undefined) this.removals.push(blob.stored.key);
  }

  // ---- persistence ---------------------------------------------------------------------------------

  private snapshot(): Snapshot {
    const raw: Record<string, number> = {};
    for (const [path, b] of this.uploads.completedPaths()) if (b.stored !== undefined) raw[path] = b.id;
    return {
      nextUpload: this.nextUpload,
      publisher: this.publisher.state,
      raw,
      blobs: [...this.blobs.values()].filter((b) => b.state === 'complete' && b.stored !== undefined).map((b) => b.meta),
    };
  }

  /**
   * Writes the rewrite state (atomically, through storage). Writes are serialized and each writes the state
   * as it is when its turn comes, so an older state never lands last and a burst of changes costs one write.
   * A failed write is reported and retried by the next change or sweep.
   */
  private save(): void {
    if (this.storage === undefined) return;
    this.stateDirty = true;
    this.saving = this.saving.then(() => this.writeState(this.storage!));
  }

  private async writeState(storage: Storage): Promise<void> {
    if (this.stateDirty) {
      this.stateDirty = false;
      try {
        await storage.put(`${this.name}/state.json`, JSON.stringify(this.snapshot()));
      } catch (err) {
        this.stateDirty = true;
        this.onStorageFailed?.('state_write', err);
      }
    }
    // Only now, so the state that stops naming them is written first: a crash in between leaves no stored
    // state naming a removed blob. Even if that write failed: on a full disk, removing is what frees space.
    for (const key of this.removals.splice(0)) {
      await storage.remove(key).catch((err: unknown) => this.onStorageFailed?.('blob_remove', err));
    }
  }

  /** Resolves once the state writes have been tried, those issued while waiting for them too. */
  async flushed(): Promise<void> {
    let last;
    do {
      last = this.saving;
      await last;
    } while (last !== this.saving);
  }
}
