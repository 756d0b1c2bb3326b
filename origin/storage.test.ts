// The origin's storage seam: DiskStorage keeps the Storage contract, and the origin survives every kind of
// storage failure (injected with a failing wrapper around a real DiskStorage) without losing what it published.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../src/log.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { FailingStorage } from '../test/helpers/failing-storage.js';
import { handBody, putWith } from '../test/helpers/hand-body.js';
import { uploadedName } from '../test/helpers/published-names.js';
import { createOrigin, type Origin } from './index.js';
import { DiskStorage, storageErrorCode } from './storage.js';

const dirs: string[] = [];
const origins: Origin[] = [];
after(async () => {
  for (const o of origins) await o.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cascade-storage-'));
  dirs.push(d);
  return d;
}

async function text(stream: ReadableStream<Uint8Array>): Promise<string> {
  return new Response(stream).text();
}

test('DiskStorage: put/get/read/remove/list by key', async () => {
  const s = new DiskStorage(await tempDir());
  assert.equal(await s.get('a/state.json'), undefined);
  assert.deepEqual(await s.list(''), []);
  await s.put('a/blobs/1', '0123456789');
  await s.put('a/state.json', '{}');
  assert.equal((await s.get('a/blobs/1'))!.toString(), '0123456789');
  assert.equal(await text(s.read('a/blobs/1', 2, 4)), '234');
  assert.deepEqual(await s.list(''), ['a']);
  assert.deepEqual((await s.list('a')).sort(), ['blobs', 'state.json']);
  await s.put('a/blobs/1', 'replaced');
  assert.equal((await s.get('a/blobs/1'))!.toString(), 'replaced');
  await s.remove('a/blobs/1');
  await s.remove('a/blobs/1');
  assert.equal(await s.get('a/blobs/1'), undefined);
  await assert.rejects(text(s.read('a/blobs/1', 0, 1)), 'reading a missing object errors the stream');
});

test('DiskStorage: a failed put leaves the old object untouched and no temporary file', async () => {
  const root = await tempDir();
  const s = new DiskStorage(root);
  await mkdir(join(root, 'a', 'dir'), { recursive: true });
  await writeFile(join(root, 'a', 'dir', 'inside'), 'x');
  // Renaming a file over a non-empty directory fails after the temporary file was written.
  await assert.rejects(s.put('a/dir', 'bytes'));
  assert.deepEqual((await readdir(join(root, 'a'))).sort(), ['dir']);
  assert.equal(storageErrorCode(Object.assign(new Error(), { code: 'ENOSPC' })), 'ENOSPC');
  assert.equal(storageErrorCode(Object.assign(new Error(), { code: 'EWHATEVER' })), 'other', 'the label set stays bounded');
  assert.equal(storageErrorCode('not an error'), 'other');
});

const PLAYLIST = (names: string[]) =>
  `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n${names.map((n) => `#EXTINF:2.0,\n${n}`).join('\n')}\n`;

async function failingOrigin(root?: string) {
  const storage = new FailingStorage(new DiskStorage(root ?? await tempDir()));
  const lines: string[] = [];
  const origin = await createOrigin({ storage, sweepIntervalMs: 0, log: createLogger({ level: 'warn', write: (l) => lines.push(l) }) });
  origins.push(origin);
  const put = async (path: string, body: string) => (await origin.app.request(`/hls/s/${path}`, { method: 'PUT', body })).status;
  const get = (path: string) => origin.app.request(`/hls/s/${path}`);
  const metrics = async () => (await origin.app.request('/metrics')).text();
  const published = async () => parsePlaylist(await (await get('index.m3u8')).text()) as MediaPlaylist;
  return { storage, origin, lines, put, get, metrics, published };
}

test('a failed blob write (EIO) aborts the upload: 507, readers cut, the path falls back to its previous version, later segments publish', async () => {
  const o = await failingOrigin();
  assert.equal(await o.put('seg0.ts', 'zero'), 201);
  assert.equal(await o.put('seg1.ts', 'one, first version'), 201);
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts'])), 204);
  o.storage.fail('EIO', ['put'], /\/blobs\//);
  const body = handBody();
  const upload = o.origin.app.request('/hls/s/seg1.ts', putWith(body));
  await body.reading;
  body.send('one, second ver');
  const reader = await o.get('seg1.ts');
  assert.equal(reader.status, 200, 'read-while-write');
  const read = text(reader.body!);
  body.send('sion');
  body.end();
  const res = await upload;
  assert.equal(res.status, 507);
  assert.match(await res.text(), /EIO/);
  await assert.rejects(read, 'the reader of the failed upload is cut');
  assert.equal(await (await o.get('seg1.ts')).text(), 'one, first version', 'the path falls back to its previous version');
  o.storage.heal();
  assert.equal(await o.put('seg2.ts', 'two'), 201);
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts', 'seg2.ts'])), 204);
  const pl = await o.published();
  assert.deepEqual(pl.segments.map((s) => uploadedName(s.uri)), ['seg0.ts', 'seg1.ts', 'seg2.ts'], 'seg2 publishes');
  assert.equal(await (await o.get(pl.segments[1]!.uri)).text(), 'one, first version', 'seg1 binds its complete version');
  const metrics = await o.metrics();
  assert.match(metrics, /cascade_origin_storage_errors_total\{op="blob_write",code="EIO"[^}]*\} 1\n/);
  assert.match(metrics, /cascade_origin_rejected_uploads_total\{reason="storage_failed"[^}]*\} 1\n/);
  assert.equal(o.lines.filter((l) => l.includes('storage_failed')).length, 1, 'one log line for the failed upload');
});

test('a failed first upload of a segment becomes a gap once later segments are stored', async () => {
  const o = await failingOrigin();
  assert.equal(await o.put('seg0.ts', 'zero'), 201);
  o.storage.fail('ENOSPC', ['put'], /\/blobs\//);
  assert.equal(await o.put('seg1.ts', 'one'), 507);
  assert.equal((await o.get('seg1.ts')).status, 404);
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts'])), 204);
  assert.equal((await o.published()).segments.length, 1, 'the newest segment is waited for, not published');
  o.storage.heal();
  assert.equal(await o.put('seg2.ts', 'two'), 201);
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts', 'seg2.ts'])), 204);
  const pl = await o.published();
  assert.deepEqual(pl.segments.map((s) => s.gap), [false, true, false]);
  for (const s of pl.segments) assert.equal((await o.get(s.uri)).status, 200, s.uri);
});

test('failed state writes are logged, counted and retried; a restarted origin then publishes the newest state', async () => {
  const root = await tempDir();
  const o = await failingOrigin(root);
  assert.equal(await o.put('seg0.ts', 'zero'), 201);
  await o.origin.flushed();
  o.storage.fail('ENOSPC', ['put'], /state\.json$/);
  assert.equal(await o.put('seg1.ts', 'one'), 201, 'the segment itself was stored');
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts'])), 204, 'a state write failing fails no upload');
  await o.origin.flushed();
  assert.ok(o.storage.failed.length >= 1);
  assert.match(await o.metrics(), /cascade_origin_storage_errors_total\{op="state_write",code="ENOSPC"[^}]*\} [1-9]/);
  assert.ok(o.lines.some((l) => l.includes('"event":"storage_failed"') && l.includes('state_write')));
  const newest = await (await o.get('index.m3u8')).text();
  o.storage.heal();
  o.origin.sweep();
  await o.origin.flushed();
  await o.origin.close();
  const again = await failingOrigin(root);
  assert.equal(await (await again.get('index.m3u8')).text(), newest, 'the retried write caught up');
});

test('a failed removal is counted; reading a stored blob that fails cuts the response instead of completing it', async () => {
  const o = await failingOrigin();
  assert.equal(await o.put('poster.jpg', 'x'.repeat(1000)), 201);
  o.storage.fail('EIO', ['remove']);
  assert.equal((await o.origin.app.request('/hls/s/poster.jpg', { method: 'DELETE' })).status, 204);
  await o.origin.flushed();
  assert.match(await o.metrics(), /cascade_origin_storage_errors_total\{op="blob_remove",code="EIO"[^}]*\} 1\n/);
  o.storage.heal();
  assert.equal(await o.put('seg0.ts', 'zero'), 201);
  o.storage.fail('EIO', ['read']);
  const res = await o.get('seg0.ts');
  assert.equal(res.status, 200);
  await assert.rejects(res.arrayBuffer(), 'a body that could not be read is never handed over as complete');
});

test('a restarted origin removes what a crash left in its data dir: temporary files and blobs no state names', async () => {
  const root = await tempDir();
  const o = await failingOrigin(root);
  assert.equal(await o.put('seg0.ts', 'zero'), 201);
  assert.equal(await o.put('index.m3u8', PLAYLIST(['seg0.ts'])), 204);
  await o.origin.flushed();
  await o.origin.close();
  // A crash: a blob stored whose state was never written, and a write cut short.
  await writeFile(join(root, 's', 'blobs', '7'), 'stored, never named');
  await writeFile(join(root, 's', 'blobs', '8.1234-0.tmp'), 'half');
  const again = await failingOrigin(root);
  await again.origin.flushed();
  assert.deepEqual(await readdir(join(root, 's', 'blobs')), ['0'], 'only the blob the state names stays');
  assert.equal(await (await again.get((await again.published()).segments[0]!.uri)).text(), 'zero');
});
