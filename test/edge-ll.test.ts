// LL-HLS through the edge against an in-process LL origin (test/helpers/ll-fake-origin.ts): blocking
// reloads coalesced by their full key and held upstream past the ordinary timeout, their 503 passed on,
// held reloads never starving parts and segments, LL lifetimes, hinted parts read while written, drain
// redirects with the query, and one origin request per part, playlist version and segment whatever the
// number of viewers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { createEdge, type Edge } from '../edge/index.js';
import { listen, type Listening } from '../src/serve.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startTestEdge, type EdgeHarness } from './helpers/edge-harness.js';
import { startFakeOrigin } from './helpers/edge-fake-origin.js';
import { startLlFakeOrigin, type LlFakeOrigin } from './helpers/ll-fake-origin.js';
import { startChild } from './helpers/process.js';

/** Waits for a condition that an event elsewhere (an upstream request arriving) makes true. */
async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const blockingQuery = (msn: number, part: number) => `_HLS_msn=${msn}&_HLS_part=${part}`;

describe('edge: LL-HLS blocking reloads', () => {
  let origin: LlFakeOrigin;
  let h: EdgeHarness;
  const agent = clientAgent(200);
  before(async () => {
    origin = await startLlFakeOrigin({ partTargetMs: 250, holdTimeoutMs: 60_000 });
    // An upstream timeout below one part target: only the blocking timeout can keep a held reload alive.
    h = await startTestEdge({ origins: [origin.url], upstreamTimeoutMs: 200, blockingTimeoutMs: 5_000 });
  });
  after(async () => {
    await agent.close();
    await h.stop();
    await origin.close();
  });

  it('coalesces by path + _HLS_msn + _HLS_part + _HLS_skip in any order, other parameters dropped; held past --upstream-timeout', async () => {
    const { msn, parts } = origin.position;
    const next = blockingQuery(msn, parts);
    const variants = [`?${next}`, `?_HLS_part=${parts}&_HLS_msn=${msn}`, `?${next}&token=a`, `?token=b&${next}`];
    const asked = Array.from({ length: 40 }, (_, i) => get(agent, h.url + origin.paths.playlist('media_0', variants[i % variants.length]!.slice(1))));
    const skipped = get(agent, h.url + origin.paths.playlist('media_0', `${next}&_HLS_skip=YES`));
    await until('both keys upstream', () => origin.held === 2);
    await new Promise((r) => setTimeout(r, 400)); // two upstream timeouts
    origin.advance();
    const answers = await Promise.all(asked);
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(a.sha, answers[0]!.sha);
      assert.match(a.body.toString(), new RegExp(`seg-${msn}\\.p${parts}\\.m4s`));
    }
    assert.deepEqual(answers.map((a) => a.headers['x-cache']).sort().filter((v, i, all) => all.indexOf(v) === i), ['COALESCED', 'MISS']);
    assert.equal(origin.count(origin.paths.playlist('media_0', next)), 1, 'one upstream request for the key');
    const delta = await skipped;
    assert.equal(delta.status, 200);
    assert.match(delta.body.toString(), /#EXT-X-SKIP:SKIPPED-SEGMENTS=/);
    assert.equal(origin.count(origin.paths.playlist('media_0', `${next}&_HLS_skip=YES`)), 1, '_HLS_skip is its own key');
    assert.equal(origin.seen.filter((s) => s.url.includes('token')).length, 0, 'no other parameter reaches the origin');
  });

  it('a playlist never seen gets --blocking-timeout; once seen, four target durations (at least --upstream-timeout)', async () => {
    const fresh = await startLlFakeOrigin({ partTargetMs: 250, holdTimeoutMs: 60_000 });
    const edge = await startTestEdge({ origins: [fresh.url], upstreamTimeoutMs: 200, blockingTimeoutMs: 300 });
    try {
      const { msn, parts } = fresh.position;
      const unseen = await get(agent, edge.url + fresh.paths.playlist('media_1', blockingQuery(msn, parts)));
      assert.equal(unseen.status, 504, 'unknown target duration: the fallback (300 ms) applies');
      assert.ok((await get(agent, edge.url + fresh.paths.playlist('media_1'))).status === 200);
      const held = get(agent, edge.url + fresh.paths.playlist('media_1', blockingQuery(msn, parts)));
      await until('held upstream', () => fresh.held === 1);
      await new Promise((r) => setTimeout(r, 600)); // past the fallback, within 4 x 1 s
      fresh.advance();
      assert.equal((await held).status, 200);
    } finally {
      await edge.stop();
      await fresh.close();
    }
  });

  it('the origin\'s 503 (not updated within three target durations) passes on, without benching or failing over', async () => {
    const stalled = await startLlFakeOrigin({ partTargetMs: 100, holdTimeoutMs: 300 });
    const spare = await startFakeOrigin();
    const edge = await startTestEdge({ origins: [stalled.url, spare.url], upstreamTimeoutMs: 5_000 });
    try {
      const { msn, parts } = stalled.position;
      const r = await get(agent, edge.url + stalled.paths.playlist('media_0', blockingQuery(msn, parts)));
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-cache'], 'ERROR');
      assert.equal(spare.total(), 0, 'no failover to the next origin');
      const segment = await get(agent, edge.url + stalled.paths.segment('media_0', msn - 1));
      assert.equal(segment.status, 200);
      assert.equal(spare.total(), 0, 'the origin was not benched');
    } finally {
      await edge.stop();
      await spare.close();
      await stalled.close();
    }
  });

  it('held reloads have connections of their own: 150 distinct held keys do not delay a segment', async () => {
    const { msn } = origin.position;
    // Parts far beyond the segment's last: each key is held until the next segment (a minute away here).
    const held = Array.from({ length: 150 }, (_, i) => get(agent, h.url + origin.paths.playlist('media_1', blockingQuery(msn, 100 + i))).catch(() => undefined));
    // Within 2 s: the reloads are held for 4 s (four target durations), and on a shared pool of 128
    // connections the last 22 would reach the origin only when the first ones time out.
    await until('150 held upstream', () => origin.held >= 150, 2_000);
    const started = performance.now();
    const segment = await get(agent, h.url + origin.paths.segment('media_1', msn - 1));
    assert.equal(segment.status, 200);
    assert.ok(performance.now() - started < 150, `segment answered in ${(performance.now() - started).toFixed(0)} ms`);
    const nextSegment = msn + 1;
    while (origin.position.msn <= nextSegment) origin.advance();
    await Promise.all(held);
  });

  it('a hinted part is streamed to every waiter as the origin writes it, and fetched once', async () => {
    const { msn, parts } = origin.position;
    const path = origin.paths.part('media_0', msn, parts);
    const expected = origin.partBytes('media_0', msn, parts);
    const firstHalf = new Promise<void>((resolve) => {
      let n = 0;
      const readers = Array.from({ length: 20 }, async () => {
        const res = await fetch(h.url + path);
        const reader = res.body!.getReader();
        const chunks: Uint8Array[] = [];
        let got = 0;
        let announced = false;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          got += value.length;
          if (!announced && got >= expected.length >> 1) {
            announced = true;
            if (++n === 20) resolve();
          }
        }
        return Buffer.concat(chunks);
      });
      void Promise.all(readers).then((bodies) => { results = bodies; });
    });
    let results: Buffer[] | undefined;
    await firstHalf; // every reader has the bytes written so far, before the part is complete
    assert.equal(results, undefined);
    origin.advance();
    await until('every reader done', () => results !== undefined);
    for (const body of results!) assert.ok(body.equals(expected));
    assert.equal(origin.count(path), 1);
  });
});

describe('edge: LL lifetimes without freshness information', () => {
  let origin: LlFakeOrigin;
  let h: EdgeHarness;
  const agent = clientAgent(20);
  before(async () => {
    origin = await startLlFakeOrigin({ partTargetMs: 500 });
    h = await startTestEdge({ origins: [origin.url] });
  });
  after(async () => {
    await agent.close();
    await h.stop();
    await origin.close();
  });

  it('a plain LL playlist is fresh for half a part target; a blocking answer for six part targets', async () => {
    const plain = origin.paths.playlist('media_0');
    const { msn } = origin.position;
    const blocking = origin.paths.playlist('media_0', blockingQuery(msn - 1, 0));
    assert.equal((await get(agent, h.url + plain)).headers['x-cache'], 'MISS');
    assert.equal((await get(agent, h.url + blocking)).headers['x-cache'], 'MISS');
    h.clock.now += 249;
    assert.equal((await get(agent, h.url + plain)).headers['x-cache'], 'HIT');
    h.clock.now += 2;
    assert.notEqual((await get(agent, h.url + plain)).headers['x-cache'], 'HIT', 'stale after 250 ms');
    h.clock.now += 3_000 - 252;
    assert.equal((await get(agent, h.url + blocking)).headers['x-cache'], 'HIT', 'fresh for 3 s');
    h.clock.now += 2;
    assert.notEqual((await get(agent, h.url + blocking)).headers['x-cache'], 'HIT');
  });

  it('the origin\'s Cache-Control wins', async () => {
    const ruled = await startLlFakeOrigin({ partTargetMs: 500, headers: { blocking: { 'cache-control': 'max-age=1' }, playlist: { 'cache-control': 'no-cache' } } });
    const edge = await startTestEdge({ origins: [ruled.url] });
    try {
      const { msn } = ruled.position;
      const blocking = ruled.paths.playlist('media_0', blockingQuery(msn - 1, 0));
      await get(agent, edge.url + blocking);
      await get(agent, edge.url + ruled.paths.playlist('media_0'));
      edge.clock.now += 999;
      assert.equal((await get(agent, edge.url + blocking)).headers['x-cache'], 'HIT');
      assert.notEqual((await get(agent, edge.url + ruled.paths.playlist('media_0'))).headers['x-cache'], 'HIT');
      edge.clock.now += 2;
      assert.notEqual((await get(agent, edge.url + blocking)).headers['x-cache'], 'HIT');
    } finally {
      await edge.stop();
      await ruled.close();
    }
  });
});

describe('edge: LL-HLS at scale', () => {
  it('a draining edge redirects blocking reloads to the LB with the query byte for byte', async () => {
    const origin = await startLlFakeOrigin();
    const h = await startTestEdge({ origins: [origin.url], lbUrl: 'http://lb.example:8080' });
    try {
      await h.edge.beginShutdown!();
      const target = origin.paths.playlist('media_0', '_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&token=x');
      const res = await fetch(h.url + target, { redirect: 'manual' });
      assert.equal(res.status, 302);
      assert.equal(res.headers.get('location'), `http://lb.example:8080${target}`);
      assert.equal(origin.seen.length, 0);
    } finally {
      await h.stop();
      await origin.close();
    }
  });

  it('500 waiters on one blocking reload are released within a few ms of the origin\'s answer', async (t) => {
    const CLIENTS = 500;
    const origin = await startLlFakeOrigin({ partTargetMs: 500, holdTimeoutMs: 60_000 });
    const edge = createEdge({ id: 'edge-ll', origins: [origin.url] });
    const server = await listen(edge.app, { port: 0, host: '127.0.0.1' });
    let arrived = 0;
    server.server.on('request', () => { arrived++; });
    try {
      const { msn, parts } = origin.position;
      const url = server.url + origin.paths.playlist('media_0', blockingQuery(msn, parts));
      const child = startChild(process.execPath, ['--import', 'tsx', new URL('./helpers/edge-burst.ts', import.meta.url).pathname, url, String(CLIENTS)]);
      await until('every client at the edge', () => arrived === CLIENTS && origin.held === 1, 60_000);
      const released = performance.timeOrigin + origin.advance();
      const [line] = await child.waitFor(/^\[.*\]$/m, 60_000);
      await child.exited;
      const results = JSON.parse(line) as { status: number; cache: string; complete: boolean; headersAtEpoch: number }[];
      assert.equal(results.length, CLIENTS);
      for (const r of results) {
        assert.equal(r.status, 200);
        assert.ok(r.complete);
      }
      assert.equal(origin.count(origin.paths.playlist('media_0', blockingQuery(msn, parts))), 1);
      const delays = results.map((r) => r.headersAtEpoch - released).sort((a, b) => a - b);
      const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))]!;
      t.diagnostic(`release -> first byte over ${CLIENTS} waiters: median ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, last ${delays.at(-1)!.toFixed(1)} ms`);
      // Loose: the machine is shared; the benchmark holds the real figure (docs/low-latency.md).
      assert.ok(delays.at(-1)! < 500, `every waiter within 500 ms (last ${delays.at(-1)!.toFixed(1)} ms)`);
    } finally {
      await server.close(1000);
      await edge.close();
      await origin.close();
    }
  });

  it('one origin request per part, per blocking playlist version and per segment, with 100 LL viewers', async () => {
    const VIEWERS = 100;
    // Blocking answers carry a max-age, as the real origin's do (origin/delivery.ts): without one the edge
    // keeps them six part targets (1.2 s here), and a viewer the loaded machine holds back longer than
    // that asks again, rightly, for a version no longer cached.
    const origin = await startLlFakeOrigin({ partTargetMs: 200, holdTimeoutMs: 60_000, headers: { blocking: { 'cache-control': 'public, max-age=30' } } });
    const h = await startTestEdge({ origins: [origin.url], now: Date.now });
    const agent = new Agent({ connections: 4 * VIEWERS });
    const running = origin.run();
    try {
      // What an LL player does (draft §6.2.5.2, hls.js lowLatencyMode): one plain load, then per part a
      // blocking reload for the next part, fetching every part it has not had, and each finished segment
      // (some players load whole segments behind the live edge).
      const viewer = async (id: number) => {
        const fetched = new Set<string>();
        let text = (await get(agent, h.url + origin.paths.playlist('media_0'))).body.toString();
        const until = Date.now() + 3_000;
        while (Date.now() < until) {
          const parts = [...text.matchAll(/URI="(media_0\/seg-(\d+)\.p(\d+)\.m4s)"/g)].filter((m) => !text.includes(`PRELOAD-HINT:TYPE=PART,URI="${m[1]}"`));
          const last = parts.at(-1)!;
          const [msn, part] = [Number(last[2]), Number(last[3])];
          for (const m of parts.slice(-4)) {
            if (fetched.has(m[1]!)) continue;
            fetched.add(m[1]!);
            const r = await get(agent, `${h.url}/hls/${origin.stream}/${m[1]}`);
            assert.equal(r.status, 200);
          }
          if (id % 10 === 0) {
            const segments = [...text.matchAll(/^(media_0\/seg-\d+\.m4s)$/gm)];
            const newest = segments.at(-1)![1]!;
            if (!fetched.has(newest)) {
              fetched.add(newest);
              assert.equal((await get(agent, `${h.url}/hls/${origin.stream}/${newest}`)).status, 200);
            }
          }
          const next = part + 1 < 4 ? blockingQuery(msn, part + 1) : blockingQuery(msn + 1, 0);
          const r = await get(agent, h.url + origin.paths.playlist('media_0', next));
          assert.equal(r.status, 200);
          text = r.body.toString();
        }
      };
      await Promise.all(Array.from({ length: VIEWERS }, (_, i) => viewer(i)));
    } finally {
      running.stop();
      await agent.close();
      await h.stop();
      await origin.close();
    }
    const upstream = new Map<string, number>();
    for (const s of origin.seen) upstream.set(s.url, (upstream.get(s.url) ?? 0) + 1);
    const repeated = [...upstream].filter(([url, n]) => n > 1 && !url.endsWith('media_0.m3u8'));
    assert.deepEqual(repeated, [], 'no part, blocking reload or segment fetched twice');
    const parts = [...upstream.keys()].filter((u) => /\.p\d+\.m4s$/.test(u)).length;
    const reloads = [...upstream.keys()].filter((u) => u.includes('_HLS_msn')).length;
    assert.ok(parts >= 8 && reloads >= 8, `the viewers followed the stream (${parts} parts, ${reloads} blocking reloads upstream)`);
  });
});
