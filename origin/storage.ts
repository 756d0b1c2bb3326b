// Where the origin keeps uploaded bytes and rewrite state with --data-dir. All of its disk I/O goes through
// this one small interface, so tests can make it fail and another backend (S3, say) can replace the
// disk: keys are '/'-separated, objects are written whole and atomically, and there is no rename or append.
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';

export interface Storage {
  /**
   * Stores `bytes` under `key`, replacing what was there. Atomic: a reader sees the old object or the new
   * one, never part of it; when it throws, the old object (if any) is untouched and nothing else is left.
   */
  put(key: string, bytes: Uint8Array | string): Promise<void>;
  /** The whole object, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Bytes [start, end] (inclusive) of an object; the stream errors if it cannot be read. */
  read(key: string, start: number, end: number): ReadableStream<Uint8Array>;
  /** Removes an object; removing one that does not exist is no error. */
  remove(key: string): Promise<void>;
  /** Names of the objects and "folders" directly under `prefix` ('' for the top), [] when there are none. */
  list(prefix: string): Promise<string[]>;
  /** Releases connections (the origin's close calls it). */
  close?(): void;
}

/** What a storage operation was for: the `op` label of `cascade_origin_storage_errors_total`. */
export type StorageOp = 'blob_write' | 'blob_remove' | 'state_write' | 'record_write';

/** What an S3 backend (s3-storage.ts) reports, as a `code` on its errors. */
export const S3_ERROR_CODES = [
  'S3_TIMEOUT', // no answer in time: connect, response headers, an idle body or the operation's bound
  'S3_UNREACHABLE', // connection refused or reset, no route, DNS failure
  'S3_THROTTLED', // 503 SlowDown, 429: the service asks for less
  'S3_SERVER_ERROR', // another 5xx
  'S3_ACCESS_DENIED', // 403, unknown key id, bad signature, expired token
  'S3_NO_SUCH_BUCKET',
  'S3_REJECTED', // another 4xx: a bug or a misconfiguration, not retried
] as const;
export type S3ErrorCode = (typeof S3_ERROR_CODES)[number];
/** Error codes worth telling apart in a metric; every other one is 'other', so the label set stays bounded. */
const KNOWN_CODES = ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENOENT', ...S3_ERROR_CODES] as const;
export type StorageErrorCode = (typeof KNOWN_CODES)[number] | 'other';

export function storageErrorCode(err: unknown): StorageErrorCode {
  const code = (err as { code?: unknown } | null)?.code;
  return (KNOWN_CODES as readonly unknown[]).includes(code) ? (code as StorageErrorCode) : 'other';
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}

/** Objects as files under `root`; a put writes a temporary file beside the target and renames it over. */
export class DiskStorage implements Storage {
  private temps = 0;

  constructor(readonly root: string) {}

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    const file = this.path(key);
    // Unique per put, hidden, and short: the target's own name may already be at the 255-byte limit. A
    // leftover from a crash is an object no state names, which a restarted origin removes.
    const tmp = join(dirname(file), `.${process.pid}-${this.temps++}.tmp`);
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  read(key: string, start: number, end: number): ReadableStream<Uint8Array> {
    return Readable.toWeb(createReadStream(this.path(key), { start, end })) as ReadableStream<Uint8Array>;
  }

  async remove(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    try {
      return await readdir(prefix === '' ? this.root : this.path(prefix));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
  }
}
