// Overlapping uploads of one path (docs/origin.md, "Overlapping uploads of one path"): two overlapping PUTs of one path over real HTTP, with a playlist
// naming it landing after both or between them. The upload that started last wins; the late one changes nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { listen, type Listening } from '../src/serve.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { createOrigin } from '../origin/index.js';

const closers: (() => Promise<void>)[] = [];
after(async () => { for (const c of closers) await c(); });

async function start() {
  const origin = await createOrigin();
  const l = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  closers.push(async () => { await l.close(100); await origin.close(); });
  return { origin, l };
}

function get(l: Listening, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: l.port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

/** A PUT whose body is sent in two parts: `first` now, the rest when `finish` is called. */
function slowPut(l: Listening, path: string, first: Buffer, rest: Buffer) {
  const req = request({ host: '127.0.0.1', port: l.port, method: 'PUT', path, headers: { 'Transfer-Encoding': 'chunked' } });
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => { res.resume(); resolve(res.statusCode!); });
    req.on('error', reject);
  });
  req.write(first);
  return { status, finish: () => { req.end(rest); return status; } };
}

async function put(l: Listening, path: string, body: Buffer | string): Promise<number> {
  const p = slowPut(l, path, Buffer.from(body), Buffer.alloc(0));
  return p.finish();
}

const PLAYLIST = (names: string[], seq = 0) =>
  `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${seq}\n${names.map((n) => `#EXTINF:2.0,\n${n}`).join('\n')}\n`;

const A = Buffer.concat([Buffer.alloc(1024, 'a'), Buffer.alloc(4096, 'A')]);
const B = Buffer.alloc(3000, 'b');
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The status of a GET, without waiting for the body (which follows an upload still in progress). */
function statusOf(l: Listening, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: l.port, path }, (res) => {
      resolve(res.statusCode!);
      req.destroy();
    });
    req.on('error', reject).end();
  });
}

/** The origin registers an upload when its request arrives, which the client cannot observe: wait until it is readable. */
async function untilReadable(l: Listening, path: string) {
  for (let i = 0; (await statusOf(l, path)) !== 200; i++) {
    assert.ok(i < 200, `${path} never became readable`);
    await delay(5);
  }
}

async function publishedUris(l: Listening): Promise<{ pl: MediaPlaylist; uris: string[] }> {
  const r = await get(l, '/hls/s/index.m3u8');
  assert.equal(r.status, 200);
  const pl = parsePlaylist(r.body.toString()) as MediaPlaylist;
  return { pl, uris: pl.segments.map((s) => s.uri) };
}

/** seg0 uploaded; PUT A of seg1 has sent its first 1 KB; PUT B of seg1 starts after it and completes. */
async function overlapping(l: Listening) {
  assert.equal(await put(l, '/hls/s/seg0.ts', 'zero'), 201);
  const a = slowPut(l, '/hls/s/seg1.ts', A.subarray(0, 1024), A.subarray(1024));
  await untilReadable(l, '/hls/s/seg1.ts');
  assert.equal(await put(l, '/hls/s/seg1.ts', B), 201);
  return a;
}

test('overlap: playlist after both uploads completed: the URI it publishes serves the winner (B, started last)', async () => {
  const { l } = await start();
  const a = await overlapping(l);
  await delay(1500); // the retention sweep runs every second while A is still being written
  assert.equal(await a.finish(), 201);
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts']));
  const { uris } = await publishedUris(l);
  assert.equal(uris.length, 2);
  const seg1 = await get(l, `/hls/s/${uris[1]}`);
  assert.equal(seg1.status, 200, `${uris[1]} is servable`);
  assert.ok(seg1.body.equals(B), 'and serves the upload that started last');
  assert.ok((await get(l, '/hls/s/seg1.ts')).body.equals(B), 'so does the uploaded name');
});

test('overlap: playlist between B and A: A\'s late completion changes nothing (no republish, no new media sequence)', async () => {
  const { l } = await start();
  const a = await overlapping(l);
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts']));
  const before = await publishedUris(l);
  await delay(1500);
  assert.equal(await a.finish(), 201);
  // The encoder goes on: the same playlist again, then the next segment.
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts']));
  assert.deepEqual((await publishedUris(l)).uris, before.uris, 'A\'s completion republished nothing');
  await put(l, '/hls/s/seg2.ts', 'two');
  await put(l, '/hls/s/index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts', 'seg2.ts']));
  const { pl, uris } = await publishedUris(l);
  assert.deepEqual(uris.slice(0, 2), before.uris, 'seg1 keeps its URI and media sequence');
  assert.equal(pl.mediaSequence, before.pl.mediaSequence);
  assert.equal(uris.length, 3);
  assert.ok(!pl.segments.some((s) => s.discontinuity), 'no restart was taken');
  for (const uri of uris) assert.equal((await get(l, `/hls/s/${uri}`)).status, 200, uri);
  assert.ok((await get(l, `/hls/s/${uris[1]}`)).body.equals(B), 'seg1 serves B');
});
