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
