// `npm run bench` (paced): the viewers bench's question in seconds instead of minutes. Edge CPU per
// request at a viewer's pace (bench/paced-client.mjs: 100 kept-alive connections, 300 requests a second
// in all, alternating a live media playlist and a cached segment), a cascade edge (`--workers 1`, from
// dist/) against the bare Node relay (bench/node-relay-floor.mjs), both in front of the same origin fed by
// the stack's test source and transcoder. At this pace every request is its own trip through the event
// loop, as under real players; under wrk the same hits cost a tenth (bench/edge.bench.ts).
// Bounded: BENCH_RUNS (default 6) rotating rounds of BENCH_PACED_S (default 8) s each.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdown, median, newestSegment, procCpuSeconds, startLoadStack, waitForStream } from '../loadtest/lib.js';
import { freePort, startChild } from '../test/helpers/process.js';

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 6);
const SECONDS = Number(process.env.BENCH_PACED_S ?? 8);
const RATE = 300;
const CONNECTIONS = 100;

process.env.CASCADE_MASTER_VIA_LB = 'false';
const stack = await startLoadStack({ edges: 1, write: () => {} });
const [edgePort, floorPort] = [await freePort(), await freePort()];
const contenders = {
  cascade: { url: `http://127.0.0.1:${edgePort}`, child: startChild(process.execPath, [join(here, '../dist/cli.js'), 'edge', '--workers', '1', '--port', String(edgePort), '--origin', stack.urls.origin, '--id', 'paced', '--log-level', 'error']) },
  floor: { url: `http://127.0.0.1:${floorPort}`, child: startChild(process.execPath, [join(here, 'node-relay-floor.mjs'), String(floorPort), stack.urls.origin]) },
};
const NAMES = ['cascade', 'floor'] as const;

/** The live playlist and its newest complete segment, fetched once through each contender so both are cached. */
async function paths(): Promise<string> {
  const { playlist, segment } = await newestSegment(contenders.cascade.url, 'demo');
  for (const c of Object.values(contenders)) await (await fetch(c.url + segment)).arrayBuffer();
  return `${playlist},${segment}`;
}

try {
  for (const c of Object.values(contenders)) await waitForStream(c.url, 'demo', 3);
  const perRequest = { cascade: [] as number[], floor: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    for (const name of NAMES.map((_, i) => NAMES[(i + run) % NAMES.length]!)) {
      const { url, child } = contenders[name];
      const asked = await paths();
      const before = procCpuSeconds(child.pid);
      const r = spawnSync(process.execPath, [join(here, 'paced-client.mjs'), url, asked, String(RATE), String(CONNECTIONS), String(SECONDS)], { encoding: 'utf8', timeout: (SECONDS + 20) * 1000 });
      const cpu = procCpuSeconds(child.pid) - before;
      const { done, errors } = JSON.parse(r.stdout) as { done: number; errors: number };
      if (errors > 0 || done === 0) throw new Error(`${name}: ${errors} errors in ${done} requests: ${r.stderr}`);
      perRequest[name].push((cpu * 1e6) / done);
      process.stdout.write(`run ${run + 1} ${name}: ${done} requests, ${((cpu * 1e6) / done).toFixed(0)} µs of CPU each\n`);
    }
  }
  const [c, f] = [median(perRequest.cascade), median(perRequest.floor)];
  process.stdout.write(`\nEdge CPU per request at ${RATE} requests/s over ${CONNECTIONS} kept-alive connections (a playlist and a segment in turn), median of ${RUNS} rotating ${SECONDS} s runs\n`);
  process.stdout.write(markdown(['', 'cascade edge', 'bare Node relay', 'cascade/bare Node'], [['µs of CPU per request', c.toFixed(0), f.toFixed(0), (c / f).toFixed(2)]]));
} finally {
  for (const c of Object.values(contenders)) await c.child.kill();
  await stack.stop();
}
