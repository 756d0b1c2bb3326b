// `cascade stack` as a user runs it (node dist/cli.js stack): clear errors, the whole pipeline readable
// through the LB with ffprobe, and no child left behind on SIGTERM or even SIGKILL of the stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, StackError } from '../cli/stack.js';
import { freePort, startChild, type Child } from './helpers/process.js';

const root = new URL('..', import.meta.url).pathname;
const cli = `${root}dist/cli.js`;
// Small and cheap: this box has 2 cores.
const LIGHT = ['--ladder', '240p,144p', '--fps', '12', '--source-size', '426x240', '--preset', 'ultrafast', '--log-level', 'error'];

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function ports(): Promise<string[]> {
  const [lb, origin, e1, e2, rtmp] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  return ['--port', String(lb), '--origin-port', String(origin), '--edge-ports', `${e1},${e2}`, '--rtmp-port', String(rtmp)];
}

/** pids the stack printed: roles, redis, and the current ffmpeg of each stage. */
function childPids(out: string): number[] {
  return [...out.matchAll(/\(pid (\d+)|private, pid (\d+)|started pid (\d+)/g)].map((m) => Number(m[1] ?? m[2] ?? m[3]));
}

test('cascade stack: a port in use or a missing ffmpeg is one clear line and a non-zero exit', async (t) => {
  if (!existsSync(cli)) return t.skip('npm run build first');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const port = (busy.address() as { port: number }).port;
  const args = await ports();
  args[1] = String(port);
  const inUse = startChild(process.execPath, [cli, 'stack', ...args]);
  assert.equal(await inUse.exited, 1);
  assert.equal(inUse.output().trim(), `cascade stack: port ${port} for lb (--port) is already in use on 127.0.0.1`);

  const noFfmpeg = startChild(process.execPath, [cli, 'stack', ...(await ports()), '--ffmpeg', '/nonexistent/ffmpeg']);
  assert.equal(await noFfmpeg.exited, 1);
  assert.match(noFfmpeg.output().trim(), /^cascade stack: ffmpeg not found \('\/nonexistent\/ffmpeg'\)[^\n]*$/);

  const bad = startChild(process.execPath, [cli, 'stack', '--ladder', 'nope']);
  assert.equal(await bad.exited, 2);
  assert.equal(bad.output().trim().split('\n').length, 1);
});

test('a role that dies during startup: the error quotes its last lines, even when the stack\'s output goes nowhere', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-stack-dies-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Stands in for dist/cli.js: every role prints 15 lines and exits 1, as a role that cannot start does.
  const dying = join(dir, 'cli.js');
  writeFileSync(dying, "for (let i = 1; i <= 14; i++) console.error('line ' + i);\nconsole.error('fatal: ' + process.argv[2] + ' cannot start');\nprocess.exit(1);\n");
  const [port, originPort, edgePort, rtmpPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const shown: string[] = [];
  const started = startStack({
    port, originPort, edgePorts: [edgePort], rtmpPort, host: '127.0.0.1', stream: 'demo', uploadToken: 'dies', privateRedis: false,
    ladder: [], fps: 12, sourceSize: '426x240', preset: 'ultrafast', segmentType: 'ts', logLevel: 'error', cli: dying, write: (l) => shown.push(l),
  });
  const err = await started.then(() => assert.fail('the stack started'), (e: unknown) => e);
  assert.ok(err instanceof StackError, String(err));
  const message = (err as Error).message;
  assert.match(message, /^origin exited during startup \(code 1\): /);
  assert.match(message, /its last output:\n  line 6\n/);
  assert.match(message, /\n  fatal: origin cannot start$/);
  assert.doesNotMatch(message, /line 5\n/); // ten lines, not all of them
  assert.ok(shown.some((l) => l === '[origin] fatal: origin cannot start'), 'the lines still go to write() as they come');
});

test('cascade stack: ffprobe reads stream demo through the LB (following the 302); SIGTERM stops every child', async (t) => {
  if (!existsSync(cli)) return t.skip('npm run build first');
  const args = await ports();
  const lbPort = args[1]!;
  // The upload token from the environment: no child gets it on its command line (ps), no line shows it.
  const token = 'stack-upload-token-0123456789';
  const stack: Child = startChild(process.execPath, [cli, 'stack', ...args, ...LIGHT], { env: { ...process.env, CASCADE_UPLOAD_TOKEN: token } });
  t.after(() => stack.kill('SIGKILL'));
  await stack.waitFor(/player\s+http:\/\/127\.0\.0\.1:\d+\/play\/demo/, 60_000);
  assert.match(stack.output(), new RegExp(`master\\s+http://127\\.0\\.0\\.1:${lbPort}/hls/demo/index\\.m3u8`));
  assert.match(stack.output(), /redis\s+redis:\/\/127\.0\.0\.1:\d+ {2}\(private/);
  const master = `http://127.0.0.1:${lbPort}/hls/demo/index.m3u8`;

  // The first segments need a few seconds to flow source -> transcoder -> origin.
  await waitUntil(async () => {
    try {
      const res = await fetch(master, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      return res.ok && body.includes('#EXT-X-STREAM-INF');
    } catch { return false; }
  }, 30_000, 'the master playlist through the LB');
  const redirect = await fetch(master, { redirect: 'manual' });
  assert.equal(redirect.status, 302);
  assert.match(redirect.headers.get('location') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/hls\/demo\/index\.m3u8$/);

  let probe: ReturnType<typeof spawnSync> | undefined;
  await waitUntil(() => {
    probe = spawnSync('ffprobe', ['-v', 'error', '-rw_timeout', '5000000', '-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'json', master], { encoding: 'utf8', timeout: 20_000 });
    return probe.status === 0;
  }, 40_000, `ffprobe to read the stream (last: ${String(probe?.stderr ?? '').slice(-500)})`);
  const streams = (JSON.parse(String(probe!.stdout)) as { streams: { codec_type: string; codec_name: string; width?: number; height?: number }[] }).streams;
  const video = streams.filter((s) => s.codec_type === 'video');
  assert.ok(video.some((s) => s.codec_name === 'h264' && s.height === 240), JSON.stringify(streams));
  assert.ok(video.some((s) => s.codec_name === 'h264' && s.height === 144), JSON.stringify(streams));
  assert.ok(streams.some((s) => s.codec_type === 'audio' && s.codec_name === 'aac'), JSON.stringify(streams));

  const pids = childPids(stack.output());
  assert.ok(pids.length >= 7, `roles, redis and two ffmpeg: ${pids.join(' ')}`);
  // A child may have been restarted since it was started (its pid gone): the live ones are what `ps` shows.
  for (const pid of pids.filter(alive)) assert.ok(!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(token), `no token on the command line of ${pid}`);
  assert.ok(!stack.output().includes(token), 'no token in the output');
  // The stack's own bound: ffmpeg 3 s, the roles 10 s (in-flight requests), Redis 3 s.
  assert.equal(await stack.kill('SIGTERM', 20_000), 0);
  for (const pid of pids) assert.ok(!alive(pid), `child ${pid} stopped with the stack`);
});

test('cascade stack --no-private-redis: static edge weights; a SIGKILLed stack takes its children (roles, ffmpeg) with it', async (t) => {
  if (!existsSync(cli)) return t.skip('npm run build first');
  const args = await ports();
  const stack = startChild(process.execPath, [cli, 'stack', ...args, ...LIGHT, '--no-private-redis']);
  t.after(() => stack.kill('SIGKILL'));
  await stack.waitFor(/cascade stack is running/, 60_000);
  await stack.waitFor(/\[source\] started pid \d+/, 5000);
  assert.match(stack.output(), /redis\s+none: static edge weights/);
  const edges = await (await fetch(`http://127.0.0.1:${args[1]}/api/edges`)).json() as { id: string; url: string; healthy: boolean }[];
  assert.deepEqual(edges.map((e) => [e.id, e.url, e.healthy]).sort(), [
    ['edge-1', `http://127.0.0.1:${args[5]!.split(',')[0]}`, true], ['edge-2', `http://127.0.0.1:${args[5]!.split(',')[1]}`, true]]);
  const pids = childPids(stack.output());
  assert.ok(pids.length >= 6, pids.join(' '));
  await stack.kill('SIGKILL');
  await waitUntil(() => pids.every((p) => !alive(p)), 15_000, `children ${pids.filter(alive).join(' ')} to die with the stack`);
});
