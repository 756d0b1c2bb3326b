import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hash32, Selector } from './selector.js';
import {
  BASE_WEIGHTS, CHANGES, clientKeys, movedShare, movementBound, totalVariation, weightShares, worstImbalance, type Weights,
} from './selector-eval.js';

const selectorFor = (weights: Weights) => new Selector(Object.entries(weights).map(([id, weight]) => ({ id, weight })));
const pickerFor = (weights: Weights) => {
  const s = selectorFor(weights);
  return (key: string) => s.pick(key)?.id;
};
const keys = clientKeys(10_000);

test('the hash is pinned: a change here would move every client of every deployed LB', () => {
  assert.equal(hash32('10.0.0.1', 0x9747b28c), 1700927579);
  assert.equal(hash32('e1', 0x5bd1e995), 1336539235);
  const picks = ['1.2.3.4', '10.0.0.1', '192.168.1.20', 'demo'].map(pickerFor({ a: 100, b: 100, c: 100 }));
  assert.deepEqual(picks, ['c', 'b', 'a', 'a']);
});

test('two selectors built separately, in any edge order, agree on every key', () => {
  const a = selectorFor(BASE_WEIGHTS);
  const b = new Selector(Object.entries(BASE_WEIGHTS).reverse().map(([id, weight]) => ({ id, weight })));
  for (const k of keys) assert.equal(a.pick(k)?.id, b.pick(k)?.id);
});

test('balance: every edge within ±5% (relative) of its weight share over 10,000 keys, ±1% over 200,000', () => {
  const many = clientKeys(200_000);
  for (const weights of [BASE_WEIGHTS, ...CHANGES.map((c) => c.weights), { a: 100, b: 100, c: 100 }]) {
    const pick = pickerFor(weights);
    const imbalance = worstImbalance(pick, weights, keys);
    assert.ok(imbalance <= 0.05, `${JSON.stringify(weights)}: ${(imbalance * 100).toFixed(2)}%`);
    const fine = worstImbalance(pick, weights, many);
    assert.ok(fine <= 0.01, `${JSON.stringify(weights)} at 200k keys: ${(fine * 100).toFixed(2)}%`);
  }
});

test('movement on reweight, add, remove and drain stays within 1.5 x the minimum + 1 point', () => {
  const before = pickerFor(BASE_WEIGHTS);
  for (const change of CHANGES) {
    const minimum = totalVariation(weightShares(BASE_WEIGHTS), weightShares(change.weights));
    const moved = movedShare(before, pickerFor(change.weights), keys);
    assert.ok(moved <= movementBound(minimum), `${change.name}: moved ${(moved * 100).toFixed(2)}% vs minimum ${(minimum * 100).toFixed(2)}%`);
  }
});

test('keys only move to or from the edge that changed', () => {
  const before = pickerFor(BASE_WEIGHTS);
  const after = pickerFor({ ...BASE_WEIGHTS, e2: 60 });
  for (const k of keys) {
    const [b, a] = [before(k), after(k)];
    if (b !== a) assert.equal(a, 'e2', `${k} moved ${b} -> ${a}`);
  }
});

test('weight 0 gets no keys; no edge with weight left means no choice', () => {
  const pick = pickerFor({ e1: 100, e2: 0 });
  for (const k of keys.slice(0, 1000)) assert.equal(pick(k), 'e1');
  assert.equal(pickerFor({ e1: 0, e2: 0 })('1.2.3.4'), undefined);
  assert.equal(new Selector([]).pick('x'), undefined);
});

test('a key whose edge is unusable goes to its next choice, and comes back when it is usable again', () => {
  const s = selectorFor(BASE_WEIGHTS);
  const down = new Set(['e3']);
  for (const k of keys.slice(0, 2000)) {
    const ranked = s.rank(k).map((e) => e.id);
    assert.equal(s.pick(k)?.id, ranked[0]);
    const fallback = s.pick(k, (e) => !down.has(e.id))?.id;
    assert.equal(fallback, ranked.find((id) => !down.has(id)));
    if (ranked[0] !== 'e3') assert.equal(fallback, ranked[0], 'keys of healthy edges stay put');
  }
});

test('shares are weight over the usable total', () => {
  const shares = selectorFor({ a: 100, b: 50, c: 50 }).shares((e) => e.id !== 'c');
  assert.deepEqual([...shares], [['a', 100 / 150], ['b', 50 / 150], ['c', 0]]);
});

test('pickBounded: with nothing passed on it is pick; a larger fraction only moves more of that edge\'s keys, to edges with room', () => {
  const s = selectorFor({ a: 100, b: 100, c: 50, d: 150 });
  const all = () => true;
  const sample = keys.slice(0, 4000);
  for (const k of sample) assert.equal(s.pickBounded(k, all, all, () => 0, () => 0)?.id, s.pick(k)?.id);
  const room = (e: { id: string }) => (e.id === 'c' ? 30 : e.id === 'd' ? 10 : 0);
  let before = sample.map((k) => s.pickBounded(k, all, all, () => 0, room)!.id);
  for (const fraction of [0.1, 0.3, 0.6]) {
    const after = sample.map((k) => s.pickBounded(k, all, all, (e) => (e.id === 'a' ? fraction : 0), room)!.id);
    after.forEach((id, i) => {
      if (id !== before[i]) assert.ok(before[i] === 'a' && (id === 'c' || id === 'd'), `${sample[i]}: ${before[i]} -> ${id}`);
    });
    const left = sample.filter((k, i) => s.pick(k)?.id === 'a' && after[i] !== 'a').length / sample.filter((k) => s.pick(k)?.id === 'a').length;
    assert.ok(Math.abs(left - fraction) < 0.05, `about ${fraction} of a's keys passed on: ${left}`);
    before = after;
  }
  // The preferred edges still decide who owns a key, and without a usable preferred edge there is no choice.
  assert.equal(s.pickBounded('1.2.3.4', () => false, all, () => 0.5, room), undefined);
});
