// Signed playback URLs end to end: a real transcoder (ffmpeg, test pattern) uploads to an origin, an
// edge with masters through the LB and an LB that gives every new player a session, both requiring
// signed URLs (two secrets: rotation). Played by hls.js in Chromium (the player page given a signed
// URL) and by ffmpeg; expired, forged and unsigned URLs refused at the LB with their reason; many
// tokens, one cached copy; viewers counted by session behind one address.
//   testsrc -> ffmpeg -> PUT -> origin -> edge (token checked, stripped) <- 302 (token + session) <- LB <- player
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { createEdge, type Edge } from '../edge/index.js';
import { createLb, type Lb } from '../lb/index.js';
import { createOrigin, type Origin } from '../origin/index.js';
import { signPlayback } from '../src/playback-token.js';
import { listen, type Listening } from '../src/serve.js';
import { formatUrlToken } from '../src/url-token.js';
import { parseLadder, startTranscoder, type Supervisor } from '../transcoder/index.js';
import { freePort, startChild } from './helpers/process.js';

const CHROMIUM = '/usr/bin/chromium';
const NEW_SECRET = 'playback-new-secret-0123456789';
const OLD_SECRET = 'playback-old-secret-0123456789';
const STREAM = 'paid';
const UPLOAD_TOKEN = 'upload-token-0123456789';

let origin: Origin;
let edge: Edge;
let lb: Lb;
const servers: Listening[] = [];
let transcoder: Supervisor;
let lbUrl: string;
let edgeUrl: string;
const originGets = new Map<string, number>();

const signed = (ttlSeconds: number, secret = NEW_SECRET, path = 'index.m3u8') =>
  `${lbUrl}/hls/${STREAM}/${formatUrlToken(signPlayback(secret, { stream: STREAM, expiresAt: Date.now() / 1000 + ttlSeconds }))}/${path}`;

/** ffmpeg reading `seconds` of `url` (never synchronously: the roles answer from this process). */
async function ffmpegPlay(url: string, seconds: number, extra: string[] = []): Promise<{ code: number | null; output: string }> {
  const child = startChild('ffmpeg', ['-hide_banner', '-nostdin', '-loglevel', 'error', ...extra, '-i', url, '-t', String(seconds), '-c', 'copy', '-f', 'null', '-']);
  const timer = setTimeout(() => void child.kill('SIGKILL'), 90_000);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.output() };
}

async function metric(url: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.split('\n').find((l) => line.test(l))?.split(' ').at(-1) ?? 0);
}

before(async () => {
  origin = await createOrigin({ uploadToken: UPLOAD_TOKEN });
  // Counts the edge's fetches per path: however many tokens ask, a segment is fetched once.
  const originServer = await listen({
    fetch(request, env) {
      if (request.method === 'GET') {
        const path = new URL(request.url).pathname;
        originGets.set(path, (originGets.get(path) ?? 0) + 1);
      }
      return origin.app.fetch(request, env);
    },
  }, { port: 0, host: '127.0.0.1' });
  servers.push(originServer);
  // The edge rewrites masters through the LB, so the LB's address is chosen first.
  const lbPort = await freePort();
  lbUrl = `http://127.0.0.1:${lbPort}`;
  edge = createEdge({ id: 'e1', origins: [originServer.url], lbUrl, access: { playbackSecrets: [NEW_SECRET, OLD_SECRET] } });
  const edgeServer = await listen(edge.app, { port: 0, host: '127.0.0.1' });
  servers.push(edgeServer);
  edgeUrl = edgeServer.url;
  lb = createLb({ edges: [{ id: 'e1', url: edgeUrl, weight: 100 }], health: { intervalMs: 0 }, access: { playbackSecrets: [NEW_SECRET, OLD_SECRET] }, sessionTokens: true });
  servers.push(await listen(lb.app, { port: lbPort, host: '127.0.0.1' }));
  transcoder = startTranscoder({
    origin: originServer.url, stream: STREAM, uploadToken: UPLOAD_TOKEN, input: 'testsrc', testSize: '320x180', ladder: parseLadder('144p'),
    fps: 12, preset: 'ultrafast', hlsTime: 1, listSize: 6,
  });
  // Playable once the media playlist lists a few segments.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${originServer.url}/hls/${STREAM}/144p.m3u8`).catch(() => undefined);
    if (res?.ok && ((await res.text()).match(/#EXTINF/g)?.length ?? 0) >= 3) break;
    assert.ok(Date.now() < deadline, 'the transcoder published 3 segments within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
});

after(async () => {
  await transcoder?.stop();
  for (const s of servers.reverse()) await s.close(200);
  await lb?.close();
  await edge?.close();
  await origin?.close();
});

test('ffmpeg plays a signed URL through LB and edge; an expired, forged, unsigned URL is refused with the reason', async () => {
  const play = await ffmpegPlay(signed(3600), 3);
  assert.equal(play.code, 0, `ffmpeg played the signed URL: ${play.output}`);
  for (const [url, reason] of [[signed(-10), 'expired'], [signed(3600, 'not-our-secret-0123456789'), 'bad-signature'],
    [`${lbUrl}/hls/${STREAM}/index.m3u8`, 'missing']] as const) {
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 403, url);
    assert.equal(res.headers.get('x-cascade-denied'), reason);
    const refused = await ffmpegPlay(url, 1);
    assert.notEqual(refused.code, 0, `ffmpeg is refused (${reason})`);
    assert.match(refused.output, /403/);
  }
  for (const reason of ['expired', 'bad-signature', 'missing']) {
    assert.ok(await metric(lbUrl, new RegExp(`^cascade_access_denied_total\\{reason="${reason}"`)) >= 1, `${reason} counted at the LB`);
  }
  // The edge refuses the same without the LB: a player cannot skip the check by going to the edge.
  const direct = await fetch(`${edgeUrl}/hls/${STREAM}/144p.m3u8`);
  assert.equal(direct.status, 403);
  assert.equal(direct.headers.get('x-cascade-denied'), 'missing');
});

test('rotation: a URL signed with the old secret still plays while both are configured', async () => {
  const play = await ffmpegPlay(signed(3600, OLD_SECRET), 2);
  assert.equal(play.code, 0, play.output);
});

test('many tokens, one cached copy; players behind one address are counted apart by their sessions', async () => {
  const plays = await Promise.all(Array.from({ length: 3 }, () => ffmpegPlay(signed(3600), 4, ['-re'])));
  assert.deepEqual(plays.map((p) => p.code), [0, 0, 0], plays.map((p) => p.output).join('\n'));
  assert.ok(await metric(edgeUrl, /^cascade_edge_viewers\{stream="paid"/) >= 3, 'three sessions from 127.0.0.1 are three viewers');
  // Every player had its own token (and session); a segment none of them fetched yet, asked for with
  // five more tokens (two secrets, several expiries), is fetched from the origin once.
  const media = await (await fetch(`${servers[0]!.url}/hls/${STREAM}/144p.m3u8`)).text();
  const segment = media.split('\n').filter((l) => l && !l.startsWith('#')).at(-1)!;
  const urls = [signed(3600, NEW_SECRET, segment), signed(7200, OLD_SECRET, segment), signed(60, NEW_SECRET, segment), signed(600, OLD_SECRET, segment), signed(900, NEW_SECRET, segment)];
  const answers = await Promise.all(urls.map(async (u) => {
    const res = await fetch(u);
    return { status: res.status, bytes: (await res.arrayBuffer()).byteLength };
  }));
  assert.ok(answers.every((a) => a.status === 200 && a.bytes === answers[0]!.bytes && a.bytes > 0), JSON.stringify(answers));
  assert.equal(originGets.get(`/hls/${STREAM}/${segment}`), 1, 'one upstream fetch for five tokens');
  assert.ok([...originGets.keys()].every((p) => !p.includes('~')), 'no token went upstream');
});

test('hls.js in Chromium plays the player page given a signed URL; every request it made carried the token', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} not installed`);
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
    const page = await browser.newPage();
    const src = new URL(signed(3600)).pathname;
    await page.goto(`${lbUrl}/play/${STREAM}?src=${encodeURIComponent(src)}`);
    const deadline = Date.now() + 45_000;
    let state: { currentTime: number; fatalErrors: number; servedBy: string | null } | undefined;
    for (;;) {
      state = await page.evaluate(() => (window as unknown as { cascadePlayer: { currentTime: number; fatalErrors: number; servedBy: string | null } }).cascadePlayer);
      if (state.currentTime >= 4) break;
      assert.ok(Date.now() < deadline, `4 s of playback within 45 s: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(state.fatalErrors, 0);
    assert.equal(state.servedBy, 'e1');
    const requested = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/hls/')));
    assert.ok(requested.some((u) => u.endsWith('.ts')), `segments were loaded: ${requested.join(' ')}`);
    for (const url of requested) assert.match(new URL(url).pathname, /^\/hls\/paid\/~e\d+~k[A-Za-z0-9_-]{22}(~s[A-Za-z0-9_.-]+)?\//, url);
    assert.ok(requested.filter((u) => u.startsWith(edgeUrl)).every((u) => /~s[A-Za-z0-9_-]{16}\./.test(u)), 'at the edge every request carries the session the LB gave');
  } finally {
    await browser?.close();
  }
});

test('Shaka Player in Chromium plays a signed URL through LB and edge: relative URIs resolved against the redirect keep the token', async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} not installed`);
  const shaka = readFileSync(new URL('../node_modules/shaka-player/dist/shaka-player.compiled.js', import.meta.url));
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
    const page = await browser.newPage();
    // The page comes from another origin than LB and edge, as a site embedding the stream would.
    const html = `<!doctype html><video id="v" muted autoplay></video><script src="/shaka.js"></script><script>
        window.errors = [];
        shaka.polyfill.installAll();
        const player = new shaka.Player();
        player.addEventListener('error', (e) => window.errors.push(String(e.detail && e.detail.code)));
        player.attach(document.getElementById('v')).then(() => player.load(${JSON.stringify(signed(3600))}))
          .then(() => document.getElementById('v').play()).catch((e) => window.errors.push(String(e && e.code)));
      </script>`;
    const site = await listen({
      fetch: (request) => new URL(request.url).pathname === '/shaka.js'
        ? new Response(shaka, { headers: { 'content-type': 'text/javascript' } })
        : new Response(html, { headers: { 'content-type': 'text/html' } }),
    }, { port: 0, host: '127.0.0.1' });
    servers.push(site);
    const requested: string[] = [];
    page.on('request', (r) => { if (r.url().includes('/hls/')) requested.push(r.url()); });
    const failures: string[] = [];
    page.on('requestfailed', (r) => failures.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('response', (r) => { if (r.status() >= 400) failures.push(`${r.url()}: ${r.status()} ${r.headers()['x-cascade-denied'] ?? ''}`); });
    await page.goto(`${site.url}/`);
    const deadline = Date.now() + 45_000;
    let state: { time: number; errors: string[] } | undefined;
    for (;;) {
      state = await page.evaluate(() => ({ time: (document.getElementById('v') as HTMLVideoElement).currentTime, errors: (window as unknown as { errors: string[] }).errors }));
      assert.deepEqual(state.errors, [], `no Shaka error (failed requests: ${failures.join(', ')})`);
      if (state.time >= 4) break;
      assert.ok(Date.now() < deadline, `4 s of playback within 45 s: ${JSON.stringify(state)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(requested.some((u) => u.startsWith(edgeUrl) && u.endsWith('.ts')), `segments came from the edge: ${requested.join(' ')}`);
    for (const url of requested) assert.match(new URL(url).pathname, /^\/hls\/paid\/~e\d+~k[A-Za-z0-9_-]{22}(~s[A-Za-z0-9_.-]+)?\//, url);
  } finally {
    await browser?.close();
  }
});
