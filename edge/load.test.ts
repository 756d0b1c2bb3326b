// The edge's load report: rates over the last beat from running totals, viewers within the window.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEdgeLoad } from '../src/control-plane.js';
import { combineLoads, LoadMeter } from './load.js';
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

test('the host\'s load from its workers\' (--workers): sums, the worst lag, the hit ratio over all requests; valid by the LBs\' rule', () => {
  const part = (viewers: number, streams: Record<string, number>, rps: number, hitRatio: number | null, lag: number) => ({
    viewers, streams, windowMs: 10_000, bytesPerSecond: 1000 * viewers, requestsPerSecond: rps, hitRatio, loopLagMs: lag, cpu: 0.5, at: 1_000 + viewers,
  });
  const host = combineLoads([part(3, { a: 2, b: 1 }, 10, 0.9, 2), part(5, { a: 5 }, 30, 0.5, 7), part(0, {}, 0, null, 1)])!;
  assert.equal(host.viewers, 8);
  assert.deepEqual(host.streams, { a: 7, b: 1 });
  assert.deepEqual(Object.keys(host.streams), ['a', 'b'], 'most watched first');
  assert.equal(host.bytesPerSecond, 8000);
  assert.equal(host.requestsPerSecond, 40);
  assert.equal(host.hitRatio, 0.6, '(9 + 15) / 40');
  assert.equal(host.loopLagMs, 7);
  assert.equal(host.cpu, 1.5);
  assert.equal(host.at, 1_005);
  assert.ok('load' in parseEdgeLoad(JSON.stringify(host)));
  assert.equal(combineLoads([]), undefined, 'no worker answered: no load rather than a made-up one');
  assert.equal(combineLoads([part(0, {}, 0, null, 0)])!.hitRatio, null);
});
