// Low-latency parts and the names of issue 13: two origins fed the same LL uploads (real CMAF fixtures,
// streamed fragment by fragment as ffmpeg's dash muxer sends them) publish byte-identical playlists, parts
// included, and the parts of the segment being written are named after that segment's published name,
// which it keeps once listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FEED_HEADER } from '../src/feed.js';
import { createOrigin, type Origin } from '../origin/index.js';
import { handBody, putWith } from './helpers/hand-body.js';
import { fragmentChunks, LL_VIDEO, taggedSegment, withPrft } from './helpers/ll-uploads.js';

const base = 'http://origin.test/hls/ll/';
const feed = { [FEED_HEADER]: 'feed1' };
const playlist = (listed: number, hinted: number) => ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:1', '#EXT-X-MEDIA-SEQUENCE:0',
  '#EXT-X-MAP:URI="init.mp4"', ...Array.from({ length: listed }, (_, k) => `#EXTINF:1.000000,\nseg${k}.m4s`), `#EXT-X-PREFETCH:seg${hinted}.m4s`, ''].join('\n');

async function put(o: Origin, path: string, body: string | Buffer): Promise<void> {
  const res = await o.app.request(base + path, { method: 'PUT', body: typeof body === 'string' ? body : new Uint8Array(body), headers: feed });
  assert.ok(res.status < 300, `${path}: ${res.status} ${await res.text()}`);
}

const text = async (o: Origin) => (await o.app.request(`${base}index.m3u8`)).text();

test('two origins fed the same LL uploads publish the same parts under the segment\'s published name', async () => {
  // Peered (a peer nothing listens on): their names root in the feed id alone, as behind a fan-out.
  const origins = [await createOrigin({ partTargetMs: 500, peers: ['http://127.0.0.1:9'] }), await createOrigin({ partTargetMs: 500, peers: ['http://127.0.0.1:9'] })];
  try {
    // seg1 carries a prft: both date it by that, not by their own clocks.
    const prft = Date.UTC(2026, 10, 30, 6, 30, 0, 250);
    const seg = (k: number) => (k === 1 ? withPrft(LL_VIDEO, taggedSegment(LL_VIDEO, k, `seg${k}`), prft) : taggedSegment(LL_VIDEO, k, `seg${k}`));
    for (const o of origins) {
      await put(o, 'init.mp4', LL_VIDEO.init);
      await put(o, 'seg0.m4s', seg(0));
    }
    // seg1 streams in while the playlist hints it: parts are published as its fragments arrive.
    const chunks = fragmentChunks(LL_VIDEO, seg(1));
    const bodies = origins.map(() => handBody());
    const responses = origins.map((o, i) => o.app.request(`${base}seg1.m4s`, { ...putWith(bodies[i]!), headers: feed }));
    await Promise.all(bodies.map((b) => b.reading));
    for (const b of bodies) for (const c of chunks.slice(0, 7)) b.send(c);
    for (const o of origins) await put(o, 'index.m3u8', playlist(1, 1));
    await new Promise((r) => setTimeout(r, 50));
    const [during0, during1] = [await text(origins[0]!), await text(origins[1]!)];
    assert.equal(during1, during0, 'the same playlist, parts and hints included');
    const part = /#EXT-X-PART:[^\n]*URI="(seg1\.[0-9a-f]{8}-0-1)\.p0\.m4s"/.exec(during0);
    assert.ok(part, `a part of seg1 named after its published name:\n${during0}`);
    for (const b of bodies) {
      for (const c of chunks.slice(7)) b.send(c);
      b.end();
    }
    for (const r of await Promise.all(responses)) assert.equal(r.status, 201);
    for (const o of origins) await put(o, 'index.m3u8', playlist(2, 2));
    const [after0, after1] = [await text(origins[0]!), await text(origins[1]!)];
    assert.equal(after1, after0);
    assert.match(after0, new RegExp(`\\n${part[1]!.replace(/\./g, '\\.')}\\.m4s\\n`), 'listed under the name its parts were published under');
    assert.match(after0, new RegExp(`#EXT-X-PROGRAM-DATE-TIME:${new Date(prft).toISOString()}\\n(#[^\\n]*\\n)*${part[1]!.replace(/\./g, '\\.')}\\.m4s\\n`), 'dated by its prft');
    const whole = await origins[1]!.app.request(`${base}${part[1]}.m4s`);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(seg(1)));
  } finally {
    for (const o of origins) await o.close();
  }
});
