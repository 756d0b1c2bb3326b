import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ResponseHead } from '../src/fast-http.js';
import { silentLogger } from '../src/log.js';
import { parsePlaylist, uriAttribute, type MasterPlaylist } from '../src/playlist.js';
import type { CachedObject } from './cache-store.js';
import { MasterViaLb, MAX_QUERIES_PER_MASTER, playerQuery } from './master-rewrite.js';
import { SharedBody } from './shared-body.js';

const LB = 'http://lb.example:8080';

function object(text: string | Buffer, extra: Partial<CachedObject> = {}): CachedObject {
  const bytes = Buffer.from(text);
  const body = new SharedBody(bytes.length);
  body.push(bytes);
  body.end();
  return { status: 200, headers: { 'content-type': 'application/vnd.apple.mpegurl', etag: '"origin-1"' }, body, receivedAt: 0, upstreamAge: 0, freshUntil: 1, staleUntil: 2, retainUntil: 2, ...extra };
}

const text = (obj: CachedObject) => obj.body.buffer.toString();

const MASTER = [
  '#EXTM3U',
  '#EXT-X-VERSION:6',
  '#EXT-X-INDEPENDENT-SEGMENTS',
  '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",URI="title.json"',
  '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="key.bin"',
  '#EXT-X-CONTENT-STEERING:SERVER-URI="steering.json",PATHWAY-ID="a"',
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio/en.m3u8"',
  '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="cc1",INSTREAM-ID="CC1"',
  '#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"',
  '720p/index.m3u8',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,AUDIO="aud"',
  '/hls/demo/360p/index.m3u8?rendition=360',
  '#EXT-X-STREAM-INF:BANDWIDTH=400000',
  'https://elsewhere.example/hls/demo/240p.m3u8',
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="720p/iframes.m3u8"',
  '',
].join('\n');

describe('MasterViaLb', () => {
  it('sends variant URIs through the LB, resolved against the master, and keeps every other line', () => {
    const out = text(new MasterViaLb(LB + '/', silentLogger).view(object(MASTER), '/hls/demo/index.m3u8'));
    // Exactly these four URIs change; a URI to another host, session data, keys and steering do not.
    assert.equal(out, MASTER
      .replace('URI="audio/en.m3u8"', `URI="${LB}/hls/demo/audio/en.m3u8"`)
      .replace('\n720p/index.m3u8\n', `\n${LB}/hls/demo/720p/index.m3u8\n`)
      .replace('\n/hls/demo/360p/index.m3u8?rendition=360\n', `\n${LB}/hls/demo/360p/index.m3u8?rendition=360\n`)
      .replace('URI="720p/iframes.m3u8"', `URI="${LB}/hls/demo/720p/iframes.m3u8"`));
    assert.notEqual(out, MASTER);
  });

  it('resolves against a nested master path, and leaves URIs outside the stream paths alone', () => {
    const master = '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n../../../other/x.m3u8\n';
    const out = text(new MasterViaLb(LB, silentLogger).view(object(master), '/hls/s/v2/master.m3u8'));
    assert.equal(out, `#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n${LB}/hls/s/v2/low.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n../../../other/x.m3u8\n`);
  });

  it("carries the player's query to every variant, without LL-HLS directives, merged with the variant's own", () => {
    const m = new MasterViaLb(LB, silentLogger);
    const out = text(m.view(object(MASTER), '/hls/demo/index.m3u8?token=a%2Fb&_HLS_msn=4&x'));
    assert.match(out, new RegExp(`^${LB}/hls/demo/720p/index\\.m3u8\\?token=a%2Fb&x$`, 'm'));
    assert.match(out, new RegExp(`^${LB}/hls/demo/360p/index\\.m3u8\\?rendition=360&token=a%2Fb&x$`, 'm'));
    assert.match(out, new RegExp(`URI="${LB}/hls/demo/audio/en\\.m3u8\\?token=a%2Fb&x"`));
    assert.match(out, /^https:\/\/elsewhere\.example\/hls\/demo\/240p\.m3u8$/m, 'a URI to another host is not touched');
  });

  it("puts the player's URL token into every variant of the master's stream, none into another stream's", () => {
    const m = new MasterViaLb(LB, silentLogger);
    const master = '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\n720p.m3u8\n'
      + '#EXT-X-STREAM-INF:BANDWIDTH=2\n/hls/other/x.m3u8\n';
    const obj = object(master);
    const out = text(m.view(obj, '/hls/demo/index.m3u8?q=1', '~e9~kS~sX'));
    assert.equal(out, `#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="${LB}/hls/demo/~e9~kS~sX/audio/en.m3u8?q=1"\n`
      + `#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\n${LB}/hls/demo/~e9~kS~sX/720p.m3u8?q=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\n${LB}/hls/other/x.m3u8?q=1\n`);
    // One template for every token: another player's token, another rendering, the same without one.
    assert.match(text(m.view(obj, '/hls/demo/index.m3u8?q=1', '~sY')), /\/hls\/demo\/~sY\/720p\.m3u8\?q=1$/m);
    assert.match(text(m.view(obj, '/hls/demo/index.m3u8?q=1')), /\/hls\/demo\/720p\.m3u8\?q=1$/m);
    assert.notEqual(m.view(obj, '/hls/demo/index.m3u8', '~sY').headers.etag, m.view(obj, '/hls/demo/index.m3u8', '~sZ').headers.etag);
  });

  it('percent-encodes what cannot stand in a URI or a quoted attribute', () => {
    assert.equal(playerQuery('a="x",URI="evil"&b=\n#EXT'), 'a=%22x%22,URI=%22evil%22&b=%0A%23EXT');
    assert.equal(playerQuery('t=%zz%41&é'), 't=%25zz%41&%C3%A9');
    assert.equal(playerQuery('_HLS_msn=1&_HLS_part=2'), '');
  });

  it('serves media playlists, non-200s, encoded and unparsable masters as they are', () => {
    const m = new MasterViaLb(LB, silentLogger);
    const media = object('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.ts\n');
    assert.equal(m.view(media, '/hls/demo/720p/index.m3u8'), media);
    const notFound = object(MASTER, { status: 404 });
    assert.equal(m.view(notFound, '/hls/demo/index.m3u8'), notFound);
    const gzipped = object(MASTER, { headers: { 'content-encoding': 'gzip' } });
    assert.equal(m.view(gzipped, '/hls/demo/index.m3u8'), gzipped);
    const broken = object('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\nx.m3u8\n');
    assert.equal(m.view(broken, '/hls/demo/index.m3u8'), broken);
    const allAbsolute = object('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://cdn.example/hls/demo/x.m3u8\n');
    assert.equal(m.view(allAbsolute, '/hls/demo/index.m3u8'), allAbsolute);
  });

  it('gives the rewritten bytes their own validator and drops the cached response heads', () => {
    const obj = object(MASTER, { wholeHeads: { HIT: new ResponseHead(200, 'OK', ['etag', '"origin-1"', 'content-length', '999']) } });
    const m = new MasterViaLb(LB, silentLogger);
    const v = m.view(obj, '/hls/demo/index.m3u8');
    assert.notEqual(v.headers.etag, '"origin-1"');
    assert.match(v.headers.etag!, /^"lb-[A-Za-z0-9_-]+"$/);
    assert.equal(v.wholeHeads, undefined);
    assert.equal(v.headers['content-type'], obj.headers['content-type']);
    assert.equal(v.body.expectedLength, v.body.length);
    assert.equal(obj.headers.etag, '"origin-1"', 'the cached object is not changed');
    assert.notEqual(m.view(obj, '/hls/demo/index.m3u8?token=1').headers.etag, v.headers.etag, 'another query, other bytes, another validator');
    assert.equal(new MasterViaLb(LB, silentLogger).view(object(MASTER), '/hls/demo/index.m3u8').headers.etag, v.headers.etag, 'the same bytes on every edge');
  });

  it('rewrites once per cached version and query, with a bounded number of queries', () => {
    const m = new MasterViaLb(LB, silentLogger);
    const obj = object(MASTER);
    const first = m.view(obj, '/hls/demo/index.m3u8');
    assert.equal(m.view(obj, '/hls/demo/index.m3u8').body, first.body, 'the second delivery reuses the rewrite');
    for (let i = 0; i < MAX_QUERIES_PER_MASTER; i++) m.view(obj, `/hls/demo/index.m3u8?token=${i}`);
    assert.notEqual(m.view(obj, '/hls/demo/index.m3u8').body, first.body, 'the oldest query was dropped');
    assert.notEqual(m.view(object(MASTER), '/hls/demo/index.m3u8').body, first.body, 'a new version is rewritten anew');
  });

  it('follows header updates on the cached object', () => {
    const m = new MasterViaLb(LB, silentLogger);
    const obj = object(MASTER);
    m.view(obj, '/hls/demo/index.m3u8');
    obj.headers = { ...obj.headers, 'cache-control': 'max-age=9' };
    assert.equal(m.view(obj, '/hls/demo/index.m3u8').headers['cache-control'], 'max-age=9');
  });

  it('waits for a body still arriving, and never rewrites one that ends short', async () => {
    const m = new MasterViaLb(LB, silentLogger);
    const bytes = Buffer.from(MASTER);
    const arriving = object('', { body: new SharedBody(bytes.length) });
    const pending = m.settledView(arriving, '/hls/demo/index.m3u8');
    arriving.body.push(bytes.subarray(0, 40));
    arriving.body.push(bytes.subarray(40));
    arriving.body.end();
    assert.match(text(await pending), /^http:\/\/lb\.example:8080\/hls\/demo\/720p\/index\.m3u8$/m);

    const cut = object('', { body: new SharedBody(bytes.length) });
    const cutView = m.settledView(cut, '/hls/demo/index.m3u8');
    cut.body.push(bytes.subarray(0, 40));
    cut.body.end(); // short of Content-Length: aborted
    assert.equal(await cutView, cut);
    assert.equal(cut.body.state, 'aborted');
  });
});

/** Random masters: variants with relative, root-relative and absolute URIs, media groups, other tags. */
const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/);
const relativeUri = fc.tuple(fc.array(segment, { maxLength: 2 }), segment).map(([dirs, f]) => [...dirs, `${f}.m3u8`].join('/'));
const uri = fc.oneof(
  relativeUri,
  relativeUri.map((u) => `/hls/demo/${u}`),
  relativeUri.map((u) => `https://cdn.example/${u}`),
  fc.tuple(relativeUri, segment).map(([u, q]) => `${u}?v=${q}`),
);
// Valid masters only (the origin refuses the rest): extra attributes are unique client attributes.
const attrs = fc.uniqueArray(fc.tuple(fc.constantFrom('X-FOO', 'X-BAR', 'X-BAZ'), segment), { selector: ([k]) => k, maxLength: 3 })
  .map((a) => a.map(([k, v]) => `${k}="${v}"`).join(','));
const masterLine = fc.oneof(
  fc.tuple(attrs, uri).map(([a, u]) => [`#EXT-X-STREAM-INF:BANDWIDTH=1${a ? `,${a}` : ''}`, u]),
  fc.tuple(attrs, uri).map(([a, u]) => [`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="g",NAME="n"${a ? `,${a}` : ''},URI="${u}"`]),
  fc.tuple(uri, attrs).map(([u, a]) => [`#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1,URI="${u}"${a ? `,${a}` : ''}`]),
  fc.tuple(uri).map(([u]) => [`#EXT-X-SESSION-DATA:DATA-ID="d",URI="${u}"`]),
  fc.constantFrom(['# a comment'], ['#EXT-X-VENDOR-TAG:URI="x.m3u8"']),
);
const master = fc.tuple(fc.array(masterLine, { maxLength: 8 }), uri)
  .map(([groups, variant]) => ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS', ...groups.flat(), '#EXT-X-STREAM-INF:BANDWIDTH=1', variant].join('\n') + '\n');

describe('MasterViaLb, property-based', () => {
  it('keeps every line but the variant URIs byte for byte, and each variant names the same playlist', () => {
    fc.assert(fc.property(master, fc.oneof(fc.string({ maxLength: 30 }), fc.string({ maxLength: 10, unit: 'binary' })), fc.constantFrom('/hls/demo/index.m3u8', '/hls/demo/a/b.m3u8'), (text, query, path) => {
      const original = parsePlaylist(text) as MasterPlaylist;
      const out = new MasterViaLb(LB, silentLogger).view(object(text), `${path}?${query}`);
      const rewritten = parsePlaylist(out.body.buffer.toString());
      assert.equal(rewritten.type, 'master', 'still a master');
      const lines = (rewritten as MasterPlaylist).lines;
      assert.equal(lines.length, original.lines.length);
      const base = new URL(path, 'http://edge.invalid');
      original.lines.forEach((line, i) => {
        const isVariantAttr = /^#EXT-X-(MEDIA|I-FRAME-STREAM-INF):/.test(line);
        const was = line.startsWith('#') ? (isVariantAttr ? uriAttribute(line) : undefined) : line;
        const now = line.startsWith('#') ? (isVariantAttr ? uriAttribute(lines[i]!) : undefined) : lines[i]!;
        if (was === undefined || /^https:/.test(was)) return assert.equal(lines[i], line);
        // Outside the URI, the tag line is unchanged.
        if (isVariantAttr) assert.equal(lines[i]!.replace(`URI="${now}"`, ''), line.replace(`URI="${was}"`, ''));
        assert.ok(now!.startsWith(`${LB}/hls/demo/`), now);
        const target = new URL(now!);
        const meant = new URL(was, base);
        assert.equal(target.pathname, meant.pathname);
        for (const [k, v] of meant.searchParams) assert.ok(target.searchParams.getAll(k).includes(v), `variant's own ${k} kept`);
        assert.ok(!/["\s]/.test(now!), 'nothing in the URI can break the line or the quoting');
      });
    }), { numRuns: 300 });
  });
});
