// LL-HLS end to end in a real browser: `cascade stack --low-latency` (test source -> transcoder in LL mode
// -> origin cutting parts -> edges -> LB), played by the LB's /play page in headless Chromium with hls.js
// lowLatencyMode, through the LB's 302s (masters name their variants through the LB). Prints the
// latency by PDT (hls.js playingDate against the wall clock) and a lower bound on glass to player (PDT
// runs late in the stack: test/helpers/pdt-probe.ts), asserted only loosely; the goal lives in the benchmark. Then the page's edge is killed: the player
// keeps playing from the other edge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { browserSession, playerState as state, samplePlaying, waitForPlayer } from './helpers/player-page.js';
import { firstMediaPlaylist, probePdt } from './helpers/pdt-probe.js';
import { stackEdgeId } from '../cli/stack.js';
import { percentile } from '../loadtest/lib.js';

const root = new URL('..', import.meta.url).pathname;

test('browser: LL-HLS through LB + edge with hls.js lowLatencyMode, latency printed, surviving an edge kill', async (t) => {
  // 25 fps keeps a frame's wait short (docs/low-latency.md).
  const session = await browserSession(t, 'browser-ll', { fps: 25, extra: ['--low-latency', '--part-target', '0.5s'] });
  if (!session) return;
  const { stack, options, page, pageErrors, logs } = session;

  try {
    await page.goto(stack.urls.player);
    const first = await waitForPlayer(page, (s) => s.state === 'playing' && s.currentTime > 0 && !!s.servedBy, 45_000, 'playback to start');
    assert.equal(first.lowLatency, true, 'the page found parts and plays in low-latency mode');
    assert.equal(first.partTarget, 0.5);
    assert.equal(first.canBlockReload, true);
    assert.match(await page.textContent('#mode') ?? '', /low latency: parts 0\.5 s, blocking reloads/);

    // Let hls.js settle on its live edge (PART-HOLD-BACK) before measuring; meanwhile bound how late PDT
    // runs against the capture clock (test/helpers/pdt-probe.ts).
    const probe = probePdt(await firstMediaPlaylist(`${stack.urls.origin}/hls/${options.stream}/index.m3u8`));
    t.after(() => probe.stop());
    await waitForPlayer(page, (s) => s.currentTime >= first.currentTime + 4, 30_000, '4 s of playback');
    const samples = (await samplePlaying(page, 12_000)).map((s) => s.latency!);
    probe.stop();
    assert.ok(samples.length >= 20, `latency samples while playing: ${samples.length}`);
    const [median, p95] = [percentile(samples, 0.5), percentile(samples, 0.95)];
    const late = probe.lateByAtLeast() ?? 0;
    t.diagnostic(`LL latency through LB + edge by PDT: median ${median.toFixed(2)} s, p95 ${p95.toFixed(2)} s (${samples.length} samples); `
      + `PDT late by at least ${late.toFixed(2)} s, so glass to player at least ${(median + late).toFixed(2)} s median, ${(p95 + late).toFixed(2)} s p95`);
    assert.ok(median > 0 && median + late < 6, `latency median ${median} s by PDT, ${median + late} s at least`);

    // Kill the edge the page is on: its reloads go through the LB, which sends them to the other edge.
    const before = await state(page);
    const from = before.servedBy!;
    const other = from === stackEdgeId(0) ? stackEdgeId(1) : stackEdgeId(0);
    process.kill(stack.roles.get(from)!.pid, 'SIGKILL');
    logs.push(`[test] ${new Date().toISOString()} killed ${from}`);
    const killedAt = Date.now();
    const moved = await waitForPlayer(page, (s) => s.servedBy === other, 20_000, `the page to move from ${from} to ${other}`);
    t.diagnostic(`moved from ${from} to ${other} in ${Date.now() - killedAt} ms (recoveries ${moved.recoveries})`);
    const resumed = await waitForPlayer(page, (s) => s.currentTime >= moved.currentTime + 4 && s.state === 'playing', 30_000, `playback to continue on ${other}`);
    assert.equal(resumed.servedBy, other);
    assert.equal(resumed.lowLatency, true, 'still low latency on the other edge');
    const after = (await samplePlaying(page, 6_000)).map((s) => s.latency!);
    if (after.length > 0) t.diagnostic(`after the edge kill: latency by PDT median ${percentile(after, 0.5).toFixed(2)} s (${after.length} samples)`);
    assert.deepEqual(pageErrors, []);
    mkdirSync(`${root}test-results`, { recursive: true });
    await page.screenshot({ path: `${root}test-results/browser-ll.png` });
  } catch (err) {
    console.error(logs.filter((l) => !l.includes('ffmpeg command:')).slice(-60).join('\n'));
    throw err;
  }
});
