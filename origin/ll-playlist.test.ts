// The low-latency lines and the delta update, on playlists built in the test.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { deltaUpdate, firstListingParts, formatSeconds, partLine, partName, serverControlLine, withPartLines } from './ll-playlist.js';

describe('low-latency lines', () => {
  it('part names derive from the segment\'s published name', () => {
    assert.equal(partName('v0/chunk-1-0-00005.42.m4s', 3), 'v0/chunk-1-0-00005.42.p3.m4s');
    assert.equal(partName('v0/a.b.7.mp4', 0), 'v0/a.b.7.p0.mp4');
    assert.equal(partName('seg.42', 0), 'seg.42.p0', 'no media extension: appended');
    assert.equal(partName('v.1/seg', 0), 'v.1/seg.p0');
  });

  it('numbers are decimal-floating-points without exponent or trailing zeros', () => {
    assert.deepEqual([0.5, 2, 0.490666666, 1e-7, 12].map(formatSeconds), ['0.5', '2', '0.490667', '0', '12']);
    assert.equal(serverControlLine(2, 500), '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12');
    assert.equal(partLine('a.p0.m4s', { offset: 0, length: 9, duration: 0.5, independent: true }), '#EXT-X-PART:DURATION=0.5,URI="a.p0.m4s",INDEPENDENT=YES');
  });

  it('part lines go before the EXTINF, after what opens the segment', () => {
    assert.deepEqual(withPartLines(['#EXT-X-DISCONTINUITY', '#EXTINF:2,', '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z'], ['P0', 'P1']),
      ['#EXT-X-DISCONTINUITY', 'P0', 'P1', '#EXTINF:2,', '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z']);
  });

  it('parts are listed for segments starting at most three target durations from the end', () => {
    assert.equal(firstListingParts([2, 2, 2, 2, 2], 2, 0), 2);
    assert.equal(firstListingParts([2, 2, 2, 2, 2], 2, 0.5), 3);
    assert.equal(firstListingParts([], 2, 0), 0);
    assert.equal(firstListingParts([7], 2, 0), 1, 'nothing when even the last is further');
  });
});

function media(segments: string[], header = ''): string {
  return `#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12\n#EXT-X-PART-INF:PART-TARGET=0.5\n${header}${segments.join('\n')}\n#EXT-X-PART:DURATION=0.5,URI="s9.p0.m4s"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s9.p1.m4s"\n`;
}

describe('deltaUpdate (6.2.5.1)', () => {
  const seg = (i: number, extra = '') => `${extra}#EXTINF:2,\ns${i}.m4s`;

  it('skips the segments further than CAN-SKIP-UNTIL from the end, keeps the rest and the trailer', () => {
    const full = media([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => seg(i)), '#EXT-X-MAP:URI="init.mp4"\n');
    const text = deltaUpdate(full, 12);
    const delta = parsePlaylist(text) as MediaPlaylist;
    // 18 s of segments: those starting more than 12 s before the end are the first three.
    assert.equal(delta.version, 9);
    assert.equal(delta.mediaSequence, 10, 'the media sequence is the first skipped segment\'s');
    assert.ok(text.includes('\n#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n'));
    assert.deepEqual(delta.segments.map((s) => s.uri), ['s3.m4s', 's4.m4s', 's5.m4s', 's6.m4s', 's7.m4s', 's8.m4s']);
    assert.equal(delta.segments[0]!.map, '#EXT-X-MAP:URI="init.mp4"');
    assert.ok(text.indexOf('#EXT-X-SKIP') < text.indexOf('#EXT-X-MAP'), 'the init section is repeated after the skip');
    assert.deepEqual(delta.trailer, ['#EXT-X-PART:DURATION=0.5,URI="s9.p0.m4s"', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s9.p1.m4s"']);
  });

  it('never skips a discontinuity, keeps date ranges of skipped segments, and skips nothing from a short playlist', () => {
    const withDisc = media([seg(0), seg(1, '#EXT-X-DISCONTINUITY\n'), ...[2, 3, 4, 5, 6, 7, 8].map((i) => seg(i))]);
    assert.ok(deltaUpdate(withDisc, 12).includes('#EXT-X-SKIP:SKIPPED-SEGMENTS=1\n'));
    const withRange = media([seg(0, '#EXT-X-DATERANGE:ID="ad",START-DATE="2026-01-01T00:00:00Z"\n'), ...[1, 2, 3, 4, 5, 6, 7].map((i) => seg(i))]);
    const text = deltaUpdate(withRange, 12);
    const delta = parsePlaylist(text) as MediaPlaylist;
    assert.ok(text.includes('\n#EXT-X-SKIP:SKIPPED-SEGMENTS=2\n'));
    assert.equal(delta.segments[0]!.uri, 's2.m4s');
    assert.ok(delta.segments[0]!.tags.includes('#EXT-X-DATERANGE:ID="ad",START-DATE="2026-01-01T00:00:00Z"'), 'the skipped segment\'s date range stays');
    assert.ok(deltaUpdate(media([seg(0), seg(1)]), 12).includes('#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n'));
  });
});
