// The upload fan-out against stand-in origins that record what arrives (test/helpers/upload-capture.ts):
// every upload reaches every origin with the feed id; a failing origin (5xx, refused) is retried and never
// delays the uploader or the others; a 4xx is final; a playlist is retried until superseded; a stalled
// origin loses a streaming upload while the other gets it whole; a body that breaks off reaches no origin
// as complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen, type Listening } from '../src/serve.js';
import { Metrics } from '../src/metrics.js';
import { startUploadCapture, type CapturedRequest, type UploadCapture } from '../test/helpers/upload-capture.js';
import { createFanout, type Fanout, type FanoutConfig } from './index.js';

const PLAYLIST = (n: number) => `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n${Array.from({ length: n }, (_, i) => `#EXTINF:2,\nseg${i}.ts\n`).join('')}`;

interface Setup {
  fanout: Fanout;
  listening: Listening;
  metrics: Metrics;
  put(path: string, body: BodyInit, init?: RequestInit): Promise<Response>;
  /** The value of the fan-out's `cascade_fanout_uploads_total` for an origin and outcome. */
  count(origin: string, outcome: string): Promise<number>;
}

async function setup(t: { after(fn: () => unknown): void }, options: Partial<FanoutConfig> & Pick<FanoutConfig, 'origins'>): Promise<Setup> {
  const metrics = new Metrics({ role: 'fanout' });
  const fanout = createFanout({ segmentRetryMs: 500, playlistRetryMs: 5_000, maxBackoffMs: 200, ...options, metrics });
  const listening = await listen(fanout.app, { port: 0, host: '127.0.0.1' });
  t.after(async () => {
    await listening.close(0);
    await fanout.close();
  });
  return {
    fanout, listening, metrics,
    put: (path, body, init = {}) => fetch(`${listening.url}/hls/s/${path}`, { method: 'PUT', body, duplex: 'half', ...init } as RequestInit),
    async count(origin, outcome) {
      const text = await metrics.registry.metrics();
      const line = text.split('\n').find((l) => l.startsWith('cascade_fanout_uploads_total{') && l.includes(`origin="${origin}"`) && l.includes(`outcome="${outcome}"`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    },
  };
}

async function capture(t: { after(fn: () => unknown): void }, options: Parameters<typeof startUploadCapture>[0] = {}): Promise<UploadCapture> {
  const c = await startUploadCapture(options);
  t.after(() => c.close());
  return c;
}

/** Polls `pred` until it holds (generous bound: the machine is loaded). */
async function eventually(pred: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

test('every upload reaches every origin with the feed id and the uploader\'s credentials; the uploader gets the first verdict', async (t) => {
  const [a, b] = [await capture(t), await capture(t)];
  const s = await setup(t, { origins: [a.url, b.url], feedId: 'feed-1' });
  assert.equal((await s.put('seg0.ts', 'zero', { headers: { authorization: 'Bearer x', 'content-type': 'video/mp2t' } })).status, 201);
  assert.equal((await s.put('index.m3u8', PLAYLIST(1))).status, 201);
  const del = await fetch(`${s.listening.url}/hls/s/seg0.ts`, { method: 'DELETE' });
  assert.equal(del.status, 204);
  for (const c of [a, b]) {
    await c.waitFor((r) => r.method === 'DELETE' && r.state === 'complete', 10_000, 'the DELETE');
    const seg = c.requests.find((r) => r.path === '/hls/s/seg0.ts' && r.method === 'PUT')!;
    assert.equal(seg.body().toString(), 'zero');
    assert.equal(seg.headers['cascade-feed'], 'feed-1');
    assert.equal(seg.headers.authorization, 'Bearer x');
    assert.equal(seg.headers['content-type'], 'video/mp2t');
    assert.equal(c.files.get('/hls/s/index.m3u8')?.toString(), PLAYLIST(1));
  }
  assert.equal(await s.count(a.url, 'sent'), 3);
  assert.equal((await fetch(`${s.listening.url}/hls/s/seg0.ts`)).status, 405, 'the fan-out serves nothing');
});

test('the fan-out checks its own token and sends the origins theirs', async (t) => {
  const a = await capture(t);
  const s = await setup(t, { origins: [a.url], uploadToken: 'in', originToken: 'out' });
  assert.equal((await s.put('seg0.ts', 'x')).status, 401);
  assert.equal((await s.put('seg0.ts', 'x', { headers: { authorization: 'Bearer wrong' } })).status, 403);
  assert.equal((await s.put('seg0.ts', 'x', { headers: { authorization: 'Bearer in' } })).status, 201);
  assert.equal(a.requests.length, 1, 'refused uploads go nowhere');
  assert.equal(a.requests[0]!.headers.authorization, 'Bearer out');
});

test('a failing origin is retried with backoff; a refused one loses the upload after its retry time; neither delays the uploader or the other', async (t) => {
  const tries = new Map<string, number>();
  const good = await capture(t);
  // Fails each segment's first two tries with a 500, then takes it.
  const flaky = await capture(t, {
    status: (r) => {
      const n = (tries.get(r.path) ?? 0) + 1;
      tries.set(r.path, n);
      return n <= 2 ? 500 : 201;
    },
  });
  const refused = await closedPort();
  const s = await setup(t, { origins: [flaky.url, refused, good.url] });
  const started = performance.now();
  for (let i = 0; i < 3; i++) assert.equal((await s.put(`seg${i}.ts`, `segment ${i}`)).status, 201);
  assert.ok(performance.now() - started < 5_000, 'the uploader is answered by the good origin, not held by retries');
  for (let i = 0; i < 3; i++) assert.equal(good.files.get(`/hls/s/seg${i}.ts`)?.toString(), `segment ${i}`);
  await eventually(async () => await s.count(flaky.url, 'sent') === 3, 'the flaky origin got every segment');
  for (let i = 0; i < 3; i++) assert.equal(flaky.files.get(`/hls/s/seg${i}.ts`)?.toString(), `segment ${i}`);
  assert.equal(tries.get('/hls/s/seg0.ts'), 3);
  await eventually(async () => await s.count(refused, 'expired') === 3, 'the refused origin\'s uploads expired');
  const text = await s.metrics.registry.metrics();
  assert.match(text, new RegExp(`cascade_fanout_retries_total\\{[^}]*origin="${flaky.url}"[^}]*\\} 6\\n`));
  assert.match(text, new RegExp(`cascade_fanout_queued\\{[^}]*origin="${refused}"[^}]*\\} 0\\n`), 'nothing stays queued');
});

test('a 4xx is the origin\'s verdict: never retried; when every origin says so, the uploader hears it', async (t) => {
  const a = await capture(t, { status: () => 400 });
  const b = await capture(t, { status: () => 409 });
  const s = await setup(t, { origins: [a.url, b.url] });
  const res = await s.put('index.m3u8', 'not a playlist');
  assert.ok(res.status === 400 || res.status === 409, `the first origin's verdict: ${res.status}`);
  await eventually(async () => await s.count(a.url, 'rejected') === 1 && await s.count(b.url, 'rejected') === 1, 'both rejected');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(a.requests.length, 1);
  assert.equal(b.requests.length, 1);
});

test('a playlist an origin fails is retried until a newer upload of its path supersedes it', async (t) => {
  let down = true;
  const a = await capture(t, { status: (r) => (down && r.path.endsWith('.m3u8') ? 503 : 201) });
  const b = await capture(t);
  const s = await setup(t, { origins: [a.url, b.url], playlistRetryMs: 60_000 });
  await s.put('index.m3u8', PLAYLIST(1));
  await a.waitFor((r, all) => all.filter((x) => x.path === '/hls/s/index.m3u8' && x.state === 'complete').length >= 3, 10_000, 'retries of the playlist');
  await s.put('index.m3u8', PLAYLIST(2));
  await eventually(async () => await s.count(a.url, 'superseded') === 1, 'the first playlist superseded');
  down = false;
  await eventually(() => a.files.get('/hls/s/index.m3u8')?.toString() === PLAYLIST(2), 'the newer playlist delivered');
  assert.ok(!a.requests.some((r) => r.body().toString() === PLAYLIST(1) && r.startedAt > a.requests.find((x) => x.body().toString() === PLAYLIST(2))!.startedAt),
    'the older playlist is not sent after the newer one');
});

/** A request body the test writes chunk by chunk. */
function pushedBody(): { stream: ReadableStream<Uint8Array>; push(b: Uint8Array): void; end(): void; fail(): void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => { controller = c; } });
  return { stream, push: (b) => controller.enqueue(b), end: () => controller.close(), fail: () => controller.error(new Error('encoder gone')) };
}

test('a stalled origin loses a streaming upload past its lag bound; the uploader and the other origin get every byte as it comes', async (t) => {
  const good = await capture(t);
  const stalled = await capture(t, { stall: (r) => r.path.endsWith('big.m4s') });
  const s = await setup(t, { origins: [stalled.url, good.url], maxLagBytes: 1024 ** 2, answerTimeoutMs: 10_000 });
  const body = pushedBody();
  const response = s.put('big.m4s', body.stream);
  const chunk = Buffer.alloc(64 * 1024, 7);
  const total = 256; // 16 MiB, far past what a stalled socket and the lag bound can hold
  for (let i = 0; i < total; i++) {
    body.push(chunk);
    // Streamed while it arrives: the good origin keeps up with the uploader (no waiting for the whole body).
    if (i === 8) await good.waitFor((r) => r.path === '/hls/s/big.m4s' && r.body().length >= 8 * chunk.length, 10_000, 'early bytes at the good origin');
    if (i % 32 === 0) await new Promise((r) => setImmediate(r));
  }
  body.end();
  assert.equal((await response).status, 201);
  const got = await good.waitFor((r) => r.path === '/hls/s/big.m4s' && r.state === 'complete', 20_000, 'the whole upload at the good origin');
  assert.equal(got.body().length, total * chunk.length);
  await eventually(async () => await s.count(stalled.url, 'slow') === 1, 'the stalled origin counted slow');
  assert.equal(stalled.files.size, 0);
  assert.match(await s.metrics.registry.metrics(), new RegExp(`cascade_fanout_queued\\{[^}]*origin="${stalled.url}"[^}]*\\} 0\\n`), 'the cut try holds nothing');
  // The stalled origin still takes the next upload.
  assert.equal((await s.put('seg1.ts', 'small')).status, 201);
  await eventually(() => stalled.files.get('/hls/s/seg1.ts')?.toString() === 'small', 'the next upload at the stalled origin');
});

test('a body that breaks off reaches no origin as complete, and is not retried', async (t) => {
  const [a, b] = [await capture(t), await capture(t)];
  const s = await setup(t, { origins: [a.url, b.url] });
  const body = pushedBody();
  const response = s.put('seg0.ts', body.stream).catch((err: unknown) => err);
  body.push(Buffer.from('half a segment'));
  for (const c of [a, b]) await c.waitFor((r) => r.body().length > 0, 10_000, 'the first bytes');
  body.fail();
  await response;
  for (const c of [a, b]) {
    await c.waitFor((r) => r.state !== 'open', 10_000, 'the forwarded request to end');
    assert.deepEqual(c.requests.map((r: CapturedRequest) => r.state), ['aborted']);
    assert.equal(c.files.size, 0);
  }
  await eventually(async () => await s.count(a.url, 'upload_failed') === 1, 'counted');
});

test('too large is refused before anything is forwarded', async (t) => {
  const a = await capture(t);
  const s = await setup(t, { origins: [a.url], maxFileBytes: 10 });
  assert.equal((await s.put('seg0.ts', 'more than ten bytes')).status, 413);
  assert.equal(a.requests.filter((r) => r.state === 'complete').length, 0);
});

test('property: whatever each origin answers to each try, every upload comes to exactly one outcome per origin, a sent one with its bytes, a 4xx never tried again', async () => {
  const fc = (await import('fast-check')).default;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.constantFrom('seg0.ts', 'seg1.ts', 'index.m3u8'), { minLength: 1, maxLength: 8 }),
    // Each origin's answer to its n-th request (then 201).
    fc.array(fc.array(fc.constantFrom(201, 201, 204, 500, 503, 400, 409), { maxLength: 12 }), { minLength: 2, maxLength: 2 }),
    async (paths, answers) => {
      const closing: (() => unknown)[] = [];
      const scope = { after: (fn: () => unknown) => { closing.push(fn); } };
      try {
        const answered = answers.map(() => new Map<number, number>());
        const caps = await Promise.all(answers.map((list, o) => {
          let n = 0;
          return capture(scope, {
            status: (r) => {
              const status = list[n++] ?? 201;
              answered[o]!.set(r.index, status);
              return status;
            },
          });
        }));
        const s = await setup(scope, { origins: caps.map((c) => c.url), segmentRetryMs: 300, playlistRetryMs: 600, maxBackoffMs: 50 });
        // Unique bodies: an upload's tries at an origin are the requests that carry its body.
        const bodies = paths.map((_, i) => `upload ${i}`);
        for (const [i, path] of paths.entries()) {
          const res = await s.put(path, bodies[i]!);
          assert.ok([201, 202, 204, 400, 409].includes(res.status), `answered ${res.status}`);
        }
        await eventually(() => s.fanout.links.every((l) => l.queued === 0), 'every upload settled');
        for (const [o, c] of caps.entries()) {
          const outcomes = { sent: 0, rejected: 0, other: 0 };
          for (const body of bodies) {
            const tries = c.requests.filter((r) => r.body().toString() === body);
            const verdicts = tries.map((r) => answered[o]!.get(r.index));
            const final = verdicts.findIndex((v) => v !== undefined && v < 500);
            if (final !== -1) assert.equal(final, tries.length - 1, `${body}: no try after the origin's verdict (${verdicts})`);
            const last = verdicts.at(-1);
            if (last !== undefined && last < 300) outcomes.sent++;
            else if (last !== undefined && last < 500) outcomes.rejected++;
            else outcomes.other++;
          }
          assert.equal(await s.count(c.url, 'sent'), outcomes.sent, 'every upload the origin took, and only those, counted sent');
          assert.equal(await s.count(c.url, 'rejected'), outcomes.rejected);
          let rest = 0;
          for (const o of ['expired', 'superseded', 'slow', 'upload_failed', 'queue_full']) rest += await s.count(c.url, o);
          assert.equal(rest, outcomes.other, 'one outcome per upload and origin');
        }
      } finally {
        for (const close of closing.reverse()) await close();
      }
    },
  ), { numRuns: 15 });
});
