// Real ffmpeg uploading to the origin over HTTP PUT, killed and restarted with the same output names:
// the published playlist keeps the publishing rules (docs/origin.md, "What it publishes") across the restart,
// and ffprobe reads the stream.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { listen } from '../src/serve.js';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { createOrigin, type PublishedEvent } from '../origin/index.js';
import { startChild, type Child } from './helpers/process.js';

const children: Child[] = [];
after(async () => { for (const c of children) await c.kill('SIGKILL'); });

function ffmpeg(url: string): Child {
  const child = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=192x108:rate=10',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '4', '-method', 'PUT', '-http_persistent', '1',
    '-hls_flags', 'delete_segments', url]);
  children.push(child);
  return child;
}

test('ffmpeg killed and restarted with the same names: the published stream stays correct', { timeout: 120_000 }, async () => {
  const published: PublishedEvent[] = [];
  const waiters = new Set<() => void>();
  const origin = await createOrigin({
    onPublished: (e) => {
      published.push(e);
      for (const w of waiters) w();
    },
  });
  const l = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  try {
    /** Resolves when `pred` holds for the newest published playlist (checked on each publication). */
    const until = (pred: (pl: MediaPlaylist) => boolean, what: string, ms = 40_000) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}`)); }, ms);
      const check = () => {
        const last = published[published.length - 1];
        if (last && pred(parsePlaylist(last.text) as MediaPlaylist)) {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
    const url = `${l.url}/hls/ff/index.m3u8`;
    const first = ffmpeg(url);
    await until((pl) => pl.mediaSequence + pl.segments.length >= 4, '4 segments from the first run');
    await first.kill('SIGKILL');
    const beforeRestart = published.length;
    ffmpeg(url);
    await until((pl) => pl.segments.some((s) => s.discontinuity) && pl.segments.length - pl.segments.findIndex((s) => s.discontinuity) >= 3,
      '3 segments after the restart');

    // Media sequence, restart and target duration rules on every playlist published along the way.
    let lastSeq = -1;
    const lists = published.map((e) => parsePlaylist(e.text) as MediaPlaylist);
    for (const pl of lists) {
      assert.ok(pl.mediaSequence >= lastSeq, 'media sequence never decreases');
      lastSeq = pl.mediaSequence;
      for (const s of pl.segments) assert.ok(Math.round(s.duration) <= pl.targetDuration, 'target duration covers every segment');
    }
    assert.ok(lists.slice(beforeRestart).some((pl) => pl.segments.some((s) => s.discontinuity)), 'the restart is marked with a discontinuity');
    const tds = lists.map((pl) => pl.targetDuration);
    assert.deepEqual(tds, [...tds].sort((a, b) => a - b), 'target duration never decreases');

    // URIs: every URI of the final playlist is servable, and no URI ever named two different byte strings.
    const bytesOf = new Map<string, string>();
    const final = lists[lists.length - 1]!;
    for (const s of final.segments) {
      const res = await fetch(`${l.url}/hls/ff/${s.uri}`);
      assert.equal(res.status, 200, s.uri);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.length > 0);
      assert.equal(body[0], 0x47, 'an MPEG-TS packet');
      bytesOf.set(s.uri, createHash('sha1').update(body).digest('hex'));
    }
    const uris = final.segments.map((s) => s.uri);
    assert.equal(new Set(uris).size, uris.length, 'no URI appears twice');
    assert.ok(uris.every((u) => /^index\d+\.[0-9a-f]{8}-\d+-\d+\.ts$/.test(u)), `published names carry root, epoch and sequence number: ${uris}`);

    // ffprobe follows the published live playlist across the discontinuity.
    const probe = startChild('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', `${l.url}/hls/ff/index.m3u8`]);
    children.push(probe);
    assert.equal(await probe.exited, 0, probe.output());
    assert.match(probe.output(), /h264/);
  } finally {
    for (const c of children) await c.kill('SIGKILL');
    await l.close(100);
    await origin.close();
  }
});
