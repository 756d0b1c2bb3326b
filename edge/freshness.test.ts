import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FRESHNESS, freshnessOf, parseCacheControl, type ResponseFacts } from './freshness.js';

const media = (target: number, end = false) => Buffer.from(`#EXTM3U\n#EXT-X-TARGETDURATION:${target}\n#EXTINF:${target},\na.ts\n${end ? '#EXT-X-ENDLIST\n' : ''}`);
const master = Buffer.from('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n');
type Facts = Partial<Omit<ResponseFacts, 'body'>> & { body?: Buffer };
const facts = ({ body, ...f }: Facts): ResponseFacts => ({ status: 200, isPlaylist: false, ...f, body: () => body ?? Buffer.alloc(0) });

describe('freshness', () => {
  it('parses Cache-Control directives', () => {
    assert.deepEqual(parseCacheControl('public, max-age=30, s-maxage="5", immutable'),
      { noStore: false, noCache: false, private: false, immutable: true, maxAge: 30, sMaxAge: 5 });
    assert.equal(parseCacheControl('No-Store').noStore, true);
  });

  it('prefers s-maxage over max-age, in milliseconds, minus upstream Age', () => {
    assert.equal(freshnessOf(facts({ cacheControl: 'max-age=60, s-maxage=10' }), DEFAULT_FRESHNESS).ttlMs, 10_000);
    assert.equal(freshnessOf(facts({ cacheControl: 'max-age=60', ageSeconds: 15 }), DEFAULT_FRESHNESS).ttlMs, 45_000);
  });

  it('defaults: media playlist half its target duration, master a few seconds, segment 10 min, 404 1 s', () => {
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: media(6) }), DEFAULT_FRESHNESS).ttlMs, 3_000);
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: master }), DEFAULT_FRESHNESS).ttlMs, 2_000);
    assert.equal(freshnessOf(facts({}), DEFAULT_FRESHNESS).ttlMs, 600_000);
    assert.equal(freshnessOf(facts({ status: 404 }), DEFAULT_FRESHNESS).ttlMs, 1_000);
    assert.equal(freshnessOf(facts({ status: 410, isPlaylist: true }), DEFAULT_FRESHNESS).ttlMs, 1_000);
  });

  it('never stores 5xx, no-store, private or no-cache', () => {
    for (const f of [facts({ status: 503 }), facts({ cacheControl: 'no-store' }), facts({ cacheControl: 'private, max-age=60' }), facts({ cacheControl: 'no-cache' })]) {
      assert.equal(freshnessOf(f, DEFAULT_FRESHNESS).ttlMs, 0);
    }
  });

  it('bounds stale playlists to one target duration, segments to the configured limit, 404s to nothing', () => {
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: media(4) }), DEFAULT_FRESHNESS).staleMs, 4_000);
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: media(4) }), { ...DEFAULT_FRESHNESS, playlistStaleMs: 500 }).staleMs, 500);
    assert.equal(freshnessOf(facts({}), DEFAULT_FRESHNESS).staleMs, DEFAULT_FRESHNESS.segmentStaleMs);
    assert.equal(freshnessOf(facts({ status: 404 }), DEFAULT_FRESHNESS).staleMs, 0);
  });

  it('treats an ended playlist like a segment and an unparsable one as short-lived', () => {
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: media(4, true) }), DEFAULT_FRESHNESS).ttlMs, 600_000);
    assert.equal(freshnessOf(facts({ isPlaylist: true, body: Buffer.from('garbage') }), DEFAULT_FRESHNESS).ttlMs, 1_000);
  });
});
