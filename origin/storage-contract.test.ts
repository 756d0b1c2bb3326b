// The Storage contract (origin/storage.ts), run against every backend: DiskStorage in a temporary directory,
// MemoryStorage, and S3Storage on a real S3-compatible server (SeaweedFS on loopback, test/helpers/s3-server.ts). What the
// origin relies on holds for both, or the suite says which backend breaks it.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { s3ServerForFile, s3ServerMissing } from '../test/helpers/s3-server.js';
import { MemoryStorage } from './memory-storage.js';
import { DiskStorage, type Storage } from './storage.js';

const dirs: string[] = [];
const missing = s3ServerMissing();
const server = s3ServerForFile();
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

let prefixes = 0;
const backends: { name: string; skip: string | false; make(): Promise<Storage> }[] = [
  {
    name: 'DiskStorage',
    skip: false,
    async make() {
      const d = await mkdtemp(join(tmpdir(), 'cascade-contract-'));
      dirs.push(d);
      return new DiskStorage(d);
    },
  },
  // What --record keeps a recording in without --data-dir or --storage.
  { name: 'MemoryStorage', skip: false, make: async () => new MemoryStorage() },
  // A nested prefix per test keeps the tests apart in one bucket, and checks the prefix is joined right.
  { name: 'S3Storage', skip: missing ?? false, make: async () => server()!.storage(`contract/t${++prefixes}`) },
];

async function bytes(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  return Buffer.from(await new Response(stream).arrayBuffer());
}

/** Runs `fn` on `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    test('put, get, replace; a missing key is undefined', async () => {
      const s = await backend.make();
      assert.equal(await s.get('stream/state.json'), undefined);
      await s.put('stream/state.json', '{"v":1}');
      assert.equal((await s.get('stream/state.json'))!.toString(), '{"v":1}');
      await s.put('stream/state.json', new TextEncoder().encode('{"v":2,"longer":true}'));
      assert.equal((await s.get('stream/state.json'))!.toString(), '{"v":2,"longer":true}');
      await s.put('stream/state.json', 'x');
      assert.equal((await s.get('stream/state.json'))!.toString(), 'x', 'a shorter replacement leaves nothing of the longer one');
    });

    test('binary safe: every byte value, and random bytes with random ranges read back exactly', async () => {
      const s = await backend.make();
      await s.put('blobs/all', ALL_BYTES);
      assert.deepEqual(await s.get('blobs/all'), ALL_BYTES);
      assert.deepEqual(await bytes(s.read('blobs/all', 0, 255)), ALL_BYTES);
      let n = 0;
      await fc.assert(fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 70_000 }).chain((b) => fc.tuple(fc.constant(b), fc.nat(b.length - 1), fc.nat(b.length - 1))),
        async ([b, x, y]) => {
          const key = `blobs/r${n++}`;
          await s.put(key, b);
          const [start, end] = x <= y ? [x, y] : [y, x];
          assert.deepEqual(await bytes(s.read(key, start, end)), Buffer.from(b.subarray(start, end + 1)));
          assert.deepEqual(await s.get(key), Buffer.from(b));
        },
      ), { numRuns: 25 });
    });

    test('an empty object is an object: get gives 0 bytes, read gives none, list names it', async () => {
      const s = await backend.make();
      await s.put('e/empty', '');
      await s.put('e/empty-bytes', new Uint8Array());
      assert.equal((await s.get('e/empty'))!.length, 0);
      assert.equal((await s.get('e/empty-bytes'))!.length, 0);
      assert.equal((await bytes(s.read('e/empty', 0, 0))).length, 0);
      assert.deepEqual((await s.list('e')).sort(), ['empty', 'empty-bytes']);
    });

    test('ranges: first byte, last byte, whole, an end past the end, a start at or past the end', async () => {
      const s = await backend.make();
      await s.put('r/obj', '0123456789');
      const read = async (a: number, b: number) => (await bytes(s.read('r/obj', a, b))).toString();
      assert.equal(await read(0, 0), '0');
      assert.equal(await read(9, 9), '9');
      assert.equal(await read(0, 9), '0123456789');
      assert.equal(await read(3, 6), '3456');
      assert.equal(await read(8, 100), '89', 'an end past the end gives what exists');
      assert.equal(await read(10, 20), '', 'a start at the end gives nothing');
      assert.equal(await read(50, 60), '', 'a start past the end gives nothing');
    });

    test('reading a missing object errors the stream with ENOENT (it is a stream, not a throw)', async () => {
      const s = await backend.make();
      const stream = s.read('nothing/here', 0, 10);
      await assert.rejects(bytes(stream), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    });

    test('remove: of a missing key is no error; of an object makes it missing', async () => {
      const s = await backend.make();
      await s.remove('never/was');
      await s.put('k/one', 'x');
      await s.remove('k/one');
      await s.remove('k/one');
      assert.equal(await s.get('k/one'), undefined);
      assert.ok(!(await s.list('k')).includes('one'));
    });

    test('list: objects and folders directly under a prefix, nested prefixes, [] for none', async () => {
      const s = await backend.make();
      assert.deepEqual(await s.list(''), []);
      for (const k of ['a/b/c', 'a/b/d', 'a/e', 'f', 'a/b2/g']) await s.put(k, k);
      assert.deepEqual((await s.list('')).sort(), ['a', 'f']);
      assert.deepEqual((await s.list('a')).sort(), ['b', 'b2', 'e']);
      assert.deepEqual((await s.list('a/b')).sort(), ['c', 'd'], "'a/b' is not a prefix of 'a/b2' here: a folder is a whole segment");
      assert.deepEqual(await s.list('a/b2'), ['g']);
      assert.deepEqual(await s.list('nope'), []);
      assert.deepEqual(await s.list('a/nope'), []);
    });

    test('list pages past 1000 keys (S3 returns at most 1000 a request)', async () => {
      const s = await backend.make();
      const names = Array.from({ length: 1050 }, (_, i) => String(i));
      await pool(names, 16, (n) => s.put(`many/blobs/${n}`, n));
      await s.put('many/state.json', '{}');
      const listed = await s.list('many/blobs');
      assert.equal(listed.length, names.length);
      assert.deepEqual(listed.sort(), [...names].sort());
      assert.deepEqual((await s.list('many')).sort(), ['blobs', 'state.json']);
    });

    // Stream names are [A-Za-z0-9_-]{1,64}, path segments [A-Za-z0-9._-]+ (no '.' or '..'), 1..4 deep.
    const s64 = 's'.repeat(64);
    const oddNames = ['.hidden', '..x', 'x..', '-', '_', '._-', 'a.b.c'];
    test('keys of every character the origin allows in stream names and paths', async () => {
      const s = await backend.make();
      const keys = [
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz/0123456789',
        `${s64}/a/b/c/d`,
        ...oddNames.map((n) => `${s64}/odd/${n}`),
      ];
      for (const k of keys) await s.put(k, k);
      for (const k of keys) assert.equal((await s.get(k))!.toString(), k, k);
      assert.deepEqual((await s.list(`${s64}/odd`)).sort(), [...oddNames].sort());
      assert.deepEqual(await s.list('ABCDEFGHIJKLMNOPQRSTUVWXYZ/abcdefghijklmnopqrstuvwxyz'), ['0123456789']);
      assert.deepEqual(await s.list(`${s64}/a/b/c`), ['d']);
    });

    test('path segments of 255 characters, the longest the origin allows', async () => {
      const s = await backend.make();
      const key = `stream/${'p'.repeat(255)}/${'q'.repeat(255)}`;
      await s.put(key, 'long');
      assert.equal((await s.get(key))!.toString(), 'long');
      assert.deepEqual(await s.list(`stream/${'p'.repeat(255)}`), ['q'.repeat(255)]);
    });

    test('atomic replace: concurrent readers see the whole old or the whole new object, never a mix or a part', async () => {
      const s = await backend.make();
      const size = 5 * 1024 * 1024; // more than one SeaweedFS chunk (4 MB)
      const versions = ['a', 'b'].map((c) => Buffer.alloc(size, c));
      await s.put('atomic/obj', versions[0]!);
      let writing = true;
      const seen = { whole: 0, range: 0 };
      const readers = Array.from({ length: 2 }, async () => {
        while (writing) {
          const got = (await s.get('atomic/obj'))!;
          assert.ok(versions.some((v) => v.equals(got)), `get gave ${got.length} bytes that are neither version`);
          seen.whole++;
          const part = await bytes(s.read('atomic/obj', 1000, size - 1000));
          assert.ok(versions.some((v) => v.subarray(1000, size - 999).equals(part)), `read gave ${part.length} bytes that are no version's range`);
          seen.range++;
        }
      });
      for (let i = 1; i <= 8; i++) await s.put('atomic/obj', versions[i % 2]!);
      writing = false;
      await Promise.all(readers);
      assert.ok(seen.whole > 0 && seen.range > 0);
      assert.deepEqual(await s.get('atomic/obj'), versions[0]);
    });

    test('a read in progress when its object is replaced gives the old bytes whole, or errors: never a mix', async (t) => {
      const s = await backend.make();
      const size = 6 * 1024 * 1024;
      await s.put('inflight/obj', Buffer.alloc(size, 'o'));
      const reader = s.read('inflight/obj', 0, size - 1).getReader();
      const first = await reader.read();
      assert.ok(!first.done);
      await s.put('inflight/obj', Buffer.alloc(size, 'n'));
      const chunks = [Buffer.from(first.value)];
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) break;
          chunks.push(Buffer.from(r.value));
        }
      } catch (err) {
        t.diagnostic(`the read errored: ${(err as Error).message}`);
        return; // allowed: the reader learns it has no whole object
      }
      t.diagnostic('the read gave the old object whole');
      const got = Buffer.concat(chunks);
      assert.equal(got.length, size, 'a cut body must error, not end');
      assert.ok(got.equals(Buffer.alloc(size, 'o')), 'the old object, whole');
    });

    test('failures reject or error the stream; nothing throws synchronously', async () => {
      const s = await backend.make();
      // An operation on a key under an object (a "file" used as a folder) fails on disk; on S3 it is
      // just another key. Whatever each backend does, it does it through the promise or the stream.
      await s.put('f/file', 'x');
      const outcomes = await Promise.allSettled([s.put('f/file/under', 'y'), s.get('f/file/under'), s.list('f/file'), s.remove('f/file/under'), bytes(s.read('f/file/under', 0, 0))]);
      assert.equal(outcomes.length, 5);
    });
  });
}
