// A Storage that fails on demand, wrapped around a real one: fault injection for the origin's storage seam
// (a full disk, an I/O error) without mocking the origin.
import type { Storage } from '../../origin/storage.js';

export type StorageMethod = 'put' | 'get' | 'read' | 'remove' | 'list';

export function storageError(code: string): Error {
  return Object.assign(new Error(`${code}: injected storage failure`), { code });
}

export class FailingStorage implements Storage {
  private failure: { code: string; methods: Set<StorageMethod>; keys: RegExp } | undefined;
  /** Every failed call, oldest first. */
  readonly failed: { method: StorageMethod; key: string; code: string }[] = [];

  constructor(readonly inner: Storage) {}

  /** From now on, calls of these methods on keys matching `keys` fail with `code` (as a full disk fails every write). */
  fail(code = 'ENOSPC', methods: StorageMethod[] = ['put'], keys = /./): void {
    this.failure = { code, methods: new Set(methods), keys };
  }

  heal(): void {
    this.failure = undefined;
  }

  private check(method: StorageMethod, key: string): void {
    const f = this.failure;
    if (f && f.methods.has(method) && f.keys.test(key)) {
      this.failed.push({ method, key, code: f.code });
      throw storageError(f.code);
    }
  }

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    this.check('put', key);
    await this.inner.put(key, bytes);
  }

  async get(key: string): Promise<Buffer | undefined> {
    this.check('get', key);
    return this.inner.get(key);
  }

  read(key: string, start: number, end: number): ReadableStream<Uint8Array> {
    try {
      this.check('read', key);
    } catch (err) {
      return new ReadableStream({ start: (c) => c.error(err) });
    }
    return this.inner.read(key, start, end);
  }

  async remove(key: string): Promise<void> {
    this.check('remove', key);
    await this.inner.remove(key);
  }

  async list(prefix: string): Promise<string[]> {
    this.check('list', prefix);
    return this.inner.list(prefix);
  }
}
