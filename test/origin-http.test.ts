// The origin over real HTTP: uploads (chunked, aborted, stalled, oversized), auth, serving, persistence.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { listen, type Listening } from '../src/serve.js';
import { createOrigin, type OriginConfig } from '../origin/index.js';
import { checkUploadAuth } from '../src/upload-auth.js';
import { createLogger } from '../src/log.js';

const started: { close(): Promise<void> }[] = [];
after(async () => { for (const s of started) await s.close(); });

async function start(config: Partial<OriginConfig> = {}) {
  const origin = await createOrigin(config);
  const l = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  const handle = { origin, l, close: async () => { await l.close(100); await origin.close(); } };
  started.push(handle);
  return handle;
}

/** A raw HTTP request (no path normalisation), with the body written in the given chunks. */
function raw(l: Listening, method: string, path: string, opts: { chunks?: (string | Buffer)[]; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: l.port, method, path, headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

const put = (l: Listening, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  raw(l, 'PUT', path, { chunks: [body], headers: { 'Transfer-Encoding': 'chunked', ...headers } });

const PLAYLIST = (names: string[], seq = 0) =>
  `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${seq}\n${names.map((n) => `#EXTINF:2.0,\n${n}`).join('\n')}\n`;

test('uploads need the token when one is set: missing 401, wrong 403, Bearer and Basic accepted', async () => {
  const { l } = await start({ uploadToken: 's3cret' });
  assert.equal((await put(l, '/hls/a/x.ts', 'x')).status, 401);
  assert.equal((await put(l, '/hls/a/x.ts', 'x', { Authorization: 'Bearer nope' })).status, 403);
  assert.equal((await put(l, '/hls/a/x.ts', 'x', { Authorization: 'Bearer s3cret' })).status, 201);
  const basic = 'Basic ' + Buffer.from('ffmpeg:s3cret').toString('base64');
  assert.equal((await put(l, '/hls/a/y.ts', 'y', { Authorization: basic })).status, 201);
  assert.equal((await raw(l, 'DELETE', '/hls/a/y.ts')).status, 401);
});

test('without a token, only loopback peers may upload', () => {
  assert.equal(checkUploadAuth(undefined, undefined, '127.0.0.1'), 'ok');
  assert.equal(checkUploadAuth(undefined, undefined, '::ffff:127.0.0.5'), 'ok');
  assert.equal(checkUploadAuth(undefined, undefined, '::1'), 'ok');
  assert.equal(checkUploadAuth(undefined, undefined, '192.0.2.7'), 'wrong');
});

test('bad paths, bad playlists and bad URIs get 400 and change nothing', async () => {
  const { l } = await start();
  await put(l, '/hls/s/a0.ts', 'a0');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  const good = (await raw(l, 'GET', '/hls/s/index.m3u8')).body;
  for (const p of ['/hls/s/../x.ts', '/hls/bad%20name/x.ts', '/hls/s/a/b/c/d/e.ts', '/hls/s//x.ts', '/hls/' + 'x'.repeat(65) + '/a.ts']) {
    assert.equal((await put(l, p, 'x')).status, 400, p);
  }
  for (const body of ['not a playlist', PLAYLIST(['../other/a.ts']), PLAYLIST(['http://elsewhere.example/a.ts']), PLAYLIST(['/abs.ts']), '\u0000\u0001']) {
    const r = await put(l, '/hls/s/index.m3u8', body);
    assert.equal(r.status, 400, body);
    assert.ok(r.body.length > 1, 'the 400 says why');
  }
  assert.equal((await raw(l, 'GET', '/hls/s/index.m3u8')).body, good);
  assert.equal((await raw(l, 'GET', '/hls/s/../index.m3u8')).status, 400);
  const metrics = (await raw(l, 'GET', '/metrics')).body;
  assert.match(metrics, /cascade_origin_rejected_uploads_total\{reason="bad_playlist"[^}]*\} 2/);
  assert.match(metrics, /cascade_origin_rejected_uploads_total\{reason="bad_uri"[^}]*\} 3/);
});

test('a Cascade-Feed header that is not a feed id gets 400 and changes nothing', async () => {
  const { l } = await start();
  await put(l, '/hls/s/a0.ts', 'a0');
  assert.equal((await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']), { 'cascade-feed': 'not a feed!' })).status, 400);
  assert.equal((await raw(l, 'GET', '/hls/s/index.m3u8')).status, 404);
  assert.equal((await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']), { 'cascade-feed': 'feed_1-A' })).status, 204);
  assert.match((await raw(l, 'GET', '/metrics')).body, /cascade_origin_rejected_uploads_total\{reason="bad_feed"[^}]*\} 1/);
});

test('oversized uploads get 413; the good file stays', async () => {
  const { l } = await start({ maxFileBytes: 1000, maxPlaylistBytes: 200 });
  await put(l, '/hls/s/a.ts', 'good');
  assert.equal((await put(l, '/hls/s/a.ts', Buffer.alloc(5000))).status, 413);
  assert.equal((await raw(l, 'PUT', '/hls/s/a.ts', { chunks: [Buffer.alloc(2000)], headers: { 'Content-Length': '2000' } })).status, 413);
  assert.equal((await put(l, '/hls/s/index.m3u8', PLAYLIST(Array.from({ length: 20 }, (_, i) => `a${i}.ts`)))).status, 413);
  assert.equal((await raw(l, 'GET', '/hls/s/a.ts')).body, 'good');
});

test('a stalled upload times out with 408 and an aborted one never replaces a good file', async () => {
  const { l } = await start({ uploadIdleTimeoutMs: 300 });
  await put(l, '/hls/s/a.ts', 'good');
  const stalled = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path: '/hls/s/a.ts', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', reject);
    req.write('partial');
  });
  assert.equal(stalled, 408);
  // Aborted mid-body: the connection dies before the terminating chunk.
  const req = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path: '/hls/s/a.ts', headers: { 'Transfer-Encoding': 'chunked' } });
  req.on('error', () => undefined);
  req.write('half of a new version');
  await once(req, 'socket');
  await new Promise((r) => setImmediate(r));
  req.destroy();
  // The upload is registered as aborted before a new request on a new connection sees the file.
  for (let i = 0; i < 50; i++) {
    const r = await raw(l, 'GET', '/hls/s/a.ts');
    if (r.status === 200 && r.body === 'good') break;
    assert.ok(i < 49, `still not the good file: ${r.status} ${r.body}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal((await raw(l, 'GET', '/hls/s/a.ts')).body, 'good');
});

/**
 * A GET attached to an upload in progress. The origin learns of the upload with its first chunk, which
 * the uploader cannot observe, so this retries (bounded) until the path answers 200.
 */
async function readerOf(l: Listening, path: string): Promise<IncomingMessage> {
  for (let i = 0; ; i++) {
    const res = await new Promise<IncomingMessage>((resolve) => request({ host: '127.0.0.1', port: l.port, path }, resolve).end());
    if (res.statusCode === 200) return res;
    res.resume();
    assert.ok(i < 100, `${path} never became readable`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('read-while-write: a GET during the upload streams what arrived, then the rest; an abort cuts the reader off', async () => {
  const { l } = await start();
  const upload = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path: '/hls/s/live.ts', headers: { 'Transfer-Encoding': 'chunked' } });
  const uploaded = new Promise<number>((resolve) => upload.on('response', (res) => { res.resume(); resolve(res.statusCode!); }));
  upload.write('first-');
  const res = await readerOf(l, '/hls/s/live.ts');
  assert.equal(res.headers['content-length'], undefined, 'no length is claimed while the upload runs');
  const received: string[] = [];
  const firstChunk = new Promise<void>((resolve) => res.once('data', (d: Buffer) => { received.push(d.toString()); resolve(); }));
  await firstChunk;
  assert.equal(received.join(''), 'first-');
  res.on('data', (d: Buffer) => received.push(d.toString()));
  upload.end('second');
  await once(res, 'end');
  assert.equal(received.join(''), 'first-second');
  assert.equal(await uploaded, 201);

  const aborting = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path: '/hls/s/cut.ts', headers: { 'Transfer-Encoding': 'chunked' } });
  aborting.on('error', () => undefined);
  aborting.write('only-this');
  const reader = await readerOf(l, '/hls/s/cut.ts');
  const outcome = new Promise<string>((resolve) => {
    reader.on('data', () => aborting.destroy());
    reader.on('end', () => resolve('complete'));
    reader.on('error', () => resolve('aborted'));
    reader.on('aborted', () => resolve('aborted'));
  });
  assert.equal(await outcome, 'aborted', 'a reader of an aborted upload never sees a complete body');
});

test('serving: types, cache lifetimes, ETag/304, Range/206/416, CORS, preflight, 404, 405', async () => {
  const { l } = await start();
  await put(l, '/hls/s/a0.ts', '0123456789');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  const pl = await raw(l, 'GET', '/hls/s/index.m3u8');
  assert.equal(pl.headers['content-type'], 'application/vnd.apple.mpegurl');
  assert.equal(pl.headers['cache-control'], 'public, max-age=1');
  assert.equal(pl.headers['access-control-allow-origin'], '*');
  assert.equal((await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { 'If-None-Match': String(pl.headers.etag) } })).status, 304);
  const uri = pl.body.split('\n').find((x) => x.endsWith('.ts'))!;
  const seg = await raw(l, 'GET', `/hls/s/${uri}`);
  assert.equal(seg.body, '0123456789');
  assert.equal(seg.headers['content-type'], 'video/mp2t');
  assert.equal(seg.headers['cache-control'], 'public, max-age=86400, immutable');
  assert.equal(seg.headers['content-length'], '10');
  assert.ok(seg.headers['last-modified']);
  assert.equal((await raw(l, 'GET', `/hls/s/${uri}`, { headers: { 'If-None-Match': String(seg.headers.etag) } })).status, 304);
  const part = await raw(l, 'GET', `/hls/s/${uri}`, { headers: { Range: 'bytes=2-4' } });
  assert.equal(part.status, 206);
  assert.equal(part.body, '234');
  assert.equal(part.headers['content-range'], 'bytes 2-4/10');
  assert.equal((await raw(l, 'GET', `/hls/s/${uri}`, { headers: { Range: 'bytes=50-' } })).status, 416);
  const head = await raw(l, 'HEAD', `/hls/s/${uri}`);
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  const missing = await raw(l, 'GET', '/hls/s/nothing.ts');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['cache-control'], 'public, max-age=1');
  const pre = await raw(l, 'OPTIONS', '/hls/s/index.m3u8', { headers: { Origin: 'http://player.example', 'Access-Control-Request-Method': 'GET' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.equal((await raw(l, 'PATCH', '/hls/s/index.m3u8')).status, 405);
  assert.equal((await raw(l, 'GET', '/healthz')).status, 200);
});

test('DELETE (ffmpeg delete_segments) is accepted and never removes what a playlist still names', async () => {
  const { l } = await start();
  await put(l, '/hls/s/a0.ts', 'bytes');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  assert.equal((await raw(l, 'DELETE', '/hls/s/a0.ts', { headers: { 'Transfer-Encoding': 'chunked' }, chunks: [''] })).status, 204);
  const published = (await raw(l, 'GET', '/hls/s/index.m3u8')).body.split('\n').find((line) => line.startsWith('a0.'))!;
  assert.equal((await raw(l, 'GET', `/hls/s/${published}`)).body, 'bytes');
  assert.equal((await raw(l, 'GET', '/hls/s/a0.ts')).status, 404, 'the uploaded name itself is gone');
});

test('with --data-dir an origin restart keeps content and continues the sequence', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-origin-'));
  try {
    const first = await start({ dataDir: dir });
    for (let i = 0; i < 4; i++) await put(first.l, `/hls/s/a${i}.ts`, `seg-${i}`);
    await put(first.l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts']));
    await put(first.l, '/hls/s/a0.ts', 'restarted'); // a restart: name reused with new bytes
    await put(first.l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
    const before = (await raw(first.l, 'GET', '/hls/s/index.m3u8')).body;
    await first.close();
    await first.origin.flushed();

    const second = await start({ dataDir: dir });
    assert.equal((await raw(second.l, 'GET', '/hls/s/index.m3u8')).body, before, 'the published playlist survives');
    for (const uri of before.split('\n').filter((x) => x.endsWith('.ts'))) {
      assert.equal((await raw(second.l, 'GET', `/hls/s/${uri}`)).status, 200, uri);
    }
    await put(second.l, '/hls/s/a1.ts', 'run2-1');
    await put(second.l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts', 'a1.ts']));
    const after = (await raw(second.l, 'GET', '/hls/s/index.m3u8')).body;
    assert.match(after, /#EXT-X-MEDIA-SEQUENCE:\d+/);
    assert.match(after, /#EXT-X-MEDIA-SEQUENCE:2\n/, 'no reset to 0');
    assert.match(after, /#EXT-X-DISCONTINUITY\n#EXTINF:2.0,\na0\.[0-9a-f]{8}-1-0\.ts\n#EXTINF:2.0,\na1\.[0-9a-f]{8}-1-1\.ts\n$/, 'the epoch continues after the restart, so URIs stay unique');
    const names = (text: string) => text.split('\n').filter((x) => x.endsWith('.ts'));
    assert.deepEqual(names(after).slice(0, 3), names(before).slice(1), 'what stays in the window keeps its names');
    assert.equal((await raw(second.l, 'GET', `/hls/s/${names(after).at(-1)}`)).body, 'run2-1');
  } finally {
    // State writes may still be under way: removing the dir under them fails with ENOTEMPTY.
    for (const s of started) await s.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a playlist answers HEAD with its Content-Length, and Range / If-Range like a segment', async () => {
  const { l } = await start();
  await put(l, '/hls/s/a0.ts', '0123456789');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  const full = await raw(l, 'GET', '/hls/s/index.m3u8');
  const size = Buffer.byteLength(full.body);
  assert.equal(full.headers['content-length'], String(size));
  const head = await raw(l, 'HEAD', '/hls/s/index.m3u8');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(size), 'HEAD says how long the GET would be');
  assert.equal(head.body, '');
  assert.equal(full.headers['accept-ranges'], 'bytes');
  const part = await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { Range: 'bytes=0-6' } });
  assert.equal(part.status, 206);
  assert.equal(part.body, '#EXTM3U');
  assert.equal(part.headers['content-range'], `bytes 0-6/${size}`);
  assert.equal(part.headers['content-length'], '7');
  const tail = await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { Range: 'bytes=-3' } });
  assert.equal(tail.status, 206);
  assert.equal(tail.body, full.body.slice(-3));
  assert.equal((await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { Range: `bytes=${size}-` } })).status, 416);
  const current = await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { Range: 'bytes=0-6', 'If-Range': String(full.headers.etag) } });
  assert.equal(current.status, 206, 'If-Range with the current ETag: the range');
  const stale = await raw(l, 'GET', '/hls/s/index.m3u8', { headers: { Range: 'bytes=0-6', 'If-Range': '"an-older-version"' } });
  assert.equal(stale.status, 200, 'If-Range with another ETag: the whole new playlist');
  assert.equal(stale.body, full.body);
});

test('a type change is a 409 with its reason; a bug in the origin is a 500 with a log line, never blamed on the uploader', async () => {
  const lines: string[] = [];
  const { origin, l } = await start({ log: createLogger({ level: 'warn', write: (line) => lines.push(line) }) });
  await put(l, '/hls/s/a0.ts', 'a0');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  const changed = await put(l, '/hls/s/index.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n');
  assert.equal(changed.status, 409);
  assert.match(changed.body, /was a media playlist/);
  // A bug: the publisher throws a built-in error (as `undefined.x` would) while applying a playlist.
  const stream = origin.streams.get('s')!;
  stream.publisher.applyMedia = () => { throw new TypeError("Cannot read properties of undefined (reading 'x')"); };
  const bug = await put(l, '/hls/s/index.m3u8', PLAYLIST(['a0.ts']));
  assert.equal(bug.status, 500, 'a bug is the origin\'s fault');
  assert.ok(lines.some((x) => x.includes('"event":"request_failed"') && x.includes('reading')), 'and is logged with its error');
  const metrics = (await raw(l, 'GET', '/metrics')).body;
  assert.match(metrics, /cascade_origin_rejected_uploads_total\{reason="type_changed"[^}]*\} 1\n/, 'only the real type change counts as a refusal');
});
