// --record on S3 (a real SeaweedFS on loopback, test/helpers/s3-server.ts): the recording an origin made
// is the recording another origin process on the same bucket and prefix serves and continues, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOrigin, type Origin } from '../origin/index.js';
import { s3ServerForFile, s3ServerMissing } from './helpers/s3-server.js';
import { RecordingEncoder } from './helpers/recording-encoder.js';

const missing = s3ServerMissing();
const server = s3ServerForFile();

async function text(origin: Origin, path: string): Promise<{ status: number; body: string }> {
  const res = await origin.app.request(`/hls/${path}`);
  return { status: res.status, body: await res.text() };
}

test('the recording survives an origin restart on S3: the next origin serves the same relive and segments, and continues it', { skip: missing ?? false }, async () => {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const config = { record: true, sweepIntervalMs: 0, now: () => clock.now };
  const first = await createOrigin({ ...config, storage: server()!.storage('record-restart') });
  const enc = new RecordingEncoder(first, 'talk', ['v0', 'v1']);
  await enc.master();
  for (let i = 0; i < 12; i++) {
    await enc.segment();
    clock.now += 1000;
  }
  await enc.end();
  await first.flushed();
  const relive = await text(first, 'talk/_relive/1.m3u8');
  assert.match(relive.body, /#EXT-X-ENDLIST/);
  await first.close();

  const second = await createOrigin({ ...config, storage: server()!.storage('record-restart') });
  try {
    assert.deepEqual(await text(second, 'talk/_relive/1.m3u8'), relive, 'the same relive, still ended');
    const uris = relive.body.split('\n').filter((l) => l.startsWith('../'));
    const sent = enc.sent.filter((s) => s.rendition === 'v1');
    assert.equal(uris.length, 12);
    for (const [i, uri] of uris.entries()) assert.deepEqual(await text(second, `talk/${uri.slice(3)}`), { status: 200, body: sent[i]!.body });
    // The stream starts again on the new origin: the recording goes on, with a discontinuity and new URIs.
    enc.use(second);
    enc.restart(10_000);
    clock.now += 10_000;
    for (let i = 0; i < 3; i++) {
      await enc.segment();
      clock.now += 1000;
    }
    await second.flushed();
    const grown = (await text(second, 'talk/_relive/1.m3u8')).body;
    assert.match(grown, /#EXT-X-PLAYLIST-TYPE:EVENT/);
    const all = grown.split('\n').filter((l) => l.startsWith('../'));
    assert.equal(all.length, 15);
    assert.deepEqual(all.slice(0, 12), uris);
    assert.equal(new Set(all).size, 15);
    assert.equal(grown.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
  } finally {
    await second.close();
  }
});
