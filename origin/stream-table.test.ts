// The stream table: one stream per name, whose reports reach the origin whether the stream was opened by an
// upload or loaded from storage, and retention sharing one memory budget among all streams.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailingStorage } from '../test/helpers/failing-storage.js';
import { DiskStorage, type StorageOp } from './storage.js';
import type { OriginStream } from './stream.js';
import { StreamTable, type StreamEvents } from './stream-table.js';

const LIMITS = { minWindow: 3, maxWindow: 6, graceMs: 10_000 };
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function recorder(): StreamEvents & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    published: (stream, path) => void seen.push(`published ${stream}/${path}`),
    storageFailed: (stream, op: StorageOp) => void seen.push(`failed ${stream} ${op}`),
    partsChanged: (stream, upload) => void seen.push(`parts ${stream} ${upload}`),
    partsProblem: (stream, path, problem) => void seen.push(`parts problem ${stream}/${path} ${problem.kind}`),
  };
}

async function upload(stream: OriginStream, path: string, bytes: string): Promise<void> {
  const version = stream.beginUpload(path);
  version.append(Buffer.from(bytes));
  await stream.finishUpload(version, bytes);
}

const PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na0.ts\n';

test('a name opens one stream; what it publishes is reported with its name', async () => {
  const events = recorder();
  const table = new StreamTable(LIMITS, undefined, () => 1000, events);
  const stream = table.open('s1');
  assert.equal(table.open('s1'), stream);
  assert.equal(table.get('s2'), undefined);
  await upload(stream, 'a0.ts', 'x');
  stream.applyPlaylist('index.m3u8', PLAYLIST);
  assert.deepEqual(events.seen, ['published s1/index.m3u8']);
  assert.deepEqual([...table.all.keys()], ['s1']);
  assert.deepEqual(await table.load(), [], 'nothing to load without storage');
});

test('streams loaded from storage continue, and report like opened ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-table-'));
  dirs.push(dir);
  const storage = new FailingStorage(new DiskStorage(dir));
  const first = new StreamTable(LIMITS, storage, () => 1000, recorder());
  await upload(first.open('s1'), 'a0.ts', 'x');
  first.open('s1').applyPlaylist('index.m3u8', PLAYLIST);
  await first.flushed();
  await storage.put('not a stream name/state.json', '{}');

  const events = recorder();
  const second = new StreamTable(LIMITS, storage, () => 2000, events);
  assert.deepEqual(await second.load(), ['s1']);
  const loaded = second.get('s1')!;
  assert.equal(loaded.playlist('index.m3u8')?.text, first.get('s1')!.playlist('index.m3u8')!.text);
  assert.ok(second.renditions().some((r) => r.stream === 's1' && r.rendition === 'index.m3u8' && r.msn === 0));
  storage.fail('EIO', ['put']);
  await upload(loaded, 'a1.ts', 'y').catch(() => undefined);
  assert.deepEqual(events.seen, ['failed s1 blob_write']);
});

test('retention gives every stream an equal share of the memory budget', async () => {
  const table = new StreamTable(LIMITS, undefined, () => 1000, recorder());
  // Never named by a playlist, so evictable; 100 bytes per stream, oldest first.
  for (const name of ['s1', 's2']) {
    await upload(table.open(name), 'poster-old.jpg', 'o'.repeat(100));
    await upload(table.open(name), 'poster-new.jpg', 'n'.repeat(100));
  }
  assert.equal(table.memoryBytes(), 400);
  table.sweep(200);
  assert.equal(table.memoryBytes(), 200);
  for (const name of ['s1', 's2']) {
    assert.equal(table.get(name)!.file('poster-old.jpg'), undefined);
    assert.ok(table.get(name)!.file('poster-new.jpg'));
  }
});

test('summaries: renditions live while published, stalled after 3 target durations, ended with ENDLIST; the newest stream first', async () => {
  let now = 1_000_000;
  const table = new StreamTable(LIMITS, undefined, () => now, recorder());
  const s1 = table.open('s1');
  await upload(s1, 'hi/a0.ts', 'x'.repeat(1000));
  await upload(s1, 'lo/a0.ts', 'y');
  s1.applyPlaylist('index.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nhi/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=200000\nlo/index.m3u8\n');
  s1.applyPlaylist('hi/index.m3u8', PLAYLIST);
  s1.applyPlaylist('lo/index.m3u8', PLAYLIST);
  assert.equal(table.summaries().length, 1);
  const [first] = table.summaries();
  assert.equal(first!.state, 'live');
  assert.deepEqual(first!.masters, ['index.m3u8']);
  assert.deepEqual(first!.renditions.map((r) => [r.path, r.mediaSequence, r.ageSeconds, r.targetDuration, r.state]), [['hi/index.m3u8', 0, 0, 2, 'live'], ['lo/index.m3u8', 0, 0, 2, 'live']]);
  assert.ok(first!.renditions[0]!.bandwidth! > first!.renditions[1]!.bandwidth!, 'measured bandwidth per rendition');

  // lo goes on; hi stops: after 6 s (3 target durations) it is stalled, the stream still live.
  now += 6_500;
  await upload(s1, 'lo/a1.ts', 'y');
  s1.applyPlaylist('lo/index.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na0.ts\n#EXTINF:2,\na1.ts\n');
  assert.deepEqual(table.summaries()[0]!.renditions.map((r) => [r.path, r.state]), [['hi/index.m3u8', 'stalled'], ['lo/index.m3u8', 'live']]);
  assert.equal(table.summaries()[0]!.state, 'live');
  now += 6_500;
  assert.equal(table.summaries()[0]!.state, 'stalled');

  // A second stream, published later, comes first; an ENDLIST ends a rendition.
  const s2 = table.open('s2');
  await upload(s2, 'a0.ts', 'z');
  s2.applyPlaylist('index.m3u8', `${PLAYLIST}#EXT-X-ENDLIST\n`);
  assert.deepEqual(table.summaries().map((s) => [s.name, s.state]), [['s2', 'ended'], ['s1', 'stalled']]);
});

test('flushed() waits for state writes issued while it waits, as on a shutdown that cuts uploads', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-table-'));
  dirs.push(dir);
  const disk = new DiskStorage(dir);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const storage = Object.assign(Object.create(disk) as DiskStorage, {
    put: async (key: string, bytes: Uint8Array | string) => {
      if (key.endsWith('state.json')) await held;
      return disk.put(key, bytes);
    },
  });
  const table = new StreamTable(LIMITS, storage, () => 1000, recorder());
  const stream = table.open('s1');
  await upload(stream, 'a0.ts', 'x');
  const flushed = table.flushed();
  await upload(stream, 'a1.ts', 'y'); // issued while the first write is held
  release();
  await flushed;
  const state = JSON.parse((await disk.get('s1/state.json'))!.toString()) as { blobs: unknown[] };
  assert.equal(state.blobs.length, 2, 'the write issued during the flush has landed too');
});
