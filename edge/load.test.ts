// The edge's load report: rates over the last beat from running totals, viewers within the window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEdgeLoad } from '../src/control-plane.js';
import { LoadMeter } from './load.js';
import type { EdgeTotals } from './metrics.js';

test('a sample: per-second rates since the last one, viewers of the window per stream (most watched first), and valid by the LBs\' rule', () => {
  let now = 10_000;
  const totals: EdgeTotals = { requests: 0, hits: 0, bytes: 0 };
  const asked: number[] = [];
  const viewers = new Map([['b', 2], ['a', 5]]);
  const meter = new LoadMeter({ viewers: (within) => { asked.push(within); return viewers; }, totals: () => ({ ...totals }) }, 4000, () => now);
  now += 2000;
  Object.assign(totals, { requests: 10, hits: 9, bytes: 2_000_000 });
  const first = meter.sample();
  assert.deepEqual(asked, [4000], 'viewers within the load window');
  assert.equal(first.viewers, 7);
  assert.deepEqual(Object.entries(first.streams), [['a', 5], ['b', 2]]);
  assert.deepEqual([first.windowMs, first.bytesPerSecond, first.requestsPerSecond, first.hitRatio, first.at], [4000, 1_000_000, 5, 0.9, 12_000]);
  assert.ok(first.cpu >= 0 && first.loopLagMs >= 0);
  assert.deepEqual(parseEdgeLoad(JSON.stringify(first)), { load: first });
  now += 1000;
  const idle = meter.sample();
  assert.deepEqual([idle.bytesPerSecond, idle.requestsPerSecond, idle.hitRatio], [0, 0, null], 'no requests in the beat: no hit ratio');
  meter.close();
});
