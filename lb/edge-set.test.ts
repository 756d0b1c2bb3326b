// The edge set over random sequences of control-plane snapshots and health: one consistent version at a
// time (its selector built from exactly its edges), a new version only when an edge or a weight changed,
// the health checker told of every new version, and registrations Redis lost kept while healthy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ControlSnapshot } from '../src/control-plane.js';
import { silentLogger } from '../src/log.js';
import { EdgeSet } from './edge-set.js';
import { sameEdges, type EdgeEntry } from './edges.js';
import type { Health } from './health.js';

const IDS = ['a', 'b', 'c', 'd'];
const subset = fc.subarray(IDS);
const url = (id: string, n: number) => `http://${id}${n}.example`;

const snapshotArb = fc.record({
  registered: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.nat(1)), { maxLength: 4 }),
  lapsed: subset,
  weights: fc.array(fc.tuple(fc.constantFrom(...IDS), fc.constantFrom(0, 50, 100)), { maxLength: 4 }),
  drained: subset,
  down: subset,
}).map((s) => ({
  snapshot: {
    registered: new Map(s.registered.map(([id, n]) => [id, url(id, n)])),
    lapsed: new Set(s.lapsed),
    weights: new Map(s.weights),
    drained: new Set(s.drained),
  } satisfies ControlSnapshot,
  down: new Set(s.down),
}));

test('property: one consistent version at a time, swapped only on change, health told, lost registrations kept while healthy', () => {
  fc.assert(fc.property(subset, fc.array(snapshotArb, { maxLength: 12 }), (staticIds, steps) => {
    let down = new Set<string>();
    const told: (readonly EdgeEntry[])[] = [];
    const health = {
      health: (id: string): Health => (down.has(id) ? 'down' : 'up'),
      setEdges: (edges: readonly EdgeEntry[]) => { told.push(edges); },
    };
    const edgeSet = new EdgeSet(staticIds.map((id) => ({ id, url: url(id, 9), weight: 100 })), health, silentLogger);
    assert.equal(edgeSet.current.version, 1);
    assert.deepEqual(told, [edgeSet.current.edges]);
    for (const step of steps) {
      const before = edgeSet.current;
      down = step.down;
      edgeSet.update(step.snapshot);
      const after = edgeSet.current;
      assert.deepEqual(after.selector.edges, after.edges, 'the selector is built from exactly this version\'s edges');
      if (sameEdges(before.edges, after.edges)) {
        assert.equal(after, before, 'nothing changed: the same version, no rebuild');
      } else {
        assert.equal(after.version, before.version + 1);
        assert.equal(told.at(-1), after.edges, 'health follows the new edges');
      }
      assert.equal(told.length, after.version);
      for (const e of before.edges) {
        const lost = e.source === 'redis' && !step.snapshot.registered.has(e.id) && !step.snapshot.lapsed.has(e.id);
        if (!lost || staticIds.includes(e.id)) continue;
        const now = after.edges.find((x) => x.id === e.id);
        assert.equal(now?.url, down.has(e.id) ? undefined : e.url, `${e.id}: lost from Redis, ${down.has(e.id) ? 'down: gone' : 'healthy: kept'}`);
      }
    }
  }), { numRuns: 300 });
});
