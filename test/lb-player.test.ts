// The LB's player page in real headless Chromium: a live HLS stream made by ffmpeg, two stand-in edges
// serving it, and the page playing through the LB, showing its edge, and moving to the other edge
// through the LB when its edge dies.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startChild, type Child } from './helpers/process.js';
import { pollUntil, startFakeEdge, startLb, type FakeEdge, type RunningLb } from './helpers/lb-harness.js';

interface PlayerState { currentTime: number; servedBy: string | null; recoveries: number; fatalErrors: number; level: number; latency: number | null }

let dir: string;
let ffmpeg: Child;
let edges: FakeEdge[];
let lb: RunningLb;
let browser: Browser;
let page: Page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cascade-lb-player-'));
  ffmpeg = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-keyint_min', '25',
    '-sc_threshold', '0', '-b:v', '300k', '-c:a', 'aac', '-b:a', '64k',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '8', '-hls_flags', 'delete_segments+program_date_time+independent_segments',
    '-master_pl_name', 'index.m3u8', '-var_stream_map', 'v:0,a:0,name:180p', '-hls_segment_filename', '%v/seg%05d.ts', '%v/media.m3u8',
  ], { cwd: dir });
  // ffmpeg says nothing when a segment is written: watch the playlist, bounded.
  await pollUntil(() => {
    const media = join(dir, '180p', 'media.m3u8');
    return existsSync(join(dir, 'index.m3u8')) && existsSync(media) && (readFileSync(media, 'utf8').match(/#EXTINF/g)?.length ?? 0) >= 3 ? true : undefined;
  }, 30_000, 'ffmpeg wrote three segments', 200);
  edges = [await startFakeEdge('edge-a', dir), await startFakeEdge('edge-b', dir)];
  lb = await startLb({ edges: edges.map((e) => ({ id: e.id, url: e.url, weight: 100 })) });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
  page = await browser.newPage();
});
after(async () => {
  await browser?.close();
  await lb?.close();
  await Promise.all((edges ?? []).map((e) => e.stop()));
  await ffmpeg?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const state = () => page.evaluate(() => (window as unknown as { cascadePlayer: PlayerState }).cascadePlayer);

test('plays through the LB, shows the edge and latency, and moves to the other edge when its edge dies', async () => {
  await page.goto(`${lb.url}/play/demo`);
  await page.waitForFunction(() => {
    const p = (window as unknown as { cascadePlayer?: PlayerState }).cascadePlayer;
    return p !== undefined && p.servedBy !== null && p.currentTime > 3;
  }, undefined, { timeout: 30_000, polling: 200 });
  const first = await state();
  assert.ok(first.servedBy === 'edge-a' || first.servedBy === 'edge-b', String(first.servedBy));
  assert.equal(await page.textContent('#served-by'), first.servedBy);
  assert.match(String(await page.textContent('#latency')), /^\d+\.\d s$/);
  assert.match(String(await page.textContent('#rendition')), /180p/);
  assert.equal(first.fatalErrors, 0);

  const serving = edges.find((e) => e.id === first.servedBy)!;
  const other = edges.find((e) => e !== serving)!;
  const hitsBefore = other.hits;
  await serving.stop();
  const stoppedAt = first.currentTime;
  await page.waitForFunction(([from, t]) => {
    const p = (window as unknown as { cascadePlayer: PlayerState }).cascadePlayer;
    return p.servedBy !== from && p.recoveries > 0 && p.currentTime > (t as number) + 3;
  }, [serving.id, stoppedAt] as const, { timeout: 30_000, polling: 200 });
  const recovered = await state();
  assert.equal(recovered.servedBy, other.id);
  assert.equal(await page.textContent('#served-by'), other.id);
  assert.ok(other.hits > hitsBefore, 'segments now come from the other edge');
});

test('the status page shows the edges live: the one killed above is down', async () => {
  const status = await browser.newPage();
  await status.goto(`${lb.url}/`);
  await status.waitForSelector('#edge-edge-a', { timeout: 10_000 });
  await status.waitForSelector('#edge-edge-b', { timeout: 10_000 });
  const rows = await status.$$eval('#edges tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
  const health = new Map(rows.map((r) => [r[0], r[3]]));
  assert.deepEqual([...health.values()].sort(), ['down', 'up']);
  assert.match(String(await status.textContent('#redis')), /off/);
  await status.close();
});
