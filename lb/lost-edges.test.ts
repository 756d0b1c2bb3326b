import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LostEdges } from './lost-edges.js';

const edge = (id: string) => ({ id, url: `http://${id}`, weight: 100, drain: false, source: 'redis' as const });

test('an edge that leaves while down is listed until it is back or the time is up; one that leaves healthy is not; bounded', () => {
  let now = 0;
  const lost = new LostEdges(60_000, 3, () => now);
  lost.track([edge('a'), edge('b'), edge('c')], [edge('c')], new Set(['a']));
  assert.deepEqual(lost.list(), [{ id: 'a', url: 'http://a', lostAt: 0 }]);
  lost.track([edge('c')], [edge('a'), edge('c')], new Set());
  assert.deepEqual(lost.list(), [], 'back: forgotten');
  lost.track([edge('a')], [], new Set(['a']));
  now = 60_001;
  assert.deepEqual(lost.list(), []);
  const many = ['p', 'q', 'r', 's', 't'].map(edge);
  lost.track(many, [], new Set(many.map((e) => e.id)));
  assert.deepEqual(lost.list().map((e) => e.id), ['r', 's', 't']);
});
