// A role's process loads its own code and dependencies, not every role's: `cascade edge` holds neither the
// origin nor the LB, and no role loads ioredis unless it was given Redis (bench/viewers: an idle edge's
// anonymous memory 46 -> 31 MiB). Every command is still found and listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, freePort, startChild } from './helpers/process.js';

const TRACE_HOOK = new URL('./helpers/module-trace.mjs', import.meta.url).pathname;
const ROOT = new URL('..', import.meta.url).pathname;

/** The modules a role loaded by the time it listens: paths under the repo, and packages by name. */
async function loadedBy(args: string[]): Promise<{ own: string[]; packages: Set<string>; redis: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-modules-'));
  const trace = join(dir, 'trace');
  const child = startChild(process.execPath, ['--import', TRACE_HOOK, ...CLI, ...args, '--port', String(await freePort())], {
    env: { ...process.env, CASCADE_MODULE_TRACE: trace },
  });
  try {
    await child.waitFor(/listening on/, 60_000);
    const urls = readFileSync(trace, 'utf8').split('\n').filter((u) => u.startsWith(`file://${ROOT}`)).map((u) => u.slice(`file://${ROOT}`.length));
    const packages = new Set(urls.filter((u) => u.startsWith('node_modules/')).map((u) => u.split('/').slice(1, u.startsWith('node_modules/@') ? 3 : 2).join('/')));
    // ioredis is required (CJS), which the trace sees only partly under tsx: any module of its packages.
    return { own: urls.filter((u) => !u.startsWith('node_modules/')), packages, redis: urls.some((u) => /node_modules\/@?ioredis\//.test(u)) };
  } finally {
    await child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const folders = (own: string[]) => new Set(own.map((p) => p.split('/')[0]!).filter((f) => !f.endsWith('.ts')));

test('each role loads its own folder and the shared core only; ioredis only with --redis', { timeout: 120_000 }, async () => {
  const [edge, lb, origin, lbWithRedis] = await Promise.all([
    loadedBy(['edge', '--origin', 'http://127.0.0.1:9', '--workers', '1']),
    loadedBy(['lb', '--edge', 'e1=http://127.0.0.1:9', '--workers', '1']),
    loadedBy(['origin']),
    // Redis that is not there: the LB serves anyway, with its client retrying.
    loadedBy(['lb', '--edge', 'e1=http://127.0.0.1:9', '--workers', '1', '--redis', 'redis://127.0.0.1:9']),
  ]);
  assert.deepEqual(folders(edge.own), new Set(['cli', 'edge', 'src']));
  assert.deepEqual(folders(lb.own), new Set(['cli', 'lb', 'src']));
  assert.deepEqual(folders(origin.own), new Set(['cli', 'origin', 'src']));
  for (const role of [edge, lb, origin]) {
    assert.deepEqual(role.own.filter((p) => p.startsWith('cli/')), ['cli/main.ts'], 'no other command');
    assert.ok(!role.redis, 'no ioredis');
  }
  assert.ok(edge.packages.has('undici') && lb.packages.has('hono'), 'the trace sees packages');
  assert.ok(lbWithRedis.redis, 'with --redis');
});

test('cascade --help lists every command once, and each one answers its own --help', { timeout: 120_000 }, () => {
  const help = spawnSync(process.execPath, [...CLI, '--help'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(help.status, 0, help.stderr);
  const names = help.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!.split('\n').map((line) => line.trim().split(/\s+/)[0]!);
  assert.deepEqual(names, ['origin', 'edge', 'lb', 'fanout', 'stack', 'transcode', 'source', 'sign', 'edges', 'weight', 'drain', 'undrain']);
  for (const name of names) {
    const own = spawnSync(process.execPath, [...CLI, name, '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(own.status, 0, `${name}: ${own.stderr}`);
    assert.match(own.stdout, new RegExp(`cascade ${name}\\b`), name);
  }
  const unknown = spawnSync(process.execPath, [...CLI, 'toString'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(unknown.status, 2, 'an inherited property is no command');
  assert.match(unknown.stderr, /unknown command 'toString'/);
});
