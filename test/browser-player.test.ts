// The whole pipeline proven in a real browser: headless Debian Chromium (playwright-core) plays
// /play/demo from the LB of a `cascade stack`, through an encoder restart and an edge failure.
//   test source -> RTMP -> transcoder -> PUT -> origin -> edges -> 302 from the LB -> hls.js
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { browserSession, playerState as state, waitForPlayer } from './helpers/player-page.js';
import { stackEdgeId } from '../cli/stack.js';

const root = new URL('..', import.meta.url).pathname;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('browser: /play/demo plays through the LB, survives an encoder restart and an edge failure', async (t) => {
  const session = await browserSession(t, 'browser', { fps: 12 });
  if (!session) return;
  const { stack, page, pageErrors, logs } = session;
  const mark = (what: string) => logs.push(`[test] ${new Date().toISOString()} ${what}`);

  try {
    await page.goto(stack.urls.player);
    const first = await waitForPlayer(page, (s) => s.state === 'playing' && s.currentTime > 0 && !!s.servedBy, 30_000, 'playback to start');
    // startStack returned once the stream was playable through the LB: no error on the way in.
    assert.equal(first.fatalErrors, 0, `no fatal error while starting (${first.lastError})`);
    // 1. Playback advances at least 6 s of media time.
    mark(`playing ${JSON.stringify(first)}`);
    const t0 = first.currentTime;
    const playing = await waitForPlayer(page, (s) => s.currentTime >= t0 + 6, 30_000, '6 s of playback');
    assert.match(playing.servedBy ?? '', /^edge-[12]$/);
    assert.ok(playing.latency !== null && playing.latency > 0 && playing.latency < 30, `live latency from PDT: ${playing.latency}`);

    // 2. Kill the transcoder's ffmpeg by pid: it restarts, the source reconnects, playback keeps going.
    const ffmpegPid = stack.transcoder.pid!;
    const fatalBefore = playing.fatalErrors;
    process.kill(ffmpegPid, 'SIGKILL');
    mark(`killed transcoder ffmpeg ${ffmpegPid}`);
    const atKill = (await state(page)).currentTime;
    const deadline = Date.now() + 10_000;
    while (!(stack.transcoder.pid && stack.transcoder.pid !== ffmpegPid)) {
      if (Date.now() > deadline) throw new Error('the transcoder did not restart ffmpeg');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(!alive(ffmpegPid));
    const afterRestart = await waitForPlayer(page, (s) => s.currentTime >= atKill + 8, 45_000, 'playback to continue across the encoder restart');
    assert.equal(afterRestart.fatalErrors, fatalBefore, `no fatal player error across the restart (last error: ${afterRestart.lastError})`);

    // 3. Kill the edge the page is on: the page goes back to the LB and lands on the other edge.
    const from = afterRestart.servedBy!;
    const other = from === stackEdgeId(0) ? stackEdgeId(1) : stackEdgeId(0);
    const edge = stack.roles.get(from)!;
    process.kill(edge.pid, 'SIGKILL');
    mark(`killed ${from} (pid ${edge.pid})`);
    const killedAt = Date.now();
    const moved = await waitForPlayer(page, (s) => s.servedBy === other, 15_000, `the page to move from ${from} to ${other}`);
    const recoveryMs = Date.now() - killedAt;
    t.diagnostic(`moved from ${from} to ${other} in ${recoveryMs} ms (recoveries ${moved.recoveries})`);
    const resumed = await waitForPlayer(page, (s) => s.currentTime >= moved.currentTime + 4 && s.state === 'playing', 30_000, `playback to continue on ${other}`);
    assert.equal(resumed.servedBy, other);
    assert.deepEqual(pageErrors, []);

    // 4. A screenshot of the playing page as an artifact.
    mkdirSync(`${root}test-results`, { recursive: true });
    await page.screenshot({ path: `${root}test-results/browser-player.png` });
    t.diagnostic(`screenshot: test-results/browser-player.png; player ${JSON.stringify(resumed)}`);
    t.diagnostic(`ffmpeg starts: transcoder ${stack.transcoder.starts}, source ${stack.source.starts}`);
  } catch (err) {
    console.error(logs.filter((l) => !l.includes('ffmpeg command:')).slice(-60).join('\n'));
    throw err;
  }
});
