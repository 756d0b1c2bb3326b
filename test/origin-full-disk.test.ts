// A full data dir (docs/origin.md, "Memory and persistence") on a REAL disk: the origin's --data-dir on a small tmpfs, filled up while a stream
// runs. A segment that cannot be stored gets 507, its readers are cut, no .tmp stays, GETs never hang; once
// space is back, later segments publish (the lost one is a gap) and the state file catches up.
// Needs root (mount); skipped with a message otherwise.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { mkdtemp, readdir, rm, rmdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen, type Listening } from '../src/serve.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { createOrigin, type Origin } from '../origin/index.js';

const cleanups: (() => Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

/** A tmpfs of `size` mounted on a new temp dir, or why not. */
async function mountTmpfs(size: string): Promise<string | { skip: string }> {
  if (process.getuid?.() !== 0) return { skip: 'needs root to mount a tmpfs (run the suite as root to test a real full disk)' };
  const dir = await mkdtemp(join(tmpdir(), 'cascade-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await rmdir(dir);
    return { skip: `cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}` };
  }
  cleanups.push(async () => {
    execFileSync('umount', [dir], { stdio: 'pipe' });
    await rmdir(dir);
  });
  return dir;
}

/** Fills the file system of `dir` until a write fails with ENOSPC; returns the filler's path. */
async function fill(dir: string): Promise<string> {
  const path = join(dir, 'filler');
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let i = 0; i < 100_000; i++) await fh.write(chunk);
    assert.fail('the tmpfs never filled up');
  } catch (err) {
    assert.equal((err as { code?: string }).code, 'ENOSPC', String(err));
    // What is left is smaller than a chunk: fill it byte by byte (bounded by the chunk size).
    for (let size = chunk.length / 2; size >= 1; size = Math.floor(size / 2)) {
      try { await fh.write(chunk.subarray(0, size)); } catch { /* smaller next */ }
    }
  } finally {
    await fh.close();
  }
  return path;
}

interface Reply { status: number; body: Buffer; cut: boolean }

/** A request that must answer within `ms` (a hang fails the test instead of stalling it). */
function call(l: Listening, method: string, path: string, body?: Buffer | string, ms = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: l.port, method, path, timeout: ms, headers: body !== undefined ? { 'Transfer-Encoding': 'chunked' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), cut: false }));
      res.on('aborted', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), cut: true }));
      res.on('error', () => undefined);
    });
    req.on('timeout', () => { req.destroy(); reject(new Error(`${method} ${path} hung for ${ms} ms`)); });
    req.on('error', reject);
    req.end(body);
  });
}

/** A GET attached to an upload in progress (retried until the origin has registered the upload). */
async function readerOf(l: Listening, path: string): Promise<IncomingMessage> {
  for (let i = 0; ; i++) {
    const res = await new Promise<IncomingMessage>((resolve, reject) => request({ host: '127.0.0.1', port: l.port, path }, resolve).on('error', reject).end());
    if (res.statusCode === 200) return res;
    res.resume();
    assert.ok(i < 200, `${path} never became readable`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const PLAYLIST = (names: string[]) =>
  `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n${names.map((n) => `#EXTINF:2.0,\n${n}`).join('\n')}\n`;

async function tmpFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.tmp'));
}

test('a full disk: 507 and a gap, readers cut, no .tmp, no hang; later segments publish once space is back', { timeout: 120_000 }, async (t) => {
  const dir = await mountTmpfs('1m');
  if (typeof dir !== 'string') {
    t.skip(dir.skip);
    return;
  }
  const logs: string[] = [];
  const startOrigin = async () => {
    const origin: Origin = await createOrigin({ dataDir: dir, sweepIntervalMs: 0, log: { ...silent, error: (e, f) => logs.push(JSON.stringify({ e, ...f })) } });
    const l = await listen(origin.app, { port: 0, host: '127.0.0.1' });
    const stop = async () => { await l.close(100); await origin.close(); };
    cleanups.push(stop);
    return { origin, l, stop };
  };
  const { origin, l, stop } = await startOrigin();
  const seg = (i: number) => Buffer.alloc(100 * 1024, i);

  assert.equal((await call(l, 'PUT', '/hls/s/seg0.ts', seg(0))).status, 201);
  assert.equal((await call(l, 'PUT', '/hls/s/index.m3u8', PLAYLIST(['seg0.ts']))).status, 204);
  await origin.flushed();
  const filler = await fill(dir);

  // seg1 arrives in two parts with a reader attached in between; storing it fails.
  const upload = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path: '/hls/s/seg1.ts', headers: { 'Transfer-Encoding': 'chunked' } });
  const uploaded = new Promise<number>((resolve, reject) => {
    upload.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    upload.on('error', reject);
  });
  upload.write(seg(1).subarray(0, 1000));
  const reader = await readerOf(l, '/hls/s/seg1.ts');
  const readerOutcome = new Promise<string>((resolve) => {
    reader.on('data', () => undefined);
    reader.on('end', () => resolve('complete'));
    reader.on('aborted', () => resolve('cut'));
    reader.on('error', () => resolve('cut'));
  });
  upload.end(seg(1).subarray(1000));
  assert.equal(await uploaded, 507, 'a segment that cannot be stored: 507 Insufficient Storage');
  assert.equal(await readerOutcome, 'cut', 'its reader is cut, never handed a body that looks complete');
  assert.deepEqual(await tmpFiles(dir), [], 'no temporary file left behind');
  assert.equal((await call(l, 'GET', '/hls/s/seg1.ts')).status, 404, 'the failed upload is gone (and the GET does not hang)');

  // The playlist naming it lands while the disk is still full: seg1 is the newest, so it is waited for.
  assert.equal((await call(l, 'PUT', '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts']))).status, 204);
  await origin.flushed();
  const metrics = (await call(l, 'GET', '/metrics')).body.toString();
  assert.match(metrics, /cascade_origin_rejected_uploads_total\{reason="storage_failed"[^}]*\} 1\n/);
  assert.match(metrics, /cascade_origin_storage_errors_total\{op="blob_write",code="ENOSPC"[^}]*\} 1\n/);
  assert.match(metrics, /cascade_origin_storage_errors_total\{op="state_write",code="ENOSPC"[^}]*\} [1-9]/, 'the failed state write is counted');
  assert.ok(logs.some((x) => x.includes('"e":"upload_rejected"') && x.includes('storage_failed')), 'the 507 is logged');
  assert.ok(logs.some((x) => x.includes('"e":"storage_failed"') && x.includes('state_write')), 'the failed state write is logged');

  // Space comes back: the next segment publishes, the lost one is a gap, and the state file catches up.
  await rm(filler);
  assert.equal((await call(l, 'PUT', '/hls/s/seg2.ts', seg(2))).status, 201);
  assert.equal((await call(l, 'PUT', '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts', 'seg2.ts']))).status, 204);
  const text = (await call(l, 'GET', '/hls/s/index.m3u8')).body.toString();
  const pl = parsePlaylist(text) as MediaPlaylist;
  assert.equal(pl.segments.length, 3, text);
  assert.ok(pl.segments[1]!.gap, 'the segment the full disk lost is a gap');
  assert.ok(!pl.segments[2]!.gap);
  for (const [i, s] of pl.segments.entries()) {
    const r = await call(l, 'GET', `/hls/s/${s.uri}`);
    assert.equal(r.status, 200, s.uri);
    assert.ok(r.body.equals(seg(i === 1 ? 0 : i)), `${s.uri} serves its bytes (the gap borrows the previous segment's)`);
  }
  origin.sweep(); // retries the state write if the last one failed
  await origin.flushed();
  assert.deepEqual(await tmpFiles(dir), []);
  await stop();

  // The origin restarted on the same data dir publishes exactly what it published before.
  const again = await startOrigin();
  assert.equal((await call(again.l, 'GET', '/hls/s/index.m3u8')).body.toString(), text);
});

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, child() { return this; } };
