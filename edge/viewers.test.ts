import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ViewerCounter } from './viewers.js';

it('counts distinct clients per stream within the window, with a memory cap', () => {
  let now = 0;
  const v = new ViewerCounter({ windowMs: 60_000, maxPerStream: 3, now: () => now });
  v.touch('a', '10.0.0.1');
  v.touch('a', '10.0.0.1');
  v.touch('a', '10.0.0.2');
  v.touch('b', '10.0.0.1');
  assert.deepEqual([...v.counts()], [['a', 2], ['b', 1]]);
  now = 30_000;
  v.touch('a', '10.0.0.1');
  now = 60_001;
  assert.deepEqual([...v.counts()], [['a', 1]], 'sightings older than a minute expire; idle streams disappear');
  for (const ip of ['1', '2', '3', '4', '5']) v.touch('a', ip);
  assert.equal(v.counts().get('a'), 3);
});
