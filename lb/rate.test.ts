import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateMeter } from './rate.js';

test('redirect rate: average over the last complete seconds', () => {
  let now = 10_000;
  const meter = new RateMeter(5, () => now);
  for (let i = 0; i < 10; i++) meter.add('e1');
  assert.equal(meter.perSecond('e1'), 0, 'the current second is still counting');
  now += 1000;
  assert.equal(meter.perSecond('e1'), 2);
  now += 5000;
  assert.equal(meter.perSecond('e1'), 0);
});

test('redirect total: every redirect counted, per edge, whatever the second', () => {
  let now = 10_000;
  const meter = new RateMeter(5, () => now);
  for (let i = 0; i < 7; i++) {
    meter.add('e1');
    now += 900;
  }
  meter.add('e2');
  assert.equal(meter.total('e1'), 7);
  assert.equal(meter.total('e2'), 1);
  assert.equal(meter.total('e3'), 0);
});
