// The edge in front of the real origin, with real ffmpeg uploading over HTTP PUT: playlists and
// segments come through byte-identical to the origin's, segments are cached, concurrent requests for
// the newest segment are coalesced, and the playlist the edge serves follows the live stream.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, type PublishedEvent } from '../origin/index.js';
import { createEdge } from '../edge/index.js';
import { listen } from '../src/serve.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startChild, type Child } from './helpers/process.js';

const children: Child[] = [];
const agent = clientAgent(50);
after(async () => {
  for (const c of children) await c.kill('SIGKILL');
  await agent.close();
});

test('real origin + real ffmpeg: the edge serves the live stream, cached and coalesced', { timeout: 120_000 }, async () => {
  const published: PublishedEvent[] = [];
  const waiters = new Set<() => void>();
  const origin = await createOrigin({ onPublished: (e) => { published.push(e); for (const w of waiters) w(); } });
  const o = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  const edge = createEdge({ id: 'edge-real', origins: [o.url] });
  const e = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  /** Resolves at the first publication of the media playlist for which `pred` holds (an event, not a poll). */
  const published$ = (pred: (pl: MediaPlaylist) => boolean, what: string) => new Promise<MediaPlaylist>((resolve, reject) => {
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}`)); }, 60_000);
    const check = () => {
      const last = published.filter((p) => p.path === 'index.m3u8').at(-1);
      const pl = last && (parsePlaylist(last.text) as MediaPlaylist);
      if (pl && pred(pl)) { clearTimeout(timer); waiters.delete(check); resolve(pl); }
    };
    waiters.add(check);
    check();
  });
  try {
    children.push(startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
      '-f', 'lavfi', '-i', 'testsrc2=size=192x108:rate=10',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0',
      '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', '-method', 'PUT', '-http_persistent', '1',
      `${o.url}/hls/live/index.m3u8`]));
    const pl = await published$((p) => p.segments.length >= 3, 'three segments');

    const viaEdge = await get(agent, `${e.url}/hls/live/index.m3u8`);
    assert.equal(viaEdge.status, 200);
    assert.equal(viaEdge.headers['x-served-by'], 'edge-real');
    const fromEdge = parsePlaylist(viaEdge.body.toString()) as MediaPlaylist;
    assert.ok(fromEdge.mediaSequence >= pl.mediaSequence);

    for (const s of fromEdge.segments) {
      const direct = await get(agent, `${o.url}/hls/live/${s.uri}`);
      const first = await get(agent, `${e.url}/hls/live/${s.uri}`);
      assert.equal(first.status, 200, s.uri);
      assert.equal(first.body[0], 0x47, 'an MPEG-TS packet');
      assert.equal(first.sha, direct.sha, `${s.uri} is byte-identical to the origin's`);
      const second = await get(agent, `${e.url}/hls/live/${s.uri}`);
      assert.equal(second.headers['x-cache'], 'HIT');
      assert.equal(second.sha, direct.sha);
    }

    // The next segment, asked for by 50 players at once as soon as it is published: one upstream fetch.
    const next = await published$((p) => p.mediaSequence + p.segments.length > fromEdge.mediaSequence + fromEdge.segments.length, 'a newer segment');
    const newest = next.segments.at(-1)!.uri;
    const upstreamBefore = await upstreamCount(e.url);
    const burst = await Promise.all(Array.from({ length: 50 }, () => get(agent, `${e.url}/hls/live/${newest}`)));
    assert.ok(burst.every((r) => r.status === 200 && r.complete && r.sha === burst[0]!.sha));
    assert.equal(await upstreamCount(e.url) - upstreamBefore, 1, 'one upstream request for 50 concurrent clients');

    // The edge's playlist follows the stream: within a couple of target durations it names the new segment.
    const deadline = Date.now() + 10_000;
    let latest = '';
    while (!latest.includes(newest) && Date.now() < deadline) {
      latest = (await get(agent, `${e.url}/hls/live/index.m3u8`)).body.toString();
      if (!latest.includes(newest)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(latest.includes(newest), 'the cached playlist is refreshed');
  } finally {
    for (const c of children) await c.kill('SIGKILL');
    await e.close(500);
    await edge.close();
    await o.close(500);
    await origin.close();
  }
});

async function upstreamCount(edgeUrl: string): Promise<number> {
  const text = (await get(agent, `${edgeUrl}/metrics`)).body.toString();
  let sum = 0;
  for (const m of text.matchAll(/^cascade_edge_upstream_requests_total\{[^}]*\} (\d+)$/gm)) sum += Number(m[1]);
  return sum;
}
