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
