// The LB's dashboard (issue 15) in real headless Chromium, over a real pipeline on loopback: Redis, an
// origin, two edges as `cascade edge` processes reporting their load, the LB (with --redis and --origin),
// two ffmpeg "transcoders" uploading streams alpha and beta, and players on alpha through the LB. The page
// shows every stream with its renditions and every edge with its viewers and health; after beta's
// transcoder is SIGKILLed its rendition turns red (stalled) with an alarm, after edge e2 is SIGKILLed its
// row turns red with an alarm, which stays after its heartbeat lapsed; after Redis is SIGKILLed the
// control plane is red with an alarm. A screenshot of the last state is
// saved as test-results/lb-dashboard.png.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { chromium, type Page } from 'playwright-core';
import { createOrigin } from '../origin/index.js';
import { listen } from '../src/serve.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';
import { pollUntil, startLb } from './helpers/lb-harness.js';
import { startRedis } from './helpers/redis.js';

const RED = 'rgb(179, 38, 30)';
const root = new URL('..', import.meta.url).pathname;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => undefined); });

function transcoder(url: string): Child {
  const child = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=192x108:rate=10',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0', '-b:v', '200k',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-method', 'PUT', '-http_persistent', '1', url]);
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

const agent = new Agent({ keepAlive: true });
cleanups.push(async () => agent.destroy());

/** A playlist request through the LB from `localAddress`, following its redirect. */
function play(lb: string, localAddress: string): Promise<void> {
  const getFrom = (url: string) => new Promise<{ status: number; location?: string }>((resolve, reject) => {
    const req = get(url, { agent, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
  return getFrom(`${lb}/hls/alpha/180p/index.m3u8`).then((r) => (r.location ? getFrom(r.location).then(() => undefined) : undefined));
}

test('dashboard: streams with renditions, edges with load; a killed transcoder and a killed edge in red', { timeout: 240_000 }, async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const origin = await createOrigin({});
  const originServer = await listen(origin.app, { port: 0, host: '127.0.0.1' });
  cleanups.push(async () => { await originServer.close(500); await origin.close(); });
  const edges = new Map<string, Child>();
  for (const id of ['e1', 'e2']) {
    const port = await freePort();
    const child = startChild(process.execPath, [...CLI, 'edge', '--port', String(port), '--id', id, '--origin', originServer.url,
      '--public-url', `http://127.0.0.1:${port}`, '--redis', redis.url, '--load-window', '4s']);
    cleanups.push(() => child.kill('SIGKILL'));
    edges.set(id, child);
  }
  for (const child of edges.values()) await child.waitFor(/listening on/, 60_000);
  const lb = await startLb({ redis: { url: redis.url }, origins: [originServer.url] });
  cleanups.push(() => lb.close());
  await pollUntil(() => (lb.lb.status().edges.length === 2 ? true : undefined), 20_000, 'both edges registered', 100);

  transcoder(`${originServer.url}/hls/alpha/180p/index.m3u8`);
  const beta = transcoder(`${originServer.url}/hls/beta/180p/index.m3u8`);
  let stop = false;
  const players = Array.from({ length: 6 }, async (_, i) => {
    const deadline = Date.now() + 180_000;
    for (let n = 0; !stop && n < 400 && Date.now() < deadline; n++) {
      await play(lb.url, `127.3.0.${i + 1}`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
  cleanups.push(async () => { stop = true; await Promise.all(players); });

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  cleanups.push(() => browser.close());
  const page: Page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`${lb.url}/`);
  const text = (selector: string) => page.textContent(selector).then((t) => t ?? '');
  const color = (selector: string) => page.$eval(selector, (e) => getComputedStyle(e).color);

  // The pipeline live: both streams with their rendition, both edges up, alpha's viewers reported, no alarm.
  await page.waitForFunction(() => ['alpha', 'beta'].every((s) => document.querySelector(`#stream-${s} tr.rendition.live`)), undefined, { timeout: 60_000, polling: 250 });
  await page.waitForFunction(() => /edges: [1-9]\d* viewers?/.test(document.querySelector('#stream-alpha .flow')?.textContent ?? ''), undefined, { timeout: 60_000, polling: 250 });
  assert.match(await text('#stream-alpha tr.rendition'), /180p\/index\.m3u8live\d+/);
  assert.match(await text('#stream-alpha tr.rendition'), /kb\/s/, 'the measured bitrate');
  assert.match(await text('#stream-alpha .flow'), /transcoder: live, 0 restarts/);
  assert.equal(await text('#edge-e1 td:nth-child(4)'), 'up');
  assert.equal(await text('#edge-e2 td:nth-child(4)'), 'up');
  assert.match(await text('#redis'), /up/);
  assert.match(await text('#origin'), /up/);
  assert.equal(await page.isVisible('#no-alarms'), true);
  const viewers = await page.$$eval('#edges tr', (trs) => trs.map((tr) => Number(tr.querySelectorAll('td')[6]?.textContent)));
  assert.ok(viewers.reduce((a, b) => a + b, 0) >= 1, `edges report viewers: ${viewers}`);

  // beta's transcoder dies: its rendition stalls, in red, with an alarm; alpha stays live.
  await beta.kill('SIGKILL');
  await page.waitForSelector('#stream-beta tr.rendition.stalled', { timeout: 30_000 });
  assert.equal(await color('#stream-beta tr.rendition.stalled td:nth-child(2)'), RED);
  assert.match(await text('#alarms li[data-kind="rendition"]'), /stream beta: rendition 180p\/index\.m3u8 stalled/);
  assert.equal(await color('#alarms li[data-kind="rendition"]'), RED);
  assert.ok(await page.$('#stream-alpha tr.rendition.live'), 'alpha still live');

  // Edge e2 dies: red once the health checks fail, and still red after its heartbeat lapsed.
  await edges.get('e2')!.kill('SIGKILL');
  await page.waitForSelector('#edge-e2.down', { timeout: 30_000 });
  assert.equal(await color('#edge-e2 td:nth-child(4)'), RED);
  assert.match(await text('#alarms'), /edge e2 down/);
  await pollUntil(() => (lb.lb.status().lostEdges.some((e) => e.id === 'e2') ? true : undefined), 30_000, 'e2 dropped after its heartbeat lapsed', 250);
  await page.waitForFunction(() => document.querySelector('#edge-e2.down.lost'), undefined, { timeout: 10_000, polling: 250 });
  assert.match(await text('#alarms li[data-kind="edge"]'), /edge e2 down \(gone from the control plane/);
  assert.equal(await text('#edge-e1 td:nth-child(4)'), 'up');

  // Redis dies: the control plane in red, with an alarm; the LB keeps routing with what it knew.
  await redis.stop();
  await page.waitForSelector('#alarms li[data-kind="redis"]', { timeout: 20_000 });
  assert.equal(await color('#redis'), RED);
  assert.match(await text('#alarms li[data-kind="redis"]'), /control plane \(Redis\) down/);

  mkdirSync(`${root}test-results`, { recursive: true });
  await page.screenshot({ path: `${root}test-results/lb-dashboard.png`, fullPage: true });
});
