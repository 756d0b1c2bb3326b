// The origin's publishing rules (docs/origin.md: "What it publishes", "Playlist validation", "Master
// bandwidth"), one test each, on a real OriginStream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parsePlaylist, PlaylistError, type MediaPlaylist } from '../src/playlist.js';
import { uploadedName } from '../test/helpers/published-names.js';
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

test('the media sequence never decreases, whatever the uploader does', async () => {
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
  test(`a restart is detected when ${name}`, async () => {
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

test('EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the window', async () => {
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

test('a reused name with new bytes is published under a new URI, the old URI keeps its bytes', async () => {
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

test('EXT-X-MAP init segments get a new URI when their bytes change', async () => {
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

test('every published URI serves exactly its bytes until the grace period after it left the window', async () => {
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

test('a segment that has not completely arrived is not published until it has', async () => {
  const s = newStream();
  await run(s, 'a', 0, 1);
  const partial = s.beginUpload('a2.ts');
  partial.append(Buffer.from('half'));
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts']));
  assert.deepEqual(published(s).segments.map((x) => uploadedName(x.uri)), ['a0.ts', 'a1.ts']);
  await s.finishUpload(partial, 'h2');
  assert.deepEqual(published(s).segments.map((x) => uploadedName(x.uri)), ['a0.ts', 'a1.ts', 'a2.ts'], 'published once complete; a3 never arrived');
});

test('a segment whose upload failed becomes a gap once later segments arrived', async () => {
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

test('a late older playlist or a duplicate changes nothing', async () => {
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

test('a late older playlist does not hide what the newer one lists: held back, it is published once its upload completes', async () => {
  const s = newStream();
  await run(s, 'a', 0, 1);
  const writing = s.beginUpload('a2.ts');
  writing.append(Buffer.from('a-2'));
  await put(s, 'a3.ts', 'a-3');
  assert.equal(s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts'])).outcome, 'held');
  assert.equal(s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts'])).outcome, 'unchanged');
  await s.finishUpload(writing, 'h2');
  assert.deepEqual(published(s).segments.map((x) => uploadedName(x.uri)), ['a0.ts', 'a1.ts', 'a2.ts', 'a3.ts']);
});

test('EXT-X-TARGETDURATION never decreases and covers every rounded EXTINF', async () => {
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

test('segment-level tags survive with their segment; ENDLIST is passed on', async () => {
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
  // The init section and the file of byte ranges are named by their content, segments by epoch and sequence number.
  assert.match(out, /#EXT-X-MAP:URI="init\.[0-9a-f]{16}\.mp4"\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd:\/\/key1",KEYFORMAT="com.apple.streamingkeydelivery"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:2.0,\n#EXT-X-VENDOR-CUE:OUT=1\ns0\.[0-9a-f]{8}-0-0\.m4s/);
  assert.match(out, /#EXTINF:2.0,\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000Z\n#EXT-X-BYTERANGE:2@0\ns1\.[0-9a-f]{16}\.m4s/);
  assert.match(out, /#EXT-X-DISCONTINUITY\n#EXT-X-DATERANGE:ID="x",START-DATE="2026-01-01T00:00:04Z"\n#EXT-X-GAP\n#EXTINF:2.0,\ns2\.[0-9a-f]{8}-0-2\.m4s/);
  assert.match(out, /#EXT-X-ENDLIST\n$/);
});

test('master playlists are validated and published with their variant URIs', () => {
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

test('two origins given the same uploads publish byte-identical playlists', async () => {
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

test('two origins agree on every name even when one missed an upload (issue 13)', async () => {
  // y never got v0's segment 3 of the first run, and one of the second run's uploads failed there: every
  // other upload id on y is off by one or two from x's, which today's names no longer carry.
  const feed = async (s: OriginStream, lossy: boolean) => {
    for (let i = 0; i <= 6; i++) {
      for (const path of ['v0/index.m3u8', 'v1/index.m3u8']) {
        const dir = path.slice(0, 3);
        if (!(lossy && path === 'v0/index.m3u8' && i === 3)) await put(s, `${dir}a${i}.ts`, `${dir}run1-${i}`);
        s.applyPlaylist(path, media(Math.max(0, i - 3), Array.from({ length: Math.min(i, 3) + 1 }, (_, k) => `a${Math.max(0, i - 3) + k}.ts`)));
      }
    }
    for (let i = 0; i <= 2; i++) {
      for (const path of ['v0/index.m3u8', 'v1/index.m3u8']) {
        const dir = path.slice(0, 3);
        if (lossy && path === 'v1/index.m3u8' && i === 1) s.abortUpload(s.beginUpload(`${dir}a1.ts`));
        else await put(s, `${dir}a${i}.ts`, `${dir}run2-${i}`);
        s.applyPlaylist(path, media(0, Array.from({ length: i + 1 }, (_, k) => `a${k}.ts`)));
      }
    }
  };
  const x = newStream();
  const y = newStream();
  await feed(x, false);
  await feed(y, true);
  for (const path of ['v0/index.m3u8', 'v1/index.m3u8']) {
    const [px, py] = [published(x, path), published(y, path)];
    assert.equal(py.mediaSequence, px.mediaSequence);
    assert.equal(py.segments.length, px.segments.length);
    for (const [i, seg] of py.segments.entries()) {
      if (seg.gap) continue;
      assert.equal(seg.uri, px.segments[i]!.uri, `${path}: the same segment has the same name on both`);
      assert.equal(y.file(`${path.slice(0, 3)}${seg.uri}`)!.blob.bytes().toString(), x.file(`${path.slice(0, 3)}${seg.uri}`)!.blob.bytes().toString());
    }
    assert.equal(py.segments.filter((seg) => seg.gap).length, path === 'v1/index.m3u8' ? 1 : 0, 'only what y lost in the window is a gap there');
  }
});

test('an origin restarted without its state never publishes a name it published before with other bytes', async () => {
  // The first origin process saw run 1 and a restarted encoder's run 2; the second process (no data dir)
  // starts knowing nothing while run 3 reuses the same names again. Run 3 starts with run 1's first
  // segment byte for byte (a static slate), or not: either way a name comes back only with its bytes.
  // Each process salts its roots with its boot tag (without peers), or with the fan-out's feed id, which
  // a restarted fan-out draws anew.
  const origin = (salt: string) => {
    const s = newStream();
    s.salt = salt;
    return s;
  };
  const before = origin('boot1');
  await run(before, 'a', 0, 5, { path: 'v0/index.m3u8' });
  await run(before, 'a', 0, 5, { path: 'v0/index.m3u8', bytes: 'run2' });
  const names = new Map<string, string>();
  const record = (s: OriginStream) => {
    for (const seg of published(s, 'v0/index.m3u8').segments) {
      const bytes = s.file(`v0/${seg.uri}`)!.blob.bytes().toString();
      const first = names.get(seg.uri);
      assert.ok(first === undefined || first === bytes, `${seg.uri} published again with other bytes`);
      names.set(seg.uri, bytes);
    }
  };
  record(before);
  for (const [salt, bytes] of [['boot2', 'run3'], ['boot3', 'a'], ['boot4', 'run3']]) {
    const after = origin(salt!);
    for (let i = 0; i <= 5; i++) {
      await put(after, `v0/a${i}.ts`, i === 0 ? 'a-0' : `${bytes}-${i}`);
      after.applyPlaylist('v0/index.m3u8', media(Math.max(0, i - 3), Array.from({ length: Math.min(i, 3) + 1 }, (_, k) => `a${Math.max(0, i - 3) + k}.ts`)));
      record(after);
    }
  }
  // Agreement needs no salt of its own: origins with peers use only the feed id, the same on both.
  const [x, y] = [origin(''), origin('')];
  for (const s of [x, y]) {
    await put(s, 'v0/a0.ts', 'a-0');
    s.applyPlaylist('v0/index.m3u8', media(0, ['a0.ts']), 'feed1');
  }
  assert.equal(published(x, 'v0/index.m3u8').segments[0]!.uri, published(y, 'v0/index.m3u8').segments[0]!.uri);
});

test('a name hinted for an upload in progress keeps its bytes when another upload of the path brings others', async () => {
  const s = newStream();
  const hinting = (seq: number, names: string[], next: string) => `${media(seq, names)}#EXT-X-PREFETCH:${next}\n`;
  await put(s, 'a0.ts', 'a-0');
  const first = s.beginUpload('a1.ts');
  first.append(Buffer.from('first'));
  s.applyPlaylist('index.m3u8', hinting(0, ['a0.ts'], 'a1.ts'));
  const hint = published(s).trailer.find((t) => t.startsWith('#EXT-X-PREFETCH:'))!.slice('#EXT-X-PREFETCH:'.length);
  await s.finishUpload(first, 'hash-first');
  assert.equal(s.file(hint)!.blob.bytes().toString(), 'first', 'readers of the hint get the first upload');
  await put(s, 'a1.ts', 'second'); // an encoder that sends the path again with other bytes
  s.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts']));
  const listed = published(s).segments[1]!.uri;
  assert.notEqual(listed, hint, 'other bytes are published under another name');
  assert.equal(uploadedName(listed), 'a1.ts');
  assert.equal(s.file(listed)!.blob.bytes().toString(), 'second');
  assert.equal(s.file(hint)?.blob.bytes().toString() ?? 'gone', 'gone', 'the hinted name is never given other bytes');
  // The same bytes again keep the hinted name (a retry).
  const t = newStream();
  await put(t, 'a0.ts', 'a-0');
  const retried = t.beginUpload('a1.ts');
  t.applyPlaylist('index.m3u8', hinting(0, ['a0.ts'], 'a1.ts'));
  const hinted = published(t).trailer.at(-1)!.slice('#EXT-X-PREFETCH:'.length);
  t.abortUpload(retried);
  await put(t, 'a1.ts', 'a-1');
  t.applyPlaylist('index.m3u8', media(0, ['a0.ts', 'a1.ts']));
  assert.equal(published(t).segments[1]!.uri, hinted, 'an upload that failed passes its hinted name on');
});

test('renditions stay aligned across a restart, whichever rendition reports it first', async () => {
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
    assert.equal(uploadedName(e0.uri), uploadedName(e1.uri), `same moment at msn ${msn}`);
  }
  const last0 = v0![v0!.length - 1]!;
  const last1 = v1![v1!.length - 1]!;
  assert.equal(last0[0], last1[0], 'the newest segment has the same media sequence number in both');
  assert.equal(published(s, 'v0/index.m3u8').segments.at(-2)!.gap, true, 'the segment v0 lost is a gap');
});

/** Applies a playlist that must be refused for `reason`; asserts that nothing the stream publishes or remembers changed. */
function refused(s: OriginStream, path: string, text: string, reason: string) {
  const state = JSON.stringify(s.publisher.state);
  const published = s.playlist(path)?.text;
  assert.throws(() => s.applyPlaylist(path, text), (err: unknown) => err instanceof PlaylistError && err.reason === reason, text);
  assert.equal(JSON.stringify(s.publisher.state), state, 'the publisher state is untouched');
  assert.equal(s.playlist(path)?.text, published, 'the published playlist is untouched');
}

test('validation: invalid playlists are refused with a reason and change nothing', async () => {
  const s = newStream();
  await run(s, 'a', 0, 3);
  const with_ = (tags: string) => media(4, ['a4.ts'], { extra: tags });
  await put(s, 'a4.ts', 'a-4');
  refused(s, 'index.m3u8', with_('#EXT-X-MAP:URI=../../o/i.mp4'), 'bad_uri');
  refused(s, 'index.m3u8', with_('#EXT-X-MAP:URI="../../o/i.mp4"'), 'bad_uri');
  const ll = media(4, ['a4.ts'], { extra: '#EXT-X-PART-INF:PART-TARGET=1' });
  refused(s, 'index.m3u8', ll.replace('#EXTINF', '#EXT-X-PART:DURATION=1,URI="http://evil.example/p.ts"\n#EXTINF'), 'bad_uri');
  refused(s, 'index.m3u8', ll.replace('#EXTINF', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="../t/p.ts"\n#EXTINF'), 'bad_uri');
  refused(s, 'index.m3u8', ll.replace('#EXTINF', '#EXT-X-PART:DURATION=1,URI=//evil.example/p.ts\n#EXTINF'), 'bad_uri');
  refused(s, 'index.m3u8', media(4, ['a4.ts']).replace('#EXTINF', '#EXT-X-DATERANGE:ID="ad",X-ASSET-URI="https://ads.example/a.m3u8"\n#EXTINF'), 'bad_uri');
  refused(s, 'index.m3u8', media(4, ['a4.ts']) + '#EXT-X-RENDITION-REPORT:URI="/other/index.m3u8",LAST-MSN=4\n', 'bad_uri');
  refused(s, 'index.m3u8', media(4, ['a4.ts']).replace('#EXTINF', '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k"\n#EXTINF'), 'bad_uri');
  for (const seq of ['0.5', '0x10', '1e+21']) refused(s, 'index.m3u8', media(4, ['a4.ts']).replace(':4\n', `:${seq}\n`), 'bad_number');
  refused(s, 'index.m3u8', media(4, ['a4.ts'], { dur: 100000 }), 'duration_too_long');
  refused(s, 'index.m3u8', media(4, ['a4.ts'], { td: 100000 }), 'duration_too_long');
  refused(s, 'index.m3u8', media(4, ['a4.ts']).replace('a4.ts', '#EXT-X-BYTERANGE:garbage\na4.ts'), 'bad_number');
  assert.equal(published(s).targetDuration, 2, 'the target duration (and max-age) did not move');
  // Key systems' identifiers are not resources of the stream; a relative key file inside it is fine.
  assert.equal(s.applyPlaylist('index.m3u8', media(4, ['a4.ts'], { extra: '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k1",KEYFORMAT="com.apple.streamingkeydelivery"' })).outcome, 'published');
});

test('validation: the duration bound is an origin option', async () => {
  const s = new OriginStream('s', { ...LIMITS, maxSegmentDuration: 10 }, undefined, () => 0);
  await put(s, 'a0.ts', 'x');
  refused(s, 'index.m3u8', media(0, ['a0.ts'], { dur: 10.5 }), 'duration_too_long');
  assert.equal(s.applyPlaylist('index.m3u8', media(0, ['a0.ts'], { dur: 10, td: 10 })).outcome, 'published');
});

test('validation: master URIs, quoted or not, stay inside the stream', () => {
  const s = newStream();
  const good = '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\nv.m3u8\n';
  s.applyPlaylist('index.m3u8', good);
  for (const bad of [
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI=../x/en.m3u8',
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="https://cdn.example/en.m3u8"',
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="../x/i.m3u8"',
    '#EXT-X-SESSION-DATA:DATA-ID="com.x",URI="//evil.example/d.json"',
    '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="http://keys.example/k"',
    '#EXT-X-CONTENT-STEERING:SERVER-URI="https://steer.example/s"',
  ]) {
    refused(s, 'index.m3u8', `#EXTM3U\n${bad}\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n`, 'bad_uri');
  }
});

test('validation: an omitted byte range offset is written out, a range past the upload is not published', async () => {
  const s = newStream();
  await put(s, 'all.ts', 'x'.repeat(300));
  s.applyPlaylist('index.m3u8', '#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:100@0\nall.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:100\nall.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:150\nall.ts\n');
  const pl = published(s);
  assert.deepEqual(pl.segments.map((x) => x.tags.find((t) => t.startsWith('#EXT-X-BYTERANGE'))), ['#EXT-X-BYTERANGE:100@0', '#EXT-X-BYTERANGE:100@100']);
});

// ---- master bandwidth: the master's BANDWIDTH / AVERAGE-BANDWIDTH ---------------------------------------------------

/** Uploads segments of the given sizes (bytes) and durations, each followed by its playlist. */
async function feed(s: OriginStream, path: string, from: number, sizes: number[], dur = 2) {
  const dir = path.slice(0, path.lastIndexOf('/') + 1);
  for (let i = 0; i < sizes.length; i++) {
    const n = from + i;
    await put(s, `${dir}s${n}.ts`, `${n}:`.padEnd(sizes[i]!, 'x'));
    const first = Math.max(0, n - 3);
    s.applyPlaylist(path, media(first, Array.from({ length: n - first + 1 }, (_, k) => `s${first + k}.ts`), { dur, td: dur }));
  }
}

const MASTER = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=985600,RESOLUTION=640x360\nv0/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=5000000\nv1/index.m3u8\n';
const variant = (text: string, uri: string) => {
  const lines = text.split('\n');
  return lines[lines.indexOf(uri) - 1]!;
};
const attr = (line: string, name: string) => new RegExp(`[:,]${name}=(\\d+)`).exec(line)?.[1];

test('master bandwidth: the master publishes the measured peak segment bit rate with headroom, never below what was declared', async () => {
  const s = newStream();
  s.applyPlaylist('index.m3u8', MASTER);
  assert.equal(s.playlist('index.m3u8')!.text, MASTER, 'unmeasured renditions keep the uploaded values');
  // The first 360p segment after a restart: 1,117 kbit/s over 2 s, against a declared 985,600.
  await feed(s, 'v0/index.m3u8', 0, [279_250, 240_000, 230_000, 235_000]);
  await feed(s, 'v1/index.m3u8', 0, [1_000_000]); // 4 Mbit/s, declared 5 Mbit/s
  const text = s.playlist('index.m3u8')!.text;
  const v0 = variant(text, 'v0/index.m3u8');
  assert.equal(attr(v0, 'BANDWIDTH'), String(Math.ceil(1_117_000 * 1.1 / 1000) * 1000), v0);
  // Window averages 1,117,000, 1,038,500, 999,000, 984,250 bit/s, published with 5% headroom: the first
  // (1,173,000), then the third (1,049,000), when the published value had become more than 15% above it.
  assert.equal(attr(v0, 'AVERAGE-BANDWIDTH'), '1049000');
  assert.match(v0, /^#EXT-X-STREAM-INF:BANDWIDTH=\d+,AVERAGE-BANDWIDTH=\d+,RESOLUTION=640x360$/, 'other attributes stay, in order');
  const v1 = variant(text, 'v1/index.m3u8');
  assert.equal(attr(v1, 'BANDWIDTH'), '5000000', 'never below what the uploader declared');
  assert.equal(attr(v1, 'AVERAGE-BANDWIDTH'), '4200000');
  // A master uploaded again is published with the measurement at once.
  s.applyPlaylist('index.m3u8', MASTER);
  assert.equal(s.playlist('index.m3u8')!.text, text);
});

test('master bandwidth: the master changes only when a new peak passes the published BANDWIDTH or the average leaves its band', async () => {
  const s = newStream();
  s.applyPlaylist('index.m3u8', MASTER);
  const versions = new Set<string>();
  let seed = 7;
  const noise = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.1; // +-5%
  const sizes = Array.from({ length: 200 }, () => Math.round(250_000 * (1 + noise())));
  for (let i = 0; i < sizes.length; i++) {
    await feed(s, 'v0/index.m3u8', i, [sizes[i]!]);
    versions.add(s.playlist('index.m3u8')!.text);
    const line = variant(s.playlist('index.m3u8')!.text, 'v0/index.m3u8');
    const bw = Number(attr(line, 'BANDWIDTH'));
    assert.ok(bw * 2 >= sizes[i]! * 8, `BANDWIDTH ${bw} covers segment ${i} (${sizes[i]! * 4} bit/s)`);
    const window = sizes.slice(Math.max(0, i - 3), i + 1);
    const average = (window.reduce((a, b) => a + b, 0) * 8) / (2 * window.length);
    const published = Number(attr(line, 'AVERAGE-BANDWIDTH'));
    assert.ok(published >= average && published <= average * 1.15 + 1000, `AVERAGE-BANDWIDTH ${published} for a window average of ${average}`);
  }
  assert.ok(versions.size <= 2, `${versions.size} master versions over 200 segments of +-5% noise`);
  // A real rise is published.
  await feed(s, 'v0/index.m3u8', 200, [400_000]);
  assert.equal(attr(variant(s.playlist('index.m3u8')!.text, 'v0/index.m3u8'), 'BANDWIDTH'), String(Math.ceil(1_600_000 * 1.1 / 1000) * 1000));
});

test('master bandwidth: byte ranges are measured by their length; audio groups add their highest rendition', async () => {
  const s = newStream();
  s.applyPlaylist('index.m3u8', '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="a/en.m3u8"\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="de",URI="a/de.m3u8"\n' +
    '#EXT-X-STREAM-INF:BANDWIDTH=100,AUDIO="a"\nv.m3u8\n');
  await put(s, 'all.ts', 'x'.repeat(1_000_000));
  s.applyPlaylist('v.m3u8', '#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:50000@0\nall.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:25000\nall.ts\n');
  await feed(s, 'a/en.m3u8', 0, [24_000]);
  await feed(s, 'a/de.m3u8', 0, [32_000]);
  const line = variant(s.playlist('index.m3u8')!.text, 'v.m3u8');
  const video = Math.ceil(200_000 * 1.1 / 1000) * 1000;
  const audio = Math.ceil(128_000 * 1.1 / 1000) * 1000;
  assert.equal(attr(line, 'BANDWIDTH'), String(video + audio), line);
  // Video: 200 then 150 kbit/s on average (published 210,000 then 158,000); audio: the higher of 96 and 128 kbit/s, +5%.
  assert.equal(attr(line, 'AVERAGE-BANDWIDTH'), String(158_000 + 135_000));
});

test('masters too are a pure function of the uploads', async () => {
  const feedAll = async (s: OriginStream) => {
    s.applyPlaylist('index.m3u8', MASTER);
    await feed(s, 'v0/index.m3u8', 0, [100_000, 300_000, 120_000]);
    await feed(s, 'v1/index.m3u8', 0, [900_000, 1_500_000]);
  };
  const x = new OriginStream('s', LIMITS, undefined, () => 1);
  const y = new OriginStream('s', LIMITS, undefined, () => 999_999);
  await feedAll(x);
  await feedAll(y);
  assert.notEqual(x.playlist('index.m3u8')!.text, MASTER);
  assert.equal(x.playlist('index.m3u8')!.text, y.playlist('index.m3u8')!.text);
});

test('gap entries that fill a lost segment repeat the EXTINF as uploaded (never `1e-7`)', async () => {
  const s = newStream();
  const tiny = (text: string) => text.replace(/#EXTINF:2,/g, '#EXTINF:0.0000001,');
  const upload = async (path: string, from: number, to: number, bytes: string, first = from) => {
    const dir = path.slice(0, path.lastIndexOf('/') + 1);
    for (let i = from; i <= to; i++) await put(s, `${dir}a${i}.ts`, `${bytes}-${i}`);
    s.applyPlaylist(path, tiny(media(first, Array.from({ length: to - first + 1 }, (_, k) => `a${first + k}.ts`))));
  };
  for (const p of ['v0/index.m3u8', 'v1/index.m3u8']) await upload(p, 0, 3, 'run1');
  await upload('v1/index.m3u8', 0, 2, 'run2'); // the restart, reported by v1
  await upload('v0/index.m3u8', 2, 2, 'run2'); // v0 lost segments 0 and 1 of the new run
  const text = s.playlist('v0/index.m3u8')!.text;
  assert.match(text, /#EXTINF:0\.0000001,\n#EXT-X-GAP/, text);
  assert.doesNotMatch(text, /e-7/);
});
