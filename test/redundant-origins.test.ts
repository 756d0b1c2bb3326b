// The goal of issue 13, end to end: no single origin. Real ffmpeg uploads through `cascade fanout` to two
// origins that name each other with --peer; one segment upload never reaches origin B (a proxy in front of
// it refuses that one upload until the fan-out gives up); two edges have both origins, an LB sends a
// scripted player to them. Mid-stream origin A is SIGKILLed. The player, which fetches every playlist and
// every segment it lists, sees no error, a media sequence that never goes back, and every media sequence
// number keep its URI across the failover (the origins agree on names although B missed an upload, which
// B fills from A, its --peer).
//
//   ffmpeg --PUT--> fanout --> origin A  <-- edge-1, edge-2 <--302-- lb <-- player
//                          \-> proxy (drops index3.ts) --> origin B  <-/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';

const STREAM = 's';
const DROPPED = `/hls/${STREAM}/index3.ts`;
const url = (port: number) => `http://127.0.0.1:${port}`;

/** Forwards every request to `target`, but answers 503 to every upload of `drop`: that upload never reaches it. */
async function droppingProxy(port: number, target: number, drop: string): Promise<{ server: Server; dropped: () => number }> {
  let dropped = 0;
  const server = createServer((req, res) => {
    if (req.url === drop && req.method === 'PUT') {
      dropped++;
      req.resume();
      req.on('end', () => res.writeHead(503).end('dropped by the test\n'));
      return;
    }
    const out = httpRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, dropped: () => dropped };
}

async function healthy(base: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)) return;
    if (Date.now() > until) throw new Error(`${base} not healthy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface PlayerReport {
  errors: string[];
  /** Media sequence numbers fetched, each with its URI and the time it was fetched. */
  fetched: Map<number, { uri: string; at: number }>;
  mediaSequences: number[];
}

/**
 * A player that follows the live playlist through the LB (which redirects it to an edge) and fetches every
 * segment it lists once, in order, skipping EXT-X-GAP; every failed playlist or segment fetch is an error.
 */
function startPlayer(master: string, stop: AbortSignal): { report: PlayerReport; done: Promise<void> } {
  const report: PlayerReport = { errors: [], fetched: new Map(), mediaSequences: [] };
  const uriOf = new Map<number, string>();
  const done = (async () => {
    while (!stop.aborted) {
      try {
        const res = await fetch(master, { signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        if (res.status !== 200) {
          report.errors.push(`playlist ${res.status}`);
          continue;
        }
        const pl = parsePlaylist(text) as MediaPlaylist;
        const lastSeq = report.mediaSequences.at(-1);
        if (lastSeq !== undefined && pl.mediaSequence < lastSeq) report.errors.push(`media sequence went back: ${pl.mediaSequence} after ${lastSeq}`);
        report.mediaSequences.push(pl.mediaSequence);
        for (const [i, seg] of pl.segments.entries()) {
          const msn = pl.mediaSequence + i;
          if (seg.gap) continue;
          const known = uriOf.get(msn);
          if (known !== undefined && known !== seg.uri) report.errors.push(`msn ${msn} changed its URI: ${known} -> ${seg.uri}`);
          uriOf.set(msn, seg.uri);
          if (report.fetched.has(msn)) continue;
          const segRes = await fetch(new URL(seg.uri, res.url), { signal: AbortSignal.timeout(10_000) });
          const body = Buffer.from(await segRes.arrayBuffer());
          if (segRes.status !== 200 || body.length === 0) report.errors.push(`segment ${msn} ${seg.uri}: ${segRes.status}, ${body.length} bytes`);
          report.fetched.set(msn, { uri: seg.uri, at: Date.now() });
        }
      } catch (err) {
        if (!stop.aborted) report.errors.push(`fetch failed: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  return { report, done };
}

async function metric(base: string, name: string, match: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name) && l.includes(match)).reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

test('two origins behind a fan-out, one upload dropped on one, the other SIGKILLed mid-stream: no player-visible error (issue 13)', { timeout: 240_000 }, async (t) => {
  const [pA, pB, pProxy, pFan, pE1, pE2, pLb] = await Promise.all(Array.from({ length: 7 }, () => freePort())) as [number, number, number, number, number, number, number];
  const children: Child[] = [];
  const role = (args: string[]) => {
    const child = startChild(process.execPath, [...CLI, ...args, '--log-level', 'warn']);
    children.push(child);
    return child;
  };
  const proxy = await droppingProxy(pProxy, pB, DROPPED);
  const stopPlayer = new AbortController();
  t.after(async () => {
    stopPlayer.abort();
    for (const c of children.reverse()) await c.kill('SIGKILL');
    proxy.server.closeAllConnections();
    proxy.server.close();
  });

  const originA = role(['origin', '--port', String(pA), '--peer', url(pB)]);
  role(['origin', '--port', String(pB), '--peer', url(pA)]);
  role(['fanout', '--port', String(pFan), '--origin', url(pA), '--origin', url(pProxy), '--segment-retry', '1s']);
  for (const [id, port] of [['edge-1', pE1], ['edge-2', pE2]] as const) {
    role(['edge', '--port', String(port), '--id', id, '--origin', `${url(pA)},${url(pB)}`]);
  }
  role(['lb', '--port', String(pLb), '--edge', `edge-1=${url(pE1)}`, '--edge', `edge-2=${url(pE2)}`]);
  await Promise.all([pA, pB, pFan, pE1, pE2, pLb].map((p) => healthy(url(p))));

  const ffmpeg = startChild('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc2=size=192x108:rate=10',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-sc_threshold', '0',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '6', '-method', 'PUT', '-http_persistent', '1',
    `${url(pFan)}/hls/${STREAM}/index.m3u8`]);
  children.push(ffmpeg);

  const playlist = `${url(pLb)}/hls/${STREAM}/index.m3u8`;
  const until = Date.now() + 60_000;
  while ((await fetch(playlist).then((r) => r.status, () => 0)) !== 200) {
    assert.ok(Date.now() < until, `the stream never appeared; ffmpeg: ${ffmpeg.output().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const player = startPlayer(playlist, stopPlayer.signal);

  // Kill A once the player is past the dropped segment and a few more.
  const killAfter = Date.now() + 90_000;
  while (![...player.report.fetched.values()].some((f) => /^index8\./.test(f.uri))) {
    assert.ok(Date.now() < killAfter, `the player never got to index8; errors: ${player.report.errors.join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(proxy.dropped() >= 1, 'the upload was dropped at B');
  const killedAt = Date.now();
  await originA.kill('SIGKILL');

  // Play on for a while: every segment from here comes from B.
  const playOn = Date.now() + 90_000;
  while ([...player.report.fetched.values()].filter((f) => f.at > killedAt).length < 8) {
    assert.ok(Date.now() < playOn, `the player stalled after the kill; errors: ${player.report.errors.join('; ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  stopPlayer.abort();
  await player.done;

  const { report } = player;
  assert.deepEqual(report.errors, [], 'no player-visible error');
  const msns = [...report.fetched.keys()];
  assert.deepEqual(msns, [...msns].sort((a, b) => a - b), 'segments in order');
  assert.ok(await metric(url(pFan), 'cascade_fanout_uploads_total', `outcome="expired"`) >= 1, 'the fan-out gave up the dropped upload at B');
  assert.ok(await metric(url(pFan), 'cascade_fanout_uploads_total', `origin="${url(pProxy)}",outcome="sent"`) > 10, 'B got the rest');
  const fromB = await metric(url(pE1), 'cascade_edge_upstream_requests_total', `origin="${url(pB)}",status="200"`)
    + await metric(url(pE2), 'cascade_edge_upstream_requests_total', `origin="${url(pB)}",status="200"`);
  assert.ok(fromB > 0, 'the edges served from B after the kill');
  assert.equal(await metric(url(pB), 'cascade_origin_peer_fills_total', 'result="filled"'), 1, 'B filled the dropped segment from A (--peer)');
  t.diagnostic(`fetched ${msns.length} segments (${msns[0]}..${msns.at(-1)}), ${[...report.fetched.values()].filter((f) => f.at > killedAt).length} after the kill`);
});
