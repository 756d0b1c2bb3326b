#!/usr/bin/env node
// Runs every *.test.ts (unit tests beside the code, end-to-end tests in test/) with Node's test runner.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { floor, isSupported, root, toolsNode, toolsNodeFirst } from './supported-node.mjs';

const SKIP = new Set(['node_modules', 'dist', '.git', '.tools']);

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const p = join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}

// On a machine whose own Node is too old, the tests run on the one setup put in .tools/node, and it
// comes first on their PATH too.
const node = isSupported() ? process.execPath : toolsNode;
// One worker per role process unless a test asks for more (`--workers 2` in the worker tests): the default,
// one per core, would make every role a test starts as many processes as the CI machine has cores.
const env = { CASCADE_WORKERS: '1', ...(isSupported() ? process.env : toolsNodeFirst()) };
if (!existsSync(node)) {
  console.error(`run-tests: cascade needs Node.js >= ${floor} (this is ${process.versions.node}); npm test installs one, or: node scripts/setup.mjs test`);
  process.exit(1);
}
console.error(`run-tests: Node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()} (${node})`);

const only = process.argv.slice(2);
const files = (only.length > 0 ? only : find(root)).sort();
const result = spawnSync(node, [
  '--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=240000', ...files,
], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
