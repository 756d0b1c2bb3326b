// The edge as a shared cache, case by case from the text of RFC 9111 (and RFC 9110 where it defines the
// fields): each test quotes the sentence it checks. First the pure policy (edge/freshness.ts and its field
// parsers), then the same rules over HTTP through a real edge in front of an in-process origin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_DELTA_SECONDS, parseAge, parseCacheControl, parseHttpDate, parseTargetedCacheControl } from '../edge/cache-fields.js';
import { DEFAULT_FRESHNESS, freshnessOf, storageRefusal, type ResponseFacts } from '../edge/freshness.js';
import { httpDate } from '../src/http-range.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';
import { startTestEdge, type EdgeHarness } from './helpers/edge-harness.js';

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const at = (seconds: number) => httpDate(T0 + seconds * 1000);
type Facts = Partial<Omit<ResponseFacts, 'body'>> & { body?: Buffer };
const facts = ({ body, ...f }: Facts): ResponseFacts =>
  ({ status: 200, kind: 'other', headers: {}, ageSeconds: 0, receivedAt: T0, ...f, body: () => body ?? Buffer.alloc(0) });
const ttl = (headers: Record<string, string>, f: Facts = {}) => freshnessOf(facts({ ...f, headers }), DEFAULT_FRESHNESS).ttlMs;
const staleMs = (headers: Record<string, string>, f: Facts = {}) => freshnessOf(facts({ ...f, headers }), DEFAULT_FRESHNESS).staleMs;

describe('RFC 9111 policy (unit)', () => {
  describe('§5.2 Cache-Control', () => {
    it('RFC 9110 §5.3: "A recipient MAY combine multiple field lines ... into one field line" — every directive of the combined value counts', () => {
      // What undici's array of lines becomes: joined with ", " before parsing.
      assert.equal(storageRefusal(200, { 'cache-control': ['max-age=60', 'private'].join(', ') }, false), 'private');
      assert.equal(storageRefusal(200, { 'cache-control': ['public', 'no-store'].join(', ') }, false), 'no-store');
    });

    it('§5.2: directives "have an optional argument that can use both token and quoted-string syntax" — a quoted comma does not split', () => {
      assert.equal(parseCacheControl('max-age="3600"').maxAge, 3600);
      assert.equal(parseCacheControl('extension="max-age=3600", max-age=1').maxAge, 1);
      assert.equal(parseCacheControl('max-age=1, extension="a, max-age=3600"').maxAge, 1);
      assert.equal(parseCacheControl('no-cache="set-cookie, x", max-age=5').maxAge, 5);
      assert.equal(parseCacheControl('MAX-AGE=7, No-Store').maxAge, 7);
    });

    it('§1.2.2 delta-seconds = 1*DIGIT: "-1", "\'3600\'", "3600.0", "3600a", "max-age =1" and "max-age= 1" are invalid', () => {
      for (const v of ['max-age=-1', "max-age='3600'", 'max-age=3600.0', 'max-age=3600a', 'max-age=a3600', 'max-age =3600', 'max-age= 3600', 'max-age=', 'max-age="36"00']) {
        assert.equal(parseCacheControl(v).maxAge, 'invalid', v);
      }
      assert.equal(parseCacheControl('max-age=003600').maxAge, 3600);
    });

    it('§1.2.2: "a value greater than the greatest integer it can represent ... MUST consider the value to be 2147483648 (2^31)"', () => {
      assert.equal(parseCacheControl('max-age=99999999999999999999').maxAge, MAX_DELTA_SECONDS);
    });

    it('§4.2.1: "Caches are encouraged to consider responses that have invalid freshness information (e.g., a max-age directive with non-integer content) to be stale"', () => {
      for (const v of ['max-age=-1', "max-age='3600'", 'max-age=3600.5', 's-maxage=x, max-age=60']) {
        assert.equal(ttl({ 'cache-control': v }), 0, v);
        assert.equal(ttl({ 'cache-control': v }, { kind: 'media' }), 0, `${v}: not replaced by the HLS default`);
      }
    });

    it('§4.2.1: "When there is more than one value present for a given directive ... either the first occurrence should be used or the response should be considered stale" — differing repeats are stale', () => {
      assert.equal(ttl({ 'cache-control': 'max-age=1800, max-age=1' }), 0);
      assert.equal(ttl({ 'cache-control': 'max-age=1, max-age=1800' }), 0);
      assert.equal(ttl({ 'cache-control': 'max-age=60, max-age=60' }), 60_000, 'one value repeated is one value');
    });

    it('§5.2.2.10: "the maximum age specified by this directive overrides the maximum age specified by either the max-age directive or the Expires header field"', () => {
      assert.equal(ttl({ 'cache-control': 'max-age=3600, s-maxage=10' }), 10_000);
      assert.equal(ttl({ 'cache-control': 's-maxage=10', expires: at(3600), date: at(0) }), 10_000);
    });

    it('§5.2.2.4 no-cache: "the cache MUST NOT use the response to satisfy any other request without successful validation" — stale at once', () => {
      assert.equal(ttl({ 'cache-control': 'no-cache, max-age=3600' }), 0);
      assert.equal(storageRefusal(200, { 'cache-control': 'no-cache', etag: '"a"' }, false), undefined, 'stored, to be revalidated');
    });
  });

  describe('§5.3 Expires and §4.2.1 freshness lifetime', () => {
    it('§4.2.1: "if the Expires header field is present, use its value minus the value of the Date header field"', () => {
      assert.equal(ttl({ expires: at(60), date: at(0) }), 60_000);
      assert.equal(ttl({ expires: at(-3600), date: at(0) }), 0, 'in the past: stale');
      assert.equal(ttl({ expires: at(-3600), date: at(0) }, { kind: 'media' }), 0, 'not replaced by the HLS default');
    });

    it('§4.2.1: "if no Date header field is present in the message, the value of Date is the time the message was received"', () => {
      assert.equal(ttl({ expires: at(30) }, { receivedAt: T0 + 10_000 }), 20_000);
    });

    it('§5.3: "A cache recipient MUST interpret invalid date formats, especially the value "0", as representing a time in the past"', () => {
      for (const v of ['0', '-1', 'tomorrow', '2026-06-01T12:00:00Z', 'Mon, 31 Feb 2026 10:00:00 GMT', 'Mon, 01 Jun 2026 25:00:00 GMT']) {
        assert.equal(ttl({ expires: v, date: at(0) }), 0, v);
      }
    });

    it('§5.3: "If a response includes a Cache-Control header field with the max-age directive, a recipient MUST ignore the Expires header field"', () => {
      assert.equal(ttl({ 'cache-control': 'max-age=60', expires: at(-3600), date: at(0) }), 60_000);
      assert.equal(ttl({ 'cache-control': 'max-age=0', expires: at(3600), date: at(0) }), 0);
    });

    it('RFC 9110 §5.6.7: "Recipients of timestamp values are encouraged to be robust in parsing timestamps" — all three formats, nothing else', () => {
      const t = Date.UTC(1994, 10, 6, 8, 49, 37);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
      assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', T0), t);
      assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
      assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 UTC'), undefined);
      assert.equal(parseHttpDate('1994'), undefined);
    });

    it('RFC 9110 §5.6.7: an IMF-fixdate round-trips, whatever the instant', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 253_402_300_799 }), (s) => parseHttpDate(httpDate(s * 1000)) === s * 1000));
    });

    it('§4.2.1: two different Expires lines are "more than one value": stale; the same date twice is one', () => {
      assert.equal(ttl({ expires: `${at(60)}, ${at(120)}`, date: at(0) }), 0);
      assert.equal(ttl({ expires: `${at(60)}, ${at(60)}`, date: at(0) }), 60_000);
    });
  });

  describe('§5.1 Age', () => {
    it('§5.1: "a cache encountering a message with a list-based Age field value SHOULD use the first member"', () => {
      assert.equal(parseAge('7200, 0'), 7200);
      assert.equal(parseAge('0, 7200'), 0);
    });

    it('§5.1: "If the field value ... is invalid (e.g., it contains something other than a non-negative integer), a cache SHOULD ignore the field"', () => {
      for (const v of ['-7200', '7200.0', 'abc', '7200;foo=bar', '']) assert.equal(parseAge(v), undefined, v);
      assert.equal(parseAge('2147483649'), MAX_DELTA_SECONDS);
    });

    it('§4.2: "response_is_fresh = (freshness_lifetime > current_age)" — the upstream Age counts against the lifetime', () => {
      assert.equal(ttl({ 'cache-control': 'max-age=3600' }, { ageSeconds: 7200 }), 0);
      assert.equal(ttl({ 'cache-control': 'max-age=3600' }, { ageSeconds: 600 }), 3_000_000);
    });
  });

  describe('§4.2.2 heuristic freshness', () => {
    it('"caches are encouraged to use a heuristic expiration value that is no more than some fraction of the interval since" Last-Modified', () => {
      assert.equal(ttl({ 'last-modified': at(-1000), date: at(0) }), 100_000);
      assert.equal(ttl({ 'last-modified': at(-100 * 86_400), date: at(0) }), 86_400_000, 'bounded to a day');
    });

    it('"A cache MUST NOT use heuristics to determine freshness when an explicit expiration time is present"; without Last-Modified nothing is stored', () => {
      assert.equal(ttl({ 'last-modified': at(-1000), date: at(0), 'cache-control': 'max-age=5' }), 5_000);
      assert.equal(ttl({}), 0);
      assert.equal(ttl({ 'cache-control': 'public' }), 0);
    });

    it('only for heuristically cacheable statuses (RFC 9110 §15.1): a 302 needs explicit freshness', () => {
      assert.equal(ttl({ 'last-modified': at(-1000), date: at(0) }, { status: 302 }), 0);
      assert.equal(ttl({ 'last-modified': at(-1000), date: at(0) }, { status: 301 }), 100_000);
      assert.equal(ttl({ 'cache-control': 'max-age=9' }, { status: 302 }), 9_000);
    });
  });

  describe('§4.2.4 serving stale', () => {
    it('"A cache MUST NOT generate a stale response if it is prohibited by an explicit in-protocol directive (e.g., by a no-cache response directive, a must-revalidate response directive, or an applicable s-maxage or proxy-revalidate response directive"', () => {
      for (const v of ['max-age=10, must-revalidate', 'max-age=10, proxy-revalidate', 's-maxage=10', 'no-cache']) {
        assert.equal(staleMs({ 'cache-control': v }, { kind: 'media' }), 0, v);
      }
      assert.equal(staleMs({ 'cache-control': 'max-age=10' }, { kind: 'media' }), DEFAULT_FRESHNESS.segmentStaleMs);
    });

    it('RFC 5861 §4 stale-if-error: "the response may be used to satisfy the request" for that many seconds past freshness', () => {
      assert.equal(staleMs({ 'cache-control': 'max-age=10, stale-if-error=30' }, { kind: 'media' }), 30_000);
      assert.equal(staleMs({ 'cache-control': 'max-age=10, stale-if-error=30' }), 30_000);
      assert.equal(staleMs({ 'cache-control': 'max-age=10' }), 0, 'nothing stale for non-HLS objects otherwise');
      assert.equal(staleMs({ 'cache-control': 'max-age=10, must-revalidate, stale-if-error=30' }), 0);
    });
  });

  describe('RFC 9213 CDN-Cache-Control (the edge is a CDN cache)', () => {
    it('§2.1: a cache that uses it "MUST behave as if the Cache-Control and Expires header fields were not present in the response"', () => {
      assert.equal(ttl({ 'cdn-cache-control': 'max-age=600', 'cache-control': 'no-store' }), 600_000);
      assert.equal(storageRefusal(200, { 'cdn-cache-control': 'max-age=600', 'cache-control': 'private' }, false), undefined);
      assert.equal(storageRefusal(200, { 'cdn-cache-control': 'no-store', 'cache-control': 'max-age=600' }, false), 'no-store');
      assert.equal(ttl({ 'cdn-cache-control': 'max-age=0', expires: at(3600), date: at(0) }), 0);
    });

    it('an invalid Structured Field Dictionary is ignored, Cache-Control applies; a String max-age is ignored', () => {
      assert.equal(storageRefusal(200, { 'cdn-cache-control': 'max-age=10000, &&&&&', 'cache-control': 'no-store' }, false), 'no-store');
      assert.equal(ttl({ 'cdn-cache-control': 'max-age="10000"', 'cache-control': 'max-age=5' }), 0, 'targeted field used, without a lifetime');
    });
  });

  describe('§3 storing and §4.1 Vary', () => {
    it('§4.1: "A stored response with a Vary header field value containing a member "*" always fails to match" — never stored', () => {
      assert.equal(storageRefusal(200, { vary: '*', 'cache-control': 'max-age=60' }, false), 'vary');
      assert.equal(storageRefusal(200, { vary: 'Accept-Encoding, *' }, false), 'vary');
    });

    it('Vary on request fields the edge never forwards is not honoured by storing: passed through; Accept-Encoding and Origin are', () => {
      assert.equal(storageRefusal(200, { vary: 'Accept-Language' }, false), 'vary');
      assert.equal(storageRefusal(200, { vary: 'accept-encoding, Origin' }, false), undefined);
    });

    it('Set-Cookie is never stored; 5xx and 206 are not stored', () => {
      assert.equal(storageRefusal(200, { 'cache-control': 'max-age=60' }, true), 'set-cookie');
      for (const s of [206, 500, 503]) assert.equal(storageRefusal(s, { 'cache-control': 'max-age=60' }, false), 'status');
    });

    it('whatever the fields say, a lifetime is never negative, never beyond 2^31 s, and no-store / private are never stored (fuzzed)', () => {
      const directive = fc.constantFrom('max-age=60', 'max-age=-1', 's-maxage=5', 'no-store', 'private', 'no-cache', 'public', 'must-revalidate', 'immutable', 'stale-if-error=9', 'max-age=99999999999', 'max-age="7"', 'x="max-age=1"');
      const field = fc.option(fc.array(directive, { maxLength: 4 }).map((d) => d.join(', ')), { nil: undefined });
      const date = fc.option(fc.oneof(fc.integer({ min: -86_400, max: 86_400 }).map(at), fc.constantFrom('0', 'garbage', '')), { nil: undefined });
      fc.assert(fc.property(fc.constantFrom(200, 204, 301, 302, 404, 410, 500), fc.constantFrom('playlist', 'media', 'other') as fc.Arbitrary<ResponseFacts['kind']>,
        field, field, date, date, date, fc.nat({ max: 10_000 }), (status, kind, cc, cdn, expires, date_, lm, age) => {
          const headers: Record<string, string> = {};
          if (cc !== undefined) headers['cache-control'] = cc;
          if (cdn !== undefined) headers['cdn-cache-control'] = cdn;
          if (expires !== undefined) headers.expires = expires;
          if (date_ !== undefined) headers.date = date_;
          if (lm !== undefined) headers['last-modified'] = lm;
          const f = freshnessOf(facts({ status, kind, headers, ageSeconds: age }), DEFAULT_FRESHNESS);
          assert.ok(f.ttlMs >= 0 && f.ttlMs <= MAX_DELTA_SECONDS * 1000 && f.staleMs >= 0, JSON.stringify({ headers, f }));
          // RFC 9213 §2.1: a valid targeted field governs alone.
          const governing = cdn !== undefined && parseTargetedCacheControl(cdn) !== undefined ? cdn : cc;
          if (governing !== undefined && /(^|, )(no-store|private)/.test(governing)) assert.notEqual(storageRefusal(status, headers, false), undefined);
        }), { numRuns: 3_000 });
    });

    it('parsing never throws and a quoted string never yields a directive (fuzzed)', () => {
      fc.assert(fc.property(fc.string({ unit: fc.constantFrom('m', 'a', 'x', '-', 'g', 'e', '=', '"', ',', ' ', '\\', '1', '0', 'n', 'o', 's', 't', 'r') }), (value) => {
        parseCacheControl(value);
        const cc = parseCacheControl(`x="${value.replace(/["\\]/g, '')}"`);
        return cc.maxAge === undefined && !cc.noStore;
      }), { numRuns: 2_000 });
    });
  });
});

describe('RFC 9111 over HTTP (edge + in-process origin)', () => {
  const agent = clientAgent(100);
  let origin: FakeOrigin;
  let h: EdgeHarness;
  let n = 0;
  /** A fresh path per case, so cases never share an entry. */
  const path = (file = 'x.bin') => `/hls/rfc${++n}/${file}`;
  const twice = async (p: string) => [await get(agent, h.url + p), await get(agent, h.url + p)] as const;

  before(async () => { origin = await startFakeOrigin(); h = await startTestEdge({ origins: [origin.url], freshness: { segmentStaleMs: 60_000 } }); });
  after(async () => { await h.stop(); await origin.close(); await agent.close(); });

  it('RFC 9110 §5.3 combined field lines: `Cache-Control: max-age=60` + `Cache-Control: private` is not stored or shared', async () => {
    for (const lines of [['max-age=60', 'private'], ['public', 'no-store']]) {
      const p = path('seg.ts');
      origin.route(p, { body: 'mine', headers: { 'cache-control': lines } });
      const [a, b] = await twice(p);
      assert.equal(a.headers['x-cache'], 'PASS', lines.join(' + '));
      assert.equal(b.headers['x-cache'], 'PASS');
      assert.equal(origin.count(p), 2);
    }
  });

  it('§5.3 Expires in the past: not reused, also for a segment (no 10-minute default)', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 's', headers: { date: at(0), expires: at(-3600) } });
    await twice(p);
    assert.equal(origin.count(p), 2);
  });

  it('§5.3 Expires in the future: fresh until then, counted from Date', async () => {
    const p = path();
    origin.route(p, { body: 'e', headers: { date: at(0), expires: at(60) } });
    const [, b] = await twice(p);
    assert.equal(b.headers['x-cache'], 'HIT');
    h.clock.now += 60_000;
    assert.equal((await get(agent, h.url + p)).headers['x-cache'], 'MISS');
    assert.equal(origin.count(p), 2);
  });

  it('§5.3 "invalid date formats, especially the value "0"" mean already expired', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 'z', headers: { expires: '0' } });
    await twice(p);
    assert.equal(origin.count(p), 2);
  });

  it('§5.1 Age: "-7200" is ignored, neither trusted nor echoed', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 'a', headers: { 'cache-control': 'max-age=60', age: '-7200' } });
    const [a, b] = await twice(p);
    assert.equal(a.headers.age, '0');
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.equal(b.headers.age, '0');
  });

  it('§5.1 Age: "7200, 0" and two lines 7200 / 0 use the first member: older than max-age=3600, stale', async () => {
    for (const age of ['7200, 0', ['7200', '0']]) {
      const p = path('seg.ts');
      origin.route(p, { body: 'a', headers: { 'cache-control': 'max-age=3600', age } });
      const [a] = await twice(p);
      assert.equal(a.headers.age, '7200');
      assert.equal(origin.count(p), 2, String(age));
    }
  });

  it('§5.1 Age: "7200.0" is invalid and ignored: fresh', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 'a', headers: { 'cache-control': 'max-age=3600', age: '7200.0' } });
    const [, b] = await twice(p);
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.equal(b.headers.age, '0');
  });

  it('§4.2.1 invalid max-age (-1, \'3600\', two values) is stale, not the 10-minute segment default', async () => {
    for (const value of ['max-age=-1', "max-age='3600'", ['max-age=3600', 'max-age=1']]) {
      const p = path('seg.ts');
      origin.route(p, { body: 'v', headers: { 'cache-control': value } });
      await twice(p);
      assert.equal(origin.count(p), 2, String(value));
    }
  });

  it('§4.2.4 stale is "prohibited by ... must-revalidate ... s-maxage or proxy-revalidate": the origin\'s error passes', async () => {
    for (const value of ['max-age=10, must-revalidate', 'max-age=10, proxy-revalidate', 's-maxage=10']) {
      const p = path('seg.ts');
      origin.route(p, { body: 'old', headers: { 'cache-control': value } });
      await get(agent, h.url + p);
      origin.route(p, { status: 500, body: 'broken' });
      h.clock.now += 11_000;
      const r = await get(agent, h.url + p);
      assert.equal(r.status, 500, value);
      assert.equal(r.headers['x-cache'], 'ERROR');
    }
  });

  it('RFC 5861 stale-if-error bounds stale-on-error', async () => {
    const p = path();
    origin.route(p, { body: 'old', headers: { 'cache-control': 'max-age=10, stale-if-error=5' } });
    await get(agent, h.url + p);
    origin.route(p, { status: 503, body: 'down' });
    h.clock.now += 14_000;
    const stale = await get(agent, h.url + p);
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body.toString(), 'old');
    h.clock.now += 2_000;
    assert.equal((await get(agent, h.url + p)).status, 503);
  });

  it('§4.1 `Vary: *` and Vary on an unforwarded request field are passed through, never stored; Vary: Accept-Encoding is', async () => {
    for (const [vary, stored] of [['*', false], ['Accept-Language', false], ['Accept-Encoding', true]] as const) {
      const p = path('seg.ts');
      origin.route(p, { body: 'v', headers: { 'cache-control': 'max-age=60', vary } });
      const [a, b] = await twice(p);
      assert.equal(a.headers.vary, vary);
      assert.equal(b.headers['x-cache'], stored ? 'HIT' : 'PASS', vary);
    }
  });

  it('§4.2.2: no freshness information and no Last-Modified: a non-HLS object is not stored; with Last-Modified, a tenth of its age', async () => {
    const bare = path('page.html');
    origin.route(bare, { body: '<p>', headers: { 'content-type': 'text/html' } });
    await twice(bare);
    assert.equal(origin.count(bare), 2);
    const dated = path('page.html');
    origin.route(dated, { body: '<p>', headers: { 'content-type': 'text/html', date: at(0), 'last-modified': at(-100) } });
    const [, hit] = await twice(dated);
    assert.equal(hit.headers['x-cache'], 'HIT');
    h.clock.now += 10_000;
    assert.equal((await get(agent, h.url + dated)).headers['x-cache'], 'MISS');
  });

  it('HLS lifetimes still apply to playlists and segments without freshness information', async () => {
    const seg = path('seg.ts');
    origin.route(seg, { body: 's' });
    const [, b] = await twice(seg);
    assert.equal(b.headers['x-cache'], 'HIT');
  });

  it('RFC 9110 §7.6.1: end-to-end fields pass (Content-Security-Policy, unknown ones); hop-by-hop and Connection-named fields do not', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 'h', headers: { 'content-security-policy': "default-src 'none'", 'x-origin-note': 'a', link: ['<a>; rel=preload', '<b>; rel=preload'], connection: 'x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5' } });
    for (const r of await twice(p)) {
      assert.equal(r.headers['content-security-policy'], "default-src 'none'");
      assert.equal(r.headers['x-origin-note'], 'a');
      assert.equal(r.headers.link, '<a>; rel=preload, <b>; rel=preload');
      assert.equal(r.headers['x-hop'], undefined);
      assert.notEqual(r.headers['keep-alive'], 'timeout=5');
    }
  });

  it('Set-Cookie is passed to the client whose request fetched it, never stored, never given to another client', async () => {
    const p = path('seg.ts');
    origin.route(p, { body: 'c', headers: { 'cache-control': 'max-age=60', 'set-cookie': ['a=1; Path=/', 'b=2'] }, delayMs: 300 });
    const [leader, ...others] = await Promise.all(Array.from({ length: 5 }, () => get(agent, h.url + p)));
    assert.deepEqual(leader!.headers['set-cookie'], ['a=1; Path=/', 'b=2']);
    assert.equal(leader!.headers['x-cache'], 'PASS');
    for (const o of others) {
      assert.equal(o.headers['x-cache'], 'COALESCED');
      assert.equal(o.headers['set-cookie'], undefined);
      assert.equal(o.body.toString(), 'c');
    }
    assert.equal(origin.count(p), 1);
    const next = await get(agent, h.url + p);
    assert.equal(next.headers['x-cache'], 'PASS');
    assert.equal(origin.count(p), 2);
  });

  it('§4.3.1/§4.3.4: an expired entry with a validator is revalidated; the 304 updates the stored headers and keeps the body, for every waiter with one request', async () => {
    for (const validator of ['etag', 'last-modified'] as const) {
      const p = path('seg.ts');
      const value = validator === 'etag' ? '"v1"' : at(-3600);
      const conditions: (string | undefined)[] = [];
      origin.route(p, (req, res) => {
        const condition = validator === 'etag' ? req.headers['if-none-match'] : req.headers['if-modified-since'];
        conditions.push(condition);
        if (condition === value) {
          setTimeout(() => res.writeHead(304, { 'cache-control': 'max-age=20', 'x-version': 'refreshed', [validator]: value }).end(), 200);
          return;
        }
        res.writeHead(200, { 'cache-control': 'max-age=10', 'x-version': 'first', [validator]: value, 'content-length': '4' }).end('body');
      });
      assert.equal((await get(agent, h.url + p)).headers['x-version'], 'first');
      h.clock.now += 11_000;
      const all = await Promise.all(Array.from({ length: 20 }, () => get(agent, h.url + p)));
      assert.deepEqual(conditions, [undefined, value], `${validator}: one conditional request for all 20`);
      assert.equal(all.filter((r) => r.headers['x-cache'] === 'REVALIDATED').length, 1);
      for (const r of all) {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'body');
        assert.equal(r.headers['x-version'], 'refreshed');
      }
      h.clock.now += 19_000;
      const hit = await get(agent, h.url + p);
      assert.equal(hit.headers['x-cache'], 'HIT', 'fresh for the 304\'s max-age');
      assert.equal(hit.headers['x-version'], 'refreshed');
      assert.equal(conditions.length, 2);
    }
  });

  it('§5.2.2.4: a no-cache response with a validator is revalidated every time, and served from the stored body on 304', async () => {
    const p = path('seg.ts');
    let full = 0;
    origin.route(p, (req, res) => {
      if (req.headers['if-none-match'] === '"n"') return void res.writeHead(304, { etag: '"n"', 'cache-control': 'no-cache' }).end();
      full++;
      res.writeHead(200, { etag: '"n"', 'cache-control': 'no-cache', 'content-length': '2' }).end('nc');
    });
    const [a, b] = await twice(p);
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(b.headers['x-cache'], 'REVALIDATED');
    assert.equal(b.body.toString(), 'nc');
    assert.equal(origin.count(p), 2);
    assert.equal(full, 1);
  });
});
