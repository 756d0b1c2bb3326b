// The origin publishing LL-HLS from uploads made as ffmpeg's dash muxer makes them (test/helpers/ll-uploads.ts:
// real CMAF fragments, a chunk per fragment, the playlist hinting the segment being written), in process:
// the playlists' low-latency lines, parts whose bytes tile the finished segment, hinted parts held until they
// exist, every blocking-reload rule of draft-pantos-hls-rfc8216bis 6.2.5.2 with its status and Cache-Control,
// delta updates, an uploader killed mid-part, 500 held requests released together over HTTP, manifest.mpd kept
// as one file, and when the state is written with a data dir. Every playlist read is checked against RFC 8216
// and the draft's low-latency rules (test/helpers/playlist-rules.ts).
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen } from '../src/serve.js';
import { DiskStorage, type Storage } from '../origin/storage.js';
import { createOrigin, type Origin, type OriginConfig } from '../origin/index.js';
import { listing, tags } from './helpers/ll-listing.js';
import { lowLatencyViolations, playlistViolations } from './helpers/playlist-rules.js';
import { LL_AUDIO, LL_VIDEO, LlEncoder } from './helpers/ll-uploads.js';

let origin: Origin | undefined;
afterEach(async () => {
  await origin?.close();
  origin = undefined;
});

/** An origin and an encoder of 1 s segments (declaring `targetDuration`) that has uploaded its init sections and master. */
async function start(options: Partial<OriginConfig> = {}, listSize = 6, targetDuration = 1): Promise<{ o: Origin; enc: LlEncoder }> {
  origin = await createOrigin({ sweepIntervalMs: 0, ...options });
  const o = origin;
  const enc = new LlEncoder((path, init) => Promise.resolve(o.app.request(path, init)), 'll', [LL_VIDEO, LL_AUDIO], 'a', listSize, targetDuration);
  await enc.start();
  return { o, enc };
}

async function get(o: Origin, path: string): Promise<Response> {
  return o.app.request(`/hls/ll/${path}`);
}

/** A 200's body; a playlist's checked against RFC 8216 and the draft's low-latency rules. */
async function text(o: Origin, path: string): Promise<string> {
  const res = await get(o, path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  const body = await res.text();
  if (/\.m3u8(\?|$)/.test(path)) assert.deepEqual([...playlistViolations(body, path.split('?')[0]!), ...lowLatencyViolations(body)], [], `${path}:\n${body}`);
  return body;
}

async function bytes(o: Origin, path: string): Promise<Buffer> {
  const res = await get(o, path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Segment URIs in order, each with the part URIs listed before it. */
function segmentsWithParts(playlist: string): { uri: string; parts: string[] }[] {
  return listing(playlist).segments.map((s) => ({ uri: s.uri, parts: s.parts.map((p) => p.URI!) }));
}

/** The EXT-X-PROGRAM-DATE-TIME in force for each segment (undefined before the first). */
function programDateTimes(playlist: string): (string | undefined)[] {
  let pdt: string | undefined;
  const out: (string | undefined)[] = [];
  for (const line of playlist.split('\n')) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length);
    else if (line !== '' && !line.startsWith('#')) {
      out.push(pdt);
      pdt = undefined;
    }
  }
  return out;
}

const trailingParts = (playlist: string) => listing(playlist).partial;
const mediaSequence = (playlist: string) => listing(playlist).mediaSequence;
const lastMsn = (playlist: string) => listing(playlist).lastMsn;

/** Two renditions, `n` segments each complete and the next open (its `styp` sent), playlists naming them. */
async function running(enc: LlEncoder, n: number): Promise<void> {
  for (const r of [0, 1]) {
    for (let k = 0; k < n; k++) {
      if (k === 0) await enc.openSegment(r);
      else await enc.nextSegment(r);
    }
    await enc.nextSegment(r);
  }
}

/** Rendition r's playlist once it has part `part` of segment `msn` (a blocking reload: the uploads' chunks are read asynchronously). */
async function withPart(o: Origin, r: number, msn: number, part: number): Promise<string> {
  return text(o, `media_${r}.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`);
}

/** A request still unanswered after the origin had every chance to answer it (a macrotask later). */
async function pending(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return (await Promise.race([p, new Promise((r) => setImmediate(() => r(marker)))])) === marker;
}

describe('origin: LL-HLS publishing from the dash muxer\'s uploads', () => {
  it('publishes SERVER-CONTROL, PART-INF, parts of the segment being written, a preload hint and rendition reports', async () => {
    const { o, enc } = await start();
    await running(enc, 3);
    const media = await text(o, 'media_0.m3u8');
    assert.deepEqual(tags(media, 'EXT-X-SERVER-CONTROL'), [{ 'CAN-BLOCK-RELOAD': 'YES', 'PART-HOLD-BACK': '1.5', 'CAN-SKIP-UNTIL': '6' }]);
    assert.deepEqual(tags(media, 'EXT-X-PART-INF'), [{ 'PART-TARGET': '0.5' }]);
    assert.ok(!media.includes('#EXT-X-PREFETCH'), 'the muxer\'s hint gives way to the preload hint');
    const segments = segmentsWithParts(media);
    // The first segment was never hinted while it was written (the muxer's first playlist follows it): no parts.
    assert.deepEqual(segments.map((s) => s.parts.length), [0, 2, 2]);
    const open = enc.current(0);
    const stem = (uri: string) => uri.replace(/\.m4s$/, '');
    for (const s of segments.slice(1)) assert.deepEqual(s.parts, [0, 1].map((i) => `${stem(s.uri)}.p${i}.m4s`), 'part URIs follow the published segment name');
    assert.deepEqual(trailingParts(media), [], 'only the styp of the open segment arrived');
    const [hint] = tags(media, 'EXT-X-PRELOAD-HINT');
    assert.equal(hint?.TYPE, 'PART');
    assert.match(hint!.URI!, /\.p0\.m4s$/);
    assert.deepEqual(tags(media, 'EXT-X-RENDITION-REPORT'), [{ URI: 'media_1.m3u8', 'LAST-MSN': String(lastMsn(await text(o, 'media_1.m3u8'))), 'LAST-PART': '2' }]);

    // The first five frames close part 0 of the open segment: it is published, independent, and hinted next is part 1.
    enc.feed(0, 5);
    const now = await withPart(o, 0, lastMsn(media) + 1, 0);
    const partial = trailingParts(now);
    assert.deepEqual(partial, [{ DURATION: '0.5', URI: hint!.URI!, INDEPENDENT: 'YES' }]);
    assert.equal(tags(now, 'EXT-X-PRELOAD-HINT')[0]!.URI, hint!.URI!.replace('.p0.', '.p1.'));
    const first = await bytes(o, partial[0]!.URI!);
    assert.deepEqual(first, open.bytes.subarray(0, first.length), 'part 0 is the start of the segment, styp included');
  });

  it('every published part is exactly its byte range of the finished segment, immutable, and the parts tile it', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    const names = [enc.current(0), enc.current(1)];
    for (const r of [0, 1]) enc.feed(r, 100);
    for (const r of [0, 1]) await enc.nextSegment(r);
    for (const [r, open] of names.entries()) {
      const media = await text(o, `media_${r}.m3u8`);
      const seg = segmentsWithParts(media).find((s) => s.uri.startsWith(open.name.replace(/\.m4s$/, '')))!;
      assert.ok(seg, `${open.name} is published`);
      const whole = await bytes(o, seg.uri);
      assert.deepEqual(whole, open.bytes);
      let offset = 0;
      for (const uri of seg.parts) {
        const res = await get(o, uri);
        assert.equal(res.headers.get('cache-control'), 'public, max-age=86400, immutable');
        const part = Buffer.from(await res.arrayBuffer());
        assert.deepEqual(part, whole.subarray(offset, offset + part.length), `${uri} at ${offset}`);
        offset += part.length;
      }
      assert.equal(offset, whole.length, 'the parts tile the segment');
      const durations = tags(media, 'EXT-X-PART').filter((p) => seg.parts.includes(p.URI!)).map((p) => Number(p.DURATION));
      if (r === 1) assert.deepEqual(durations.map((d) => d.toFixed(3)), ['0.491', '0.491', '0.021'], 'audio: 23, 23 and 1 AAC frames');
      else assert.deepEqual(durations, [0.5, 0.5]);
      // A range of a part is served like any immutable file.
      const range = await o.app.request(`/hls/ll/${seg.parts[0]}`, { headers: { Range: 'bytes=2-5' } });
      assert.equal(range.status, 206);
      assert.deepEqual(Buffer.from(await range.arrayBuffer()), whole.subarray(2, 6));
    }
  });

  it('a segment listing its parts is dated by the prft before its first fragment, to the ms; without one, as uploaded', async () => {
    const { o, enc } = await start();
    const base = Date.UTC(2026, 10, 30, 6, 0, 0);
    // Segment 3 carries no prft. The uploader's PDT runs a second early (as ffmpeg's, truncated to the second).
    enc.prft = (n, k) => (k === 3 ? undefined : base + k * 1000 + 123.4567 + n);
    enc.pdt = (k) => base + (k - 1) * 1000;
    await running(enc, 4);
    const iso = (ms: number) => new Date(ms).toISOString();
    for (const r of [0, 1]) {
      const media = await text(o, `media_${r}.m3u8`);
      assert.deepEqual(segmentsWithParts(media).map((s) => s.parts.length > 0), [false, true, true, true]);
      // The first segment was never hinted (so never scanned): the uploader's PDT.
      assert.deepEqual(programDateTimes(media), [iso(base), iso(base + 2123 + r), iso(base + 2000), iso(base + 4123 + r)]);
    }
  });

  it('a playlist hinting a segment whose upload has not started yet gets its hint once it starts', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    await enc.closeSegment(0);
    // The muxer's order with Nagle off: the playlist may come 0-2 ms before the segment's request.
    const next = enc.playlistText(0).replace(/\n$/, `\n#EXT-X-PREFETCH:chunk-a-0-00004.m4s\n`);
    assert.equal((await o.app.request('/hls/ll/media_0.m3u8', { method: 'PUT', body: next })).status, 204);
    assert.equal(tags(await text(o, 'media_0.m3u8'), 'EXT-X-PRELOAD-HINT').length, 0, 'nothing to hint yet');
    assert.equal(await enc.openSegment(0), 'chunk-a-0-00004.m4s');
    const [hint] = tags(await text(o, 'media_0.m3u8'), 'EXT-X-PRELOAD-HINT');
    assert.match(hint?.URI ?? '', /^chunk-a-0-00004.*\.p0\.m4s$/);
  });

  it('a hinted part is requestable at once, held until complete and sent whole; the next is 404 if the segment ends first', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    const open = enc.current(0);
    const p0 = tags(await text(o, 'media_0.m3u8'), 'EXT-X-PRELOAD-HINT')[0]!.URI!;
    const head = await o.app.request(`/hls/ll/${p0}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const held = get(o, p0);
    enc.feed(0, 4);
    assert.ok(await pending(held), 'four of five frames: still held');
    enc.feed(0, 1);
    const res = await held;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=86400, immutable');
    const body = Buffer.from(await res.arrayBuffer());
    assert.deepEqual(body, open.bytes.subarray(0, body.length));
    assert.equal(res.headers.get('content-length'), String(body.length));
    // Part 1 closes with the segment's last frame; the part after it, hinted, never comes: 404.
    const p2 = p0.replace('.p0.', '.p2.');
    const msn = lastMsn(await text(o, 'media_0.m3u8')) + 1;
    assert.equal(tags(await text(o, 'media_0.m3u8'), 'EXT-X-PRELOAD-HINT')[0]!.URI, p0.replace('.p0.', '.p1.'));
    enc.feed(0, 5);
    assert.equal(tags(await withPart(o, 0, msn, 1), 'EXT-X-PRELOAD-HINT')[0]!.URI, p2);
    const never = get(o, p2);
    await enc.closeSegment(0);
    assert.equal((await never).status, 404);
  });
});

describe('origin: what else the dash muxer uploads', () => {
  it('manifest.mpd, PUT at every segment of every representation, is kept as one file', async () => {
    const { o } = await start();
    const sizes: number[] = [];
    for (let i = 0; i < 30; i++) {
      const mpd = `<?xml version="1.0"?><MPD n="${i}">${'x'.repeat(3000)}</MPD>`;
      assert.equal((await o.app.request('/hls/ll/manifest.mpd', { method: 'PUT', body: mpd })).status, 201);
      o.sweep();
      sizes.push(o.streams.get('ll')!.memoryBytes);
    }
    assert.equal(await text(o, 'manifest.mpd'), `<?xml version="1.0"?><MPD n="29">${'x'.repeat(3000)}</MPD>`);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) < 100, `memory holds one manifest at a time: ${sizes.join(',')}`);
  });
});

describe('origin: LL with a data dir', () => {
  it('the state is written when a segment\'s first part is out, not at every part', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'origin-ll-'));
    let started: { o: Origin; enc: LlEncoder } | undefined;
    // The uploads left open end with the test and write the state once more (afterEach has closed the
    // origin by then): end them and wait for that write before removing the dir under it.
    t.after(async () => {
      await started?.enc.kill();
      await started?.o.flushed();
      await rm(dir, { recursive: true, force: true });
    });
    const disk = new DiskStorage(dir);
    const stateWrites: number[] = [];
    const storage: Storage = Object.assign(Object.create(disk) as DiskStorage, {
      put: (key: string, bytes: Uint8Array | string) => {
        if (key === 'll/state.json') stateWrites.push(performance.now());
        return disk.put(key, bytes);
      },
    });
    started = await start({ storage });
    const { o, enc } = started;
    await running(enc, 2);
    const msn = lastMsn(await text(o, 'media_0.m3u8')) + 1;
    const writes = async () => {
      await o.flushed();
      return stateWrites.length;
    };
    const before = await writes();
    enc.feed(0, 5);
    await withPart(o, 0, msn, 0);
    assert.equal(await writes(), before + 1, 'the first part names a media sequence number and an upload id: written');
    enc.feed(0, 5);
    await withPart(o, 0, msn, 1);
    assert.equal(await writes(), before + 1, 'the next part: not written');
    await enc.nextSegment(0);
    assert.ok(await writes() > before + 1, 'the segment and its playlist: written');
  });
});

describe('origin: blocking playlist reload (draft 6.2.5.2)', () => {
  it('holds _HLS_msn/_HLS_part until the playlist has that part, answers with that version, cached for 6 part targets', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    const media = await text(o, 'media_0.m3u8');
    const plain = await get(o, 'media_0.m3u8');
    assert.equal(plain.headers.get('cache-control'), 'public, max-age=1', 'the plain playlist keeps its short TTL');
    const msn = lastMsn(media) + 1;
    const part0 = get(o, `media_0.m3u8?_HLS_msn=${msn}&_HLS_part=0`);
    const part1 = get(o, `media_0.m3u8?_HLS_msn=${msn}&_HLS_part=1`);
    const nextSeg = get(o, `media_0.m3u8?_HLS_msn=${msn}`);
    enc.feed(0, 4);
    assert.ok(await pending(part0));
    enc.feed(0, 1);
    const res = await part0;
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=3');
    assert.equal(trailingParts(await res.text()).length, 1, 'the version with part 0');
    assert.ok(await pending(part1));
    enc.feed(0, 5);
    assert.equal(trailingParts(await (await part1).text()).length, 2);
    assert.ok(await pending(nextSeg), 'the segment is not in the playlist before its upload completes and a playlist names it');
    await enc.nextSegment(0);
    const seg = await (await nextSeg).text();
    assert.equal(lastMsn(seg), msn);
    // A part past the last part of its segment is part 0 of the next.
    const beyond = get(o, `media_0.m3u8?_HLS_msn=${msn}&_HLS_part=2`);
    assert.ok(await pending(beyond));
    enc.feed(0, 5);
    assert.deepEqual(trailingParts(await (await beyond).text()).length, 1);
    // What is there already is answered at once; a blocking response carries the directive's cache lifetime.
    const old = await get(o, `media_0.m3u8?_HLS_msn=${msn - 1}&_HLS_part=0`);
    assert.equal(old.status, 200);
    assert.equal(old.headers.get('cache-control'), 'public, max-age=3');
  });

  it('400 for _HLS_part without _HLS_msn, an msn beyond last+2, a part beyond the advance limit, malformed directives; never stored', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    const last = lastMsn(await text(o, 'media_0.m3u8'));
    for (const q of ['_HLS_part=0', `_HLS_msn=${last + 3}`, `_HLS_msn=${last + 1}&_HLS_part=7`, '_HLS_msn=-1', '_HLS_msn=1e3', '_HLS_msn=1&_HLS_msn=2', '_HLS_skip=NO']) {
      const res = await get(o, `media_0.m3u8?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.headers.get('cache-control'), 'no-store', q);
    }
    // last+2 and an advance of up to 6 parts (3 s / 0.5 s) are held, not refused.
    for (const q of [`_HLS_msn=${last + 2}`, `_HLS_msn=${last + 1}&_HLS_part=5`]) assert.ok(await pending(get(o, `media_0.m3u8?${q}`)), q);
  });

  it('503 with Retry-After when still unavailable after three target durations (real timers)', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    const last = lastMsn(await text(o, 'media_0.m3u8'));
    const t0 = performance.now();
    const res = await get(o, `media_0.m3u8?_HLS_msn=${last + 2}`);
    const waited = performance.now() - t0;
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    // Target duration 1 s: three of them, loosely (the machine is loaded).
    assert.ok(waited >= 2900 && waited < 10_000, `answered after ${Math.round(waited)} ms`);
  });

  it('503 at once when the waiting room is full, per stream', async () => {
    const { o, enc } = await start({ maxHeldRequestsPerStream: 2 });
    await running(enc, 2);
    const msn = lastMsn(await text(o, 'media_0.m3u8')) + 1;
    const held = [get(o, `media_0.m3u8?_HLS_msn=${msn}`), get(o, `media_1.m3u8?_HLS_msn=${msn}`)];
    for (const h of held) assert.ok(await pending(h));
    const refused = await get(o, `media_0.m3u8?_HLS_msn=${msn}&_HLS_part=0`);
    assert.equal(refused.status, 503);
    for (const r of [0, 1]) await enc.nextSegment(r);
    for (const h of held) assert.equal((await h).status, 200);
  });

  it('ignores blocking once the playlist has EXT-X-ENDLIST', async () => {
    const { o, enc } = await start();
    await running(enc, 2);
    await enc.closeSegment(0);
    const ended = `${enc.playlistText(0)}#EXT-X-ENDLIST\n`;
    assert.equal((await o.app.request('/hls/ll/media_0.m3u8', { method: 'PUT', body: ended })).status, 204);
    const last = lastMsn(await text(o, 'media_0.m3u8'));
    const res = await get(o, `media_0.m3u8?_HLS_msn=${last + 2}&_HLS_part=1`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /#EXT-X-ENDLIST/);
  });

  it('_HLS_skip=YES answers a delta update (EXT-X-SKIP), alone or with a blocking request', async () => {
    const { o, enc } = await start({}, 12);
    await running(enc, 10);
    const full = await text(o, 'media_0.m3u8');
    // Draft 6.2.2: parts leave the playlist once further than three target durations from its end.
    assert.deepEqual(segmentsWithParts(full).map((seg) => seg.parts.length), [0, 0, 0, 0, 0, 0, 0, 2, 2, 2]);
    const delta = await text(o, 'media_0.m3u8?_HLS_skip=YES');
    const skipped = Number(tags(delta, 'EXT-X-SKIP')[0]?.['SKIPPED-SEGMENTS']);
    // 10 segments of 1 s, CAN-SKIP-UNTIL 6 s: the oldest four are further than 6 s from the end.
    assert.equal(skipped, 4);
    assert.equal(mediaSequence(delta), mediaSequence(full));
    assert.deepEqual(segmentsWithParts(delta).map((s) => s.uri), segmentsWithParts(full).slice(skipped).map((s) => s.uri));
    assert.match(delta, /#EXT-X-VERSION:9/);
    const blocking = get(o, `media_0.m3u8?_HLS_msn=${lastMsn(full) + 1}&_HLS_part=0&_HLS_skip=YES`);
    assert.ok(await pending(blocking));
    enc.feed(0, 5);
    const res = await blocking;
    assert.equal(res.headers.get('cache-control'), 'public, max-age=3');
    const body = await res.text();
    assert.match(body, /#EXT-X-SKIP:SKIPPED-SEGMENTS=\d+/);
    assert.equal(trailingParts(body).length, 1);
  });

  it('500 concurrent blocking requests over HTTP are all released by the part that satisfies them', async () => {
    let publishedAt = 0;
    // A target duration of 4 s: held requests give up after 12 s, time enough to open 500 connections on a loaded machine.
    const { o, enc } = await start({ onPublished: (e) => { if (e.path === 'media_0.m3u8') publishedAt = performance.now(); } }, 6, 4);
    const l = await listen(o.app, { port: 0, host: '127.0.0.1' });
    try {
      await running(enc, 2);
      const msn = lastMsn(await text(o, 'media_0.m3u8')) + 1;
      const released: number[] = [];
      const requests = Array.from({ length: 500 }, (_, i) => fetch(`${l.url}/hls/ll/media_0.m3u8?_HLS_msn=${msn}&_HLS_part=0${i % 2 ? '&_HLS_skip=YES' : ''}`)
        .then(async (res) => {
          released.push(performance.now());
          assert.equal(res.status, 200);
          return res.text();
        }));
      // Every request is held before the part comes (the gauge counts them).
      const held = async () => Number(/^cascade_origin_held_requests(?:\{[^}]*\})? (\d+)$/m.exec(await (await o.app.request('/metrics')).text())?.[1]);
      for (let i = 0; i < 160 && (await held()) < 500; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await held(), 500);
      const t0 = performance.now();
      enc.feed(0, 5);
      const bodies = await Promise.all(requests);
      for (const b of bodies) assert.equal(trailingParts(b).length, 1);
      released.sort((a, b) => a - b);
      const at = (q: number) => (released[Math.floor(q * (released.length - 1))]! - publishedAt).toFixed(1);
      console.log(`# 500 blocked requests over HTTP: answered ${at(0)} / ${at(0.5)} / ${at(1)} ms (first / median / last) after the playlist `
        + `with the part was published, ${(publishedAt - t0).toFixed(1)} ms after its last fragment was sent`);
      assert.ok(publishedAt > t0 && released.at(-1)! - publishedAt < 5000);
    } finally {
      await l.close();
    }
  });
});

describe('origin: LL restart mid-part', () => {
  it('an uploader killed mid-segment: its unfinished parts leave the playlist, a discontinuity opens, published parts stay servable', async () => {
    const { o, enc } = await start();
    await running(enc, 3);
    const open = enc.current(0);
    const msnOfPartial = lastMsn(await text(o, 'media_0.m3u8')) + 1;
    enc.feed(0, 7);
    const before = await withPart(o, 0, msnOfPartial, 0);
    const [p0] = trailingParts(before);
    assert.ok(p0, 'part 0 of the open segment is published');
    const hinted = tags(before, 'EXT-X-PRELOAD-HINT')[0]!.URI!;
    const heldPart = get(o, hinted);
    const heldReload = get(o, `media_0.m3u8?_HLS_msn=${msnOfPartial}&_HLS_part=1`);
    assert.ok(await pending(heldPart));
    await enc.kill();
    // The hinted part never completes: its request ends with the body cut, never a short body as complete.
    const cut = await heldPart;
    await assert.rejects(cut.arrayBuffer());
    // The uploader comes back with MEDIA-SEQUENCE 1 and new names.
    const again = new LlEncoder((path, init) => Promise.resolve(o.app.request(path, init)), 'll', [LL_VIDEO, LL_AUDIO], 'b');
    await again.start();
    for (const r of [0, 1]) {
      await again.openSegment(r);
      await again.nextSegment(r);
    }
    const after = await text(o, 'media_0.m3u8');
    assert.ok(!after.includes(p0.URI!), 'the unfinished segment\'s parts are withdrawn');
    assert.match(after, /#EXT-X-DISCONTINUITY\n/);
    const segs = segmentsWithParts(after);
    assert.ok(lastMsn(after) > msnOfPartial, 'the new epoch starts after the number the partial held');
    assert.ok(segs.every((s) => !s.uri.startsWith(open.name.replace(/\.m4s$/, ''))));
    // The held reload is answered by a later version (a later segment), not by the withdrawn parts.
    const reload = await heldReload;
    assert.equal(reload.status, 200);
    assert.ok(lastMsn(await reload.text()) >= msnOfPartial);
    // A part URI once published keeps its bytes (for the grace period), never others.
    const kept = await bytes(o, p0.URI!);
    assert.deepEqual(kept, open.bytes.subarray(0, kept.length));
    assert.equal(trailingParts(after).length, 0);
    assert.match(tags(after, 'EXT-X-PRELOAD-HINT')[0]!.URI!, /^chunk-b-0-00002.*\.p0\.m4s$/);
  });
});
