// The origin's publishing rules (issue: rules 1-9 and 11), one test each, on a real OriginStream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { OriginStream } from './stream.js';

const LIMITS = { minWindow: 3, maxWindow: 6, graceMs: 10_000 };

function newStream(clock = { t: 1_000_000 }) {
  return new OriginStream('s', LIMITS, undefined, () => clock.t);
}

async function put(s: OriginStream, path: string, bytes: string) {
  const blob = s.beginUpload(path);
  blob.append(Buffer.from(bytes));
  await s.finishUpload(blob, createHash('sha256').update(bytes).digest('hex'));
}

function media(seq: number, names: string[], opts: { td?: number; dur?: number; extra?: string; end?: boolean } = {}): string {
  return ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${opts.td ?? 2}`, `#EXT-X-MEDIA-SEQUENCE:${seq}`, opts.extra ?? '',
    ...names.flatMap((n) => [`#EXTINF:${opts.dur ?? 2},`, n]), opts.end ? '#EXT-X-ENDLIST' : ''].filter(Boolean).join('\n') + '\n';
}

function published(s: OriginStream, path = 'index.m3u8'): MediaPlaylist {
  const p = s.playlist(path);
  assert.ok(p, `${path} is published`);
  return parsePlaylist(p.text) as MediaPlaylist;
}

/** Each published segment as [msn, uri, discontinuity sequence number]. */
function entries(pl: MediaPlaylist): [number, string, number][] {
  let disc = pl.discontinuitySequence;
  return pl.segments.map((seg, i) => {
    if (seg.discontinuity) disc++;
    return [pl.mediaSequence + i, seg.uri, disc];
  });
}

/** An encoder run: uploads segment i then the playlist, like ffmpeg's hls muxer with hls_list_size `size`. */
async function run(s: OriginStream, prefix: string, from: number, to: number, opts: { size?: number; path?: string; bytes?: string; file?: (i: number) => string } = {}) {
  const size = opts.size ?? 4;
  const file = opts.file ?? ((i: number) => `${prefix}${i}.ts`);
  const dir = opts.path?.includes('/') ? opts.path.slice(0, opts.path.lastIndexOf('/') + 1) : '';
  for (let i = from; i <= to; i++) {
    await put(s, dir + file(i), `${opts.bytes ?? prefix}-${i}`);
    const first = Math.max(from, i - size + 1);
    const names = [];
    for (let k = first; k <= i; k++) names.push(file(k));
    s.applyPlaylist(opts.path ?? 'index.m3u8', media(first, names));
  }
}

test('rule 1: the media sequence never decreases, whatever the uploader does', async () => {
  const s = newStream();
  const seen: number[] = [];
  const check = () => seen.push(published(s).mediaSequence);
  await run(s, 'a', 0, 7);
  check();
  await run(s, 'a', 0, 2, { bytes: 'second run' }); // restart, same names
  check();
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts'])); // an old playlist again
  check();
  await run(s, 'b', 100, 103); // jump
  check();
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `sequence went back: ${seen}`);
  const all = entries(published(s)).map(([msn]) => msn);
  assert.deepEqual(all, [...all].sort((a, b) => a - b));
});

for (const [name, restart] of [
  ['the sequence goes back with new names', async (s: OriginStream) => run(s, 'b', 0, 1)],
  ['segment names are reused with different bytes', async (s: OriginStream) => run(s, 'a', 0, 1, { bytes: 'new run' })],
  ['the playlist shrinks to one new segment', async (s: OriginStream) => {
    await put(s, 'x.ts', 'x');
    s.applyPlaylist('index.m3u8', media(5, ['x.ts']));
  }],
  ['a same-length playlist arrives with all-new names', async (s: OriginStream) => {
    for (let i = 6; i <= 9; i++) await put(s, `n${i}.ts`, `n${i}`);
    s.applyPlaylist('index.m3u8', media(6, ['n6.ts', 'n7.ts', 'n8.ts', 'n9.ts']));
  }],
  ['the encoder reproduces its old segments byte for byte (a test pattern)', async (s: OriginStream) => run(s, 'a', 0, 1)],
  ['the sequence jumps ahead (epoch-numbered restart)', async (s: OriginStream) => run(s, 'e', 1_700_000_000, 1_700_000_001)],
] as const) {
  test(`rule 2: a restart is detected when ${name}`, async () => {
    const s = newStream();
    await run(s, 'a', 0, 9);
    const before = entries(published(s));
    await restart(s);
    const pl = published(s);
    const after = entries(pl);
    const firstNew = pl.segments.findIndex((seg) => !before.some(([, uri]) => uri === seg.uri));
    assert.ok(firstNew >= 0, 'the new segments are published');
    assert.equal(pl.segments[firstNew]!.discontinuity, true, 'first segment after the restart is a discontinuity');
    assert.equal(pl.segments.filter((x) => x.discontinuity).length, 1);
    const lastOld = before[before.length - 1]!;
    assert.equal(after[firstNew]![0], lastOld[0] + 1, 'numbering continues');
    assert.equal(after[firstNew]![2], lastOld[2] + 1, 'the discontinuity sequence counts it');
    assert.equal(s.publisher.state.restarts, 1);
  });
}

test('rule 2: EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the window', async () => {
  const s = newStream();
  await run(s, 'a', 0, 5);
  await run(s, 'a', 0, 0, { bytes: 'run 2' });
  await run(s, 'a', 0, 0, { bytes: 'run 3' });
  let pl = published(s);
  assert.equal(pl.discontinuitySequence, 0);
  assert.equal(pl.segments.filter((x) => x.discontinuity).length, 2);
  await run(s, 'b', 1, 8, { size: 4 }); // continues run 3 numbering? no: new names at usn 1.. -> consistent append
  pl = published(s);
  assert.equal(pl.segments.filter((x) => x.discontinuity).length, 0, 'both discontinuities left the window');
  assert.equal(pl.discontinuitySequence, 2);
});

test('rule 3: a reused name with new bytes is published under a new URI, the old URI keeps its bytes', async () => {
  const s = newStream();
  await run(s, 'a', 0, 3);
  const oldUri = published(s).segments[0]!.uri;
  await run(s, 'a', 0, 0, { bytes: 'restarted' });
  const pl = published(s);
  const newUri = pl.segments[pl.segments.length - 1]!.uri;
  assert.notEqual(newUri, oldUri);
  assert.equal(s.file(oldUri)!.blob.bytes().toString(), 'a-0');
  assert.equal(s.file(newUri)!.blob.bytes().toString(), 'restarted-0');
});

test('rule 3: EXT-X-MAP init segments get a new URI when their bytes change', async () => {
  const s = newStream();
  const fmp4 = (seq: number, names: string[]) =>
    media(seq, names, { extra: '#EXT-X-MAP:URI="init.mp4"' }).replace('#EXT-X-VERSION:3', '#EXT-X-VERSION:7');
  await put(s, 'init.mp4', 'init-1');
  await put(s, 'c0.m4s', 'c0');
  s.applyPlaylist('index.m3u8', fmp4(0, ['c0.m4s']));
  const first = published(s).segments[0]!.map!;
  await put(s, 'init.mp4', 'init-2');
  await put(s, 'c0.m4s', 'c0 new');
  s.applyPlaylist('index.m3u8', fmp4(0, ['c0.m4s']));
  const pl = published(s);
  const second = pl.segments[1]!.map!;
  assert.notEqual(first, second);
  assert.ok(pl.segments[1]!.tags.includes(second), 'the new MAP is written before the segment that needs it');
  const uriOf = (line: string) => /URI="([^"]+)"/.exec(line)![1]!;
  assert.equal(s.file(uriOf(first))!.blob.bytes().toString(), 'init-1');
  assert.equal(s.file(uriOf(second))!.blob.bytes().toString(), 'init-2');
});

test('rule 4: every published URI serves exactly its bytes until the grace period after it left the window', async () => {
  const clock = { t: 1_000_000 };
  const s = newStream(clock);
  await run(s, 'a', 0, 2);
  const firstUri = published(s).segments[0]!.uri;
  await run(s, 'a', 3, 9, { size: 4 });
  const pl = published(s);
  assert.ok(!pl.segments.some((x) => x.uri === firstUri), 'left the window');
  for (const seg of pl.segments) assert.match(s.file(seg.uri)!.blob.bytes().toString(), /^a-\d$/);
  clock.t += LIMITS.graceMs - 1;
  s.sweep(Infinity);
  assert.equal(s.file(firstUri)?.blob.bytes().toString(), 'a-0', 'still servable within the grace period');
  clock.t += 2;
  s.sweep(Infinity);
  assert.equal(s.file(firstUri), undefined, 'gone after it');
  for (const seg of published(s).segments) assert.ok(s.file(seg.uri), 'window still servable');
});

test('rule 4: a segment that has not completely arrived is not published until it has', async () => {
  const s = newStream();
  await run(s, 'a', 0, 1);
  const partial = s.beginUpload('a2.ts');
  partial.append(Buffer.from('half'));
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts']));
  assert.deepEqual(published(s).segments.map((x) => x.uri), ['a0.0.ts', 'a1.1.ts']);
  await s.finishUpload(partial, 'h2');
  assert.deepEqual(published(s).segments.map((x) => x.uri), ['a0.0.ts', 'a1.1.ts', 'a2.2.ts'], 'published once complete; a3 never arrived');
});

test('rule 4: a segment whose upload failed becomes a gap once later segments arrived', async () => {
  const s = newStream();
  await run(s, 'a', 0, 1);
  const failed = s.beginUpload('a2.ts');
  s.abortUpload(failed);
  await put(s, 'a3.ts', 'a-3');
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts']));
  const pl = published(s);
  assert.equal(pl.segments.length, 4);
  assert.ok(pl.segments[2]!.gap, 'lost segment is an EXT-X-GAP');
  assert.ok(s.file(pl.segments[2]!.uri), 'even the gap URI is servable');
  assert.equal(s.file(pl.segments[3]!.uri)!.blob.bytes().toString(), 'a-3');
});

test('rule 5: a late older playlist or a duplicate changes nothing', async () => {
  const s = newStream();
  await run(s, 'a', 0, 6);
  const before = s.playlist('index.m3u8')!.text;
  assert.equal(s.applyPlaylist('index.m3u8', media(2, ['a2.ts', 'a3.ts', 'a4.ts', 'a5.ts'])).outcome, 'unchanged');
  assert.equal(s.applyPlaylist('index.m3u8', media(3, ['a3.ts', 'a4.ts', 'a5.ts', 'a6.ts'])).outcome, 'unchanged');
  await put(s, 'a6.ts', 'a-6'); // the same bytes uploaded again
  s.applyPlaylist('index.m3u8', media(3, ['a3.ts', 'a4.ts', 'a5.ts', 'a6.ts']));
  assert.equal(s.playlist('index.m3u8')!.text, before);
  assert.equal(s.publisher.state.restarts, 0);
});

test('rule 6: EXT-X-TARGETDURATION never decreases and covers every rounded EXTINF', async () => {
  const s = newStream();
  await put(s, 'a0.ts', 'x');
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts'], { td: 2, dur: 2.6 }));
  assert.equal(published(s).targetDuration, 3, 'rounded EXTINF 2.6 -> 3 > uploaded 2');
  await put(s, 'b0.ts', 'b');
  s.applyPlaylist('index.m3u8', media(0, ['b0.ts'], { td: 6, dur: 6 }));
  assert.equal(published(s).targetDuration, 6);
  await run(s, 'c', 1, 9);
  const pl = published(s);
  assert.equal(pl.targetDuration, 6, 'does not go back down after longer segments left the window');
});

test('rule 7: segment-level tags survive with their segment; ENDLIST is passed on', async () => {
  const s = newStream();
  for (const n of ['init.mp4', 's0.m4s', 's1.m4s', 's2.m4s']) await put(s, n, n);
  const text = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key1",KEYFORMAT="com.apple.streamingkeydelivery"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:2.0,
#EXT-X-VENDOR-CUE:OUT=1
s0.m4s
#EXTINF:2.0,
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z
#EXT-X-BYTERANGE:2@0
s1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-DATERANGE:ID="x",START-DATE="2026-01-01T00:00:04Z"
#EXT-X-GAP
#EXTINF:2.0,
s2.m4s
#EXT-X-ENDLIST
`;
  s.applyPlaylist('index.m3u8', text);
  const out = s.playlist('index.m3u8')!.text;
  assert.match(out, /#EXT-X-INDEPENDENT-SEGMENTS/);
  assert.match(out, /#EXT-X-MAP:URI="init\.0\.mp4"\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd:\/\/key1",KEYFORMAT="com.apple.streamingkeydelivery"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.0,\n#EXT-X-VENDOR-CUE:OUT=1\ns0\.1\.m4s/);
  assert.match(out, /#EXTINF:2.0,\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n#EXT-X-BYTERANGE:2@0\ns1\.2\.m4s/);
  assert.match(out, /#EXT-X-DISCONTINUITY\n#EXT-X-DATERANGE:ID="x",START-DATE="2026-01-01T00:00:04Z"\n#EXT-X-GAP\n#EXTINF:2.0,\ns2\.3\.m4s/);
  assert.match(out, /#EXT-X-ENDLIST\n$/);
});

test('rule 8: master playlists are validated and published with their variant URIs', () => {
  const s = newStream();
  const master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2000000\nhigh.m3u8\n';
  s.applyPlaylist('index.m3u8', master);
  assert.equal(s.playlist('index.m3u8')!.text, master);
  assert.equal(s.playlist('index.m3u8')!.master, true);
  for (const bad of ['http://evil.example/x.m3u8', '/abs.m3u8', '../other/x.m3u8']) {
    assert.throws(() => s.applyPlaylist('index.m3u8', `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n${bad}\n`));
  }
  assert.equal(s.playlist('index.m3u8')!.text, master, 'a rejected master changes nothing');
});

test('rule 9: two origins given the same uploads publish byte-identical playlists', async () => {
  const feed = async (s: OriginStream) => {
    await run(s, 'a', 0, 5, { path: 'v0/index.m3u8' });
    await run(s, 'a', 0, 5, { path: 'v1/index.m3u8' });
    await run(s, 'a', 0, 2, { path: 'v0/index.m3u8', bytes: 'restart' });
    await run(s, 'a', 0, 2, { path: 'v1/index.m3u8', bytes: 'restart' });
  };
  const x = new OriginStream('s', LIMITS, undefined, () => 1);
  const y = new OriginStream('s', LIMITS, undefined, () => 999_999);
  await feed(x);
  await feed(y);
  for (const p of ['v0/index.m3u8', 'v1/index.m3u8']) assert.equal(x.playlist(p)!.text, y.playlist(p)!.text);
});

test('rule 11: renditions stay aligned across a restart, whichever rendition reports it first', async () => {
  const s = newStream();
  const renditions = ['v0/index.m3u8', 'v1/index.m3u8'];
  // Both renditions of one encoder, uploaded in turn.
  for (let i = 0; i <= 5; i++) {
    for (const path of renditions) await run(s, 'a', Math.max(0, i), i, { path });
  }
  // The restarted encoder's first playlists: v1 arrives first this time, then v0; v0 also lost segment 1.
  await run(s, 'a', 0, 0, { path: 'v1/index.m3u8', bytes: 'run2' });
  await run(s, 'a', 0, 0, { path: 'v0/index.m3u8', bytes: 'run2' });
  await run(s, 'a', 1, 2, { path: 'v1/index.m3u8', bytes: 'run2' });
  await put(s, 'v0/a2.ts', 'run2-2');
  s.applyPlaylist('v0/index.m3u8', media(0, ['a0.ts', 'a1.ts', 'a2.ts']));
  const [v0, v1] = renditions.map((p) => entries(published(s, p)));
  const byMsn = (list: [number, string, number][]) => new Map(list.map(([msn, uri, disc]) => [msn, { uri, disc }]));
  const m0 = byMsn(v0!);
  const m1 = byMsn(v1!);
  for (const [msn, e1] of m1) {
    const e0 = m0.get(msn);
    if (!e0) continue;
    assert.equal(e0.disc, e1.disc, `same discontinuity sequence at msn ${msn}`);
    if (published(s, 'v0/index.m3u8').segments[msn - published(s, 'v0/index.m3u8').mediaSequence]!.gap) continue;
    assert.equal(e0.uri.replace(/\.\d+\.ts$/, ''), e1.uri.replace(/\.\d+\.ts$/, ''), `same moment at msn ${msn}`);
  }
  const last0 = v0![v0!.length - 1]!;
  const last1 = v1![v1!.length - 1]!;
  assert.equal(last0[0], last1[0], 'the newest segment has the same media sequence number in both');
  assert.equal(published(s, 'v0/index.m3u8').segments.at(-2)!.gap, true, 'the segment v0 lost is a gap');
});
