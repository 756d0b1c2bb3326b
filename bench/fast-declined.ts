// Server CPU per request that the raw fast path declines (src/fast-http.ts), served on a one-request
// connection (src/one-request-connection.ts), against the same request on Node's own keep-alive path
// (what a connection handed to Node for good costs), and a fast-path hit for scale. One kept-alive
// connection, sequential requests (undici), the server in its own process, CPU read from /proc.
// A few seconds in all: `node --import tsx bench/fast-declined.ts` (BENCH_REQUESTS, BENCH_RUNS).
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { Client } from 'undici';
import { ResponseHead, writeFast, type FastAnswer } from '../src/fast-http.js';
import { listen } from '../src/serve.js';
import { startChild } from '../test/helpers/process.js';

type Mode = 'declined' | 'node' | 'hit';
const MODES: Mode[] = ['declined', 'node', 'hit'];

if (process.argv[2] === 'serve') await serve(process.argv[3] as Mode);
else await measure();

async function serve(mode: Mode): Promise<void> {
  const app = new Hono();
  app.get('*', (c) => c.text('slow'));
  const head = new ResponseHead(200, 'OK', ['content-type', 'text/plain; charset=UTF-8', 'content-length', '4']);
  const body = Buffer.from('fast');
  const answer: FastAnswer = mode === 'hit' ? (req) => { writeFast(req, head, Date.now(), body); return true; } : () => false;
  const server = await listen(app, { port: 0, host: '127.0.0.1', ...(mode === 'node' ? {} : { fastPath: answer }) });
  process.stdout.write(`port ${server.port}\n`);
}

/** User + system CPU of `pid` in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function once(mode: Mode, requests: number): Promise<number> {
  const child = startChild(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'serve', mode]);
  try {
    const port = Number((await child.waitFor(/port (\d+)/))[1]);
    const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 });
    const get = async () => {
      const r = await client.request({ path: '/x', method: 'GET' });
      await r.body.text();
    };
    for (let i = 0; i < 500; i++) await get(); // warm up the JIT
    const before = cpuMs(child.pid);
    for (let i = 0; i < requests; i++) await get();
    const used = cpuMs(child.pid) - before;
    await client.close();
    return (used * 1000) / requests;
  } finally {
    await child.kill();
  }
}

async function measure(): Promise<void> {
  const requests = Number(process.env.BENCH_REQUESTS ?? 4000);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const samples: Record<Mode, number[]> = { declined: [], node: [], hit: [] };
  for (let run = 0; run < runs; run++) for (const mode of MODES) samples[mode].push(await once(mode, requests));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`server CPU per request, µs (${requests} sequential requests on one kept-alive connection, median of ${runs} alternating runs)\n`);
  for (const mode of MODES) process.stdout.write(`  ${mode.padEnd(9)} ${median(samples[mode]).toFixed(1).padStart(6)}   runs: ${samples[mode].map((x) => x.toFixed(1)).join(', ')}\n`);
}
