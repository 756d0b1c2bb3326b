import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodePlaylist, formatAttributeList, mapUriAttribute, parseAttributeList, parsePlaylist, PlaylistError, serializeMedia, uriReferences,
  type MasterPlaylist, type MediaPlaylist, type PlaylistRefusal,
} from './playlist.js';

const MEDIA = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXT-X-KEY:METHOD=AES-128,URI="k1.key"
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z
#EXTINF:2.000000,
#EXT-X-VENDOR-THING:42
seg5.m4s
#EXTINF:1.960,
#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:02.000Z
seg6.m4s
#EXT-X-DISCONTINUITY
#EXT-X-GAP
#EXT-X-BYTERANGE:100@0
#EXT-X-DATERANGE:ID="ad",START-DATE="2024-01-01T00:00:04Z"
#EXTINF:2,
seg7.m4s
#EXT-X-PREFETCH:seg8.m4s
`;

test('media playlist: segment tags stay with their segment, in order', () => {
  const pl = parsePlaylist(MEDIA) as MediaPlaylist;
  assert.equal(pl.type, 'media');
  assert.equal(pl.targetDuration, 2);
  assert.equal(pl.mediaSequence, 5);
  assert.equal(pl.segments.length, 3);
  assert.deepEqual(pl.segments[0]!.tags, ['#EXT-X-MAP:URI="init.mp4"', '#EXT-X-KEY:METHOD=AES-128,URI="k1.key"',
    '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00.000Z', '#EXTINF:2.000000,', '#EXT-X-VENDOR-THING:42']);
  assert.equal(pl.segments[1]!.duration, 1.96);
  assert.equal(pl.segments[1]!.map, '#EXT-X-MAP:URI="init.mp4"', 'MAP is inherited');
  assert.deepEqual(pl.segments[2]!.keys, ['#EXT-X-KEY:METHOD=AES-128,URI="k1.key"']);
  assert.equal(pl.segments[2]!.discontinuity, true);
  assert.equal(pl.segments[2]!.gap, true);
  assert.deepEqual(pl.trailer, ['#EXT-X-PREFETCH:seg8.m4s']);
});

test('media playlist round-trips', () => {
  const pl = parsePlaylist(MEDIA) as MediaPlaylist;
  const text = serializeMedia(pl);
  assert.deepEqual(parsePlaylist(text), pl);
  assert.match(text, /#EXT-X-VENDOR-THING:42\nseg5\.m4s/);
});

test('a window starting mid-stream repeats the MAP and KEY in force', () => {
  const pl = parsePlaylist(MEDIA) as MediaPlaylist;
  const text = serializeMedia({ ...pl, segments: pl.segments.slice(1) });
  assert.match(text, /#EXT-X-KEY:METHOD=AES-128,URI="k1.key"\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:1.960,/);
});

test('master playlist URIs', () => {
  const pl = parsePlaylist(`#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="a"
360p/index.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframes.m3u8"
`);
  assert.equal(pl.type, 'master');
  assert.deepEqual((pl as MasterPlaylist).lines.flatMap(uriReferences).map((r) => r.uri), ['audio/en.m3u8', '360p/index.m3u8', 'iframes.m3u8']);
});

test('not playlists', () => {
  for (const bad of ['hello', '#EXTM3U\n#EXTINF:2,\n', '#EXTM3U\nseg.ts\n', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n',
    '#EXTM3U\n#EXT-X-TARGETDURATION:x\n', '\0\0\0']) {
    assert.throws(() => parsePlaylist(bad), PlaylistError, JSON.stringify(bad));
  }
});

test('attributes', () => {
  const attrs = parseAttributeList('METHOD=AES-128,URI="a,b.key",IV=0x1');
  assert.deepEqual(attrs.map((a) => [a.name, a.value, a.quoted]), [['METHOD', 'AES-128', false], ['URI', 'a,b.key', true], ['IV', '0x1', false]]);
  assert.equal(formatAttributeList(attrs), 'METHOD=AES-128,URI="a,b.key",IV=0x1', 'a strictly parsed list serializes back to its text');
  assert.equal(mapUriAttribute('#EXT-X-MAP:URI="init.mp4",BYTERANGE="1@0"', (u) => 'x/' + u), '#EXT-X-MAP:URI="x/init.mp4",BYTERANGE="1@0"');
  for (const bad of ['A=1,', 'A=1,A=2', 'a=1', 'A="x', 'A=x y', 'A=', '=1', 'A=1,,B=2', 'A="x"y']) {
    assert.throws(() => parseAttributeList(bad), PlaylistError, bad);
  }
});

const refusal = (reason: PlaylistRefusal) => (err: unknown) => err instanceof PlaylistError && err.reason === reason;
const mediaWith = (lines: string) => `#EXTM3U\n#EXT-X-TARGETDURATION:2\n${lines}\n#EXTINF:2,\na.ts\n`;

test('numbers follow RFC 8216 4.2: decimal-integer, decimal-floating-point, safe range', () => {
  for (const bad of ['#EXT-X-MEDIA-SEQUENCE:0.5', '#EXT-X-MEDIA-SEQUENCE:0x10', '#EXT-X-MEDIA-SEQUENCE:1e+21', '#EXT-X-MEDIA-SEQUENCE:-1',
    '#EXT-X-MEDIA-SEQUENCE: 1', '#EXT-X-MEDIA-SEQUENCE:', '#EXT-X-MEDIA-SEQUENCE:9007199254740992', '#EXT-X-DISCONTINUITY-SEQUENCE:1.0',
    '#EXT-X-VERSION:3a', '#EXT-X-START:TIME-OFFSET=--1', '#EXT-X-PART-INF:PART-TARGET=1e3']) {
    assert.throws(() => parsePlaylist(mediaWith(bad)), refusal('bad_number'), bad);
  }
  for (const bad of ['#EXTINF:1e1,', '#EXTINF:0x2,', '#EXTINF:.5,', '#EXTINF:2.,', '#EXTINF:-2,', '#EXTINF:Infinity,', '#EXTINF:NaN,', '#EXTINF:,']) {
    assert.throws(() => parsePlaylist(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n${bad}\na.ts\n`), refusal('bad_number'), bad);
  }
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:9007199254740991\n#EXTINF:2,\na.ts\n'),
    refusal('bad_number'), 'the last segment numbered past 2^53-1');
  const ok = parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0001700000000\n#EXT-X-START:TIME-OFFSET=-4.5\n#EXTINF:2,title, with comma\na.ts\n#EXTINF:1.001,\nb.ts\n') as MediaPlaylist;
  assert.equal(ok.mediaSequence, 1_700_000_000);
  assert.deepEqual(ok.segments.map((s) => s.duration), [2, 1.001]);
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2\na.ts\n'), refusal('bad_playlist'), 'EXTINF without its comma');
});

test('EXT-X-BYTERANGE: <n>[@<o>], an omitted offset follows the previous range of the same resource', () => {
  for (const bad of ['abc', '10@', '@10', '10@-1', '1.5@0', '10@0x10', '10@@1', '', '9007199254740991@1']) {
    assert.throws(() => parsePlaylist(`#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:${bad}\na.ts\n`), PlaylistError, bad);
  }
  const pl = parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:100@50\na.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:20\na.ts\n') as MediaPlaylist;
  assert.deepEqual(pl.segments.map((s) => s.byteRange), [{ length: 100, offset: 50 }, { length: 20, offset: 150 }]);
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:20\na.ts\n'), refusal('bad_playlist'), 'no previous range');
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:1@0\na.ts\n#EXTINF:2,\n#EXT-X-BYTERANGE:20\nb.ts\n'),
    refusal('bad_playlist'), 'previous range of another resource');
  assert.throws(() => parsePlaylist(mediaWith('#EXT-X-MAP:URI="i.mp4",BYTERANGE="x@1"')), refusal('bad_number'));
});

test('URIs: every URI-bearing tag and attribute is found, quoted or not, and URI attributes must be quoted', () => {
  const refs = (line: string) => uriReferences(line).map((r) => [r.attribute, r.uri, r.key]);
  assert.deepEqual(refs('seg.ts'), [[undefined, 'seg.ts', false]]);
  assert.deepEqual(refs('#EXT-X-KEY:METHOD=AES-128,URI="k.key"'), [['URI', 'k.key', true]]);
  assert.deepEqual(refs('#EXT-X-SESSION-KEY:METHOD=AES-128,URI="k.key"'), [['URI', 'k.key', true]]);
  assert.deepEqual(refs('#EXT-X-PREFETCH:next.ts'), [[undefined, 'next.ts', false]]);
  assert.deepEqual(refs('#EXT-X-CONTENT-STEERING:SERVER-URI="steer.json"'), [['SERVER-URI', 'steer.json', false]]);
  assert.deepEqual(refs('#EXT-X-DATERANGE:ID="ad",X-ASSET-URI="ad.m3u8"'), [['X-ASSET-URI', 'ad.m3u8', false]]);
  assert.deepEqual(refs('#EXT-X-VENDOR:FOO=1,URI=http://x/,LOGO-URI="y.png"'), [['URI', 'http://x/', false], ['LOGO-URI', 'y.png', false]],
    'tags the table does not know are scanned as well');
  for (const [tag, attr] of [['EXT-X-MAP', ''], ['EXT-X-PART', ',DURATION=1'], ['EXT-X-PRELOAD-HINT', ',TYPE=PART'], ['EXT-X-RENDITION-REPORT', ''],
    ['EXT-X-KEY', ',METHOD=AES-128']] as const) {
    const line = `#${tag}:URI=../../o/i.mp4${attr}`;
    assert.throws(() => parsePlaylist(mediaWith(line)), refusal('bad_uri'), line);
  }
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI=a.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n'), refusal('bad_uri'));
});

test('tags: values, required attributes, once per playlist / per segment, master and media kept apart', () => {
  for (const bad of ['#EXT-X-ENDLIST:YES', '#EXT-X-TARGETDURATION', '#EXT-X-PLAYLIST-TYPE:LIVE', '#EXT-X-MAP:BYTERANGE="1@0"',
    '#EXT-X-KEY:URI="k.key"', '#EXT-X-PROGRAM-DATE-TIME:yesterday', '#EXT-X-PROGRAM-DATE-TIME:2026-13-01T00:00:00Z',
    '#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-TARGETDURATION:3', '#EXTINF:2,\n#EXTINF:2,',
    '#EXT-X-DISCONTINUITY\n#EXT-X-DISCONTINUITY', '#EXT-X-STREAM-INF:BANDWIDTH=1', '#EXTM3U']) {
    assert.throws(() => parsePlaylist(mediaWith(bad)), refusal('bad_playlist'), bad);
  }
  const pl = parsePlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:2026-11-30T01:58:46.000+0000\n#EXT-X-DISCONTINUITY\n#EXTINF:2,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2,\nb.ts\n') as MediaPlaylist;
  assert.deepEqual(pl.segments.map((s) => s.discontinuity), [true, true], 'once per segment, not per playlist');
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8\n'), refusal('bad_playlist'), 'BANDWIDTH is required');
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1920\nv.m3u8\n'), refusal('bad_number'));
  assert.throws(() => parsePlaylist('#EXTM3U\n#EXT-X-KEY:METHOD=NONE\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n'), refusal('bad_playlist'), 'a segment tag in a master');
});

test('encoding: UTF-8 without BOM, no control characters, no lone CR (a line only a player would see)', () => {
  assert.equal(decodePlaylist(Buffer.from('#EXTM3U\n# ünïcödé\n')), '#EXTM3U\n# ünïcödé\n');
  assert.throws(() => decodePlaylist(Buffer.from([...Buffer.from('#EXTM3U\n#EXTINF:2,'), 0xc3, 0x28, 0x0a])), refusal('bad_encoding'));
  assert.throws(() => decodePlaylist(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('#EXTM3U\n')])), refusal('bad_encoding'));
  assert.throws(() => decodePlaylist(Buffer.from('hello')), refusal('bad_playlist'));
  for (const bad of ['\t', '\u0000', '\u001b', '\u0085', '\r', '\uFEFF']) {
    assert.throws(() => parsePlaylist(mediaWith(`#EXT-X-VENDOR:a${bad}b`)), refusal('bad_encoding'), JSON.stringify(bad));
  }
  assert.doesNotThrow(() => parsePlaylist(mediaWith('#EXT-X-VENDOR:ab').replace(/\n/g, '\r\n')), 'CRLF line ends');
});
