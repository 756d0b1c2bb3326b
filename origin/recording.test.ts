// --record in an in-process origin (memory and disk): DVR window, time-shift clips exact to segment
// boundaries, bad clips, relive after ENDLIST and after idling, a restart of the stream, retention, an
// origin restart, uploads to the reserved directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { createOrigin, type Origin, type OriginConfig } from './index.js';
import { MemoryStorage } from './memory-storage.js';
import { CHUNK_SIZE } from './recording-index.js';
import { parseClipTime } from './recording-playlist.js';
import { FailingStorage } from '../test/helpers/failing-storage.js';
import { RecordingEncoder } from '../test/helpers/recording-encoder.js';

const T0 = Date.UTC(2026, 0, 1);

async function recordingOrigin(config: Partial<OriginConfig> = {}) {
  const clock = { now: T0 };
  const origin = await createOrigin({ record: true, sweepIntervalMs: 0, now: () => clock.now, ...config });
  return { origin, clock };
}

async function get(origin: Origin, path: string, headers: Record<string, string> = {}) {
  const res = await origin.app.request(`/hls/${path}`, { headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function media(origin: Origin, path: string): Promise<MediaPlaylist & { text: string; cacheControl: string | null }> {
  const res = await get(origin, path);
  assert.equal(res.status, 200, `${path}: ${res.text}`);
  const pl = parsePlaylist(res.text);
  assert.equal(pl.type, 'media');
  return { ...(pl as MediaPlaylist), text: res.text, cacheControl: res.headers.get('cache-control') };
}

const pdts = (pl: MediaPlaylist) => pl.segments.map((s) => Date.parse(s.tags.find((t) => t.startsWith('#EXT-X-PROGRAM-DATE-TIME:'))!.slice(25)));

/** `n` segments of `enc`, the origin's clock following the encoder's. */
async function run(enc: RecordingEncoder, clock: { now: number }, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await enc.segment();
    clock.now += enc.dur * 1000;
  }
}

test('a 2-hour recording (3600 segments of 2 s, uploaded as fast as the origin takes them): the DVR window holds exactly its length, the EVENT playlist all of it', async () => {
  const { origin, clock } = await recordingOrigin({ dvrWindowMs: 10 * 60_000 + 1000 });
  const enc = new RecordingEncoder(origin, 'long', ['v0'], { keepSent: false, dur: 2 });
  await enc.master();
  await run(enc, clock, 3600);
  await origin.flushed();
  const dvr = await media(origin, 'long/_dvr/0.m3u8');
  // 10 min 1 s before the end is inside segment 3299: it ends within the window, so it is in it.
  assert.equal(dvr.segments.length, 301, 'every segment that ends within the last 10 minutes and 1 s');
  assert.equal(dvr.mediaSequence, 3299);
  assert.equal(pdts(dvr)[0], T0 + 3299 * 2000);
  assert.equal(pdts(dvr).at(-1), T0 + 3599 * 2000);
  assert.equal(dvr.playlistType, undefined);
  assert.equal(dvr.endList, false);
  assert.equal(dvr.cacheControl, 'public, max-age=1');

  const event = await media(origin, 'long/_relive/0.m3u8');
  assert.equal(event.segments.length, 3600);
  assert.equal(event.playlistType, 'EVENT', 'while the stream is live, its relive is an EVENT playlist');
  assert.equal(event.endList, false);
  assert.deepEqual(pdts(event).slice(0, 3), [T0, T0 + 2000, T0 + 4000]);
  const memory = origin.recorder!.get('long')!.index('v0/index.m3u8')!.memory;
  assert.ok(memory.segments <= CHUNK_SIZE * 5, `segments in memory: ${memory.segments}`);
  await origin.close();
});

test('--dvr-window 0: the DVR playlist is the whole event (EXT-X-PLAYLIST-TYPE:EVENT), closed by ENDLIST when the stream ends', async () => {
  const { origin, clock } = await recordingOrigin({ dvrWindowMs: 0 });
  const enc = new RecordingEncoder(origin, 'ev');
  await enc.master();
  await run(enc, clock, 20);
  await origin.flushed();
  let dvr = await media(origin, 'ev/_dvr/0.m3u8');
  assert.equal(dvr.playlistType, 'EVENT');
  assert.equal(dvr.segments.length, 20);
  assert.equal(dvr.endList, false);
  await enc.end();
  await origin.flushed();
  dvr = await media(origin, 'ev/_dvr/0.m3u8');
  assert.equal(dvr.endList, true);
  await origin.close();
});

test('a clip starts with the segment containing start and ends with the one containing end (a segment starting exactly at end is not in it)', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'c', ['v0', 'v1'], { dur: 2 });
  await enc.master();
  await run(enc, clock, 30); // [T0, T0 + 60 s)
  await origin.flushed();
  const iso = (ms: number) => new Date(T0 + ms).toISOString();
  const cases: [string, string, number, number][] = [
    [iso(10_500), iso(20_500), 5, 10], // inside segments 5 and 10
    [iso(10_000), iso(20_000), 5, 9], // on boundaries: 5 starts at start, 10 starts at end (left out)
    [iso(0), iso(60_000), 0, 29], // the whole recording
    [String((T0 + 59_999) / 1000), String((T0 + 60_000) / 1000), 29, 29], // epoch seconds (PDT), the last segment alone
    [iso(1), iso(2), 0, 0], // a sliver of one segment
  ];
  for (const [start, end, first, last] of cases) {
    const clip = await media(origin, `c/_dvr/1.m3u8?start=${start}&end=${end}`);
    assert.equal(clip.playlistType, 'VOD');
    assert.equal(clip.endList, true);
    assert.equal(clip.mediaSequence, first, `${start}..${end}`);
    assert.equal(clip.segments.length, last - first + 1, `${start}..${end}`);
    assert.equal(pdts(clip)[0], T0 + first * 2000);
    assert.equal(clip.cacheControl, 'public, max-age=86400');
  }
  // The master of a clip names the clip of every rendition.
  const master = await get(origin, `c/_relive/index.m3u8?start=${iso(10_500)}&end=${iso(20_500)}`);
  assert.equal(master.status, 200);
  assert.match(master.text, /^0\.m3u8\?start=2026-01-01T00%3A00%3A10\.500Z&end=2026-01-01T00%3A00%3A20\.500Z$/m);
  await origin.close();
});

test('bad start/end: 400 with the reason, never a 500 (unparseable, one without the other, end <= start, outside the recording)', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'b');
  await enc.master();
  await run(enc, clock, 10); // [T0, T0 + 10 s)
  await origin.flushed();
  const iso = (ms: number) => new Date(T0 + ms).toISOString();
  const bad: [string, RegExp][] = [
    ['start=yesterday&end=now', /start: not an ISO 8601/],
    [`start=${iso(1000)}`, /needs both start and end/],
    [`end=${iso(1000)}`, /needs both start and end/],
    [`start=${iso(5000)}&end=${iso(5000)}`, /end must be after start/],
    [`start=${iso(6000)}&end=${iso(5000)}`, /end must be after start/],
    [`start=${iso(-1)}&end=${iso(5000)}`, /start .* is outside the recording/],
    [`start=${iso(10_000)}&end=${iso(11_000)}`, /start .* is outside the recording/],
    [`start=${iso(1000)}&end=${iso(10_001)}`, /end .* is after the end of the recording/],
    ['start=2026-01-01T00:00:01&end=2026-01-01T00:00:02Z', /start: not an ISO 8601 date-time with offset/],
    [`start=${iso(1000)}&end=1e12`, /end: not an ISO 8601/],
    ['start=2026-13-45T99:00:00Z&end=2026-01-01T00:00:02Z', /start: not an ISO 8601/],
  ];
  for (const path of ['b/_dvr/0.m3u8', 'b/_relive/0.m3u8', 'b/_dvr/index.m3u8']) {
    for (const [query, reason] of bad) {
      const res = await get(origin, `${path}?${query}`);
      assert.equal(res.status, 400, `${path}?${query}`);
      assert.match(res.text, reason, `${path}?${query}`);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
  }
  assert.equal(parseClipTime('1767225600.5'), T0 + 500);
  assert.equal(parseClipTime('2026-01-01T01:00:00+01:00'), T0);
  await origin.close();
});

test('relive: ENDLIST makes it VOD, cached an hour; the stream starting again turns it into EVENT (short-lived) with a discontinuity, never another meaning', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'r', ['v0', 'v1']);
  await enc.master();
  await run(enc, clock, 10);
  await origin.flushed();
  let relive = await media(origin, 'r/_relive/1.m3u8');
  assert.equal(relive.playlistType, 'EVENT');
  assert.equal(relive.cacheControl, 'public, max-age=1');
  await enc.end();
  await origin.flushed();
  relive = await media(origin, 'r/_relive/1.m3u8');
  assert.equal(relive.playlistType, 'VOD');
  assert.equal(relive.endList, true);
  assert.equal(relive.cacheControl, 'public, max-age=3600');
  assert.equal(relive.segments.length, 10);
  const ended = relive.text;
  // Revalidation by ETag.
  const etag = (await get(origin, 'r/_relive/1.m3u8')).headers.get('etag')!;
  assert.equal((await get(origin, 'r/_relive/1.m3u8', { 'If-None-Match': etag })).status, 304);

  enc.restart(30_000);
  clock.now += 30_000;
  await run(enc, clock, 5);
  await origin.flushed();
  relive = await media(origin, 'r/_relive/1.m3u8');
  assert.equal(relive.playlistType, 'EVENT');
  assert.equal(relive.endList, false);
  assert.equal(relive.cacheControl, 'public, max-age=1');
  assert.equal(relive.segments.length, 15);
  assert.ok(relive.segments[10]!.discontinuity, 'the restart is a discontinuity');
  assert.ok(relive.text.startsWith(ended.split('#EXT-X-ENDLIST')[0]!.replace('VOD', 'EVENT')), 'the ended event is a prefix of what it became');
  assert.notEqual((await get(origin, 'r/_relive/1.m3u8', { 'If-None-Match': etag })).status, 304);
  await origin.close();
});

test('relive after --relive-after without a new segment (no ENDLIST): VOD at the next sweep', async () => {
  const { origin, clock } = await recordingOrigin({ reliveAfterMs: 60_000 });
  const enc = new RecordingEncoder(origin, 'idle');
  await enc.master();
  await run(enc, clock, 5);
  await origin.flushed();
  clock.now += 30_000;
  await origin.sweep();
  assert.equal((await media(origin, 'idle/_relive/0.m3u8')).playlistType, 'EVENT');
  clock.now += 31_000;
  await origin.sweep();
  const relive = await media(origin, 'idle/_relive/0.m3u8');
  assert.equal(relive.playlistType, 'VOD');
  assert.equal(relive.endList, true);
  await origin.close();
});

test('every URI of a recording playlist is served with the bytes uploaded for that segment, immutable; unknown ones 404', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'u', ['v0', 'v1']);
  await enc.master();
  await run(enc, clock, 6);
  enc.restart();
  await run(enc, clock, 4);
  await origin.flushed();
  for (const [rid, rendition] of [[0, 'v0'], [1, 'v1']] as const) {
    const pl = await media(origin, `u/_relive/${rid}.m3u8`);
    const sent = enc.sent.filter((s) => s.rendition === rendition);
    assert.equal(pl.segments.length, sent.length);
    for (const [i, seg] of pl.segments.entries()) {
      const res = await get(origin, `u/_relive/${seg.uri}`.replace('_relive/../', ''));
      assert.equal(res.status, 200, seg.uri);
      assert.equal(res.text, sent[i]!.body);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=86400, immutable');
      assert.equal(res.headers.get('content-type'), 'video/mp2t');
    }
  }
  const id = origin.recorder!.get('u')!.id;
  for (const path of [`u/_rec/${id}/0/999.ts`, `u/_rec/${id}/7/0.ts`, 'u/_rec/zzz/0/0.ts', `u/_rec/${id}/0/0.m4s`, `u/_rec/${id}/0/0.init.ts`, 'u/_dvr/9.m3u8', 'u/_dvr/nope.m3u8', 'nostream/_dvr/0.m3u8']) {
    assert.equal((await get(origin, path)).status, 404, path);
  }
  // A range of a recorded segment.
  const first = (await media(origin, 'u/_relive/0.m3u8')).segments[0]!.uri.replace('../', '');
  const part = await origin.app.request(`/hls/u/${first}`, { headers: { Range: 'bytes=0-3' } });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), 'u v0');
  await origin.close();
});

test('uploads under _dvr/, _relive/ and _rec/ are refused (400 reserved_path) and change nothing', async () => {
  const { origin } = await recordingOrigin({ record: false });
  for (const path of ['_dvr/0.m3u8', '_relive/index.m3u8', '_rec/x/0/0.ts']) {
    const res = await origin.app.request(`/hls/s/${path}`, { method: 'PUT', body: '#EXTM3U\n' });
    assert.equal(res.status, 400, path);
    assert.match(await res.text(), /where recordings are served/);
  }
  assert.equal(origin.streams.size, 0);
  // Without --record, the recording paths are simply not found.
  assert.equal((await get(origin, 's/_dvr/0.m3u8')).status, 404);
  await origin.close();
});

test('retention: segments recorded longer ago than --record-retention leave the recording (and storage), a chunk per sweep; the rest stays', async () => {
  const { origin, clock } = await recordingOrigin({ recordRetentionMs: 3_600_000 });
  const storage = origin.recorder!.storage as MemoryStorage;
  const enc = new RecordingEncoder(origin, 'ret', ['v0'], { keepSent: false });
  await enc.master();
  await run(enc, clock, CHUNK_SIZE * 3);
  await origin.flushed();
  const before = storage.size;
  clock.now = T0 + CHUNK_SIZE * 2 * 1000 + 3_600_000; // the first two chunks are older than an hour
  await origin.sweep();
  await origin.sweep();
  await origin.sweep();
  const relive = await media(origin, 'ret/_relive/0.m3u8');
  assert.equal(relive.mediaSequence, CHUNK_SIZE * 2, 'two chunks aged out, not the third');
  assert.equal(relive.segments.length, CHUNK_SIZE);
  assert.ok(storage.size <= before - CHUNK_SIZE * 2, `objects: ${before} -> ${storage.size}`);
  assert.equal((await get(origin, `ret/_rec/${origin.recorder!.get('ret')!.id}/0/0.ts`)).status, 404);
  await origin.close();
});

test('the recording survives an origin restart on disk: same playlists, and later segments continue it with new URIs', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'cascade-record-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await recordingOrigin({ dataDir });
  const enc = new RecordingEncoder(first.origin, 'd', ['v0', 'v1']);
  await enc.master();
  await run(enc, first.clock, 40);
  await first.origin.flushed();
  const before = await media(first.origin, 'd/_relive/0.m3u8');
  await first.origin.close();

  const second = await recordingOrigin({ dataDir });
  second.clock.now = first.clock.now;
  const after = await media(second.origin, 'd/_relive/0.m3u8');
  assert.equal(after.text, before.text);
  for (const seg of after.segments) assert.equal((await get(second.origin, `d/${seg.uri.replace('../', '')}`)).status, 200);
  enc.use(second.origin);
  await run(enc, second.clock, 5);
  await second.origin.flushed();
  const grown = await media(second.origin, 'd/_relive/0.m3u8');
  assert.equal(grown.segments.length, 45);
  const uris = grown.segments.map((s) => s.uri);
  assert.equal(new Set(uris).size, uris.length, 'no URI given twice');
  assert.deepEqual(uris.slice(0, 40), before.segments.map((s) => s.uri));
  assert.equal(grown.segments[40]!.discontinuity, false, 'the origin restarting is no discontinuity of the stream');
  await second.origin.close();
});

/** A MemoryStorage whose writes of recorded segments wait while held (a slow disk or S3). */
class HeldStorage extends MemoryStorage {
  private gate: Promise<void> | undefined;
  private open = () => {};

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open();
    this.gate = undefined;
  }

  override async put(key: string, bytes: Uint8Array | string): Promise<void> {
    if (/\/record\/\d+\/seg\//.test(key)) await this.gate;
    await super.put(key, bytes);
  }
}

test('a relive never ends short: while the last segments are still being copied, ENDLIST does not make it VOD yet', async () => {
  const storage = new HeldStorage();
  const { origin, clock } = await recordingOrigin({ storage });
  const enc = new RecordingEncoder(origin, 'slow');
  await enc.master();
  await run(enc, clock, 5);
  await origin.flushed();
  storage.hold();
  await run(enc, clock, 2);
  await enc.end();
  const early = await media(origin, 'slow/_relive/0.m3u8');
  assert.equal(early.playlistType, 'EVENT');
  assert.equal(early.endList, false);
  assert.equal(early.cacheControl, 'public, max-age=1');
  storage.release();
  await origin.flushed();
  const relive = await media(origin, 'slow/_relive/0.m3u8');
  assert.equal(relive.playlistType, 'VOD');
  assert.equal(relive.segments.length, 7);
  await origin.close();
});

test('copies pending beyond the bound: later segments are left out (counted), the recording marks the hole with a discontinuity and stays servable', async () => {
  const storage = new HeldStorage();
  const { origin, clock } = await recordingOrigin({ storage });
  const enc = new RecordingEncoder(origin, 'busy');
  await enc.master();
  await run(enc, clock, 3);
  await origin.flushed();
  storage.hold();
  await run(enc, clock, 70);
  storage.release();
  await origin.flushed();
  await run(enc, clock, 3);
  await origin.flushed();
  const relive = await media(origin, 'busy/_relive/0.m3u8');
  assert.equal(relive.segments.length, 3 + 64 + 3, 'the first 64 pending copies are kept, 6 left out');
  assert.deepEqual(relive.segments.flatMap((s, i) => (s.discontinuity ? [i] : [])), [67], 'a discontinuity where segments are missing');
  for (const seg of relive.segments) assert.equal((await get(origin, `busy/${seg.uri.slice(3)}`)).status, 200);
  const metrics = await (await origin.app.request('/metrics')).text();
  assert.match(metrics, /cascade_origin_record_dropped_total\{reason="busy",role="origin"\} 6/);
  await origin.close();
});

test('fMP4: every run\'s init section is recorded and named by EXT-X-MAP, again at each index chunk (so retention can drop whole chunks)', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'f', ['v0'], { fmp4: true });
  await enc.master();
  await run(enc, clock, CHUNK_SIZE + 10);
  enc.restart();
  await run(enc, clock, 5);
  await origin.flushed();
  const relive = await media(origin, 'f/_relive/0.m3u8');
  assert.equal(relive.version, 6);
  assert.equal(relive.segments.length, CHUNK_SIZE + 15);
  const maps = relive.segments.flatMap((s, i) => (s.map !== undefined ? [[i, s.map] as const] : []));
  // hls.js and Apple keep the map in force until the next one: a new one at the chunk and at the restart.
  const changes = maps.filter(([, map], i) => i === 0 || map !== maps[i - 1]![1]).map(([i]) => i);
  assert.deepEqual(changes, [0, CHUNK_SIZE, CHUNK_SIZE + 10]);
  const initOf = (i: number) => /URI="([^"]+)"/.exec(relive.segments[i]!.map!)![1]!.slice(3);
  for (const [i, run] of [[0, 0], [CHUNK_SIZE, 0], [CHUNK_SIZE + 10, 1]] as const) {
    const res = await get(origin, `f/${initOf(i)}`);
    assert.equal(res.status, 200, initOf(i));
    assert.equal(res.text, enc.initBody('v0', run));
    assert.equal(res.headers.get('content-type'), 'video/mp4');
  }
  assert.ok(relive.segments[CHUNK_SIZE + 10]!.discontinuity);
  const seg = await get(origin, `f/${relive.segments[3]!.uri.slice(3)}`);
  assert.equal(seg.headers.get('content-type'), 'video/iso.segment');
  await origin.close();
});

test('a recording in memory stays within --max-memory: past it, the oldest chunks go first, whatever the retention', async () => {
  const { origin, clock } = await recordingOrigin({ maxMemoryBytes: 200_000 });
  const enc = new RecordingEncoder(origin, 'mem', ['v0'], { keepSent: false });
  await enc.master();
  await run(enc, clock, CHUNK_SIZE * 8);
  await origin.flushed();
  const storage = origin.recorder!.storage as MemoryStorage;
  assert.ok(storage.bytes > 200_000, `held ${storage.bytes}`);
  await origin.sweep();
  assert.ok(storage.bytes <= 200_000, `held ${storage.bytes} after a pass`);
  const relive = await media(origin, 'mem/_relive/0.m3u8');
  assert.ok(relive.mediaSequence > 0 && relive.mediaSequence % CHUNK_SIZE === 0, `starts at ${relive.mediaSequence}`);
  assert.equal(relive.mediaSequence + relive.segments.length, CHUNK_SIZE * 8, 'the newest segments are kept');
  assert.match(await (await origin.app.request('/metrics')).text(), /cascade_origin_memory_bytes\{role="origin"\} \d+/);
  await origin.close();
});

test('a recording playlist is what its ETag names: segments recorded while it is being written are not in it', async () => {
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'etag', ['v0'], { keepSent: false });
  await enc.master();
  await run(enc, clock, CHUNK_SIZE + 44);
  await origin.flushed();
  const res = await origin.app.request('/hls/etag/_relive/0.m3u8');
  assert.equal(res.headers.get('etag'), `"${origin.recorder!.get('etag')!.id}:etag/record/0:0-${CHUNK_SIZE + 43}:event"`);
  // The first chunk is written before the answer; the open one only as the body is read.
  await run(enc, clock, 5);
  await origin.flushed();
  const pl = parsePlaylist(await res.text()) as MediaPlaylist;
  assert.equal(pl.segments.length, CHUNK_SIZE + 44);
  await origin.close();
});

test('fuzz: any path under the recording directories and any start/end get 200, 304, 400 or 404, never a 5xx', async () => {
  const fc = (await import('fast-check')).default;
  const { origin, clock } = await recordingOrigin();
  const enc = new RecordingEncoder(origin, 'z', ['v0', 'v1']);
  await enc.master();
  await run(enc, clock, 12);
  await origin.flushed();
  const id = origin.recorder!.get('z')!.id;
  const segment = fc.tuple(fc.constantFrom(id, 'x', '0'), fc.nat(3), fc.integer({ min: -1, max: 20 }), fc.constantFrom('.ts', '.init.ts', '.m4s', '.init.mp4', ''))
    .map(([i, r, s, e]) => `_rec/${i}/${r}/${s}${e}`);
  const playlist = fc.tuple(fc.constantFrom('_dvr', '_relive'), fc.constantFrom('0.m3u8', '1.m3u8', '7.m3u8', 'index.m3u8', 'x.m3u8', '00.m3u8', 'a/b.m3u8', 'seg.ts'))
    .map(([d, p]) => `${d}/${p}`);
  const time = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.integer({ min: -5000, max: 20_000 }).map((ms) => new Date(T0 + ms).toISOString()),
    fc.double({ min: 0, max: 1e13, noNaN: true }).map(String),
    fc.integer({ min: 0, max: 12_000 }).map((ms) => String((T0 + ms) / 1000)),
  );
  const query = fc.option(fc.record({ start: fc.option(time), end: fc.option(time) }), { nil: undefined }).map((q) => {
    if (q === undefined) return '';
    const params = new URLSearchParams();
    if (q.start !== null) params.set('start', q.start);
    if (q.end !== null) params.set('end', q.end);
    return `?${params}`;
  });
  await fc.assert(fc.asyncProperty(fc.oneof(segment, playlist), query, fc.boolean(), async (path, q, head) => {
    const res = await origin.app.request(`/hls/z/${path}${q}`, { method: head ? 'HEAD' : 'GET' });
    await res.arrayBuffer();
    assert.ok([200, 206, 304, 400, 404].includes(res.status), `${path}${q}: ${res.status}`);
  }), { numRuns: 400 });
  assert.equal(parseClipTime('2026-01-01T01:00:00 01:00'), T0, "an offset's unescaped + arrives as a space");
  await origin.close();
});

test('at most 64 renditions of a stream are recorded (the rest counted as left out), at any depth', async () => {
  const { origin, clock } = await recordingOrigin();
  const names = ['a/b/c', ...Array.from({ length: 66 }, (_, i) => `r${i}`)];
  const enc = new RecordingEncoder(origin, 'many', names);
  await run(enc, clock, 1);
  await origin.flushed();
  const renditions = origin.recorder!.get('many')!.renditions;
  assert.equal(Object.keys(renditions).length, 64);
  assert.equal(renditions['a/b/c/index.m3u8'], 0);
  assert.equal((await get(origin, 'many/_relive/0.m3u8')).status, 200);
  assert.match(await (await origin.app.request('/metrics')).text(), /cascade_origin_record_dropped_total\{reason="renditions",role="origin"\} 3/);
  await origin.close();
});

test('a copy the storage refuses is counted as a storage error (op record_write), the recording goes on after it with a discontinuity', async () => {
  const storage = new FailingStorage(new MemoryStorage());
  const { origin, clock } = await recordingOrigin({ storage });
  const enc = new RecordingEncoder(origin, 'full');
  await enc.master();
  await run(enc, clock, 3);
  await origin.flushed();
  storage.fail('ENOSPC', ['put'], /\/record\/0\/seg\//);
  await run(enc, clock, 2);
  await origin.flushed();
  storage.heal();
  await run(enc, clock, 2);
  await origin.flushed();
  const relive = await media(origin, 'full/_relive/0.m3u8');
  assert.equal(relive.segments.length, 5);
  assert.ok(relive.segments[3]!.discontinuity);
  const metrics = await (await origin.app.request('/metrics')).text();
  assert.match(metrics, /cascade_origin_storage_errors_total\{op="record_write",code="ENOSPC",role="origin"\} 2/);
  assert.doesNotMatch(metrics, /cascade_origin_record_dropped_total\{/);
  await origin.close();
});
