// `npm run bench` (ll-hop): what the LB's redirect costs an LL-HLS player whose media playlists are named
// through the LB (edge --lb, --master-via-lb): every blocking reload is a 302 at the LB and then a request
// held at the edge. An in-process LL origin (test/helpers/ll-fake-origin.ts) publishes a part every
// 500 ms in two renditions; one edge and one LB run as processes (dist/cli.js). Viewers reload like
// hls.js in lowLatencyMode: on each answer, at once, a blocking reload for the next part, in phases
// straight at the edge or through the LB (the 302 followed by hand, keep-alive pools both). Reported:
//   1) release -> answer per blocking reload (the origin publishing the part -> the viewer holding the
//      playlist), direct and via the LB, median and p95, and how many reloads found their part published
//      already (for those the hop is not hidden behind the hold);
//   2) LB and edge CPU per blocking reload at that rate (/proc), and LL viewers per LB core.
// Run `npm run build` first (npm run bench does). Options: --viewers N (default 100), --seconds S (default 30),
// --tls (HTTPS, the viewers on HTTP/2).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { freePort, startChild, waitForStatus } from '../test/helpers/process.js';
import { startLlFakeOrigin } from '../test/helpers/ll-fake-origin.js';
import { makeCert } from '../test/helpers/tls.js';
import { familyCpuSeconds, markdown, median, percentile } from '../loadtest/lib.js';

const { values } = parseArgs({ options: {
  viewers: { type: 'string', default: '100' }, seconds: { type: 'string', default: '30' }, tls: { type: 'boolean', default: false },
} });
const VIEWERS = Number(values.viewers);
const SECONDS = Number(values.seconds);
const PART_MS = 500;
const PHASES = 6;
const IDLE_MS = 5000;
const PARTS_PER_SEGMENT = 4;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli.js');

const origin = await startLlFakeOrigin({ partTargetMs: PART_MS, partsPerSegment: PARTS_PER_SEGMENT, partBytes: 30_000, renditions: ['media_0', 'media_1'] });
const [edgePort, lbPort] = [await freePort(), await freePort()];
// --tls: edge and LB over HTTPS with a self-signed certificate, the viewers on HTTP/2 (one connection each
// to the LB and to the edge), the LB's health checks trusting it through NODE_EXTRA_CA_CERTS.
const certDir = values.tls ? mkdtempSync(join(tmpdir(), 'cascade-ll-hop-')) : undefined;
const cert = certDir ? makeCert(certDir, 'll-hop') : undefined;
const scheme = cert ? 'https' : 'http';
const edgeUrl = `${scheme}://127.0.0.1:${edgePort}`;
const lbUrl = `${scheme}://127.0.0.1:${lbPort}`;
const tlsArgs = cert ? ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] : [];
const childEnv = { env: { ...process.env, ...(cert ? { NODE_EXTRA_CA_CERTS: cert.certFile } : {}) } };
const edge = startChild(process.execPath, [cli, 'edge', '--workers', '1', '--port', String(edgePort), '--origin', origin.url, '--id', 'e1', '--lb', lbUrl, ...tlsArgs], childEnv);
const lb = startChild(process.execPath, [cli, 'lb', '--workers', '1', '--port', String(lbPort), '--edge', `e1=${edgeUrl}`, ...tlsArgs], childEnv);
const newAgent = () => new Agent({ connections: 2, keepAliveTimeout: 30_000, ...(cert ? { allowH2: true, connect: { ca: cert.pem } } : {}) });

/** When each part was published, by `msn.part` (performance.now()). */
const released = new Map<string, number>();
const key = (msn: number, part: number) => `${msn}.${part}`;

interface Group { viaLb: boolean; delays: number[]; early: number; redirects: number; errors: number }
const groups: Group[] = [{ viaLb: false, delays: [], early: 0, redirects: 0, errors: 0 }, { viaLb: true, delays: [], early: 0, redirects: 0, errors: 0 }];

async function get(agent: Agent, group: Group, path: string): Promise<string> {
  let url = (group.viaLb ? lbUrl : edgeUrl) + path;
  for (;;) {
    const res = await request(url, { dispatcher: agent, headersTimeout: 20_000, bodyTimeout: 20_000 });
    const body = await res.body.text();
    if (res.statusCode === 302) { group.redirects++; url = String(res.headers.location); continue; }
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    return body;
  }
}

async function viewer(group: Group, rendition: string, until: number): Promise<void> {
  const agent = newAgent();
  try {
    let text = await get(agent, group, origin.paths.playlist(rendition));
    while (performance.now() < until) {
      // The next part is the hinted one (hls.js asks for the part after the last it has).
      const hint = /PRELOAD-HINT:TYPE=PART,URI="[^"]*seg-(\d+)\.p(\d+)\.m4s"/.exec(text);
      if (!hint) throw new Error('no preload hint');
      const [msn, part] = [Number(hint[1]), Number(hint[2])];
      const asked = performance.now();
      const alreadyOut = released.has(key(msn, part));
      text = await get(agent, group, origin.paths.playlist(rendition, `_HLS_msn=${msn}&_HLS_part=${part}`));
      const at = released.get(key(msn, part));
      if (at === undefined) { group.errors++; continue; }
      if (alreadyOut) group.early++;
      group.delays.push(performance.now() - Math.max(at, asked));
    }
  } catch {
    group.errors++;
  } finally {
    await agent.close();
  }
}

try {
  const ready = newAgent();
  await waitForStatus(edgeUrl + origin.paths.playlist('media_0'), 200, edge, ready);
  await waitForStatus(lbUrl + origin.paths.playlist('media_0'), 302, lb, ready);
  await ready.close();
  const publish = setInterval(() => {
    const { msn, parts } = origin.position;
    released.set(key(msn, parts), origin.advance());
  }, PART_MS);
  // The LB's CPU when idle (health checks, timers), taken off what its phases cost.
  const idle0 = familyCpuSeconds(lb.pid);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const lbIdlePerSecond = (familyCpuSeconds(lb.pid) - idle0) / (IDLE_MS / 1000);
  // Phases, direct and through the LB in turn (not together: the edge answers its waiters in the order
  // they came, and the hop would only decide who queues first).
  const cpu = { lb: 0, edge: 0 };
  for (let phase = 0; phase < PHASES; phase++) {
    const group = groups[phase % 2]!;
    const cpu0 = { lb: familyCpuSeconds(lb.pid), edge: familyCpuSeconds(edge.pid) };
    const until = performance.now() + (SECONDS * 1000) / PHASES;
    await Promise.all(Array.from({ length: VIEWERS }, (_, i) => viewer(group, origin.renditions[i % 2]!, until)));
    if (group.viaLb) cpu.lb += familyCpuSeconds(lb.pid) - cpu0.lb - lbIdlePerSecond * (SECONDS / PHASES);
    cpu.edge += familyCpuSeconds(edge.pid) - cpu0.edge;
  }
  clearInterval(publish);

  const ms = (x: number) => x.toFixed(1);
  const rows = groups.map((g) => [g.viaLb ? 'LB 302 + edge' : 'edge', String(g.delays.length), ms(median(g.delays)), ms(percentile(g.delays, 0.95)),
    ms(percentile(g.delays, 0.99)), String(g.early), String(g.errors)]);
  process.stdout.write(`\nBlocking reload, part published -> viewer has the playlist (ms), ${cert ? 'HTTP/2 over TLS' : 'HTTP/1.1'}: ${VIEWERS} viewers, ${PART_MS} ms parts, 2 renditions, ${SECONDS} s in ${PHASES} alternating phases\n`);
  process.stdout.write(markdown(['path', 'reloads', 'median', 'p95', 'p99', 'part already out when asked', 'errors'], rows));
  const viaLb = groups[1]!;
  const usPerRedirect = (cpu.lb / viaLb.redirects) * 1e6;
  const reloadsPerViewerSecond = 1000 / PART_MS; // per rendition; hls.js LL reloads audio and video: x2
  const viewersPerCore = 1e6 / usPerRedirect / (2 * reloadsPerViewerSecond);
  const allReloads = groups.reduce((n, g) => n + g.delays.length, 0);
  process.stdout.write(`\nCPU over the phases: LB (its phases, less ${ms(lbIdlePerSecond * 1000)} ms/s idle) ${ms(cpu.lb)} s for ${viaLb.redirects} redirects = ${ms(usPerRedirect)} µs per redirect; `
    + `edge ${ms(cpu.edge)} s for ${allReloads} blocking reloads = ${ms((cpu.edge / allReloads) * 1e6)} µs per reload (parts not fetched).\n`);
  process.stdout.write(`One LB core: ${Math.round(1e6 / usPerRedirect).toLocaleString('en')} redirects/s = ~${Math.round(viewersPerCore).toLocaleString('en')} LL viewers `
    + `(one blocking reload per part per rendition, video + audio, ${PART_MS} ms parts).\n`);
} finally {
  await Promise.all([edge.kill(), lb.kill()]);
  await origin.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
}
