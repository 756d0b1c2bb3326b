// `npm run bench` (edge): one cascade edge process (--workers 1) against nginx proxy_cache
// (bench/nginx-edge.conf, one worker) in front of the same small node origin on loopback, with the same
// load tools, alternating which goes first, RUNS rounds, medians, printed as cascade/nginx ratios:
//   - cache-hit requests/s for a playlist (wrk, keep-alive; and pipelined 16 deep, bench/pipelined.lua,
//     where wrk's cost per request is so small that two workers get the cores),
//   - GB/s for a cached 1 MB segment (wrk, keep-alive),
//   - waiters' extra time to first byte when 300 clients ask at once for a new segment from a 200 ms
//     origin (raw sockets, one per client; the earliest client is the leader, everyone else a waiter,
//     whose extra time is its TTFB minus the leader's; p99 per run, and the worst run),
// then the same edge with --workers 2 against --workers 1 (playlist hits/s, pipelined too, herd): how it scales.
// Bounded: wrk runs WRK_S seconds each; a burst is 300 requests; about 2 minutes in all.
// Run `npm run build` first (npm run bench does): the edge runs from dist/ like in production.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { familyCpuSeconds } from '../loadtest/lib.js';
import { rawGet } from '../test/helpers/edge-client.js';
import { freePort, startChild, type Child } from '../test/helpers/process.js';

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WRK_S = Number(process.env.BENCH_WRK_S ?? 5);
const BURST = 300;
const ORIGIN_DELAY_MS = 200;

// ---- the origin: a playlist, a 1 MB segment, and new segments that take 200 ms ----------------------
const PLAYLIST = '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n' +
  Array.from({ length: 6 }, (_, i) => `#EXTINF:2.000,\nseg${100 + i}.ts\n`).join('');
const SEGMENT = Buffer.alloc(1024 * 1024, 7);
const NEW_SEGMENT = Buffer.alloc(200 * 1024, 9);
const origin = createServer((req, res) => {
  const url = req.url ?? '';
  // Long lifetimes so every measured request after the first is a hit on both sides.
  if (url === '/hls/b/index.m3u8') return res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl', 'cache-control': 'max-age=3600' }).end(PLAYLIST);
  if (url === '/hls/b/big.ts') return res.writeHead(200, { 'content-type': 'video/mp2t', 'cache-control': 'max-age=3600' }).end(SEGMENT);
  if (url.startsWith('/hls/b/new-')) {
    setTimeout(() => res.writeHead(200, { 'content-type': 'video/mp2t', 'cache-control': 'max-age=3600' }).end(NEW_SEGMENT), ORIGIN_DELAY_MS);
    return;
  }
  res.writeHead(404).end();
});
origin.keepAliveTimeout = 60_000;
await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

// ---- the two edges --------------------------------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'cascade-edge-bench-'));
chmodSync(work, 0o777); // nginx workers run as nobody when started by root
mkdirSync(join(work, 'cache'), { mode: 0o777 });
const nginxPort = await freePort();
writeFileSync(join(work, 'nginx.conf'), readFileSync(join(here, 'nginx-edge.conf'), 'utf8')
  .replaceAll('@DIR@', work).replaceAll('@PORT@', String(nginxPort)).replaceAll('@ORIGIN@', originUrl.slice('http://'.length)));
const nginx = startChild('nginx', ['-p', work, '-e', join(work, 'error.log'), '-c', join(work, 'nginx.conf')]);
async function startCascade(workers: number): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startChild(process.execPath, [join(here, '..', 'dist', 'cli.js'), 'edge', '--workers', String(workers), '--port', String(port),
    '--origin', originUrl, '--cache-size', '512m', '--id', 'bench']);
  await child.waitFor(/listening on/, 60_000);
  return { child, url: `http://127.0.0.1:${port}` };
}
const cascade = await startCascade(1);
const cascade2 = await startCascade(2);

const edges = { cascade: cascade.url, nginx: `http://127.0.0.1:${nginxPort}`, cascade2: cascade2.url } as const;
type EdgeName = keyof typeof edges;
const pids: Record<EdgeName, number> = { cascade: cascade.child.pid, nginx: nginx.pid, cascade2: cascade2.child.pid };
await waitUntilServing(edges.nginx, nginx);

async function waitUntilServing(base: string, child: Child): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await rawGet(`${base}/hls/b/index.m3u8`)).status === 200) return;
    } catch { /* not listening yet */ }
    if (child.proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${base} did not start:\n${child.output().slice(-2000)}`);
}

// ---- measurements ---------------------------------------------------------------------------------
const PIPELINE_DEPTH = 16;

/** One wrk run; `pid` given: the CPU µs per request of it and its children (/proc), which wrk sharing the cores does not cap. */
function wrk(url: string, connections: number, pipelined = false, pid?: number): { rps: number; bytesPerSec: number; usPerRequest: number } {
  const { origin: base, pathname } = new URL(url);
  const target = pipelined ? ['-s', join(here, 'pipelined.lua'), base, '--', String(PIPELINE_DEPTH), pathname] : [url];
  const cpu = () => (pid === undefined ? 0 : familyCpuSeconds(pid));
  const before = cpu();
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${WRK_S}s`, ...target], { encoding: 'utf8', timeout: (WRK_S + 20) * 1000 });
  const used = cpu() - before;
  const requests = /(\d+) requests in/.exec(r.stdout ?? '');
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  const tr = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(r.stdout ?? '');
  if (!rps || !tr || /Non-2xx|Socket errors/.test(r.stdout)) throw new Error(`wrk failed on ${url}:\n${r.stdout}${r.stderr}`);
  const unit = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30 }[tr[2] as 'B'];
  return { rps: Number(rps[1]), bytesPerSec: Number(tr[1]) * unit, usPerRequest: requests ? (used * 1e6) / Number(requests[1]) : NaN };
}

let burstSeq = 0;
/** BURST clients at once for a segment nobody has asked for yet; first-byte times in ms from the start. */
async function burst(base: string): Promise<{ leaderMs: number; waiterMedianMs: number; waiterMaxMs: number; extraP99Ms: number }> {
  const url = `${base}/hls/b/new-${++burstSeq}.ts`;
  const start = performance.now();
  const results = await Promise.all(Array.from({ length: BURST }, () => rawGet(url)));
  if (results.some((r) => r.status !== 200 || !r.complete)) throw new Error(`burst on ${base}: not every client got a complete 200`);
  const ttfb = results.map((r) => r.firstByteAt - start).sort((a, b) => a - b);
  const waiters = ttfb.slice(1);
  const extraP99Ms = waiters[Math.min(waiters.length - 1, Math.ceil(waiters.length * 0.99) - 1)]! - ttfb[0]!;
  return { leaderMs: ttfb[0]!, waiterMedianMs: median(waiters), waiterMaxMs: waiters[waiters.length - 1]!, extraP99Ms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface Round { playlistRps: number; pipelinedRps: number; pipelinedUs: number; segmentGBps: number; leaderMs: number; waiterMedianMs: number; waiterMaxMs: number; extraP99Ms: number }
const rounds: Record<EdgeName, Round[]> = { cascade: [], nginx: [], cascade2: [] };

try {
  for (const name of ['cascade', 'nginx', 'cascade2'] as const) {
    // Twice per worker's connection spread: every worker has both objects before anything is measured.
    for (let i = 0; i < 8; i++) {
      await rawGet(`${edges[name]}/hls/b/index.m3u8`);
      await rawGet(`${edges[name]}/hls/b/big.ts`);
    }
  }
  for (let run = 0; run < RUNS; run++) {
    const order: EdgeName[] = run % 2 === 0 ? ['cascade', 'nginx', 'cascade2'] : ['cascade2', 'nginx', 'cascade'];
    for (const name of order) {
      const base = edges[name];
      const pl = wrk(`${base}/hls/b/index.m3u8`, 64);
      const piped = wrk(`${base}/hls/b/index.m3u8`, 64, true, pids[name]);
      const seg = wrk(`${base}/hls/b/big.ts`, 16);
      const b = await burst(base);
      rounds[name].push({ playlistRps: pl.rps, pipelinedRps: piped.rps, pipelinedUs: piped.usPerRequest, segmentGBps: seg.bytesPerSec / 1e9, ...b });
      process.stdout.write(`run ${run + 1} ${name.padEnd(8)} playlist ${pl.rps.toFixed(0)} req/s (pipelined ${piped.rps.toFixed(0)}), 1 MB segment ${(seg.bytesPerSec / 1e9).toFixed(2)} GB/s, ` +
        `burst leader ${b.leaderMs.toFixed(0)} ms, waiters median ${b.waiterMedianMs.toFixed(0)} ms, max ${b.waiterMaxMs.toFixed(0)} ms, extra p99 ${b.extraP99Ms.toFixed(0)} ms\n`);
    }
  }
  const med = (name: EdgeName, k: keyof Round) => median(rounds[name].map((r) => r[k]));
  const worst = (name: EdgeName, k: keyof Round) => Math.max(...rounds[name].map((r) => r[k]));
  const rows: [string, (name: EdgeName) => number, string, (x: number) => string][] = [
    ['cache-hit playlist requests/s', (n) => med(n, 'playlistRps'), 'higher is better', (x) => x.toFixed(0)],
    [`cache-hit playlist requests/s, pipelined ${PIPELINE_DEPTH} deep`, (n) => med(n, 'pipelinedRps'), 'higher is better', (x) => x.toFixed(0)],
    [`server CPU per pipelined playlist hit, µs`, (n) => med(n, 'pipelinedUs'), 'lower is better', (x) => x.toFixed(1)],
    ['cached 1 MB segment GB/s', (n) => med(n, 'segmentGBps'), 'higher is better', (x) => x.toFixed(2)],
    [`waiters' extra TTFB, p99, worst run (${BURST} clients, ${ORIGIN_DELAY_MS} ms origin), ms`, (n) => worst(n, 'extraP99Ms'), 'lower is better', (x) => x.toFixed(0)],
    ['waiter TTFB, median, ms', (n) => med(n, 'waiterMedianMs'), 'lower is better', (x) => x.toFixed(0)],
    ['waiter TTFB, slowest, ms', (n) => med(n, 'waiterMaxMs'), 'lower is better', (x) => x.toFixed(0)],
    ['leader TTFB, ms', (n) => med(n, 'leaderMs'), 'lower is better', (x) => x.toFixed(0)],
  ];
  process.stdout.write(`\nmedians of ${RUNS} alternating runs (wrk ${WRK_S} s each; node ${process.version}, ${spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim()})\n\n`);
  process.stdout.write('| measure | cascade (1 worker) | nginx (1 worker) | cascade/nginx | cascade, 2 workers | 2 workers / 1 |\n|---|---:|---:|---:|---:|---:|\n');
  for (const [label, value, better, fmt] of rows) {
    const [c, n, c2] = [value('cascade'), value('nginx'), value('cascade2')];
    process.stdout.write(`| ${label} (${better}) | ${fmt(c)} | ${fmt(n)} | ${(c / n).toFixed(2)} | ${fmt(c2)} | ${(c2 / c).toFixed(2)} |\n`);
  }
} finally {
  await cascade.child.kill();
  await cascade2.child.kill();
  await nginx.kill('SIGQUIT');
  await new Promise<void>((r) => { origin.closeAllConnections(); origin.close(() => r()); });
  rmSync(work, { recursive: true, force: true });
}
