// A response body that any number of readers consume while it is still being written (read-while-write).
// Chunks are shared, never copied per reader, so a slow reader costs a position, not a buffer.

export type BodyState = 'open' | 'complete' | 'aborted';

export class SharedBody {
  chunks: Buffer[] = [];
  length = 0;
  state: BodyState = 'open';
  private readonly listeners = new Set<() => void>();

  /** `expectedLength` is the upstream Content-Length: a body that ends short of it is an abort. */
  constructor(readonly expectedLength?: number) {}

  push(chunk: Buffer): void {
    if (this.state !== 'open') return;
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.notify();
  }

  end(): void {
    if (this.state !== 'open') return;
    if (this.expectedLength !== undefined && this.length !== this.expectedLength) {
      this.abort();
      return;
    }
    // One buffer per stored object: hits become a single write, and socket-sized chunks stop pinning
    // larger backing allocations. Readers still streaming resume from their byte offset.
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    this.state = 'complete';
    this.notify();
  }

  abort(): void {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.notify();
  }

  /** The whole body; only meaningful once complete. */
  get buffer(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
  }

  /** Resolves once the body is complete or aborted. */
  settled(): Promise<void> {
    if (this.state !== 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const unsubscribe = this.subscribe(() => {
        if (this.state === 'open') return;
        unsubscribe();
        resolve();
      });
    });
  }

  /** Calls `fn` after every new chunk and once at the end; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get readers(): number {
    return this.listeners.size;
  }

  private notify(): void {
    for (const fn of this.listeners) fn();
  }
}

/** Where one reader is in a SharedBody, surviving the compaction that `end()` does. */
export class BodyCursor {
  private chunks: Buffer[];
  private index = 0;
  private offset = 0;
  sent = 0;

  constructor(private readonly body: SharedBody, start = 0) {
    this.chunks = body.chunks;
    if (start > 0) this.seek(start);
  }

  /** The next bytes available now, or undefined when the reader has caught up. */
  next(): Buffer | undefined {
    if (this.body.chunks !== this.chunks) this.seek(this.sent);
    const chunk = this.chunks[this.index];
    if (chunk === undefined) return undefined;
    const out = this.offset === 0 ? chunk : chunk.subarray(this.offset);
    this.index++;
    this.offset = 0;
    this.sent += out.length;
    return out;
  }

  private seek(position: number): void {
    this.chunks = this.body.chunks;
    this.index = 0;
    this.offset = position;
    this.sent = position;
    while (this.index < this.chunks.length && this.offset >= this.chunks[this.index]!.length) {
      this.offset -= this.chunks[this.index]!.length;
      this.index++;
    }
  }
}
