// Relive end to end: real ffmpeg segments (6 s, a video and an audio track) uploaded to an origin with
// --record, ending with ffmpeg's EXT-X-ENDLIST; the relive is then played by ffprobe and by hls.js in
// Chromium through the LB and an edge (masters through the LB), offered by the LB's player page, and
// seekable there; the same segments uploaded again as a live stream are offered and played as DVR.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { createEdge, type Edge } from '../edge/index.js';
import { createLb, type Lb } from '../lb/index.js';
import { createOrigin, type Origin } from '../origin/index.js';
import { listen, type Listening } from '../src/serve.js';
import { pollUntil } from './helpers/lb-harness.js';
import { freePort, startChild } from './helpers/process.js';

const CHROMIUM = '/usr/bin/chromium';
const run = promisify(execFile);

let origin: Origin;
let edge: Edge;
let lb: Lb;
const listening: Listening[] = [];
let lbUrl: string;

before(async () => {
  origin = await createOrigin({ record: true });
  const o = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  const lbPort = await freePort();
  lbUrl = `http://127.0.0.1:${lbPort}`;
  edge = createEdge({ id: 'e1', origins: [o.url], lbUrl });
  const e = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  lb = createLb({ edges: [{ id: 'e1', url: e.url, weight: 100 }] });
  const l = await listen(lb.app, { port: lbPort, host: '127.0.0.1' });
  listening.push(l, e, o);

  const out = `${o.url}/hls/ev`;
  const ffmpeg = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '6',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '10', '-keyint_min', '10', '-sc_threshold', '0', '-b:v', '200k',
    '-c:a', 'aac', '-b:a', '48k', '-f', 'hls', '-method', 'PUT', '-hls_time', '1', '-hls_list_size', '3',
    '-hls_flags', 'program_date_time+independent_segments', '-master_pl_name', 'index.m3u8', '-var_stream_map', 'v:0,a:0,name:180p',
    '-hls_segment_filename', `${out}/%v/seg%05d.ts`, `${out}/%v/media.m3u8`,
  ]);
  const code = await Promise.race([ffmpeg.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 90_000).unref())]);
  if (code !== 0) {
    await ffmpeg.kill();
    throw new Error(`ffmpeg: ${code}: ${ffmpeg.output()}`);
  }
  await origin.flushed();
  // ffmpeg's last playlist carries EXT-X-ENDLIST: the relive is VOD.
  await pollUntil(async () => ((await (await origin.app.request('/hls/ev/_relive/0.m3u8')).text()).includes('#EXT-X-ENDLIST') ? true : undefined),
    20_000, 'the relive to end', 100);
});

after(async () => {
  for (const l of listening) await l.close(100);
  await lb?.close();
  await edge?.close();
  await origin?.close();
});

test('the relive after ENDLIST is a VOD of the whole event, cached long by the edge, playable by ffprobe through the LB', async () => {
  const first = await fetch(`${lbUrl}/hls/ev/_relive/0.m3u8`);
  const text = await first.text();
  assert.equal(first.status, 200);
  assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD/);
  assert.equal(first.headers.get('cache-control'), 'public, max-age=3600');
  const again = await fetch(`${lbUrl}/hls/ev/_relive/0.m3u8`);
  await again.text();
  assert.equal(again.headers.get('x-cache'), 'HIT');
  // The master through the edge names its variants through the LB.
  const master = await (await fetch(`${lbUrl}/hls/ev/_relive/index.m3u8`)).text();
  assert.match(master, new RegExp(`^${lbUrl}/hls/ev/_relive/0\\.m3u8`, 'm'));

  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json', `${lbUrl}/hls/ev/_relive/index.m3u8`], { timeout: 60_000 });
  const probe = JSON.parse(stdout) as { format: { duration: string }; streams: { codec_type: string }[] };
  const duration = Number(probe.format.duration);
  assert.ok(duration > 5 && duration < 7.5, `duration ${duration}`);
  assert.deepEqual(probe.streams.map((s) => s.codec_type).sort(), ['audio', 'video']);
});

test('a clip of the relive (ffprobe): from the segment containing start to the one containing end', async () => {
  const relive = await (await origin.app.request('/hls/ev/_relive/0.m3u8')).text();
  const pdts = [...relive.matchAll(/#EXT-X-PROGRAM-DATE-TIME:(.+)/g)].map((m) => Date.parse(m[1]!));
  const start = new Date(pdts[1]! + 100).toISOString();
  const end = new Date(pdts[3]! + 100).toISOString();
  const clip = await (await fetch(`${lbUrl}/hls/ev/_dvr/0.m3u8?start=${start}&end=${end}`)).text();
  assert.equal(clip.match(/#EXTINF/g)?.length, 3);
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', `${lbUrl}/hls/ev/_dvr/index.m3u8?start=${start}&end=${end}`], { timeout: 60_000 });
  const duration = Number((JSON.parse(stdout) as { format: { duration: string } }).format.duration);
  assert.ok(duration > 2 && duration < 4.5, `duration ${duration}`);
});

test('browser: the LB player page offers the relive of the ended stream, and hls.js plays and seeks it through the LB and the edge', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} not installed`);
  let browser: Browser | undefined;
  t.after(() => browser?.close());
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${lbUrl}/play/ev`);
  await page.waitForFunction(() => (window as unknown as { cascadePlayer: { recording: string } }).cascadePlayer.recording === 'ended', undefined, { timeout: 30_000, polling: 200 });
  assert.equal(await page.isVisible('#relive-link'), true);
  await page.click('#relive-link');
  await page.waitForURL(/src=/, { timeout: 10_000 });
  type Player = { currentTime: number; fatalErrors: number; seekable: [number, number] | null; servedBy: string | null };
  await page.waitForFunction(() => {
    const p = (window as unknown as { cascadePlayer: Player }).cascadePlayer;
    return p.currentTime > 1 && p.seekable !== null;
  }, undefined, { timeout: 30_000, polling: 200 });
  const playing = await page.evaluate(() => ({ ...(window as unknown as { cascadePlayer: Player }).cascadePlayer }));
  assert.equal(playing.fatalErrors, 0);
  assert.equal(playing.servedBy, 'e1');
  assert.ok(playing.seekable![1] - playing.seekable![0] > 5, `seekable ${JSON.stringify(playing.seekable)}`);
  assert.equal(await page.isVisible('#seek'), true);
  // Seeking back with the seek bar, then playing on.
  await page.evaluate(() => {
    const seek = document.getElementById('seek') as HTMLInputElement;
    seek.value = '0.5';
    seek.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(() => {
    const p = (window as unknown as { cascadePlayer: Player }).cascadePlayer;
    return p.currentTime > 0.6 && p.currentTime < 1.8;
  }, undefined, { timeout: 20_000, polling: 100 });
  assert.deepEqual(pageErrors, []);
});

test('browser: while a recorded stream is live, the player page offers DVR, and hls.js seeks back in it through the LB and the edge', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} not installed`);
  // A live stream made of ffmpeg's recorded segments, uploaded again without ENDLIST.
  const relive = await (await origin.app.request('/hls/ev/_relive/0.m3u8')).text();
  const lines = relive.split('\n');
  const segments = lines.flatMap((l, i) => (l.startsWith('../') ? [{ uri: l.slice(3), extinf: lines[i - 1]!, pdt: lines[i - 2]! }] : []));
  const master = await (await origin.app.request('/hls/ev/index.m3u8')).text();
  const put = async (path: string, body: BodyInit) => {
    const res = await origin.app.request(`/hls/dvr/${path}`, { method: 'PUT', body });
    assert.ok(res.status < 300, `${path}: ${res.status}`);
  };
  await put('index.m3u8', master);
  const variant = master.split('\n').find((l) => l !== '' && !l.startsWith('#'))!;
  for (const [i, seg] of segments.entries()) {
    await put(`180p/seg${i}.ts`, await (await origin.app.request(`/hls/ev/${seg.uri}`)).arrayBuffer());
    const window = segments.slice(Math.max(0, i - 2), i + 1).flatMap((s, j) => [s.pdt, s.extinf, `seg${Math.max(0, i - 2) + j}.ts`]);
    await put(variant, ['#EXTM3U', '#EXT-X-TARGETDURATION:2', `#EXT-X-MEDIA-SEQUENCE:${Math.max(0, i - 2)}`, ...window, ''].join('\n'));
  }
  await origin.flushed();
  let browser: Browser | undefined;
  t.after(() => browser?.close());
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
  const page = await browser.newPage();
  await page.goto(`${lbUrl}/play/dvr`);
  await page.waitForFunction(() => (window as unknown as { cascadePlayer: { recording: string } }).cascadePlayer.recording === 'live', undefined, { timeout: 30_000, polling: 200 });
  assert.equal(await page.isVisible('#dvr-link'), true);
  assert.equal(await page.isVisible('#relive-link'), false);
  await page.click('#dvr-link');
  await page.waitForURL(/src=/, { timeout: 10_000 });
  type Player = { currentTime: number; fatalErrors: number; seekable: [number, number] | null };
  await page.waitForFunction(() => {
    const p = (window as unknown as { cascadePlayer: Player }).cascadePlayer;
    return p.seekable !== null && p.seekable[1] - p.seekable[0] > 4 && p.currentTime > 0;
  }, undefined, { timeout: 30_000, polling: 200 });
  await page.evaluate(() => {
    const seek = document.getElementById('seek') as HTMLInputElement;
    seek.value = seek.min;
    seek.dispatchEvent(new Event('input'));
  });
  // Back at the start of the recording, far behind the live edge.
  await page.waitForFunction(() => {
    const p = (window as unknown as { cascadePlayer: Player }).cascadePlayer;
    return p.seekable !== null && p.currentTime < p.seekable[0] + 1.5 && p.currentTime > p.seekable[0];
  }, undefined, { timeout: 20_000, polling: 100 });
  assert.equal((await page.evaluate(() => (window as unknown as { cascadePlayer: Player }).cascadePlayer.fatalErrors)), 0);
});
