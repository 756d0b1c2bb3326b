#!/usr/bin/env node
// Runs every *.test.ts (unit tests beside the code, end-to-end tests in test/) with Node's test runner.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const SKIP = new Set(['node_modules', 'dist', '.git', '.tools']);

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name)) return [];
    const p = join(dir, e.name);
    if (e.isDirectory()) return find(p);
    return e.name.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}

const only = process.argv.slice(2);
const files = (only.length > 0 ? only : find(root)).sort();
const result = spawnSync(process.execPath, [
  '--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=240000', ...files,
], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
