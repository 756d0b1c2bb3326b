// Storage in this process's memory: what --record keeps its recording in when the origin has neither
// --data-dir nor --storage (the recording then lasts as long as the process, the retention and the
// origin's --max-memory allow: the recorder drops its oldest chunks past it).
import type { Storage } from './storage.js';

export class MemoryStorage implements Storage {
  private readonly objects = new Map<string, Buffer>();
  private held = 0;

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    // A copy: the caller may reuse its buffer.
    const copy = Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
    this.held += copy.length - (this.objects.get(key)?.length ?? 0);
    this.objects.set(key, copy);
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.objects.get(key);
  }

  read(key: string, start: number, end: number): ReadableStream<Uint8Array> {
    const bytes = this.objects.get(key);
    return new ReadableStream({
      start(controller) {
        if (bytes === undefined) controller.error(Object.assign(new Error(`no object '${key}'`), { code: 'ENOENT' }));
        else {
          controller.enqueue(bytes.subarray(start, end + 1));
          controller.close();
        }
      },
    });
  }

  async remove(key: string): Promise<void> {
    this.held -= this.objects.get(key)?.length ?? 0;
    this.objects.delete(key);
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix === '' ? '' : `${prefix}/`;
    const names = new Set<string>();
    for (const key of this.objects.keys()) {
      if (key.startsWith(dir)) names.add(key.slice(dir.length).split('/')[0]!);
    }
    return [...names];
  }

  /** Objects held (tests check that retention frees them). */
  get size(): number {
    return this.objects.size;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.held;
  }
}
