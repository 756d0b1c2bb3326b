// Hooks and --config: every hook changes an observable outcome; a failing hook fails only its request;
// config mistakes stop the start with exit 2 and one line; CIDR edge groups route through a real LB.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOrigin } from '../origin/index.js';
import { createLb } from '../lb/index.js';
import type { LbHooks } from '../lb/hooks.js';
import { freePort, startChild, type Child } from './helpers/process.js';

const dir = await mkdtemp(join(tmpdir(), 'cascade-hooks-'));
const children: Child[] = [];
after(async () => {
  for (const c of children) await c.kill();
  await rm(dir, { recursive: true, force: true });
});

const put = (app: { request: (url: string, init?: RequestInit) => Response | Promise<Response> }, path: string, body: string, headers: Record<string, string> = {}) =>
  app.request(path, { method: 'PUT', body, headers });

test('origin authorizeUpload: per-stream decisions, default kept on undefined', async () => {
  const origin = await createOrigin({
    uploadToken: 'global',
    hooks: {
      authorizeUpload: ({ stream, request }) =>
        stream === 'talk1' ? request.headers.get('authorization') === 'Bearer talk1-token' : undefined,
    },
  });
  assert.equal((await put(origin.app, '/hls/talk1/a.ts', 'x', { Authorization: 'Bearer talk1-token' })).status, 201);
  assert.equal((await put(origin.app, '/hls/talk1/a.ts', 'x', { Authorization: 'Bearer global' })).status, 403);
  assert.equal((await put(origin.app, '/hls/other/a.ts', 'x', { Authorization: 'Bearer global' })).status, 201);
  assert.equal((await put(origin.app, '/hls/other/a.ts', 'x')).status, 401);
  await origin.close();
});

test('origin published: notified with each new playlist; a throwing notifier never fails the upload', async () => {
  const seen: string[] = [];
  const origin = await createOrigin({
    hooks: {
      published: ({ stream, path, text }) => {
        seen.push(`${stream}/${path}:${/\na0\.[\w-]+\.ts\n/.test(text)}`);
        if (seen.length === 2) throw new Error('notifier down');
      },
    },
  });
  await put(origin.app, '/hls/s/a0.ts', 'x');
  const pl = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na0.ts\n';
  assert.equal((await put(origin.app, '/hls/s/index.m3u8', pl)).status, 204);
  assert.equal((await put(origin.app, '/hls/s/v.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n')).status, 204);
  assert.deepEqual(seen, ['s/index.m3u8:true', 's/v.m3u8:false']);
  assert.match(await (await origin.app.request('/metrics')).text(), /cascade_hook_failures_total\{role="origin",hook="published",reason="threw"[^}]*\} 1/);
  await origin.close();
});

test('a hook that throws, times out or returns garbage fails that request with a 5xx; the next one is served', async () => {
  let mode: 'throw' | 'slow' | 'garbage' | 'ok' = 'throw';
  const hooks: LbHooks = {
    hashKey: async ({ defaultKey }) => {
      if (mode === 'throw') throw new Error('boom');
      if (mode === 'slow') await new Promise((r) => setTimeout(r, 500));
      if (mode === 'garbage') return 42 as unknown as string;
      return defaultKey;
    },
  };
  const lb = createLb({ edges: [{ id: 'e1', url: 'http://127.0.0.1:9', weight: 100 }], health: { intervalMs: 0 }, hooks, hookTimeoutMs: 100 });
  for (const m of ['throw', 'slow', 'garbage'] as const) {
    mode = m;
    const res = await lb.app.request('/hls/s/index.m3u8');
    assert.equal(res.status, 500, m);
    assert.match(await res.text(), /hook hashKey/);
  }
  mode = 'ok';
  assert.equal((await lb.app.request('/hls/s/index.m3u8')).status, 302);
  const metrics = await (await lb.app.request('/metrics')).text();
  for (const reason of ['threw', 'timeout', 'invalid']) {
    assert.match(metrics, new RegExp(`cascade_hook_failures_total\\{role="lb",hook="hashKey",reason="${reason}"[^}]*\\} 1`));
  }
  await lb.close();
});

test('lb hashKey, selectEdges and response change the redirect', async () => {
  const edges = ['a', 'b', 'c'].map((id) => ({ id, url: `http://127.0.0.1:1/${id}`, weight: 100 }));
  const lb = createLb({
    edges, health: { intervalMs: 0 },
    hooks: {
      // Everyone with the same session token sticks to one edge, whatever their address.
      hashKey: ({ request, defaultKey }) => new URL(request.url).searchParams.get('session') ?? defaultKey,
      selectEdges: ({ stream, edges: all }) => (stream === 'vip' ? ['c'] : all.filter((e) => e.id !== 'c')),
      response: ({ headers, edge }) => { headers.set('X-Chosen', edge?.id ?? 'none'); },
    },
  });
  const target = async (path: string) => {
    const res = await lb.app.request(path);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('x-chosen'), res.headers.get('location')!.split('/')[3]);
    return res.headers.get('location')!;
  };
  for (let i = 0; i < 20; i++) assert.match(await target(`/hls/vip/x${i}.ts`), /\/c\/hls\/vip\//);
  const bySession = new Set<string>();
  for (let i = 0; i < 10; i++) bySession.add((await target(`/hls/s/index.m3u8?session=abc&n=${i}`)).split('/')[3]!);
  assert.equal(bySession.size, 1, 'one session, one edge');
  const spread = new Set<string>();
  for (let i = 0; i < 40; i++) spread.add((await target(`/hls/s/index.m3u8?session=user${i}`)).split('/')[3]!);
  assert.deepEqual([...spread].sort(), ['a', 'b'], 'selectEdges kept c out for other streams');
  await lb.close();
});

test('use: config middleware runs before the role routes', async () => {
  const lb = createLb({
    edges: [{ id: 'e1', url: 'http://127.0.0.1:9', weight: 100 }], health: { intervalMs: 0 },
    use: [async (c, next) => (c.req.header('x-api-key') === 'k' ? next() : c.text('no key\n', 401))],
  });
  assert.equal((await lb.app.request('/hls/s/a.ts')).status, 401);
  assert.equal((await lb.app.request('/hls/s/a.ts', { headers: { 'x-api-key': 'k' } })).status, 302);
  await lb.close();
});

test('config mistakes stop the start with exit 2 and one clear line', async () => {
  const cases: [string, string, RegExp][] = [
    ['unknown-option.mjs', 'export default { options: { cacheSise: 1 } };', /unknown option 'cacheSise'/],
    ['bad-hook.mjs', 'export default { hooks: { authorizeUpload: 42 } };', /hook 'authorizeUpload' must be a function/],
    ['unknown-hook.mjs', 'export default { hooks: { selectEdges() {} } };', /unknown origin hook 'selectEdges'/],
    ['syntax.mjs', 'export default {', /cannot load/],
    ['bad-value.mjs', 'export default { options: { maxWindow: "abc" } };', /--max-window: not a whole number/],
  ];
  for (const [name, text, expected] of cases) {
    await writeFile(join(dir, name), text);
    const r = spawnSync(process.execPath, ['dist/cli.js', 'origin', '--port', '0', '--config', join(dir, name)], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2, `${name}: ${r.stderr}`);
    assert.match(r.stderr, expected, name);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line`);
  }
  const missing = spawnSync(process.execPath, ['dist/cli.js', 'lb', '--config', join(dir, 'nope.mjs')], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /file not found/);
});

test('a config file sets options below flags and env, and its hooks run (origin through the CLI)', async () => {
  const file = join(dir, 'origin-config.mjs');
  await writeFile(file, `export default {
    options: { maxPlaylistSize: '100', uploadToken: 'from-file' },
    hooks: { authorizeUpload: ({ stream }) => stream === 'open' ? true : undefined },
  };`);
  const port = await freePort();
  const child = startChild(process.execPath, ['dist/cli.js', 'origin', '--port', String(port), '--config', file], {
    env: { ...process.env, CASCADE_UPLOAD_TOKEN: 'from-env' },
  });
  children.push(child);
  await child.waitFor(/listening on/);
  const url = `http://127.0.0.1:${port}`;
  const up = (path: string, body: string, token?: string) =>
    fetch(url + path, { method: 'PUT', body, headers: token ? { Authorization: `Bearer ${token}` } : {} }).then((r) => r.status);
  assert.equal(await up('/hls/open/a.ts', 'x'), 201, 'the hook allows stream open without credentials');
  assert.equal(await up('/hls/s/a.ts', 'x', 'from-file'), 403, 'env beats the file');
  assert.equal(await up('/hls/s/a.ts', 'x', 'from-env'), 201);
  assert.equal(await up('/hls/s/index.m3u8', '#EXTM3U\n' + '#EXT-X-TARGETDURATION:2\n'.repeat(10), 'from-env'), 413, 'the file set the playlist limit');
  await child.kill();
});

test('CIDR edge groups route and fall back through a real LB (X-Forwarded-For stands in for client networks)', async () => {
  const port = await freePort();
  const child = startChild(process.execPath, ['dist/cli.js', 'lb', '--port', String(port), '--health-interval', '0',
    '--trust-proxy', '--edge', 'onsite1=http://127.0.0.1:1', '--edge', 'public1=http://127.0.0.1:2', '--edge', 'public2=http://127.0.0.1:3',
    '--edge-group', 'onsite=onsite1@94.45.224.0/19']);
  children.push(child);
  await child.waitFor(/listening on/);
  const edgeFor = async (client: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/hls/s/index.m3u8`, { redirect: 'manual', headers: { 'X-Forwarded-For': client } });
    assert.equal(res.status, 302);
    return new URL(res.headers.get('location')!).port;
  };
  for (let i = 0; i < 20; i++) assert.equal(await edgeFor(`94.45.${224 + i}.${i + 1}`), '1', 'event network -> on-site edge');
  const publicPorts = new Set<string>();
  for (let i = 0; i < 30; i++) publicPorts.add(await edgeFor(`198.51.100.${i + 1}`));
  assert.deepEqual([...publicPorts].sort(), ['2', '3'], 'everyone else -> public edges');
  await child.kill();

  // Fallback: the on-site edge is down (nothing listens there), the public one answers its health checks.
  const publicEdge = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => publicEdge.listen(0, '127.0.0.1', r));
  const publicPort = (publicEdge.address() as AddressInfo).port;
  const port2 = await freePort();
  const child2 = startChild(process.execPath, ['dist/cli.js', 'lb', '--port', String(port2), '--health-interval', '100ms',
    '--trust-proxy', '--edge', 'onsite1=http://127.0.0.1:1', '--edge', `public1=http://127.0.0.1:${publicPort}`,
    '--edge-group', 'onsite=onsite1@94.45.224.0/19']);
  children.push(child2);
  await child2.waitFor(/listening on/);
  // Health state has no event to wait on from outside: poll the LB's own view, bounded.
  const deadline = Date.now() + 5000;
  let location = '';
  while (Date.now() < deadline) {
    const res = await fetch(`http://127.0.0.1:${port2}/hls/s/index.m3u8`, { redirect: 'manual', headers: { 'X-Forwarded-For': '94.45.230.1' } });
    location = res.headers.get('location') ?? '';
    if (new URL(location || 'http://x:0').port === String(publicPort)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(new URL(location).port, String(publicPort), 'the event network falls back to the public edge');
  publicEdge.close();
  await child2.kill();
});

test('every example config loads in its role (they import types and helpers from the package itself)', async () => {
  const roleOf: Record<string, string[]> = {
    'upload-tokens.mjs': ['origin'],
    'cidr-groups.mjs': ['lb', '--health-interval', '0', '--edge', 'onsite1=http://127.0.0.1:1', '--edge', 'public1=http://127.0.0.1:2'],
    'edge-token.mjs': ['edge', '--origin', 'http://127.0.0.1:1'],
    'cache-key.mjs': ['edge', '--origin', 'http://127.0.0.1:1'],
    'stream-ttl.mjs': ['edge', '--origin', 'http://127.0.0.1:1'],
  };
  const { readdir } = await import('node:fs/promises');
  const examples = (await readdir('examples')).filter((f) => f.endsWith('.mjs')).sort();
  assert.deepEqual(examples, Object.keys(roleOf).sort(), 'every example is listed here');
  for (const file of examples) {
    const [role, ...args] = roleOf[file]!;
    const child = startChild(process.execPath, ['dist/cli.js', role!, '--port', '0', '--config', join('examples', file), ...args]);
    children.push(child);
    await child.waitFor(/listening on/);
    assert.equal(await child.kill(), 0, `${file} stops cleanly`);
  }
});
