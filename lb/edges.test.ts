import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../src/options.js';
import { clientAddress } from '../src/client-address.js';
import type { ControlSnapshot } from '../src/control-plane.js';
import { parseEdgeSpec, resolveEdges, retainedEdges, sameEdges } from './edges.js';

test('--edge ID=URL[@WEIGHT]', () => {
  assert.deepEqual(parseEdgeSpec('e1=http://10.0.0.5:8081'), { id: 'e1', url: 'http://10.0.0.5:8081', weight: 100 });
  assert.deepEqual(parseEdgeSpec('e2=https://edge2.example/@50'), { id: 'e2', url: 'https://edge2.example', weight: 50 });
  assert.deepEqual(parseEdgeSpec('e3=http://host:1/x@0'), { id: 'e3', url: 'http://host:1/x', weight: 0 });
  assert.deepEqual(parseEdgeSpec('e4=http://[::1]:8081/'), { id: 'e4', url: 'http://[::1]:8081', weight: 100 });
  // Credentials in an edge URL would go into every player's Location (and browsers refuse to follow them).
  for (const bad of ['e1', '=http://x', 'e 1=http://x', 'e1=ftp://x', 'e1=http://x?y=1', 'e1=http://x@9999999', 'e1=nope', 'e3=http://u:p@host:1/x@0', 'e1=http://x#f']) {
    assert.throws(() => parseEdgeSpec(bad), UsageError, bad);
  }
});

const snapshot = (s: Partial<ControlSnapshot>): ControlSnapshot => ({ weights: new Map(), registered: new Map(), lapsed: new Set(), drained: new Set(), ...s });

test('resolveEdges: flags keep their URL, Redis weights win, drained counts as 0, live registrations join', () => {
  const statics = [{ id: 'e1', url: 'http://a', weight: 50 }, { id: 'e2', url: 'http://b', weight: 100 }];
  assert.deepEqual(resolveEdges(statics, undefined).map((e) => [e.id, e.weight, e.source]), [['e1', 50, 'static'], ['e2', 100, 'static']]);
  const edges = resolveEdges(statics, snapshot({
    weights: new Map([['e1', 70], ['e3', 20]]),
    registered: new Map([['e1', 'http://elsewhere'], ['e3', 'http://c'], ['e4', 'http://d']]),
    drained: new Set(['e2']),
  }));
  assert.deepEqual(edges.map((e) => [e.id, e.url, e.weight, e.drain, e.source]), [
    ['e1', 'http://a', 70, false, 'static'],
    ['e2', 'http://b', 0, true, 'static'],
    ['e3', 'http://c', 20, false, 'redis'],
    ['e4', 'http://d', 100, false, 'redis'],
  ]);
  assert.ok(sameEdges(edges, resolveEdges(statics, snapshot({
    weights: new Map([['e1', 70], ['e3', 20]]),
    registered: new Map([['e3', 'http://c'], ['e4', 'http://d']]),
    drained: new Set(['e2']),
  }))));
  assert.ok(!sameEdges(edges, resolveEdges(statics, undefined)));
});

test('retainedEdges: registrations Redis lost stay while healthy; withdrawn, lapsed and failing ones go', () => {
  const previous = resolveEdges([{ id: 's1', url: 'http://s', weight: 100 }], snapshot({
    registered: new Map([['a', 'http://a'], ['b', 'http://b'], ['c', 'http://c'], ['d', 'http://d']]),
  }));
  // After FLUSHALL: nothing registered. b withdrew before (still listed, heartbeat gone); d fails its checks.
  const now = snapshot({ registered: new Map([['c', 'http://c2']]), lapsed: new Set(['b']) });
  const kept = retainedEdges(previous, now, (id) => id === 'd');
  assert.deepEqual([...kept], [['a', 'http://a']]);
  assert.deepEqual(resolveEdges([{ id: 's1', url: 'http://s', weight: 100 }], now, kept).map((e) => [e.id, e.url, e.source]),
    [['a', 'http://a', 'redis'], ['c', 'http://c2', 'redis'], ['s1', 'http://s', 'static']]);
});

test('retainedEdges: just after a Redis outage (a Sentinel failover), heartbeats that lapsed meanwhile keep their edges while healthy', () => {
  const previous = resolveEdges([], snapshot({ registered: new Map([['a', 'http://a'], ['b', 'http://b'], ['d', 'http://d']]) }));
  // The new primary's heartbeat keys expired during the failover; the edges have not beaten on it yet.
  const now = snapshot({ lapsed: new Set(['a', 'b', 'd']) });
  assert.deepEqual([...retainedEdges(previous, now, (id) => id === 'd', true)], [['a', 'http://a'], ['b', 'http://b']]);
  assert.deepEqual([...retainedEdges(previous, now, (id) => id === 'd', false)], [], 'otherwise a lapsed heartbeat takes the edge out');
});

test('client address: the socket unless proxies are trusted, then that many hops from the right', () => {
  assert.equal(clientAddress('::ffff:10.0.0.9', '1.1.1.1', 0), '10.0.0.9');
  assert.equal(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 1), '2.2.2.2');
  assert.equal(clientAddress('10.0.0.9', '1.1.1.1, 2.2.2.2', 2), '1.1.1.1');
  assert.equal(clientAddress('10.0.0.9', '2.2.2.2', 3), '2.2.2.2');
  assert.equal(clientAddress('10.0.0.9', undefined, 1), '10.0.0.9');
});
