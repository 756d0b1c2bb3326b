// The LB's hook declarations: each check accepts exactly the shapes docs/hooks.md lists, and a --config
// module may name exactly these hooks (the names come from LB_HOOKS, not from a list kept beside it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { LISTEN_OPTIONS, parseRoleCommand } from '../src/command.js';
import { UsageError } from '../src/options.js';
import { lbCommand } from './command.js';
import { LB_HOOKS } from './hooks.js';

test('property: each hook\'s check accepts exactly what docs/hooks.md says it may return', () => {
  const candidate = fc.record({ id: fc.string(), url: fc.string(), weight: fc.nat(), healthy: fc.boolean() });
  const selections = fc.array(fc.oneof(fc.string(), candidate));
  fc.assert(fc.property(fc.oneof(fc.anything(), selections), (value) => {
    assert.equal(LB_HOOKS.hashKey.valid(value), value === undefined || typeof value === 'string');
    assert.equal(LB_HOOKS.response.valid(value), value === undefined);
    const isSelection = Array.isArray(value)
      && value.every((x) => typeof x === 'string' || (typeof x === 'object' && x !== null && typeof (x as { id?: unknown }).id === 'string'));
    assert.equal(LB_HOOKS.selectEdges.valid(value), value === undefined || isSelection);
  }), { numRuns: 1000 });
});

test('a --config module may name exactly the LB\'s hooks', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-lb-hooks-'));
  try {
    const known = join(dir, 'known.mjs');
    await writeFile(known, 'export default { hooks: { hashKey() {}, selectEdges() {}, response() {} } };');
    const parsed = await parseRoleCommand('lb', LISTEN_OPTIONS, ['--config', known], { usage: '', description: '' }, LB_HOOKS);
    assert.deepEqual(Object.keys(parsed?.hooks ?? {}), Object.keys(LB_HOOKS));

    const other = join(dir, 'origin-hook.mjs');
    await writeFile(other, 'export default { hooks: { authorizeUpload() {} } };');
    await assert.rejects(lbCommand.run(['--edge', 'e1=http://127.0.0.1:1', '--config', other]),
      (err) => err instanceof UsageError && /unknown lb hook 'authorizeUpload' \(lb hooks: hashKey, selectEdges, response\)/.test(err.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
