import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestClassifier } from './classify.js';
import { DEFAULT_KEY_PARAMS } from './cache-key.js';

const target = (pathname: string, query = '') => ({ pathname, query, pathAndQuery: query ? `${pathname}?${query}` : pathname });

test('only playlists are redirected, only while draining, only with an LB, to the target as the player sent it', () => {
  let draining = false;
  const withLb = new RequestClassifier({ keyParams: DEFAULT_KEY_PARAMS, lbUrl: 'http://lb.example', draining: () => draining });
  const withoutLb = new RequestClassifier({ keyParams: DEFAULT_KEY_PARAMS, lbUrl: undefined, draining: () => draining });
  assert.equal(withLb.classify(target('/hls/s/index.m3u8', 'token=a')).redirect, undefined);
  draining = true;
  assert.equal(withLb.classify(target('/hls/s/index.m3u8', 'token=a')).redirect, 'http://lb.example/hls/s/index.m3u8?token=a');
  assert.equal(withLb.classify(target('/hls/s/seg1.ts')).redirect, undefined, 'segments are still served');
  assert.equal(withoutLb.classify(target('/hls/s/index.m3u8')).redirect, undefined, 'nowhere to send players');
});

test('the upstream path is the cache key rule applied to the (maybe rewritten) path; playlist is by extension', () => {
  const classifier = new RequestClassifier({ keyParams: ['v'], lbUrl: undefined, draining: () => false });
  assert.equal(classifier.classify(target('/hls/s/index.m3u8', '_HLS_msn=5&v=2&token=x')).upstreamPath, '/hls/s/index.m3u8?v=2');
  assert.equal(classifier.classify(target('/hls/s/index.m3u8')).playlist, true);
  assert.equal(classifier.classify(target('/hls/s/a/seg.m4s')).playlist, false);
});
