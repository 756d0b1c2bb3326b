import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FRESHNESS, freshnessOf, objectKind, storageRefusal, type ResponseFacts } from './freshness.js';

const media = (target: number, end = false) => Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:${target}\n#EXTINF:${target},\na.ts\n${end ? '#EXT-X-ENDLIST\n' : ''}`);
const master = Buffer.from('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n');
type Facts = Partial<Omit<ResponseFacts, 'body' | 'headers'>> & { body?: Buffer; headers?: Record<string, string> };
const facts = ({ body, ...f }: Facts): ResponseFacts => ({ status: 200, kind: 'media', headers: {}, ageSeconds: 0, receivedAt: 0, ...f, body: () => body ?? Buffer.alloc(0) });
const cc = (value: string, f: Facts = {}) => facts({ ...f, headers: { 'cache-control': value } });

describe('freshness: HLS defaults', () => {
  it('prefers s-maxage over max-age, in milliseconds, minus upstream Age', () => {
    assert.equal(freshnessOf(cc('max-age=60, s-maxage=10'), DEFAULT_FRESHNESS).ttlMs, 10_000);
    assert.equal(freshnessOf(cc('max-age=60', { ageSeconds: 15 }), DEFAULT_FRESHNESS).ttlMs, 45_000);
  });

  it('defaults: media playlist half its target duration, master a few seconds, segment 10 min, 404 1 s', () => {
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: media(6) }), DEFAULT_FRESHNESS).ttlMs, 3_000);
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: master }), DEFAULT_FRESHNESS).ttlMs, 2_000);
    assert.equal(freshnessOf(facts({}), DEFAULT_FRESHNESS).ttlMs, 600_000);
    assert.equal(freshnessOf(facts({ status: 404 }), DEFAULT_FRESHNESS).ttlMs, 1_000);
    assert.equal(freshnessOf(facts({ status: 410, kind: 'playlist' }), DEFAULT_FRESHNESS).ttlMs, 1_000);
  });

  it('never stores 5xx; no-cache is stale at once', () => {
    assert.equal(freshnessOf(facts({ status: 503 }), DEFAULT_FRESHNESS).ttlMs, 0);
    assert.equal(freshnessOf(cc('no-cache, max-age=60'), DEFAULT_FRESHNESS).ttlMs, 0);
    assert.equal(storageRefusal(503, {}, false), 'status');
    assert.equal(storageRefusal(200, { 'cache-control': 'no-store' }, false), 'no-store');
    assert.equal(storageRefusal(200, { 'cache-control': 'private, max-age=60' }, false), 'private');
  });

  it('bounds stale playlists to one target duration, segments to the configured limit, 404s to nothing', () => {
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: media(4) }), DEFAULT_FRESHNESS).staleMs, 4_000);
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: media(4) }), { ...DEFAULT_FRESHNESS, playlistStaleMs: 500 }).staleMs, 500);
    assert.equal(freshnessOf(facts({}), DEFAULT_FRESHNESS).staleMs, DEFAULT_FRESHNESS.segmentStaleMs);
    assert.equal(freshnessOf(facts({ status: 404 }), DEFAULT_FRESHNESS).staleMs, 0);
  });

  it('treats an ended playlist like a segment and an unparsable one as short-lived', () => {
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: media(4, true) }), DEFAULT_FRESHNESS).ttlMs, 600_000);
    assert.equal(freshnessOf(facts({ kind: 'playlist', body: Buffer.from('garbage') }), DEFAULT_FRESHNESS).ttlMs, 1_000);
  });

  it('applies the HLS lifetimes to playlists and media only, by extension or content type', () => {
    assert.equal(objectKind('index.m3u8', 'text/plain'), 'playlist');
    assert.equal(objectKind('live', 'application/vnd.apple.mpegurl; charset=utf-8'), 'playlist');
    assert.equal(objectKind('seg1.ts', undefined), 'media');
    assert.equal(objectKind('chunk', 'video/iso.segment'), 'media');
    assert.equal(objectKind('subs/en.vtt', undefined), 'media');
    for (const [path, type] of [['page.html', 'text/html'], ['logo.png', 'image/png'], ['data.json', 'application/json'], ['x', undefined]] as const) {
      assert.equal(objectKind(path, type), 'other', path);
    }
    // Without freshness information an HTML page is not stored at all, a segment for the segment TTL.
    assert.equal(freshnessOf(facts({ kind: 'other' }), DEFAULT_FRESHNESS).ttlMs, 0);
    assert.equal(freshnessOf(facts({ kind: 'other', status: 404 }), DEFAULT_FRESHNESS).ttlMs, 0);
  });
});
