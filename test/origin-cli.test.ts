// `cascade origin` options that change what the origin accepts, through the built CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startChild } from './helpers/process.js';

test('--max-segment-duration (here from CASCADE_MAX_SEGMENT_DURATION) bounds EXTINF', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const child = startChild(process.execPath, ['dist/cli.js', 'origin', '--port', String(port), '--log-level', 'info'], {
    env: { ...process.env, CASCADE_MAX_SEGMENT_DURATION: '5s' },
  });
  try {
    await child.waitFor(/listening on/);
    const put = (path: string, body: string) => fetch(`http://127.0.0.1:${port}/hls/s/${path}`, { method: 'PUT', body });
    const playlist = (extinf: string) => `#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXTINF:${extinf},\na.ts\n`;
    assert.equal((await put('a.ts', 'bytes')).status, 201);
    const refused = await put('index.m3u8', playlist('5.5'));
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /EXTINF 5\.5 of 'a\.ts' is longer than 5 s/);
    assert.equal((await put('index.m3u8', playlist('5'))).status, 204);
    assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /cascade_origin_rejected_uploads_total\{reason="duration_too_long"[^}]*\} 1/);
  } finally {
    await child.kill('SIGTERM');
  }
});

test('--record --dvr-window 0 (CASCADE_RECORD=true): the DVR playlist is the whole event; a bad --record-retention exits 2', { timeout: 60_000 }, async () => {
  const bad = startChild(process.execPath, ['dist/cli.js', 'origin', '--port', '0', '--record', '--record-retention', '2w']);
  assert.equal(await bad.exited, 2);
  assert.match(bad.output(), /--record-retention.*not a duration: '2w'/);

  const port = await freePort();
  const child = startChild(process.execPath, ['dist/cli.js', 'origin', '--port', String(port), '--dvr-window', '0', '--record-retention', '2d', '--log-level', 'info'], {
    env: { ...process.env, CASCADE_RECORD: 'true' },
  });
  try {
    await child.waitFor(/listening on/);
    const put = (path: string, body: string) => fetch(`http://127.0.0.1:${port}/hls/s/${path}`, { method: 'PUT', body });
    assert.equal((await put('a.ts', 'bytes')).status, 201);
    assert.equal((await put('index.m3u8', '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n')).status, 204);
    assert.equal((await put('_dvr/0.m3u8', '#EXTM3U\n')).status, 400);
    const dvr = await pollText(`http://127.0.0.1:${port}/hls/s/_dvr/0.m3u8`);
    assert.match(dvr, /#EXT-X-PLAYLIST-TYPE:EVENT\n[\s\S]*#EXTINF:2,\n\.\.\/_rec\/[a-z0-9]+\/0\/0\.ts\n$/);
  } finally {
    await child.kill('SIGTERM');
  }
});

/** The body once the URL answers 200 (the copy into the recording is asynchronous), bounded. */
async function pollText(url: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const res = await fetch(url);
    const text = await res.text();
    if (res.status === 200) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url}: never 200`);
}
