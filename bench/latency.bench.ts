// `npm run bench` (latency): glass-to-player latency through LB + edge, plain HLS and LL-HLS side by side.
// For each mode a `cascade stack` (test source -> transcoder -> origin -> two edges -> LB) is played by the
// LB's /play page in headless Chromium (hls.js; lowLatencyMode finds the parts in LL mode), and the page's
// latency (now - hls.js playingDate, from EXT-X-PROGRAM-DATE-TIME) is sampled every 250 ms.
//
// PDT is not the capture clock: in plain HLS the uploader's PDT runs late in the stack (measured against the
// clock burnt into the picture, docs/low-latency.md), so the page's figure reads low; LL segments are dated
// by their `prft` boxes and are about right. test/helpers/pdt-probe.ts bounds how late from the origin's
// playlists (a segment is listed only after its last frame was captured), giving a lower bound on the true
// latency, low by the pipeline (~0.1-0.2 s). hls.js's own distance behind the
// playlist's live edge, and the distance it aims for (PART-HOLD-BACK in LL), are shown beside.
// Run `npm run build` first (npm run bench does). Options: --seconds S (sampling, default 30),
// --ladder (default 240p,144p), --fps (default 25), --preset (default ultrafast), --modes plain,ll.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, samplePlaying, startBrowserStack, waitForPlayer, type PlayerState } from '../test/helpers/player-page.js';
import { firstMediaPlaylist, probePdt } from '../test/helpers/pdt-probe.js';
import { markdown, percentile } from '../loadtest/lib.js';

const { values } = parseArgs({ options: {
  seconds: { type: 'string', default: '30' }, ladder: { type: 'string', default: '240p,144p' }, fps: { type: 'string', default: '25' },
  preset: { type: 'string', default: 'ultrafast' }, modes: { type: 'string', default: 'plain,ll' },
} });
const SAMPLE_MS = Number(values.seconds) * 1000;
const SETTLE_MS = 8_000;

if (!existsSync(CHROMIUM)) {
  process.stdout.write(`${CHROMIUM} not installed: latency bench skipped\n`);
  process.exit(0);
}

interface Row { mode: string; samples: PlayerState[]; pdtLate: number | undefined }

async function measure(mode: 'plain' | 'll'): Promise<Row> {
  const logs: string[] = [];
  const { stack, options } = await startBrowserStack({
    fps: Number(values.fps), ladder: values.ladder!, preset: values.preset!, extra: mode === 'll' ? ['--low-latency', '--part-target', '0.5s'] : [],
  }, (l) => logs.push(l));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(stack.urls.player);
    await waitForPlayer(page, (s) => s.state === 'playing' && s.currentTime > 0, 60_000, `${mode}: playback to start`);
    const probe = probePdt(await firstMediaPlaylist(`${stack.urls.origin}/hls/${options.stream}/index.m3u8`));
    try {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const samples = await samplePlaying(page, SAMPLE_MS);
      return { mode, samples, pdtLate: probe.lateByAtLeast() };
    } finally {
      probe.stop();
    }
  } catch (err) {
    process.stderr.write(logs.slice(-40).join('\n') + '\n');
    throw err;
  } finally {
    await browser.close();
    await stack.stop();
  }
}

const rows: Row[] = [];
for (const mode of values.modes!.split(',') as ('plain' | 'll')[]) rows.push(await measure(mode));
const s = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)} s`);
const q = (r: Row, pick: (p: PlayerState) => number | null, at: number) => {
  const xs = r.samples.map(pick).filter((x): x is number => x !== null);
  return xs.length > 0 ? percentile(xs, at) : undefined;
};
process.stdout.write(`\nGlass to player through LB + edge, /play in Chromium (hls.js), ladder ${values.ladder} at ${values.fps} fps, `
  + `${SAMPLE_MS / 1000} s of samples every 250 ms after ${SETTLE_MS / 1000} s of play\n`);
process.stdout.write(markdown(['mode', 'samples', 'by PDT: median', 'p95', 'PDT late by at least', 'glass to player at least: median', 'p95',
  'hls.js behind live edge: median', 'hls.js target'], rows.map((r) => {
  const late = r.pdtLate ?? 0;
  const byPdt = [q(r, (p) => p.latency, 0.5), q(r, (p) => p.latency, 0.95)];
  return [
    r.samples[0]?.partTarget ? `LL-HLS (parts ${r.samples[0].partTarget} s)` : 'HLS (2 s segments)', String(r.samples.length),
    s(byPdt[0]), s(byPdt[1]), s(r.pdtLate),
    s(byPdt[0] === undefined ? undefined : byPdt[0] + late), s(byPdt[1] === undefined ? undefined : byPdt[1] + late),
    s(q(r, (p) => p.behindLiveEdge, 0.5)), s(q(r, (p) => p.targetLatency, 0.5)),
  ];
})));
process.stdout.write('Goal (issue 12): LL median <= 2.5 s, p95 <= 3.5 s (glass to player).\n');
