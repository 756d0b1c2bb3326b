// One stream on the origin: its uploads (by upload id and by uploaded path), the publisher that rewrites
// its playlists, retention, and (with a data dir) persistence of both bytes and rewrite state.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePlaylist, type Playlist } from '../src/playlist.js';
import { Blob, type BlobMeta } from './blob.js';
import { emptyPublisherState, Publisher, type ApplyOutcome, type FileView, type PublisherLimits, type PublisherState } from './publisher.js';

export interface StreamLimits extends PublisherLimits {
  /** How long a segment stays servable after it left every window (ms). */
  graceMs: number;
}

interface RawPath {
  complete?: Blob;
  writing?: Blob;
}

export interface PublishedPlaylist {
  text: string;
  etag: string;
  at: number;
  master: boolean;
  targetDuration?: number;
}

interface Snapshot {
  nextUpload: number;
  publisher: PublisherState;
  raw: Record<string, number>;
  blobs: BlobMeta[];
}

const UPLOAD_ID_IN_NAME = /\.(\d+)(?:\.[^./]+)?$/;

export function etagOf(text: string | Buffer): string {
  return `"${createHash('sha1').update(text).digest('hex').slice(0, 20)}"`;
}

export class OriginStream {
  readonly publisher: Publisher;
  private nextUpload = 0;
  private readonly blobs = new Map<number, Blob>();
  private readonly raw = new Map<string, RawPath>();
  /** Published name -> upload id, for everything that must stay servable. */
  private names = new Map<string, number>();
  /** Upload ids that were ever servable under a published name (their raw name expires with them). */
  private readonly everPublished = new Set<number>();
  private readonly playlists = new Map<string, PublishedPlaylist>();
  private saving: Promise<void> = Promise.resolve();
  /** Set by the owner: called with each newly published playlist path. */
  onPublished?: (path: string, playlist: PublishedPlaylist) => void;

  private readonly files: FileView = {
    complete: (path) => {
      const b = this.raw.get(path)?.complete;
      return b ? { id: b.id, hash: b.hash, size: b.size } : undefined;
    },
    writing: (path) => {
      const b = this.raw.get(path)?.writing;
      return b ? { id: b.id } : undefined;
    },
  };

  constructor(
    readonly name: string,
    private readonly limits: StreamLimits,
    private readonly dir: string | undefined,
    private readonly now: () => number = Date.now,
    state: PublisherState = emptyPublisherState(),
  ) {
    this.publisher = new Publisher(state, limits);
  }

  static async load(name: string, limits: StreamLimits, dir: string, now: () => number = Date.now): Promise<OriginStream | undefined> {
    let snap: Snapshot;
    try {
      snap = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as Snapshot;
    } catch {
      return undefined;
    }
    const s = new OriginStream(name, limits, dir, now, snap.publisher);
    s.nextUpload = snap.nextUpload;
    for (const meta of snap.blobs) s.blobs.set(meta.id, Blob.fromMeta(meta, join(dir, 'blobs', String(meta.id))));
    for (const [path, id] of Object.entries(snap.raw)) {
      const b = s.blobs.get(id);
      if (b) s.raw.set(path, { complete: b });
    }
    s.refresh([...Object.keys(snap.publisher.masters), ...Object.keys(snap.publisher.renditions)]);
    return s;
  }

  // ---- uploads -------------------------------------------------------------------------------------

  /** Starts an upload of a non-playlist file; its id is assigned now, in arrival order. */
  beginUpload(path: string): Blob {
    const blob = new Blob(this.nextUpload++, path);
    this.blobs.set(blob.id, blob);
    const raw = this.raw.get(path) ?? {};
    raw.writing = blob;
    this.raw.set(path, raw);
    return blob;
  }

  /** The whole body arrived: store it (on disk first with a data dir) and let held-back segments publish. */
  async finishUpload(blob: Blob, hash: string): Promise<string[]> {
    if (this.dir !== undefined) {
      const file = join(this.dir, 'blobs', String(blob.id));
      await mkdir(join(this.dir, 'blobs'), { recursive: true });
      await writeFile(file + '.tmp', blob.bytes());
      await rename(file + '.tmp', file);
      blob.complete(hash, this.now());
      blob.movedToDisk(file);
    } else {
      blob.complete(hash, this.now());
    }
    const raw = this.raw.get(blob.path) ?? {};
    if (raw.writing === blob) delete raw.writing;
    // Even the same bytes again are a new upload: an encoder that restarted may reproduce its old
    // segments exactly, and the publisher tells that from a retry by what the next playlist says.
    raw.complete = blob;
    this.raw.set(blob.path, raw);
    const changed = this.uploadsChanged();
    this.save();
    return changed;
  }

  abortUpload(blob: Blob): string[] {
    blob.abort();
    const raw = this.raw.get(blob.path);
    if (raw?.writing === blob) delete raw.writing;
    if (raw && !raw.complete && !raw.writing) this.raw.delete(blob.path);
    this.blobs.delete(blob.id);
    return this.uploadsChanged();
  }

  private uploadsChanged(): string[] {
    const changed = this.publisher.uploadsChanged(this.files, this.now());
    this.refresh(changed);
    return changed;
  }

  /** Parses and applies an uploaded playlist. Throws PlaylistError and then changes nothing. */
  applyPlaylist(path: string, text: string): { outcome: ApplyOutcome; playlist: Playlist } {
    const pl = parsePlaylist(text);
    const existing = this.playlists.get(path);
    if (existing && existing.master !== (pl.type === 'master')) {
      throw new TypeError(`'${path}' was a ${existing.master ? 'master' : 'media'} playlist`);
    }
    const outcome = pl.type === 'master'
      ? this.publisher.applyMaster(path, pl)
      : this.publisher.applyMedia(path, pl, this.files, this.now());
    // A media playlist's new segments may raise the bandwidth its masters publish.
    this.refresh([...(outcome === 'unchanged' ? [] : [path]), ...this.publisher.renderMasters()]);
    return { outcome, playlist: pl };
  }

  /** DELETE of an uploaded name: forgets the name, never bytes a published playlist still names. */
  deletePath(path: string): boolean {
    const raw = this.raw.get(path);
    if (!raw?.complete) return false;
    const blob = raw.complete;
    delete raw.complete;
    if (!raw.writing) this.raw.delete(path);
    if (!this.isServable(blob.id)) this.dropBlob(blob);
    this.save();
    return true;
  }

  // ---- reading -------------------------------------------------------------------------------------

  playlist(path: string): PublishedPlaylist | undefined {
    return this.playlists.get(path);
  }

  /** A published (immutable) name, or the newest upload under its own name (mutable, possibly still being written). */
  file(path: string): { blob: Blob; immutable: boolean } | undefined {
    const id = this.names.get(path);
    if (id !== undefined) {
      const blob = this.blobs.get(id);
      if (blob) return { blob, immutable: true };
    }
    const raw = this.raw.get(path);
    const blob = raw?.writing ?? raw?.complete;
    return blob ? { blob, immutable: false } : undefined;
  }

  get memoryBytes(): number {
    let n = 0;
    for (const b of this.blobs.values()) n += b.memoryBytes;
    return n;
  }

  // ---- retention -----------------------------------------------------------------------------------

  private isServable(id: number): boolean {
    for (const v of this.names.values()) if (v === id) return true;
    return false;
  }

  /** Rebuilds the servable names and published texts after the publisher changed. */
  private refresh(changedPaths: string[] = []): void {
    const names = new Map<string, number>();
    for (const name of this.publisher.servable()) {
      const m = UPLOAD_ID_IN_NAME.exec(name);
      if (m) {
        const id = Number(m[1]);
        names.set(name, id);
        this.everPublished.add(id);
      }
    }
    this.names = names;
    for (const path of changedPaths) {
      const text = this.publisher.published(path);
      if (text === undefined) continue;
      const master = this.publisher.isMaster(path);
      const td = this.publisher.targetDuration(path);
      const p: PublishedPlaylist = { text, etag: etagOf(text), at: this.now(), master, ...(td !== undefined ? { targetDuration: td } : {}) };
      this.playlists.set(path, p);
      this.onPublished?.(path, p);
    }
    if (changedPaths.length > 0) this.save();
  }

  /**
   * Periodic retention: segments that left every window more than `graceMs` ago are deleted, with their
   * uploaded name; uploads never named by a playlist (posters, ...) stay until memory runs short.
   * Returns bytes freed.
   */
  sweep(memoryBudget: number): number {
    const expired = this.publisher.expire(this.now(), this.limits.graceMs);
    if (expired) this.refresh();
    const live = new Set(this.names.values());
    let freed = 0;
    for (const [path, raw] of this.raw) {
      const b = raw.complete;
      if (b && this.everPublished.has(b.id) && !live.has(b.id)) {
        delete raw.complete;
        if (!raw.writing) this.raw.delete(path);
      }
    }
    const rawIds = new Set<number>();
    for (const raw of this.raw.values()) {
      if (raw.complete) rawIds.add(raw.complete.id);
      if (raw.writing) rawIds.add(raw.writing.id);
    }
    for (const b of [...this.blobs.values()]) {
      if (!live.has(b.id) && !rawIds.has(b.id)) {
        freed += b.memoryBytes;
        this.dropBlob(b);
        this.everPublished.delete(b.id);
      }
    }
    if (this.memoryBytes > memoryBudget) {
      // Oldest never-published uploads go first; nothing a playlist names is evicted.
      const candidates = [...this.raw.entries()]
        .filter(([, r]) => r.complete && !live.has(r.complete.id) && r.complete.memoryBytes > 0)
        .sort((a, b) => a[1].complete!.completedAt - b[1].complete!.completedAt);
      for (const [path, r] of candidates) {
        if (this.memoryBytes <= memoryBudget) break;
        freed += r.complete!.memoryBytes;
        this.dropBlob(r.complete!);
        this.raw.delete(path);
      }
    }
    if (expired || freed > 0) this.save();
    return freed;
  }

  private dropBlob(blob: Blob): void {
    this.blobs.delete(blob.id);
    if (blob.file !== undefined) void rm(blob.file, { force: true });
  }

  // ---- persistence ---------------------------------------------------------------------------------

  /** Writes the rewrite state atomically; writes are serialized so an older state never lands last. */
  private save(): void {
    if (this.dir === undefined) return;
    const dir = this.dir;
    const raw: Record<string, number> = {};
    for (const [path, r] of this.raw) if (r.complete?.file !== undefined) raw[path] = r.complete.id;
    const snap: Snapshot = {
      nextUpload: this.nextUpload,
      publisher: this.publisher.state,
      raw,
      blobs: [...this.blobs.values()].filter((b) => b.state === 'complete' && b.file !== undefined).map((b) => b.meta),
    };
    const text = JSON.stringify(snap);
    this.saving = this.saving.then(async () => {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'state.json.tmp'), text);
      await rename(join(dir, 'state.json.tmp'), join(dir, 'state.json'));
    }).catch(() => undefined);
  }

  /** Resolves once every state write issued so far is on disk. */
  flushed(): Promise<void> {
    return this.saving;
  }
}
