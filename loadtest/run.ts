// `npm run loadtest`: k6 viewers (loadtest/hls-viewers.js) against `cascade stack` (started here on free
// loopback ports, light ladder) or against a running LB (LB_URL=...), with the roles' /metrics scraped
// before, during and after. Writes loadtest/results/<timestamp>/{summary.json,summary.md,chart.svg}
// (plus k6's raw k6.json, k6-summary.json, k6.log) and prints the markdown.
//
// Environment (all optional): VIEWERS (default 50, at most 1000), RAMP (10s), DURATION (60s, at most 600s),
// RENDITION (random|lowest|highest), STREAM (demo), LB_URL (use a running deployment instead of a stack),
// ORIGIN_URL (with LB_URL: the origin to scrape), EDGES (edges of the started stack, default 2), LL=1 (LL-HLS:
// the stack in --low-latency mode with 0.5 s parts, the viewers LL players; see loadtest/README.md).
// Exit code: 0 when k6's thresholds passed and every edge fetched each segment from upstream at most once.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  COLORS, K6, ROOT, k6Available, markdown, metric, readK6Samples, runK6, stackTargets, startLoadStack, startSampler, svgChart,
  thresholds, waitForStream, type Target,
} from './lib.js';
import type { Stack } from '../cli/stack.js';
import { firstMediaPlaylist, probePdt, type PdtProbe } from '../test/helpers/pdt-probe.js';

function seconds(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`${name}: not a duration: '${v}' (e.g. 30s, 2m)`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 }[m[2] ?? 's'] ?? 1);
}

const env = process.env;
const viewers = Number(env.VIEWERS ?? 50);
const rampS = seconds(env.RAMP ?? '10s', 'RAMP');
const durationS = seconds(env.DURATION ?? '60s', 'DURATION');
const rendition = (env.RENDITION ?? 'random') as 'random' | 'lowest' | 'highest';
const stream = env.STREAM ?? 'demo';
const edges = Number(env.EDGES ?? 2);
const lowLatency = ['1', 'true', 'yes'].includes((env.LL ?? '').toLowerCase());
if (!Number.isInteger(viewers) || viewers < 1 || viewers > 1000) throw new Error('VIEWERS must be an integer from 1 to 1000');
if (durationS < 1 || durationS > 600 || rampS > 300) throw new Error('DURATION must be 1s..600s and RAMP at most 300s');
if (!['random', 'lowest', 'highest'].includes(rendition)) throw new Error('RENDITION must be random, lowest or highest');
if (!k6Available()) {
  process.stderr.write(`loadtest: ${K6} is missing; build it with: bash loadtest/install-k6.sh (needs Go)\n`);
  process.exit(1);
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\dZ$/, 'Z');
const dir = join(ROOT, 'loadtest', 'results', stamp);
mkdirSync(dir, { recursive: true });

let stack: Stack | undefined;
let targets: Target[];
let url: string;
const stackLog: string[] = [];
const stop = async () => { await stack?.stop(); stack = undefined; };
process.once('SIGINT', () => { void stop().then(() => process.exit(130)); });
process.once('SIGTERM', () => { void stop().then(() => process.exit(143)); });

try {
  if (env.LB_URL) {
    url = env.LB_URL.replace(/\/+$/, '');
    const list = await fetch(`${url}/api/edges`).then((r) => (r.ok ? r.json() : [])).catch(() => []) as { id: string; url: string }[];
    targets = [
      ...(env.ORIGIN_URL ? [{ name: 'origin', role: 'origin' as const, url: env.ORIGIN_URL.replace(/\/+$/, '') }] : []),
      ...list.map((e) => ({ name: e.id, role: 'edge' as const, url: e.url.replace(/\/+$/, '') })),
      { name: 'lb', role: 'lb', url },
    ];
    process.stderr.write(`loadtest: against ${url} (${list.length} edges from /api/edges)\n`);
  } else {
    process.stderr.write(`loadtest: starting cascade stack (${edges} edge${edges === 1 ? '' : 's'}, ladder 360p,240p @15 fps)\n`);
    stack = await startLoadStack({ edges, stream, lowLatency, write: (l) => stackLog.push(l) });
    url = stack.urls.lb;
    targets = stackTargets(stack);
    process.stderr.write(`loadtest: stack up, LB ${url}; waiting for the stream\n`);
  }
  await waitForStream(url, stream, 2);

  process.stderr.write(`loadtest: k6 ${viewers} viewers, ramp ${rampS}s, hold ${durationS}s, rendition ${rendition} -> ${dir}\n`);
  const sampler = startSampler(targets);
  // LL: how late PDT runs against capture (test/helpers/pdt-probe.ts), from the stack's origin.
  const pdtProbe: PdtProbe | undefined = lowLatency && stack ? probePdt(await firstMediaPlaylist(`${stack.urls.origin}/hls/${stream}/index.m3u8`)) : undefined;
  const k6 = await runK6({ url, stream, viewers, rampS, durationS, rendition, dir, lowLatency });
  pdtProbe?.stop();
  const scraped = await sampler.stop();
  const samples = await readK6Samples(k6.jsonPath);

  const originUsage = scraped.usage.find((u) => u.role === 'origin');
  const originSegmentGets = originUsage ? ['file', 'streaming', 'partial'].reduce((a, k) => a + (originUsage.requests[k] ?? 0), 0) : undefined;
  const edgeSegments = samples.coalescing.reduce((a, e) => a + e.segments, 0);
  const edgeRows = scraped.usage.filter((u) => u.role === 'edge').map((u) => {
    const r = u.requests;
    const all = Object.values(r).reduce((a, b) => a + b, 0);
    return { edge: u.name, requests: all, hitRatio: all ? ((r.HIT ?? 0) + (r.COALESCED ?? 0)) / all : 0, upstream: u.upstreamRequests };
  });
  // What a viewer costs the edges: CPU over the run per viewer-minute watched (the ramp counts half).
  const viewerMinutes = (viewers * (durationS + rampS / 2)) / 60;
  const edgeCpuSeconds = scraped.usage.filter((u) => u.role === 'edge').reduce((a, u) => a + u.cpuSeconds, 0);
  const coalescingOk = samples.coalescing.every((e) => e.worst <= 1) && (originSegmentGets === undefined || originSegmentGets <= edgeSegments);
  const result = {
    when: new Date(k6.startedAt).toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGiB: +(totalmem() / 2 ** 30).toFixed(1), freeGiB: +(freemem() / 2 ** 30).toFixed(1) },
    target: stack ? { stack: true, edges, ladder: '360p,240p', fps: 15 } : { url },
    load: { viewers, rampS, durationS, rendition, stream, lowLatency },
    edgeCpuMsPerViewerMinute: (1000 * edgeCpuSeconds) / viewerMinutes,
    k6: {
      exitCode: k6.exitCode, thresholdsPassed: k6.thresholdsPassed, thresholds: thresholds(k6.summary),
      segments: metric(k6.summary, 'hls_segments', 'count'), stalls: metric(k6.summary, 'hls_stalls', 'count'),
      errors: metric(k6.summary, 'hls_errors', 'count'), errorsByStatus: samples.errors, stale: metric(k6.summary, 'hls_playlist_stale', 'count'),
      requests: metric(k6.summary, 'http_reqs', 'count'), requestRate: metric(k6.summary, 'http_reqs', 'rate'),
      timeToFirstSegmentMs: { med: metric(k6.summary, 'hls_time_to_first_segment', 'med'), p95: metric(k6.summary, 'hls_time_to_first_segment', 'p(95)') },
      segmentDownloadMs: { med: metric(k6.summary, 'hls_segment_download_time', 'med'), p95: metric(k6.summary, 'hls_segment_download_time', 'p(95)'), max: metric(k6.summary, 'hls_segment_download_time', 'max') },
      segmentRatioP99: metric(k6.summary, 'hls_segment_download_ratio', 'p(99)'),
      playlistAgeP95Ms: metric(k6.summary, 'hls_playlist_age', 'p(95)'),
      redirectsPerEdge: samples.redirects,
      receivedMB: metric(k6.summary, 'data_received', 'count') / 1e6,
      k6CpuSeconds: k6.k6CpuSeconds,
      ...(lowLatency ? { ll: {
        parts: metric(k6.summary, 'hls_parts', 'count'),
        partDownloadMs: { med: metric(k6.summary, 'hls_part_download_time', 'med'), p95: metric(k6.summary, 'hls_part_download_time', 'p(95)') },
        blockingReloadMs: { med: metric(k6.summary, 'hls_ll_blocking_reload_time', 'med'), p95: metric(k6.summary, 'hls_ll_blocking_reload_time', 'p(95)') },
        latencyByPdtMs: { med: metric(k6.summary, 'hls_ll_latency', 'med'), p95: metric(k6.summary, 'hls_ll_latency', 'p(95)') },
        pdtLateAtLeastMs: (pdtProbe?.lateByAtLeast() ?? NaN) * 1000,
        renditionReports: metric(k6.summary, 'hls_ll_rendition_reports', 'count'), renditionReportLagMax: metric(k6.summary, 'hls_ll_rendition_report_lag', 'max'),
      } } : {}),
    },
    coalescing: { perEdge: samples.coalescing, originSegmentGets, edgeSegments, originFactor: originSegmentGets !== undefined && edgeSegments ? originSegmentGets / edgeSegments : undefined, ok: coalescingOk },
    edges: edgeRows,
    roles: scraped.usage,
  };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ ...result, series: samples.series, cpuSeries: scraped.cpuSeries }, null, 2) + '\n');

  const f = (x: number | undefined, d = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
  const md = [
    `# Load test ${result.when}`, '',
    `${viewers} ${lowLatency ? 'LL-HLS ' : ''}viewers (ramp ${rampS} s, hold ${durationS} s, rendition ${rendition}) against ${stack ? `cascade stack (${edges} edge${edges === 1 ? '' : 's'}, 360p+240p @15 fps${lowLatency ? ', --low-latency 0.5 s parts' : ''})` : url}; machine ${result.machine.cpus} x ${result.machine.cpuModel}.`, '',
    `k6 thresholds ${k6.thresholdsPassed ? 'passed' : `FAILED (exit ${k6.exitCode})`}; coalescing ${coalescingOk ? 'ok (each segment fetched upstream at most once per edge)' : 'NOT 1'}.`, '',
    markdown(['segments', 'stalls', 'errors', 'stale playlists', 'requests/s', 'first segment med / p95', 'segment med / p95 / max', 'download/duration p99', 'received'], [[
      result.k6.segments, result.k6.stalls, result.k6.errors, result.k6.stale, f(result.k6.requestRate, 1),
      `${f(result.k6.timeToFirstSegmentMs.med)} / ${f(result.k6.timeToFirstSegmentMs.p95)} ms`,
      `${f(result.k6.segmentDownloadMs.med, 1)} / ${f(result.k6.segmentDownloadMs.p95, 1)} / ${f(result.k6.segmentDownloadMs.max)} ms`,
      f(result.k6.segmentRatioP99, 3), `${f(result.k6.receivedMB)} MB`,
    ]]),
    ...(result.k6.ll ? ['LL-HLS (blocking reloads through the LB\'s 302, parts, rendition reports):', '',
      markdown(['parts', 'part med / p95', 'blocking reload med / p95', 'part at the viewer by PDT med / p95', 'PDT late by at least', 'part at the viewer at least med / p95', 'rendition reports', 'report lag max (segments)'], [[
        result.k6.ll.parts, `${f(result.k6.ll.partDownloadMs.med, 1)} / ${f(result.k6.ll.partDownloadMs.p95, 1)} ms`,
        `${f(result.k6.ll.blockingReloadMs.med)} / ${f(result.k6.ll.blockingReloadMs.p95)} ms`,
        `${f(result.k6.ll.latencyByPdtMs.med)} / ${f(result.k6.ll.latencyByPdtMs.p95)} ms`, `${f(result.k6.ll.pdtLateAtLeastMs)} ms`,
        `${f(result.k6.ll.latencyByPdtMs.med + result.k6.ll.pdtLateAtLeastMs)} / ${f(result.k6.ll.latencyByPdtMs.p95 + result.k6.ll.pdtLateAtLeastMs)} ms`,
        result.k6.ll.renditionReports, f(result.k6.ll.renditionReportLagMax),
      ]]), 'A part at the viewer is glass to the end of its download, before the PART-HOLD-BACK a player keeps; PDT runs late in the stack (docs/low-latency.md), so the lower bound adds the probe\'s.', ''] : []),
    `Edge CPU per viewer-minute: ${f(result.edgeCpuMsPerViewerMinute, 1)} ms (all edges' CPU over the run / ${f(viewerMinutes, 1)} viewer-minutes, the ramp counted half).`, '',
    'Coalescing (from the edges\' X-Cache as seen by the viewers; origin segment GETs from its /metrics):', '',
    markdown(['edge', 'redirects', 'distinct segments', 'segment responses', 'upstream fetches', 'per segment (factor)', 'worst segment', 'hit ratio (all stream requests)'],
      samples.coalescing.map((e) => [e.edge, samples.redirects[e.edge] ?? 0, e.segments, e.responses, e.upstream, f(e.factor, 2), e.worst,
        f(100 * (edgeRows.find((r) => r.edge === e.edge)?.hitRatio ?? NaN), 1) + '%'])),
    originSegmentGets !== undefined ? `Origin segment GETs during the run: ${originSegmentGets} for ${edgeSegments} (edge, segment) pairs = factor ${f(result.coalescing.originFactor, 2)}.\n` : '',
    'Roles (from their /metrics: `cascade_process_cpu_seconds_total`, `cascade_process_resident_memory_bytes`):', '',
    markdown(['role', 'CPU s', 'CPU %', 'RSS max MiB', 'requests'], [
      ...scraped.usage.map((u) => [u.name, f(u.cpuSeconds, 1), f(u.cpuPercent, 1), f(u.rssMaxMiB), Object.values(u.requests).reduce((a, b) => a + b, 0)]),
      ['k6 (load generator, /proc)', f(k6.k6CpuSeconds, 1), f((100 * k6.k6CpuSeconds) / ((k6.endedAt - k6.startedAt) / 1000), 1), '-', f(result.k6.requests)],
    ]),
    '![chart](chart.svg)', '',
  ].join('\n');
  writeFileSync(join(dir, 'summary.md'), md);

  const series = samples.series;
  const roleNames = [...new Set(scraped.cpuSeries.flatMap((s) => Object.keys(s.cpu)))];
  writeFileSync(join(dir, 'chart.svg'), svgChart(`cascade load test: ${viewers} viewers, ${stack ? `${edges} edge${edges === 1 ? '' : 's'}` : url}`, [
    { title: 'viewers', unit: 'k6 VUs', series: [{ name: 'VUs', color: COLORS[0]!, points: series.map((r) => [r.t, r.vus]) }] },
    { title: 'request rate', unit: 'requests/s', series: [{ name: 'all requests', color: COLORS[1]!, points: series.map((r) => [r.t, r.reqs]) }, { name: 'segments', color: COLORS[2]!, points: series.map((r) => [r.t, r.segments]) }] },
    { title: 'segment download time', unit: 'ms', series: [
      { name: 'median', color: COLORS[0]!, points: series.filter((r) => r.segments).map((r) => [r.t, r.segP50]) },
      { name: 'p95', color: COLORS[3]!, points: series.filter((r) => r.segments).map((r) => [r.t, r.segP95]) },
      { name: 'max', color: COLORS[1]!, points: series.filter((r) => r.segments).map((r) => [r.t, r.segMax]) },
    ] },
    { title: 'CPU per role', unit: '% of one core', series: roleNames.map((n, i) => ({ name: n, color: COLORS[i % COLORS.length]!, points: scraped.cpuSeries.filter((s) => s.cpu[n] !== undefined).map((s): [number, number] => [s.t, s.cpu[n]!]) })) },
  ]));
  if (stackLog.length) writeFileSync(join(dir, 'stack.log'), stackLog.join('\n') + '\n');
  process.stdout.write(`\n${md}\nresults: ${dir}\n`);
  await stop();
  process.exit(k6.thresholdsPassed && coalescingOk ? 0 : 1);
} catch (err) {
  await stop();
  if (stackLog.length) writeFileSync(join(dir, 'stack.log'), stackLog.join('\n') + '\n');
  process.stderr.write(`loadtest: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
