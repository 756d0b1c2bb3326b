import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlaylist, serializeMedia, mapUriAttribute, parseAttributes, masterUris, PlaylistError, type MediaPlaylist } from './playlist.js';

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
  assert.deepEqual(masterUris(pl as never), ['audio/en.m3u8', '360p/index.m3u8', 'iframes.m3u8']);
});

test('not playlists', () => {
  for (const bad of ['hello', '#EXTM3U\n#EXTINF:2,\n', '#EXTM3U\nseg.ts\n', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n',
    '#EXTM3U\n#EXT-X-TARGETDURATION:x\n', '\0\0\0']) {
    assert.throws(() => parsePlaylist(bad), PlaylistError, JSON.stringify(bad));
  }
});

test('attributes', () => {
  assert.deepEqual([...parseAttributes('METHOD=AES-128,URI="a,b.key",IV=0x1')], [['METHOD', 'AES-128'], ['URI', 'a,b.key'], ['IV', '0x1']]);
  assert.equal(mapUriAttribute('#EXT-X-MAP:URI="init.mp4",BYTERANGE="1@0"', (u) => 'x/' + u), '#EXT-X-MAP:URI="x/init.mp4",BYTERANGE="1@0"');
});
