// `npm run bench` (viewers): viewer capacity of one cascade edge against one nginx proxy_cache edge
// (bench/nginx-viewers.conf, one worker) in front of the same cascade origin fed by the stack's ffmpeg
// test source and transcoder. The same k6 load (loadtest/hls-viewers.js, players reloading playlists at
// the spec's pace and fetching every segment) goes straight to each edge in turn, alternating, RUNS
// times; reported: CPU seconds per viewer-minute of the edge process(es) (from /proc), stalls, errors,
// segment download time, upstream fetches per segment. Medians and cascade/nginx ratios are printed. A
// third contender, bench/node-relay-floor.mjs (the least a Node process does as a caching relay), shows how
// much of cascade's cost per viewer is Node's own.
// The cascade edge is started on its own (`--workers 1`, no Redis, no LB), as nginx is: a fleet member of
// `cascade stack` also registers in Redis and answers the LB's health checks, which costs it 2.5-3.0 ms of
// CPU a second idle against 0.5 (docs/benchmarks.md), a cost nginx is not asked to carry here.
// Bounded: BENCH_VIEWERS (default 150) for RAMP 8 s + HOLD 25 s per run, 3 runs each (~6 minutes).
// Run `npm run build` first (npm run bench does). Skipped (exit 0, with a message) when k6 is not built.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  K6, k6Available, markdown, median, metric, newestSegment, procCpuSeconds, procFamily, procPrivateBytes, procRssBytes, readK6Samples, runK6, startLoadStack, waitForStream,
} from '../loadtest/lib.js';
import { freePort, startChild } from '../test/helpers/process.js';

const here = dirname(fileURLToPath(import.meta.url));
const VIEWERS = Number(process.env.BENCH_VIEWERS ?? 150);
const RAMP_S = 8;
const HOLD_S = Number(process.env.BENCH_HOLD_S ?? 25);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RENDITION = 'random';

if (!k6Available()) {
  process.stdout.write(`viewers bench skipped: ${K6} missing (bash loadtest/install-k6.sh builds it; needs Go)\n`);
  process.exit(0);
}

interface RunResult {
  cpuSeconds: number; viewerMinutes: number; cpuPerViewerMinute: number; stalls: number; errors: number;
  segments: number; segMed: number; segP95: number; upstreamPerSegment: number; rssMiB: number; privateMiB: number; cacheMiB: number; thresholdsPassed: boolean;
}

const work = mkdtempSync(join(tmpdir(), 'cascade-viewers-bench-'));
chmodSync(work, 0o777); // nginx workers run as nobody when started by root
// The edge alone against nginx: masters as the origin wrote them, no LB redirect in each playlist reload.
process.env.CASCADE_MASTER_VIA_LB = 'false';
const stack = await startLoadStack({ edges: 1, write: () => {} });
const nginxPort = await freePort();
const originHostPort = stack.urls.origin.replace(/^http:\/\//, '');
const conf = readFileSync(join(here, 'nginx-viewers.conf'), 'utf8').replaceAll('@DIR@', work).replaceAll('@PORT@', String(nginxPort)).replaceAll('@ORIGIN@', originHostPort);
writeFileSync(join(work, 'nginx.conf'), conf);
mkdirSync(join(work, 'cache'), { mode: 0o777 });
const nginx = startChild('nginx', ['-p', work, '-c', join(work, 'nginx.conf')]);
const floorPort = await freePort();
const floor = startChild(process.execPath, [join(here, 'node-relay-floor.mjs'), String(floorPort), stack.urls.origin]);
const edgePort = await freePort();
const edge = startChild(process.execPath, [join(here, '../dist/cli.js'), 'edge', '--workers', '1', '--port', String(edgePort), '--origin', stack.urls.origin, '--id', 'viewers', '--log-level', 'error']);

const edges = {
  cascade: { url: `http://127.0.0.1:${edgePort}`, pids: () => [edge.pid] },
  nginx: { url: `http://127.0.0.1:${nginxPort}`, pids: () => procFamily(nginx.pid) },
  floor: { url: `http://127.0.0.1:${floorPort}`, pids: () => [floor.pid] },
};
const NAMES = ['cascade', 'nginx', 'floor'] as const;

async function once(name: keyof typeof edges, run: number): Promise<RunResult> {
  const e = edges[name];
  const dir = join(work, `${name}-${run}`);
  mkdirSync(dir, { recursive: true });
  const cpu = () => e.pids().reduce((a, pid) => a + procCpuSeconds(pid), 0);
  const before = cpu();
  const k6 = await runK6({ url: e.url, stream: 'demo', viewers: VIEWERS, rampS: RAMP_S, durationS: HOLD_S, rendition: RENDITION, dir, spreadClients: false });
  const cpuSeconds = cpu() - before;
  const rssMiB = e.pids().reduce((a, pid) => a + procRssBytes(pid), 0) / 2 ** 20;
  const privateMiB = e.pids().reduce((a, pid) => a + procPrivateBytes(pid), 0) / 2 ** 20;
  // What the issue's memory goal allows for: the bytes cascade's cache holds (nginx's cache is on disk).
  const cacheMiB = name === 'cascade' ? cacheBytes(await (await fetch(`${e.url}/metrics`)).text()) / 2 ** 20 : NaN;
  const samples = await readK6Samples(k6.jsonPath);
  rmSync(k6.jsonPath, { force: true });
  const viewerMinutes = samples.series.reduce((a, r) => a + r.vus, 0) / 60;
  const c = samples.coalescing[0];
  return {
    cpuSeconds, viewerMinutes, cpuPerViewerMinute: cpuSeconds / viewerMinutes, rssMiB, privateMiB, cacheMiB,
    stalls: metric(k6.summary, 'hls_stalls', 'count'), errors: metric(k6.summary, 'hls_errors', 'count'),
    segments: metric(k6.summary, 'hls_segments', 'count'),
    segMed: metric(k6.summary, 'hls_segment_download_time', 'med'), segP95: metric(k6.summary, 'hls_segment_download_time', 'p(95)'),
    upstreamPerSegment: c ? c.factor : NaN, thresholdsPassed: k6.thresholdsPassed,
  };
}

function cacheBytes(metrics: string): number {
  const m = /^cascade_edge_cache_bytes(?:\{[^}]*\})? (\d+)/m.exec(metrics);
  if (!m) throw new Error('no cascade_edge_cache_bytes in the edge\'s /metrics');
  return Number(m[1]);
}

/** Bytes/s and requests/s of one hot cached segment under wrk (keep-alive): the edge's ceiling on loopback. */
function wrk(url: string): { mbps: number; rps: number } {
  const r = spawnSync('wrk', ['-t1', '-c32', '-d4s', url], { encoding: 'utf8', timeout: 30_000 });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  const tr = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(r.stdout ?? '');
  if (!rps || !tr || /Non-2xx/.test(r.stdout)) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const unit = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30 }[tr[2] as 'B'];
  return { mbps: (Number(tr[1]) * unit * 8) / 1e6, rps: Number(rps[1]) };
}

try {
  await waitForStream(stack.urls.edges[0]!, 'demo', 3);
  await Promise.race([waitForStream(edges.cascade.url, 'demo', 3), edge.exited.then((code) => { throw new Error(`edge exited ${code}:\n${edge.output()}`); })]);
  await Promise.race([waitForStream(edges.nginx.url, 'demo', 3), nginx.exited.then((code) => { throw new Error(`nginx exited ${code}:\n${nginx.output()}`); })]);
  await floor.waitFor(/listening/, 10_000);
  const results = { cascade: [] as RunResult[], nginx: [] as RunResult[], floor: [] as RunResult[] };
  for (let run = 0; run < RUNS; run++) {
    // Rotate which goes first, so drift on a shared machine hits all alike.
    const order = NAMES.map((_, i) => NAMES[(i + run) % NAMES.length]!);
    for (const name of order) {
      const r = await once(name, run);
      results[name].push(r);
      process.stdout.write(`run ${run + 1} ${name}: ${r.cpuSeconds.toFixed(2)} CPU s over ${r.viewerMinutes.toFixed(1)} viewer-min = ${(1000 * r.cpuPerViewerMinute).toFixed(1)} CPU ms/viewer-min; `
        + `stalls ${r.stalls}, errors ${r.errors}, segments ${r.segments}, segment med ${r.segMed.toFixed(1)} ms p95 ${r.segP95.toFixed(1)} ms, upstream/segment ${r.upstreamPerSegment.toFixed(2)}, RSS ${r.rssMiB.toFixed(0)} MiB (private ${r.privateMiB.toFixed(0)}${Number.isNaN(r.cacheMiB) ? '' : `, cache ${r.cacheMiB.toFixed(0)}`})\n`);
    }
  }
  const m = (name: keyof typeof results, k: keyof RunResult) => median(results[name].map((r) => Number(r[k])));
  const row = (label: string, k: keyof RunResult, digits: number, scale = 1) => {
    const [c, n, f] = [m('cascade', k) * scale, m('nginx', k) * scale, m('floor', k) * scale];
    const shown = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(digits));
    return [label, shown(c), shown(n), n ? (c / n).toFixed(2) : '-', shown(f), f ? (c / f).toFixed(2) : '-'];
  };
  process.stdout.write(`\nViewer capacity: ${VIEWERS} k6 players (ramp ${RAMP_S} s, hold ${HOLD_S} s, rendition ${RENDITION}: 360p ~1 Mbit/s or 240p ~0.5 Mbit/s, 2 s segments) `
    + `straight to one edge, median of ${RUNS} rotating runs; one Node process vs one nginx worker, and the bare Node relay (bench/node-relay-floor.mjs)\n`);
  process.stdout.write(markdown(['per run (median)', 'cascade edge', 'nginx proxy_cache', 'cascade/nginx', 'bare Node relay', 'cascade/bare Node'], [
    row('CPU ms per viewer-minute', 'cpuPerViewerMinute', 1, 1000),
    row('edge CPU seconds', 'cpuSeconds', 2),
    row('stalls (segment slower than real time)', 'stalls', 0),
    row('errors', 'errors', 0),
    row('segments played', 'segments', 0),
    row('segment download median, ms', 'segMed', 1),
    row('segment download p95, ms', 'segP95', 1),
    row('upstream fetches per segment', 'upstreamPerSegment', 2),
    row('RSS after run, MiB', 'rssMiB', 0),
    row('private memory after run (RSS without shared text), MiB', 'privateMiB', 0),
    row('cache after run, MiB', 'cacheMiB', 0),
  ]));
  writeFileSync(join(work, 'results.json'), JSON.stringify(results, null, 2));

  // Where one edge process saturates: one segment, already cached by both, as fast as wrk asks for it.
  const { segment: seg } = await newestSegment(edges.cascade.url, 'demo');
  const size = (await (await fetch(edges.cascade.url + seg)).arrayBuffer()).byteLength;
  await fetch(edges.nginx.url + seg).then((r) => r.arrayBuffer());
  const hot = { cascade: [] as { mbps: number; rps: number }[], nginx: [] as { mbps: number; rps: number }[] };
  wrk(edges.cascade.url + seg); // warm-up
  wrk(edges.nginx.url + seg);
  for (let run = 0; run < RUNS; run++) {
    for (const name of run % 2 === 0 ? (['cascade', 'nginx'] as const) : (['nginx', 'cascade'] as const)) hot[name].push(wrk(edges[name].url + seg));
  }
  const hm = (name: 'cascade' | 'nginx', k: 'mbps' | 'rps') => median(hot[name].map((h) => h[k]));
  process.stdout.write(`\nOne hot cached segment (${(size / 1024).toFixed(0)} KiB), wrk -t1 -c32 -d4s keep-alive, median of ${RUNS} alternating runs\n`);
  process.stdout.write(markdown(['', 'cascade edge', 'nginx proxy_cache', 'cascade/nginx'], [
    ['segments/s', hm('cascade', 'rps').toFixed(0), hm('nginx', 'rps').toFixed(0), (hm('cascade', 'rps') / hm('nginx', 'rps')).toFixed(2)],
    ['Mbit/s', hm('cascade', 'mbps').toFixed(0), hm('nginx', 'mbps').toFixed(0), (hm('cascade', 'mbps') / hm('nginx', 'mbps')).toFixed(2)],
    ['viewers at 1 Mbit/s (bandwidth bound)', hm('cascade', 'mbps').toFixed(0), hm('nginx', 'mbps').toFixed(0), '-'],
  ]));
} finally {
  await edge.kill();
  await floor.kill();
  await nginx.kill('SIGQUIT');
  await stack.stop();
  rmSync(work, { recursive: true, force: true });
}
