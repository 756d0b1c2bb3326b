import { it } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKeyOf, DEFAULT_KEY_PARAMS } from './cache-key.js';

it('keeps only the LL-HLS parameters, in a fixed order', () => {
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', '', DEFAULT_KEY_PARAMS), '/hls/a/x.m3u8');
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', 'token=1&cb=2', DEFAULT_KEY_PARAMS), '/hls/a/x.m3u8');
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', '_HLS_skip=YES&t=1&_HLS_part=2&_HLS_msn=10', DEFAULT_KEY_PARAMS), '/hls/a/x.m3u8?_HLS_msn=10&_HLS_part=2&_HLS_skip=YES');
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', 'v=2&token=1', ['v']), '/hls/a/x.m3u8?v=2');
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', '_HLS_msn=1', []), '/hls/a/x.m3u8');
});

it('keeps a time-shift clip\'s start and end on recording playlists only (they select the content there, nowhere else)', () => {
  const clip = 'token=1&end=2026-01-01T00:00:20Z&start=2026-01-01T00:00:10Z';
  assert.equal(cacheKeyOf('/hls/a/_dvr/0.m3u8', clip, DEFAULT_KEY_PARAMS), '/hls/a/_dvr/0.m3u8?start=2026-01-01T00%3A00%3A10Z&end=2026-01-01T00%3A00%3A20Z');
  assert.equal(cacheKeyOf('/hls/a/_relive/index.m3u8', clip, []), '/hls/a/_relive/index.m3u8?start=2026-01-01T00%3A00%3A10Z&end=2026-01-01T00%3A00%3A20Z');
  assert.equal(cacheKeyOf('/hls/a/x.m3u8', clip, DEFAULT_KEY_PARAMS), '/hls/a/x.m3u8');
  assert.equal(cacheKeyOf('/hls/a/_rec/k/0/1.ts', clip, DEFAULT_KEY_PARAMS), '/hls/a/_rec/k/0/1.ts');
  assert.equal(cacheKeyOf('/hls/a/v/_dvr/0.m3u8', clip, DEFAULT_KEY_PARAMS), '/hls/a/v/_dvr/0.m3u8');
});
