// `npm run bench` (master-via-lb): what masters via the LB (edge --lb, --master-via-lb) cost. Every media
// playlist reload becomes one 302 at the LB plus the edge request:
//   1) the extra latency per reload on loopback: direct edge GET vs LB 302 + edge GET, over pooled
//      keep-alive connections (a browser) and over a new connection per request (libavformat, which
//      cannot reuse its connection across hosts), bounded loops, median and p95;
//   2) LB CPU per redirect: wrk against the LB for a variant path, the LB's CPU time from /proc over the
//      requests wrk made, and from it how many viewers one LB core redirects at one reload per viewer per
//      target duration.
// Run `npm run build` first (npm run bench does). Needs wrk for part 2.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort, startChild, waitForStatus } from '../test/helpers/process.js';
import { markdown, median, percentile, procCpuSeconds } from '../loadtest/lib.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli.js');
const RELOADS = 2000;
const WRK_RUNS = Number(process.env.BENCH_RUNS ?? 5);
const WRK_S = Number(process.env.BENCH_WRK_S ?? 5);
const WRK_CONNECTIONS = 32;
const VARIANT = '/hls/demo/720p/index.m3u8';
const TARGET_DURATIONS = [2, 6];

// A media playlist of a 2 s ladder, fresh for 1 s at the edge (as the origin publishes it), so most
// reloads are hits and a few refresh, like a live player's.
const media = ['#EXTM3U', '#EXT-X-VERSION:6', '#EXT-X-TARGETDURATION:2', '#EXT-X-MEDIA-SEQUENCE:100',
  ...Array.from({ length: 6 }, (_, i) => `#EXTINF:2.000,\nseg${100 + i}.ts`)].join('\n') + '\n';
const origin = createServer((req, res) => {
  if (req.url === VARIANT) res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'cache-control': 'max-age=1' }).end(media);
  else res.writeHead(404).end();
});
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

const [edgePort, lbPort] = [await freePort(), await freePort()];
const edgeUrl = `http://127.0.0.1:${edgePort}`;
const lbUrl = `http://127.0.0.1:${lbPort}`;
const edge = startChild(process.execPath, [cli, 'edge', '--workers', '1', '--port', String(edgePort), '--origin', originUrl, '--id', 'e1', '--lb', lbUrl]);
const lb = startChild(process.execPath, [cli, 'lb', '--workers', '1', '--port', String(lbPort), '--edge', `e1=${edgeUrl}`]);

// ---- 1. latency per reload --------------------------------------------------------------------------

/** One reload; `viaLb` follows the 302 by hand so both legs are timed. Milliseconds. */
async function reload(agent: Agent, viaLb: boolean, reset: boolean): Promise<number> {
  const start = performance.now();
  let url = (viaLb ? lbUrl : edgeUrl) + VARIANT;
  for (;;) {
    const res = await request(url, { dispatcher: agent, reset });
    await res.body.dump();
    if (res.statusCode === 302) { url = String(res.headers.location); continue; }
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    return performance.now() - start;
  }
}

async function latency(): Promise<void> {
  const rows: string[][] = [];
  for (const [mode, reset] of [['pooled keep-alive', false], ['new connection per request', true]] as const) {
    const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 });
    const times = { direct: [] as number[], viaLb: [] as number[] };
    for (let i = 0; i < 200; i++) await reload(agent, i % 2 === 0, reset); // warm-up
    // Interleaved, so drift on a shared machine hits both alike.
    for (let i = 0; i < RELOADS; i++) {
      times.direct.push(await reload(agent, false, reset));
      times.viaLb.push(await reload(agent, true, reset));
    }
    await agent.close();
    const ms = (x: number) => x.toFixed(2);
    rows.push([mode, ms(median(times.direct)), ms(percentile(times.direct, 0.95)), ms(median(times.viaLb)), ms(percentile(times.viaLb, 0.95)),
      ms(median(times.viaLb) - median(times.direct)), ms(percentile(times.viaLb, 0.95) - percentile(times.direct, 0.95))]);
  }
  process.stdout.write(`\nMedia playlist reload on loopback, ${RELOADS} of each, interleaved (ms)\n`);
  process.stdout.write(markdown(['connections', 'edge median', 'edge p95', 'LB + edge median', 'LB + edge p95', 'extra median', 'extra p95'], rows));
}

// ---- 2. LB CPU per redirect ---------------------------------------------------------------------------

function wrk(url: string, close: boolean): number {
  const args = ['-t1', `-c${WRK_CONNECTIONS}`, `-d${WRK_S}s`, ...(close ? ['-H', 'Connection: close'] : []), url];
  const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (WRK_S + 20) * 1000 });
  const total = /(\d+) requests in/.exec(r.stdout ?? '');
  if (!total || /Non-2xx or 3xx responses/.test(r.stdout)) throw new Error(`wrk failed on ${url}:\n${r.stdout}${r.stderr}`);
  return Number(total[1]);
}

function lbCpu(): void {
  if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status !== 0) {
    process.stdout.write('\nwrk not installed: LB CPU per redirect skipped (apt-get install wrk)\n');
    return;
  }
  const rows: string[][] = [];
  for (const close of [false, true]) {
    const mode = close ? 'Connection: close' : 'keep-alive';
    wrk(lbUrl + VARIANT, close); // warm-up
    const perRedirectUs: number[] = [];
    for (let run = 0; run < WRK_RUNS; run++) {
      const before = procCpuSeconds(lb.pid);
      const requests = wrk(lbUrl + VARIANT, close);
      perRedirectUs.push(((procCpuSeconds(lb.pid) - before) / requests) * 1e6);
    }
    const us = median(perRedirectUs);
    const perCoreSecond = 1e6 / us;
    process.stdout.write(`${mode}: µs CPU per redirect ${perRedirectUs.map((x) => x.toFixed(1)).join(' ')}\n`);
    rows.push([mode, us.toFixed(1), Math.round(perCoreSecond).toLocaleString('en'),
      ...TARGET_DURATIONS.map((t) => Math.round(perCoreSecond * t).toLocaleString('en'))]);
  }
  process.stdout.write(`\nLB CPU per redirect: wrk -t1 -c${WRK_CONNECTIONS} -d${WRK_S}s on ${VARIANT}, LB CPU time from /proc over wrk's requests, median of ${WRK_RUNS} runs\n`);
  process.stdout.write(markdown(['connections', 'µs CPU per redirect', 'redirects per core-second',
    ...TARGET_DURATIONS.map((t) => `viewers per LB core, ${t} s segments`)], rows));
}

try {
  await waitForStatus(edgeUrl + VARIANT, 200, edge);
  await waitForStatus(lbUrl + VARIANT, 302, lb);
  await latency();
  lbCpu();
} finally {
  await Promise.all([lb.kill(), edge.kill()]);
  origin.close();
}
