// The stream summary's rules (live, stalled, ended) and the LB's check of an origin's answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_SUMMARY_STREAMS, parseStreamSummaries, renditionState, streamState, type StreamSummary } from './stream-summary.js';

const GOOD: StreamSummary = {
  name: 'demo', state: 'live', restarts: 1, masters: ['index.m3u8'],
  renditions: [{ path: '720p/index.m3u8', mediaSequence: 42, ageSeconds: 0.5, targetDuration: 2, epoch: 1, bandwidth: 2_200_000, averageBandwidth: null, lowLatency: false, state: 'live' }],
};

test('states: stalled after 3 target durations (at least 6 s), ended by ENDLIST; a stream is live if any rendition is', () => {
  assert.deepEqual([renditionState(5.9, 1, false), renditionState(6.1, 1, false), renditionState(11, 4, false), renditionState(13, 4, false), renditionState(99, 4, true)],
    ['live', 'stalled', 'live', 'stalled', 'ended']);
  assert.equal(streamState([{ state: 'stalled' }, { state: 'live' }]), 'live');
  assert.equal(streamState([{ state: 'ended' }, { state: 'ended' }]), 'ended');
  assert.equal(streamState([{ state: 'ended' }, { state: 'stalled' }]), 'stalled');
  assert.equal(streamState([]), 'stalled', 'a master without a published rendition yet');
});

test('an origin\'s answer: good entries pass unchanged, bad ones are dropped, the list is bounded, nothing throws', () => {
  assert.deepEqual(parseStreamSummaries({ streams: [GOOD] }), [GOOD]);
  assert.equal(parseStreamSummaries([GOOD]), undefined);
  assert.equal(parseStreamSummaries(null), undefined);
  const bad = [{ ...GOOD, name: '../x' }, { ...GOOD, state: 'gone' }, { ...GOOD, restarts: -1 }, { ...GOOD, renditions: 'x' }, 7];
  assert.deepEqual(parseStreamSummaries({ streams: [...bad, GOOD] }), [GOOD]);
  const badRendition = { ...GOOD.renditions[0]!, path: '<script>' };
  assert.deepEqual(parseStreamSummaries({ streams: [{ ...GOOD, renditions: [badRendition, GOOD.renditions[0]] }] }), [GOOD]);
  assert.equal(parseStreamSummaries({ streams: Array.from({ length: MAX_SUMMARY_STREAMS + 50 }, () => GOOD) })!.length, MAX_SUMMARY_STREAMS);
  fc.assert(fc.property(fc.anything(), fc.anything(), (a, b) => {
    const parsed = parseStreamSummaries({ streams: [a, { ...GOOD, renditions: [b] }] });
    assert.ok(parsed && parsed.every((s) => s.renditions.every((r) => typeof r.path === 'string' && Number.isInteger(r.mediaSequence))));
  }));
});
