import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrGroups, parseEdgeGroup } from './edge-groups.js';
import { silentLogger } from '../src/log.js';

const edges = (healthy: Record<string, boolean>) => Object.entries(healthy).map(([id, h]) => ({ id, url: `http://${id}`, weight: 100, healthy: h }));
const ctx = (clientAddress: string, healthy: Record<string, boolean>) =>
  ({ clientAddress, edges: edges(healthy), stream: 's', request: new Request('http://lb/hls/s/a.m3u8'), log: silentLogger });

test('clients in the event network get the on-site edges, everyone else the public ones', async () => {
  const select = cidrGroups([parseEdgeGroup('onsite=e1+e2@94.45.224.0/19+2001:67c:20a1::/48')]);
  const all = { e1: true, e2: true, p1: true, p2: true };
  assert.deepEqual(await select(ctx('94.45.230.7', all)), ['e1', 'e2']);
  assert.deepEqual(await select(ctx('2001:67c:20a1::42', all)), ['e1', 'e2']);
  assert.deepEqual(await select(ctx('198.51.100.1', all)), ['p1', 'p2']);
});

test('a group without a healthy edge falls back to every edge', async () => {
  const select = cidrGroups([parseEdgeGroup('onsite=e1@94.45.224.0/19')]);
  assert.equal(await select(ctx('94.45.230.7', { e1: false, p1: true })), undefined);
  assert.equal(await select(ctx('198.51.100.1', { e1: true, p1: false })), undefined);
});

test('bad group specs are usage errors', () => {
  assert.throws(() => parseEdgeGroup('onsite'), /NAME=EDGE/);
  assert.throws(() => parseEdgeGroup('onsite=e1@300.1.1.1/8'), /bad network/);
});
