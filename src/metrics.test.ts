import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Metrics } from './metrics.js';

/** The value of `name` with `labels` (a subset of its labels) as the registry renders it. */
async function valueOf(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const json = await metrics.registry.getMetricsAsJSON();
  const metric = json.find((m) => m.name === `cascade_${name}`);
  const found = (metric?.values ?? []).find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x));
  return found?.value;
}

test('a tallied counter shows every increment at each read, per label set, and dropped tallies are still counted', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 1, max: 1000 }), fc.boolean(), fc.boolean()), { maxLength: 60 }),
    async (steps) => {
      const metrics = new Metrics({}, false);
      const counter = metrics.tallied('things_total', 'things', ['kind']);
      const expected: Record<string, number> = {};
      let bound = new Map<string, ReturnType<typeof counter.bind>>();
      for (const [kind, n, read, drop] of steps) {
        let tally = bound.get(kind);
        if (!tally) bound.set(kind, tally = counter.bind({ kind }));
        tally.inc(n);
        expected[kind] = (expected[kind] ?? 0) + n;
        // A caller that bounds its bound label sets drops them all at once (lb/metrics.ts).
        if (drop) bound = new Map();
        if (read) for (const [k, v] of Object.entries(expected)) assert.equal(await valueOf(metrics, 'things_total', { kind: k }), v);
      }
      for (const [k, v] of Object.entries(expected)) assert.equal(await valueOf(metrics, 'things_total', { kind: k }), v);
      assert.match(await metrics.registry.metrics(), /# TYPE cascade_things_total counter/);
    },
  ), { numRuns: 100 });
});

test('inc() without a value counts one', async () => {
  const metrics = new Metrics({}, false);
  const tally = metrics.tallied('hits_total', 'hits').bind({});
  tally.inc();
  tally.inc();
  assert.equal(await valueOf(metrics, 'hits_total', {}), 2);
});
