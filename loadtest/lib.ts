// What `npm run loadtest`, its smoke test and the viewer-capacity bench share: starting a stack on free
// loopback ports, running k6 (loadtest/hls-viewers.js) as a child, scraping `/metrics`, reading CPU from
// /proc, reducing k6's JSON output to per-second series and per-edge coalescing, and writing the report
// (summary.json, summary.md, chart.svg).
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../cli/stack.js';
import { freePort } from '../test/helpers/process.js';
import { parseLadder } from '../transcoder/index.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const K6 = join(ROOT, '.tools', 'bin', 'k6');
export const SCRIPT = join(ROOT, 'loadtest', 'hls-viewers.js');

export function k6Available(): boolean {
  return existsSync(K6);
}

// ---- the stack --------------------------------------------------------------------------------------

export interface LoadStackOptions {
  edges?: number;
  ladder?: string;
  fps?: number;
  sourceSize?: string;
  stream?: string;
  /** LL-HLS (`--low-latency`, 0.5 s parts): fMP4 segments streamed to the origin, which cuts parts. */
  lowLatency?: boolean;
  /** Every line the stack's children print. */
  write?: (line: string) => void;
}

/** `cascade stack` in this process (roles are child processes), on free loopback ports, light ladder. */
export async function startLoadStack(o: LoadStackOptions = {}): Promise<Stack> {
  const ports = async (n: number) => { const ps: number[] = []; for (let i = 0; i < n; i++) ps.push(await freePort()); return ps; };
  const [port, originPort, rtmpPort] = await ports(3);
  const edgePorts = await ports(o.edges ?? 2);
  return startStack({
    port: port!, host: '127.0.0.1', originPort: originPort!, edgePorts, rtmpPort: rtmpPort!, stream: o.stream ?? 'demo',
    uploadToken: `lt-${process.pid}-${Date.now()}`, privateRedis: true, ladder: parseLadder(o.ladder ?? '360p,240p'),
    fps: o.fps ?? 15, sourceSize: o.sourceSize ?? '640x360', preset: 'ultrafast', logLevel: 'warn',
    ...(o.lowLatency ? { segmentType: 'fmp4', lowLatency: true, partTargetMs: 500 } : { segmentType: 'ts' }),
    write: o.write ?? (() => {}),
  });
}

/** The first media playlist of `stream`'s master through `url`, and its newest complete segment (as paths). */
export async function newestSegment(url: string, stream: string): Promise<{ playlist: string; segment: string }> {
  const uris = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const master = await (await fetch(`${url}/hls/${stream}/index.m3u8`)).text();
  const playlist = `/hls/${stream}/${uris(master)[0]!}`;
  const segments = uris(await (await fetch(url + playlist)).text());
  return { playlist, segment: `/hls/${stream}/${segments.at(-2)!}` };
}

/** Resolves once every media playlist of the stream (through `url`, following redirects) lists `min` segments. */
export async function waitForStream(url: string, stream: string, min = 2, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const master = await fetch(`${url}/hls/${stream}/index.m3u8`, { signal: AbortSignal.timeout(2000) });
      const text = await master.text();
      if (master.ok) {
        const uris = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
        const counts = await Promise.all(uris.map(async (u) => {
          const r = await fetch(new URL(u, master.url), { signal: AbortSignal.timeout(2000) });
          return (await r.text()).split('\n').filter((l) => l.startsWith('#EXTINF')).length;
        }));
        if (counts.length > 0 && counts.every((c) => c >= min)) return;
        last = `segments per rendition: ${counts.join(', ')}`;
      } else last = `master: ${master.status}`;
    } catch (e) { last = (e as Error).message; }
    // Nothing announces "playlist has N segments"; poll it as a player would.
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`stream ${stream} not playable through ${url} within ${timeoutMs / 1000} s (${last})`);
}

// ---- k6 ---------------------------------------------------------------------------------------------

export interface K6Options {
  url: string;
  stream: string;
  viewers: number;
  rampS: number;
  durationS: number;
  rendition?: 'lowest' | 'highest' | 'random';
  /** Directory for k6.json (every sample), k6-summary.json and k6.log. */
  dir: string;
  /** Give each VU its own loopback source address (so the LB's client hash spreads them over edges). */
  spreadClients?: boolean;
  staleTds?: number;
  /** LL-HLS players (blocking reloads, parts, rendition reports): LL=1 for the script. */
  lowLatency?: boolean;
}

export interface K6Result {
  exitCode: number | null;
  /** k6 exits 99 when a threshold failed. */
  thresholdsPassed: boolean;
  summary: K6Summary;
  jsonPath: string;
  log: string;
  startedAt: number;
  endedAt: number;
  /** CPU seconds k6 itself used (last /proc reading before it exited): the load generator's cost. */
  k6CpuSeconds: number;
}

export interface K6Summary {
  metrics: Record<string, Record<string, number> & { thresholds?: Record<string, boolean> }>;
}

export async function runK6(o: K6Options): Promise<K6Result> {
  if (!k6Available()) throw new Error(`${K6} not found: run bash loadtest/install-k6.sh (needs Go)`);
  const jsonPath = join(o.dir, 'k6.json');
  const summaryPath = join(o.dir, 'k6-summary.json');
  const args = ['run', '--quiet', '--no-color', '--summary-export', summaryPath, '--out', `json=${jsonPath}`,
    ...(o.spreadClients ?? true ? ['--local-ips', '127.0.1.1-127.0.8.254'] : []), SCRIPT];
  const env = {
    ...process.env, LB_URL: o.url, STREAM: o.stream, VIEWERS: String(o.viewers), RAMP: `${o.rampS}s`, DURATION: `${o.durationS}s`,
    RENDITION: o.rendition ?? 'random', STALE_TDS: String(o.staleTds ?? 3), LL: o.lowLatency ? '1' : '', K6_NO_USAGE_REPORT: 'true',
  };
  const startedAt = Date.now();
  const child = spawn(K6, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  // Bounded: k6 stops itself after ramp + duration + graceful stop; this is the backstop.
  const backstop = setTimeout(() => { try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ } }, (o.rampS + o.durationS + 60) * 1000);
  let k6CpuSeconds = 0;
  const cpuPoll = setInterval(() => { k6CpuSeconds = Math.max(k6CpuSeconds, procCpuSeconds(child.pid!)); }, 500);
  const exitCode = await new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  clearTimeout(backstop);
  clearInterval(cpuPoll);
  const endedAt = Date.now();
  writeFileSync(join(o.dir, 'k6.log'), log);
  if (!existsSync(summaryPath)) throw new Error(`k6 exited ${exitCode} without a summary:\n${log.slice(-3000)}`);
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as K6Summary;
  return { exitCode, thresholdsPassed: exitCode === 0, summary, jsonPath, log, startedAt, endedAt, k6CpuSeconds };
}

/** Threshold verdicts from the summary export (its boolean is true when the threshold was crossed). */
export function thresholds(summary: K6Summary): { metric: string; threshold: string; ok: boolean }[] {
  return Object.entries(summary.metrics).flatMap(([metric, m]) => Object.entries(m.thresholds ?? {}).map(([threshold, crossed]) => ({ metric, threshold, ok: !crossed })));
}

export function metric(summary: K6Summary, name: string, stat: string): number {
  return summary.metrics[name]?.[stat] ?? 0;
}

// ---- k6 samples -> series and coalescing ------------------------------------------------------------

export interface SecondRow {
  t: number; vus: number; reqs: number; segments: number; segP50: number; segP95: number; segMax: number;
}

export interface EdgeCoalescing {
  edge: string;
  /** Distinct segment paths viewers fetched through this edge. */
  segments: number;
  responses: number;
  /** Responses that started an upstream fetch (X-Cache MISS or PASS). */
  upstream: number;
  hits: number;
  coalesced: number;
  /** upstream / segments: 1 means every segment was fetched from upstream once. */
  factor: number;
  /** The most upstream fetches any single segment needed. */
  worst: number;
}

export interface K6Samples {
  series: SecondRow[];
  coalescing: EdgeCoalescing[];
  redirects: Record<string, number>;
  errors: Record<string, number>;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

interface Point { metric: string; type: string; data: { time: string; value: number; tags?: Record<string, string> } }

export async function readK6Samples(jsonPath: string): Promise<K6Samples> {
  const start = { t: Infinity };
  const buckets = new Map<number, { vus: number; reqs: number; seg: number[] }>();
  const bucket = (t: number) => {
    let b = buckets.get(t);
    if (!b) { b = { vus: -1, reqs: 0, seg: [] }; buckets.set(t, b); }
    return b;
  };
  const perEdge = new Map<string, { segs: Map<string, number>; responses: number; hits: number; coalesced: number }>();
  const redirects: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const lines = createInterface({ input: createReadStream(jsonPath), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('{"metric"')) continue;
    const p = JSON.parse(line) as Point;
    if (p.type !== 'Point') continue;
    const ms = Date.parse(p.data.time);
    start.t = Math.min(start.t, ms);
    const sec = Math.floor(ms / 1000);
    const tags = p.data.tags ?? {};
    switch (p.metric) {
      case 'vus': bucket(sec).vus = Math.max(bucket(sec).vus, p.data.value); break;
      case 'http_reqs': bucket(sec).reqs += p.data.value; break;
      case 'hls_segment_download_time': bucket(sec).seg.push(p.data.value); break;
      case 'hls_redirects': redirects[tags.edge ?? '?'] = (redirects[tags.edge ?? '?'] ?? 0) + p.data.value; break;
      case 'hls_errors':
        if (p.data.value > 0) { const k = `${tags.kind ?? '?'} ${tags.status ?? '?'}`; errors[k] = (errors[k] ?? 0) + p.data.value; }
        break;
      case 'hls_segment_responses': {
        const edge = tags.edge ?? '?';
        let e = perEdge.get(edge);
        if (!e) { e = { segs: new Map(), responses: 0, hits: 0, coalesced: 0 }; perEdge.set(edge, e); }
        e.responses++;
        const cache = (tags.cache ?? '').toUpperCase();
        const upstream = cache === 'MISS' || cache === 'PASS' ? 1 : 0;
        e.segs.set(tags.seg ?? '?', (e.segs.get(tags.seg ?? '?') ?? 0) + upstream);
        if (cache === 'HIT') e.hits++;
        if (cache === 'COALESCED') e.coalesced++;
        break;
      }
    }
  }
  const secs = [...buckets.keys()].sort((a, b) => a - b);
  const t0 = secs[0] ?? 0;
  let vus = 0;
  const series = secs.map((s) => {
    const b = buckets.get(s)!;
    if (b.vus >= 0) vus = b.vus;
    const seg = b.seg.sort((x, y) => x - y);
    return { t: s - t0, vus, reqs: b.reqs, segments: seg.length, segP50: quantile(seg, 0.5), segP95: quantile(seg, 0.95), segMax: seg.at(-1) ?? 0 };
  });
  const coalescing = [...perEdge.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([edge, e]) => {
    const upstream = [...e.segs.values()].reduce((a, b) => a + b, 0);
    return {
      edge, segments: e.segs.size, responses: e.responses, upstream, hits: e.hits, coalesced: e.coalesced,
      factor: e.segs.size ? upstream / e.segs.size : 0, worst: Math.max(0, ...e.segs.values()),
    };
  });
  return { series, coalescing, redirects, errors };
}

// ---- /metrics and /proc -----------------------------------------------------------------------------

export interface Sample { name: string; labels: Record<string, string>; value: number }

export function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

export async function scrape(url: string): Promise<Sample[]> {
  try {
    const r = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) });
    return r.ok ? parseProm(await r.text()) : [];
  } catch {
    return [];
  }
}

export function total(samples: Sample[], name: string, where: (labels: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
}

const CLK_TCK = 100;

/** utime + stime of one process, in seconds (0 when it is gone). */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

export function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The memory only this process holds (private pages: its heap, stacks, anonymous maps), without the
 * binary's and libraries' text that every process running them shares (Node's is ~55 MiB of RSS).
 */
export function procPrivateBytes(pid: number): number {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0);
    return (kb('Private_Clean') + kb('Private_Dirty')) * 1024;
  } catch {
    return 0;
  }
}

/** utime + stime of a process and its direct children (nginx's workers, a role's `--workers`), in seconds. */
export function familyCpuSeconds(pid: number): number {
  return procFamily(pid).reduce((sum, p) => sum + procCpuSeconds(p), 0);
}

/** The pid and its direct children (nginx master + workers). */
export function procFamily(pid: number): number[] {
  const kids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(d));
    } catch { /* gone */ }
  }
  return [pid, ...kids];
}

export interface Target { name: string; role: 'origin' | 'edge' | 'lb'; url: string; pid?: number }

export interface RoleUsage {
  name: string; role: string; cpuSeconds: number; cpuPercent: number; rssMaxMiB: number;
  requests: Record<string, number>;
  upstreamRequests: number;
}

/** Scrapes every target every `everyMs` while the run lasts; `stop()` returns the deltas and the samples. */
export function startSampler(targets: Target[], everyMs = 2000) {
  const first = new Map<string, Sample[]>();
  const last = new Map<string, Sample[]>();
  const rssMax = new Map<string, number>();
  const cpuSeries: { t: number; cpu: Record<string, number> }[] = [];
  let prev: { t: number; cpu: Record<string, number> } | undefined;
  const t0 = Date.now();
  const cpuOf = (samples: Sample[]) => total(samples, 'cascade_process_cpu_seconds_total');
  const take = async () => {
    const now = Date.now();
    const cpu: Record<string, number> = {};
    await Promise.all(targets.map(async (t) => {
      const s = await scrape(t.url);
      if (s.length === 0) return;
      if (!first.has(t.name)) first.set(t.name, s);
      last.set(t.name, s);
      rssMax.set(t.name, Math.max(rssMax.get(t.name) ?? 0, total(s, 'cascade_process_resident_memory_bytes')));
      cpu[t.name] = cpuOf(s);
    }));
    if (prev) {
      const pct: Record<string, number> = {};
      for (const [k, v] of Object.entries(cpu)) if (prev.cpu[k] !== undefined) pct[k] = (100 * (v - prev.cpu[k]!)) / ((now - prev.t) / 1000);
      cpuSeries.push({ t: (now - t0) / 1000, cpu: pct });
    }
    prev = { t: now, cpu };
  };
  let running = take();
  const timer = setInterval(() => { running = running.then(take); }, everyMs);
  return {
    async stop(): Promise<{ usage: RoleUsage[]; cpuSeries: typeof cpuSeries; first: Map<string, Sample[]>; last: Map<string, Sample[]>; seconds: number }> {
      clearInterval(timer);
      await running;
      await take();
      const seconds = (Date.now() - t0) / 1000;
      const usage = targets.map((t) => {
        const a = first.get(t.name) ?? [];
        const b = last.get(t.name) ?? [];
        const d = (name: string, where?: (l: Record<string, string>) => boolean) => total(b, name, where) - total(a, name, where);
        const requests: Record<string, number> = {};
        const counter = t.role === 'edge' ? 'cascade_edge_requests_total' : t.role === 'origin' ? 'cascade_origin_requests_total' : 'cascade_lb_requests_total';
        const key = t.role === 'edge' ? 'result' : t.role === 'origin' ? 'result' : 'outcome';
        for (const s of b) if (s.name === counter) requests[s.labels[key] ?? '?'] = d(counter, (l) => l[key] === s.labels[key]);
        const cpuSeconds = d('cascade_process_cpu_seconds_total');
        return {
          name: t.name, role: t.role, cpuSeconds, cpuPercent: (100 * cpuSeconds) / seconds, rssMaxMiB: (rssMax.get(t.name) ?? 0) / 2 ** 20,
          requests, upstreamRequests: d('cascade_edge_upstream_requests_total'),
        };
      });
      return { usage, cpuSeries, first, last, seconds };
    },
  };
}

export function stackTargets(stack: Stack): Target[] {
  const pid = (n: string) => stack.roles.get(n)?.pid;
  return [
    { name: 'origin', role: 'origin', url: stack.urls.origin, ...(pid('origin') ? { pid: pid('origin')! } : {}) },
    ...stack.urls.edges.map((url, i): Target => ({ name: `edge-${i + 1}`, role: 'edge', url, ...(pid(`edge-${i + 1}`) ? { pid: pid(`edge-${i + 1}`)! } : {}) })),
    { name: 'lb', role: 'lb', url: stack.urls.lb, ...(pid('lb') ? { pid: pid('lb')! } : {}) },
  ];
}

// ---- reports ----------------------------------------------------------------------------------------

/** Nearest-rank percentile, `p` in (0, 1]; NaN for no values. */
export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function markdown(header: string[], rows: (string | number)[][]): string {
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

export interface Panel {
  title: string;
  unit: string;
  series: { name: string; color: string; points: [number, number][] }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v) ?? v;
}

/** Stacked line panels sharing the x axis (seconds); plain SVG, no dependencies. */
export function svgChart(title: string, panels: Panel[], width = 860): string {
  const ph = 150;
  const gap = 46;
  const left = 64;
  const right = 170;
  const top = 40;
  const height = top + panels.length * (ph + gap) + 10;
  const xMax = Math.max(1, ...panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x))));
  const pw = width - left - right;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  panels.forEach((p, i) => {
    const y0 = top + i * (ph + gap) + 16;
    const yMax = niceMax(Math.max(0, ...p.series.flatMap((s) => s.points.map(([, y]) => y))));
    const X = (x: number) => left + (pw * x) / xMax;
    const Y = (y: number) => y0 + ph - (ph * y) / yMax;
    out.push(`<text x="${left}" y="${y0 - 5}" font-weight="bold">${esc(p.title)} (${esc(p.unit)})</text>`);
    out.push(`<rect x="${left}" y="${y0}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      out.push(`<line x1="${left}" x2="${left + pw}" y1="${Y(v)}" y2="${Y(v)}" stroke="#eee"/>`);
      out.push(`<text x="${left - 6}" y="${Y(v) + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`);
    }
    const step = niceMax(xMax / 6);
    for (let x = 0; x <= xMax; x += step) out.push(`<text x="${X(x)}" y="${y0 + ph + 14}" text-anchor="middle">${+x.toPrecision(3)} s</text>`);
    p.series.forEach((s, j) => {
      if (s.points.length > 0) {
        const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join('');
        out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
      }
      out.push(`<line x1="${left + pw + 12}" x2="${left + pw + 30}" y1="${y0 + 10 + j * 16}" y2="${y0 + 10 + j * 16}" stroke="${s.color}" stroke-width="3"/>`);
      out.push(`<text x="${left + pw + 36}" y="${y0 + 14 + j * 16}">${esc(s.name)}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
