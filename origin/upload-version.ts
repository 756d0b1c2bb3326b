// One uploaded version of a file (stored as `<stream>/blobs/<id>` with a data dir, hence "blob" in storage
// names and metric labels). Readers may attach while it is still being written (read-while-write) and
// receive bytes as they arrive; if the upload aborts, their streams error so no short body looks complete.
// An observer (the LL part cutter) may follow the bytes synchronously, as each chunk is appended.
import type { Storage } from './storage.js';

/** Follows an upload in progress chunk by chunk, in the call that appends each (no event loop turn in between). */
export interface UploadObserver {
  chunk(bytes: Buffer): void;
  complete(): void;
  /** The upload failed; called while its bytes are still readable with bytes(). */
  abort(): void;
}

export type UploadVersionState = 'writing' | 'complete' | 'aborted';

export interface UploadVersionMeta {
  id: number;
  path: string;
  size: number;
  hash: string;
  /** ms since epoch */
  completedAt: number;
}

export class UploadVersion {
  state: UploadVersionState = 'writing';
  size = 0;
  hash = '';
  completedAt = 0;
  /** Set once the bytes are stored (data-dir mode); memory is released then. */
  stored: { storage: Storage; key: string } | undefined;
  private chunks: Buffer[] = [];
  private chunkEnds: number[] = [];
  private waiters = new Set<() => void>();
  private observers = new Set<UploadObserver>();

  constructor(readonly id: number, readonly path: string) {}

  static fromMeta(meta: UploadVersionMeta, storage: Storage, key: string): UploadVersion {
    const b = new UploadVersion(meta.id, meta.path);
    b.state = 'complete';
    b.size = meta.size;
    b.hash = meta.hash;
    b.completedAt = meta.completedAt;
    b.stored = { storage, key };
    return b;
  }

  get meta(): UploadVersionMeta {
    return { id: this.id, path: this.path, size: this.size, hash: this.hash, completedAt: this.completedAt };
  }

  /** Bytes held in memory. */
  get memoryBytes(): number {
    return this.stored === undefined ? this.size : 0;
  }

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.chunkEnds.push(this.size);
    for (const o of this.observers) o.chunk(chunk);
    this.wake();
  }

  complete(hash: string, now: number): void {
    this.hash = hash;
    this.completedAt = now;
    this.state = 'complete';
    const observers = this.observers;
    this.observers = new Set();
    for (const o of observers) o.complete();
    this.wake();
  }

  abort(): void {
    this.state = 'aborted';
    const observers = this.observers;
    this.observers = new Set();
    for (const o of observers) o.abort();
    this.chunks = [];
    this.chunkEnds = [];
    this.wake();
  }

  /** Once the bytes are stored, readers are served from storage and memory is released. */
  movedToStorage(storage: Storage, key: string): void {
    this.stored = { storage, key };
    this.chunks = [];
    this.chunkEnds = [];
  }

  /**
   * Follows an upload still being written: the chunks so far are replayed at once, then each new one as it
   * is appended, then its end. False (and nothing called) once it is no longer being written.
   */
  observe(observer: UploadObserver): boolean {
    if (this.state !== 'writing') return false;
    for (const chunk of this.chunks) observer.chunk(chunk);
    this.observers.add(observer);
    return true;
  }

  /** The whole body of an in-memory blob, one copy (stored on completion in data-dir mode). */
  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private waitForChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Bytes [start, end] (inclusive); follows the upload while it is being written. */
  stream(start = 0, end = Number.POSITIVE_INFINITY): ReadableStream<Uint8Array> {
    if (this.stored !== undefined && this.state === 'complete') {
      const last = Math.min(end, this.size - 1);
      if (last < start) return new ReadableStream({ start: (c) => c.close() });
      return this.stored.storage.read(this.stored.key, start, last);
    }
    let offset = start;
    let index = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          if (this.state === 'aborted') {
            controller.error(new Error('upload aborted'));
            return;
          }
          const limit = Math.min(end + 1, this.state === 'complete' ? this.size : Number.POSITIVE_INFINITY);
          if (offset >= limit) {
            controller.close();
            return;
          }
          if (this.stored !== undefined) {
            // Stored while we were reading (memory released): continue from storage.
            const rest = this.stored.storage.read(this.stored.key, offset, Math.min(end, this.size - 1));
            for await (const chunk of rest as unknown as AsyncIterable<Uint8Array>) controller.enqueue(chunk);
            controller.close();
            return;
          }
          if (offset < this.size) {
            while (this.chunkEnds[index]! <= offset) index++;
            const chunk = this.chunks[index]!;
            const chunkStart = this.chunkEnds[index]! - chunk.length;
            const from = offset - chunkStart;
            const to = Math.min(chunk.length, end + 1 - chunkStart);
            controller.enqueue(chunk.subarray(from, to));
            offset += to - from;
            return;
          }
          await this.waitForChange();
        }
      },
    });
  }
}
