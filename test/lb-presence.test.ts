// The player page follows the stream's existence (issue 15), in real headless Chromium: origin, edge and
// LB (with --origin) on loopback, the page opened before the stream exists. It says "not live yet", starts
// playing by itself once ffmpeg publishes, says "ended" after ffmpeg finishes (ENDLIST) and the video has
// played out, and plays again by itself when the stream comes back. /api/streams on the LB lists the
// stream as the origin summarises it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';
import { createEdge } from '../edge/index.js';
import { createOrigin } from '../origin/index.js';
import { listen } from '../src/serve.js';
import { startChild, type Child } from './helpers/process.js';
import { startLb } from './helpers/lb-harness.js';

interface PlayerState { currentTime: number; presence: string | null; state: string; servedBy: string | null }

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

function ffmpeg(url: string, seconds: number): Child {
  const child = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=192x108:rate=10:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-method', 'PUT', '-http_persistent', '1', url]);
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

test('player page: "not live yet", then playback by itself, "ended" after ENDLIST, and playback again', { timeout: 240_000 }, async () => {
  const origin = await createOrigin({});
  const originServer = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  cleanups.push(async () => { await originServer.close(500); await origin.close(); });
  const edge = createEdge({ id: 'edge-p', origins: [originServer.url] });
  const edgeServer = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  cleanups.push(async () => { await edgeServer.close(500); await edge.close(); });
  const lb = await startLb({ edges: [{ id: 'edge-p', url: edgeServer.url, weight: 100 }], origins: [originServer.url], health: { intervalMs: 0 } });
  cleanups.push(() => lb.close());
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage();
  const player = () => page.evaluate(() => (window as unknown as { cascadePlayer: PlayerState }).cascadePlayer);
  const until = (what: string, pred: string, timeout = 60_000) =>
    page.waitForFunction(`(() => { const p = window.cascadePlayer; return ${pred}; })()`, undefined, { timeout, polling: 200 }).catch(async (err: Error) => {
      throw new Error(`${what}: ${err.message}; player ${JSON.stringify(await player())}`);
    });

  assert.deepEqual(await (await fetch(`${lb.url}/api/streams/live`)).json(), { name: 'live', state: 'absent' });
  assert.equal((await fetch(`${lb.url}/api/streams/bad%20name`)).status, 400);
  await page.goto(`${lb.url}/play/live`);
  await until('not live yet', `p.presence === 'absent'`, 20_000);
  assert.equal(await page.textContent('#presence'), 'not live yet');
  assert.equal(await page.isVisible('#video'), false);
  assert.equal((await player()).state, 'not live yet');

  const url = `${originServer.url}/hls/live/index.m3u8`;
  const first = ffmpeg(url, 14);
  await until('plays by itself once the stream is live', `p.presence === 'live' && p.currentTime > 2 && p.servedBy === 'edge-p'`);
  assert.equal(await page.isVisible('#presence'), false);
  const listed = await (await fetch(`${lb.url}/api/streams`)).json() as { origin: string; streams: { name: string; state: string; viewers: number | null; renditions: { path: string; mediaSequence: number }[] }[] };
  assert.equal(listed.origin, 'up');
  assert.deepEqual(listed.streams.map((s) => [s.name, s.state, s.renditions.map((r) => r.path)]), [['live', 'live', ['index.m3u8']]]);
  assert.equal(listed.streams[0]!.viewers, null, 'no load reports without Redis');

  assert.equal(await first.exited, 0, first.output());
  await until('"ended" after ENDLIST, once the video played out', `p.presence === 'ended'`, 90_000);
  assert.equal(await page.textContent('#presence'), 'ended');
  assert.equal((await (await fetch(`${lb.url}/api/streams/live`)).json() as { state: string }).state, 'ended');

  const played = (await player()).currentTime;
  ffmpeg(url, 60);
  await until('plays again by itself when the stream comes back', `p.presence === 'live' && p.state === 'playing'`);
  await until('and keeps playing', `p.currentTime > 2 && p.currentTime !== ${played}`);
});
