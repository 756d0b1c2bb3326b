// `npm run bench` (lb): 1) the selector choice — balance, movement and determinism of the `consistent-hash`
// ring, Maglev and weighted rendezvous over the same 10,000 client keys; 2) redirects per second of
// `cascade lb` (one process, --workers 1) against haproxy (bench/haproxy-lb.cfg, one thread) under wrk:
// kept-alive connections asking one target again (as a player reloading its playlist through the LB; the
// fast path sends a connection's last redirect again), kept-alive with a new target each time (every
// redirect decided afresh), a new connection each, and one target pipelined 16 deep (bench/pipelined.lua:
// wrk's own cost per request drops so far that two workers get the cores); alternating runs, medians
// printed as cascade/haproxy ratios, and the same LB with --workers 2 against 1. Run `npm run build` first (npm run bench does).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { hash32, Selector } from '../lb/selector.js';
import {
  BASE_WEIGHTS, CHANGES, clientKeys, movedShare, movementBound, totalVariation, weightShares, worstImbalance, type Pick, type Weights,
} from '../lb/selector-eval.js';
import { familyCpuSeconds } from '../loadtest/lib.js';
import { freePort, startChild, type Child } from '../test/helpers/process.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

// ---- 1. selectors ---------------------------------------------------------------------------------

type Build = (weights: Weights) => Pick;

const ConsistentHash = createRequire(import.meta.url)('consistent-hash') as new (options?: object) => {
  add(node: string, n?: number, points?: number[]): void;
  get(key: string): string | null;
};

const RING_RANGE = 1_000_003;
/** The package as documented, with ring points drawn by Math.random() (weight = number of points). */
const ringRandom: Build = (weights) => {
  const ring = new ConsistentHash({ range: RING_RANGE });
  for (const [id, w] of Object.entries(weights)) if (w > 0) ring.add(id, Math.round(w * 1.6));
  return (key) => ring.get(key) ?? undefined;
};
/** The package with deterministic points: hash(id#i), 160 points per 100 weight (ketama's density). */
const ringDeterministic: Build = (weights) => {
  const ring = new ConsistentHash({ range: RING_RANGE });
  for (const [id, w] of Object.entries(weights)) {
    if (w > 0) ring.add(id, undefined, Array.from({ length: Math.round(w * 1.6) }, (_, i) => hash32(`${id}#${i}`, 0x2545f491) % RING_RANGE));
  }
  return (key) => ring.get(key) ?? undefined;
};

/** Maglev (Eisenbud et al., NSDI'16) with weights as fill turns, table of 65,537 entries. */
const maglev: Build = (weights) => {
  const M = 65_537;
  const ids = Object.keys(weights).filter((id) => weights[id]! > 0).sort();
  const max = Math.max(...ids.map((id) => weights[id]!));
  const offset = ids.map((id) => hash32(id, 1) % M);
  const skip = ids.map((id) => (hash32(id, 2) % (M - 1)) + 1);
  const next = ids.map(() => 0);
  const credit = ids.map(() => 0);
  const table = new Int32Array(M).fill(-1);
  let filled = 0;
  while (filled < M && ids.length > 0) {
    for (let i = 0; i < ids.length && filled < M; i++) {
      credit[i]! += weights[ids[i]!]! / max;
      while (credit[i]! >= 1 && filled < M) {
        credit[i]! -= 1;
        let slot = (offset[i]! + next[i]! * skip[i]!) % M;
        while (table[slot]! >= 0) slot = (offset[i]! + ++next[i]! * skip[i]!) % M;
        table[slot] = i;
        next[i]!++;
        filled++;
      }
    }
  }
  return (key) => ids[table[hash32(key, 3) % M]!];
};

const rendezvous: Build = (weights) => {
  const s = new Selector(Object.entries(weights).map(([id, weight]) => ({ id, weight })));
  return (key) => s.pick(key)?.id;
};

function compareSelectors(): void {
  const keys = clientKeys(10_000);
  const schemes: [string, Build][] = [
    ['consistent-hash, random points', ringRandom],
    ['consistent-hash, deterministic points', ringDeterministic],
    ['Maglev (M=65537)', maglev],
    ['weighted rendezvous (chosen)', rendezvous],
  ];
  const header = ['scheme', 'agree (2 builds)', 'worst imbalance', ...CHANGES.map((c) => `${c.name}: moved (min)`), 'ns/pick'];
  const rows = schemes.map(([name, build]) => {
    const a = build(BASE_WEIGHTS);
    const b = build(BASE_WEIGHTS);
    const agree = 1 - movedShare(a, b, keys);
    const worst = Math.max(worstImbalance(a, BASE_WEIGHTS, keys), ...CHANGES.map((c) => worstImbalance(build(c.weights), c.weights, keys)));
    const moves = CHANGES.map((c) => {
      const minimum = totalVariation(weightShares(BASE_WEIGHTS), weightShares(c.weights));
      const moved = movedShare(a, build(c.weights), keys);
      return `${pct(moved)} (${pct(minimum)})${moved <= movementBound(minimum) ? '' : ' ✗'}`;
    });
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < 20; r++) for (const k of keys) a(k);
    const ns = Number(process.hrtime.bigint() - t0) / (20 * keys.length);
    return [name, pct(agree), `±${pct(worst)}${worst <= 0.05 ? '' : ' ✗'}`, ...moves, ns.toFixed(0)];
  });
  process.stdout.write(`\nSelectors over 10,000 client keys, base weights ${JSON.stringify(BASE_WEIGHTS)}\n`);
  process.stdout.write(markdown(header, rows));
}

// ---- 2. redirects per second ------------------------------------------------------------------------

const EDGES = [['e1', 9001, 100], ['e2', 9002, 50], ['e3', 9003, 150]] as const;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_WRK_S ?? 4);
const CONNECTIONS = 32;
const PATH = '/hls/demo/720p/seg-00042.ts';

const PIPELINE_DEPTH = 16;

const PIPELINED = `keep-alive, pipelined ${PIPELINE_DEPTH} deep` as const;
type Mode = 'keep-alive' | 'keep-alive, a new target each' | 'Connection: close' | typeof PIPELINED;
/** A wrk script giving each request a new target: the LB then decides every redirect afresh (no connection's last one to send again). */
const VARIED_TARGETS_LUA = 'local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, "/hls/demo/720p/seg-" .. n .. ".ts")\nend\n';

/**
 * One wrk run against `url`: redirects per second, and the server's CPU per redirect (µs; the CPU time of
 * `pid` and its children from /proc over the requests wrk made), which the load tool sharing the cores
 * does not cap the way it caps requests per second. `variedScript`: where VARIED_TARGETS_LUA was written.
 */
function wrk(url: string, mode: Mode, variedScript: string, pid?: number): { rps: number; usPerRequest: number } {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, ...(mode === 'Connection: close' ? ['-H', 'Connection: close'] : []),
    ...(mode === 'keep-alive, a new target each' ? ['-s', variedScript] : []),
    ...(mode === PIPELINED ? ['-s', join(here, 'pipelined.lua'), url, '--', String(PIPELINE_DEPTH), PATH] : [url])];
  const cpu = () => (pid === undefined ? 0 : familyCpuSeconds(pid));
  const before = cpu();
  const r = spawnSync('wrk', args, { encoding: 'utf8', timeout: (SECONDS + 20) * 1000 });
  const used = cpu() - before;
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  const requests = /(\d+) requests in/.exec(r.stdout ?? '');
  if (!rps || !requests) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  // 3xx is success for wrk; anything else means the LB answered 503/400 and the number is meaningless.
  if (/Non-2xx or 3xx responses/.test(r.stdout)) throw new Error(`unexpected statuses:\n${r.stdout}`);
  return { rps: Number(rps[1]), usPerRequest: (used * 1e6) / Number(requests[1]) };
}

async function waitForRedirect(url: string, child: Child): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode === 302) return;
    } catch { /* not listening yet */ }
    if (child.proc.exitCode !== null) throw new Error(`exited early:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no 302 from ${url}:\n${child.output()}`);
}

async function compareWithHaproxy(): Promise<void> {
  const [cascadePort, cascade2Port, haproxyPort] = [await freePort(), await freePort(), await freePort()];
  const lb = (port: number, workers: number) => startChild(process.execPath, [join(root, 'dist/cli.js'), 'lb', '--workers', String(workers),
    '--port', String(port), '--health-interval', '0', ...EDGES.flatMap(([id, edgePort, w]) => ['--edge', `${id}=http://127.0.0.1:${edgePort}@${w}`])]);
  const cascade = lb(cascadePort, 1);
  const cascade2 = lb(cascade2Port, 2);
  // haproxy's weighted buckets: as many per edge as its weight (bench/haproxy-lb.cfg).
  const buckets = EDGES.flatMap(([, port, w]) => Array.from({ length: w }, () => `http://127.0.0.1:${port}`));
  const work = mkdtempSync(join(tmpdir(), 'cascade-lb-bench-'));
  const variedScript = join(work, 'varied.lua');
  writeFileSync(variedScript, VARIED_TARGETS_LUA);
  writeFileSync(join(work, 'edges.map'), buckets.map((url, i) => `${i} ${url}\n`).join(''));
  writeFileSync(join(work, 'haproxy.cfg'), readFileSync(join(here, 'haproxy-lb.cfg'), 'utf8')
    .replaceAll('@BUCKETS@', String(buckets.length)).replaceAll('@MAP@', join(work, 'edges.map')));
  const haproxy = startChild('haproxy', ['-db', '-f', join(work, 'haproxy.cfg')], { env: { ...process.env, BENCH_HAPROXY_PORT: String(haproxyPort) } });
  try {
    const targets = {
      cascade: `http://127.0.0.1:${cascadePort}${PATH}`, haproxy: `http://127.0.0.1:${haproxyPort}${PATH}`, cascade2: `http://127.0.0.1:${cascade2Port}${PATH}`,
    };
    await waitForRedirect(targets.cascade, cascade);
    await waitForRedirect(targets.cascade2, cascade2);
    await waitForRedirect(targets.haproxy, haproxy);
    const pids = { cascade: cascade.pid, haproxy: haproxy.pid, cascade2: cascade2.pid };
    const rows: string[][] = [];
    const cpuRows: string[][] = [];
    for (const mode of ['keep-alive', 'keep-alive, a new target each', 'Connection: close', PIPELINED] as const) {
      for (const t of Object.values(targets)) wrk(t, mode, variedScript); // warm-up: JIT for Node, and both sockets paths
      const results = { cascade: [] as number[], haproxy: [] as number[], cascade2: [] as number[] };
      const cpu = { cascade: [] as number[], haproxy: [] as number[], cascade2: [] as number[] };
      for (let run = 0; run < RUNS; run++) {
        // Alternate which goes first, so drift on a noisy machine hits both alike.
        const order = run % 2 === 0 ? (['cascade', 'haproxy', 'cascade2'] as const) : (['cascade2', 'haproxy', 'cascade'] as const);
        for (const name of order) {
          const r = wrk(targets[name], mode, variedScript, pids[name]);
          results[name].push(r.rps);
          cpu[name].push(r.usPerRequest);
        }
      }
      const [c, h, c2] = [median(results.cascade), median(results.haproxy), median(results.cascade2)];
      rows.push([mode, c.toFixed(0), h.toFixed(0), (c / h).toFixed(2), c2.toFixed(0), (c2 / c).toFixed(2)]);
      const [uc, uh, uc2] = [median(cpu.cascade), median(cpu.haproxy), median(cpu.cascade2)];
      cpuRows.push([mode, uc.toFixed(1), uh.toFixed(1), (uh / uc).toFixed(2), uc2.toFixed(1)]);
      process.stdout.write(`${mode}: cascade ${results.cascade.map((x) => x.toFixed(0)).join(' ')} | haproxy ${results.haproxy.map((x) => x.toFixed(0)).join(' ')}` +
        ` | cascade 2 workers ${results.cascade2.map((x) => x.toFixed(0)).join(' ')}\n`);
    }
    process.stdout.write(`\nRedirects/s, wrk -t1 -c${CONNECTIONS} -d${SECONDS}s, median of ${RUNS} alternating runs, one haproxy thread vs one Node process (--workers 1)\n`);
    process.stdout.write(markdown(['connections', 'cascade lb', 'haproxy 2.6', 'cascade/haproxy', 'cascade lb, 2 workers', '2 workers / 1'], rows));
    process.stdout.write('\nServer CPU per redirect (µs, /proc over the same runs, median): redirects per core-second, cascade against haproxy\n');
    process.stdout.write(markdown(['connections', 'cascade lb, µs', 'haproxy 2.6, µs', 'cascade/haproxy per core', 'cascade lb, 2 workers, µs'], cpuRows));
  } finally {
    await haproxy.kill();
    await cascade.kill();
    await cascade2.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- helpers ---------------------------------------------------------------------------------------

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function markdown(header: string[], rows: string[][]): string {
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n') + '\n';
}

compareSelectors();
await compareWithHaproxy();
