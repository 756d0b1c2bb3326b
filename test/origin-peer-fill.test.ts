// Redundant origins fill from each other (--peer, docs/origin.md "Redundant origins"): a segment one origin
// never got is fetched from a peer under the name both publish, verified, and published as if uploaded;
// one no peer has (or whose bytes are not what the peer says) becomes a gap after the fill timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FEED_HEADER } from '../src/feed.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { listen } from '../src/serve.js';
import { createOrigin, type Origin } from '../origin/index.js';
import { freePort } from './helpers/process.js';

const PLAYLIST = (names: string[]) => `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n${names.map((n) => `#EXTINF:2,\n${n}\n`).join('')}`;

interface Running {
  origin: Origin;
  url: string;
  put(path: string, body: string): Promise<number>;
  published(): Promise<MediaPlaylist>;
  get(path: string): Promise<Response>;
}

async function start(t: { after(fn: () => unknown): void }, port: number, peers: string[], peerFillTimeoutMs = 5_000): Promise<Running> {
  const origin = await createOrigin({ peers, peerFillTimeoutMs });
  const l = await listen(origin.app, { port, host: '127.0.0.1' });
  t.after(async () => {
    await l.close(0);
    await origin.close();
  });
  const base = `${l.url}/hls/s/`;
  return {
    origin, url: l.url,
    put: async (path, body) => (await fetch(base + path, { method: 'PUT', body, headers: { [FEED_HEADER]: 'feed1' } })).status,
    published: async () => parsePlaylist(await (await fetch(`${base}index.m3u8`)).text()) as MediaPlaylist,
    get: (path) => fetch(base + path),
  };
}

test('a segment one origin never got is filled from its peer: both publish the same playlist, the same bytes', async (t) => {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = await start(t, pa, [`http://127.0.0.1:${pb}`]);
  const b = await start(t, pb, [`http://127.0.0.1:${pa}`]);
  for (let i = 0; i < 4; i++) {
    for (const o of i === 2 ? [a] : [a, b]) assert.equal(await o.put(`seg${i}.ts`, `segment ${i}`), 201);
    const list = PLAYLIST(Array.from({ length: i + 1 }, (_, k) => `seg${k}.ts`));
    for (const o of [a, b]) assert.equal(await o.put('index.m3u8', list), 204);
  }
  const deadline = Date.now() + 20_000;
  while ((await b.published()).segments.length < 4) {
    assert.ok(Date.now() < deadline, 'B publishes seg2 once filled');
    await new Promise((r) => setTimeout(r, 50));
  }
  const [fromA, fromB] = [await a.published(), await b.published()];
  assert.deepEqual(fromB.segments.map((s) => [s.uri, s.gap]), fromA.segments.map((s) => [s.uri, s.gap]));
  assert.ok(!fromB.segments.some((s) => s.gap));
  assert.equal(await (await b.get(fromB.segments[2]!.uri)).text(), 'segment 2');
  assert.match(await (await fetch(`${b.url}/metrics`)).text(), /cascade_origin_peer_fills_total\{result="filled"[^}]*\} 1\n/);
});

test('a segment no peer has, or whose bytes are not what the peer says, becomes a gap after the fill timeout', async (t) => {
  // A peer that answers every published name with bytes that do not match its ETag.
  const liar = createServer((_req, res) => res.writeHead(200, { 'content-length': '4', etag: '"0000000000000000000a"' }).end('fake'));
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  t.after(() => liar.close());
  const b = await start(t, 0, [`http://127.0.0.1:${(liar.address() as AddressInfo).port}`], 500);
  for (const i of [0, 1, 3]) assert.equal(await b.put(`seg${i}.ts`, `segment ${i}`), 201);
  assert.equal(await b.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts'])), 204);
  assert.equal(await b.put('index.m3u8', PLAYLIST(['seg0.ts', 'seg1.ts', 'seg2.ts', 'seg3.ts'])), 204);
  assert.equal((await b.published()).segments.length, 2, 'held back while the peer is asked');
  const deadline = Date.now() + 20_000;
  while ((await b.published()).segments.length < 4) {
    assert.ok(Date.now() < deadline, 'published with a gap after the timeout');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual((await b.published()).segments.map((s) => s.gap), [false, false, true, false]);
  assert.match(await (await fetch(`${b.url}/metrics`)).text(), /cascade_origin_peer_fills_total\{result="missing"[^}]*\} 1\n/);
});
