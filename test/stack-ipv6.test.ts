// `cascade stack --host ::1` (docs/pipeline.md, "cascade stack"): every URL the stack builds has IPv6 brackets, the
// stream plays through the LB, and the upload token is on no child's command line (world-readable in
// `ps`), though the origin enforces it and the transcoder uploads with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort, startChild } from './helpers/process.js';

const root = new URL('..', import.meta.url).pathname;
const cli = `${root}dist/cli.js`;
const LIGHT = ['--ladder', '144p', '--fps', '10', '--source-size', '256x144', '--preset', 'ultrafast', '--log-level', 'error'];
const TOKEN = 'tok-5f0c1e9a7d3b';

async function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every live descendant of `pid`, from /proc (the stack's roles, redis and both ffmpeg). */
function descendants(pid: number): number[] {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.flatMap((c) => {
    try {
      return [c, ...descendants(c)];
    } catch {
      return [];
    }
  });
}

test('cascade stack --host ::1: plays through the LB; the upload token is on no child\'s command line', async (t) => {
  if (!existsSync(cli)) return t.skip('npm run build first');
  if (!(await ipv6Loopback())) return t.skip('no IPv6 loopback (::1) on this machine');
  const [lb, origin, e1, e2, rtmp] = await Promise.all([freePort('::1'), freePort('::1'), freePort('::1'), freePort('::1'), freePort('::1')]);
  const stack = startChild(process.execPath, [cli, 'stack', '--host', '::1', '--port', String(lb), '--origin-port', String(origin),
    '--edge-ports', `${e1},${e2}`, '--rtmp-port', String(rtmp), ...LIGHT], { env: { ...process.env, CASCADE_UPLOAD_TOKEN: TOKEN } });
  t.after(() => stack.kill('SIGKILL'));
  await stack.waitFor(/cascade stack is running/, 90_000);
  assert.match(stack.output(), new RegExp(`master\\s+http://\\[::1\\]:${lb}/hls/demo/index\\.m3u8`));
  assert.match(stack.output(), /redis\s+redis:\/\/\[::1\]:\d+/);

  const master = `http://[::1]:${lb}/hls/demo/index.m3u8`;
  await waitUntil(async () => {
    try {
      const res = await fetch(master, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      const variant = text.split('\n').find((l) => l.trim() && !l.startsWith('#'));
      if (!res.ok || !variant) return false;
      const media = await fetch(new URL(variant, res.url), { signal: AbortSignal.timeout(2000) });
      return media.ok && (await media.text()).includes('#EXTINF');
    } catch { return false; }
  }, 60_000, 'the stream through the LB on ::1');
  const redirect = await fetch(master, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.match(redirect.headers.get('location') ?? '', new RegExp(`^http://\\[::1\\]:(${e1}|${e2})/hls/demo/index\\.m3u8$`));
  const edges = await (await fetch(`http://[::1]:${lb}/api/edges`)).json() as { id: string; url: string; healthy: boolean }[];
  assert.deepEqual(edges.map((e) => [e.id, e.url, e.healthy]), [['edge-1', `http://[::1]:${e1}`, true], ['edge-2', `http://[::1]:${e2}`, true]]);

  // The origin enforces the token it was given through the environment.
  const anonymous = await fetch(`http://[::1]:${origin}/hls/demo/x.ts`, { method: 'PUT', body: 'x' });
  assert.equal(anonymous.status, 401);
  await anonymous.arrayBuffer();

  const pids = descendants(stack.pid);
  assert.ok(pids.length >= 7, `origin, two edges, lb, redis and two ffmpeg: ${pids.join(' ')}`);
  for (const pid of pids) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile (an ffmpeg restart)
    }
    assert.ok(!cmdline.includes(TOKEN), `pid ${pid} has the token on its command line: ${cmdline}`);
  }
  assert.equal(await stack.kill('SIGTERM', 20_000), 0);
});
