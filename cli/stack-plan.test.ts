// `cascade stack --redundant` plans two peered origins behind a fan-out, and edges with both origins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRoles, stackOptionsFrom } from './stack.js';

test('--redundant: two origins naming each other --peer, a fan-out feeding both with the token, edges with both', () => {
  const options = stackOptionsFrom(['--redundant', '--upload-token', 'tok', '--no-private-redis'], {})!;
  const plan = planRoles(options, undefined);
  const byName = new Map(plan.map((r) => [r.name, r]));
  assert.deepEqual(plan.map((r) => r.name), ['origin', 'origin-2', 'fanout', 'edge-1', 'edge-2', 'lb']);
  assert.deepEqual(byName.get('origin')!.args.slice(-2), ['--peer', 'http://127.0.0.1:8091']);
  assert.deepEqual(byName.get('origin-2')!.args.slice(-2), ['--peer', 'http://127.0.0.1:8090']);
  const fanout = byName.get('fanout')!;
  assert.equal(fanout.port, 8089);
  assert.deepEqual(fanout.args.slice(-4), ['--origin', 'http://127.0.0.1:8090', '--origin', 'http://127.0.0.1:8091']);
  assert.deepEqual(fanout.env, { CASCADE_UPLOAD_TOKEN: 'tok', CASCADE_ORIGIN_TOKEN: 'tok' });
  for (const edge of ['edge-1', 'edge-2']) {
    const args = byName.get(edge)!.args;
    assert.equal(args[args.indexOf('--origin') + 1], 'http://127.0.0.1:8090,http://127.0.0.1:8091');
  }
  // Without it, the plan is the single origin's, as before.
  assert.deepEqual(planRoles(stackOptionsFrom(['--upload-token', 'tok'], {})!, undefined).map((r) => r.name), ['origin', 'edge-1', 'edge-2', 'lb']);
});

test('--low-latency --part-target goes to every origin too (its part target must be at least the transcoder\'s)', () => {
  const plan = planRoles(stackOptionsFrom(['--low-latency', '--part-target', '0.8s', '--redundant', '--upload-token', 'tok', '--no-private-redis'], {})!, undefined);
  for (const origin of plan.filter((r) => r.role === 'origin')) {
    assert.equal(origin.args[origin.args.indexOf('--part-target') + 1], '800ms', origin.name);
  }
  // Without --low-latency the origin keeps its own default.
  assert.ok(!planRoles(stackOptionsFrom(['--upload-token', 'tok'], {})!, undefined)[0]!.args.includes('--part-target'));
});
