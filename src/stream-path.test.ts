import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_TARGET_LENGTH, parseRequestTarget, parseStreamPath, streamUrlPath } from './stream-path.js';
import { hostileTarget } from '../test/helpers/request-targets.js';

test('valid stream paths', () => {
  assert.deepEqual(parseStreamPath('/hls/demo/index.m3u8'), { ok: true, value: { stream: 'demo', path: 'index.m3u8' } });
  assert.deepEqual(parseStreamPath('/hls/a_b-1/720p/x/y/seg1.ts'), { ok: true, value: { stream: 'a_b-1', path: '720p/x/y/seg1.ts' } });
});

test('invalid stream paths', () => {
  for (const p of ['/hls/demo/', '/hls/demo', '/hls/de mo/x.ts', '/hls/demo/../x.ts', '/hls/demo/a//b.ts', '/hls/demo/./b.ts',
    '/hls/demo/a/b/c/d/e.ts', '/hls/demo/a%2e.ts', '/hls/' + 'x'.repeat(65) + '/a.ts', '/other/demo/a.ts', `/hls/demo/${'a'.repeat(256)}.ts`]) {
    assert.equal(parseStreamPath(p).ok, false, p);
  }
});

test('a URL token segment after the stream is returned apart from the path, and taken only where asked for', () => {
  assert.deepEqual(parseStreamPath('/hls/demo/~e17~kAb-_x/720p/seg1.ts', { token: true }),
    { ok: true, value: { stream: 'demo', path: '720p/seg1.ts', token: '~e17~kAb-_x' } });
  // It counts towards no depth: four path segments after it are still a path.
  assert.equal(parseStreamPath('/hls/demo/~sX/a/b/c/d.ts', { token: true }).ok, true);
  assert.deepEqual(parseStreamPath('/hls/demo/~e17/index.m3u8'), { ok: false, reason: 'URL token in a path that takes none' });
  for (const [p, reason] of [['/hls/demo/~e17', /missing path/], ['/hls/demo/~/a.ts', /invalid character/], ['/hls/demo/~e~/a.ts', /invalid character/],
    ['/hls/demo/a/~e17/b.ts', /invalid character/], ['/hls/demo/~e17/~s1/b.ts', /invalid character/], ['/hls/demo/~e!/a.ts', /invalid character/],
    [`/hls/demo/~${'a'.repeat(255)}/a.ts`, /longer/]] as const) {
    const r = parseStreamPath(p, { token: true });
    assert.equal(r.ok, false, p);
    assert.match(r.ok ? '' : r.reason, reason, p);
  }
  const target = parseRequestTarget('/hls/demo/~e17~kAb/index.m3u8?x=1');
  assert.deepEqual(target, { ok: true, value: { pathAndQuery: '/hls/demo/~e17~kAb/index.m3u8?x=1', pathname: '/hls/demo/~e17~kAb/index.m3u8', query: 'x=1', stream: { stream: 'demo', path: 'index.m3u8', token: '~e17~kAb' } } });
  assert.equal(streamUrlPath('demo', 'index.m3u8', '~e17~kAb'), '/hls/demo/~e17~kAb/index.m3u8');
});

test('raw request targets: what is accepted, and as what', () => {
  assert.deepEqual(parseRequestTarget('/hls/demo/720p/seg1.ts?_HLS_msn=3&_HLS_part=1'), {
    ok: true,
    value: { pathAndQuery: '/hls/demo/720p/seg1.ts?_HLS_msn=3&_HLS_part=1', pathname: '/hls/demo/720p/seg1.ts', query: '_HLS_msn=3&_HLS_part=1', stream: { stream: 'demo', path: '720p/seg1.ts' } },
  });
  assert.deepEqual(parseRequestTarget('/'), { ok: true, value: { pathAndQuery: '/', pathname: '/', query: '', stream: undefined } });
  // Absolute-form (RFC 9112 §3.2.2): the path and query count, the authority never.
  assert.deepEqual(parseRequestTarget('http://elsewhere.example:81/hls/demo/a.ts?x=1'), {
    ok: true, value: { pathAndQuery: '/hls/demo/a.ts?x=1', pathname: '/hls/demo/a.ts', query: 'x=1', stream: { stream: 'demo', path: 'a.ts' } },
  });
  assert.equal(parseRequestTarget('http://[::1]').ok && parseRequestTarget('http://[::1]?a').ok, true);
  for (const ok of ['/healthz', '/play/demo?src=%2Fhls%2Fdemo%2Findex.m3u8', '/api/edges', '/hls/demo/...ts', '/hls/demo/a.ts?', '/hls/demo/a.ts?t=a/b?c']) {
    assert.equal(parseRequestTarget(ok).ok, true, ok);
  }
});

test('raw request targets: every spelling of traversal and every ambiguity is refused with a reason', () => {
  const cases: [string, RegExp][] = [
    ['/hls/x/%2e%2e/t/seg0.ts', /percent/], ['/hls/x/.%2e/t/seg0.ts', /percent/], ['/hls/x/%2E%2E/t/seg0.ts', /percent/],
    ['/hls/x/%2e/seg0.ts', /percent/], ['/hls/demo/%41.ts', /percent/], ['/hls/demo%2fx/a.ts', /percent/], ['/hls/demo/a%00.ts', /percent/],
    ['/hls/demo/a%zz.ts', /percent/], ['/hls/demo/a%', /percent/],
    ['/hls/demo/./index.m3u8', /dot segment/], ['/hls/x/../t/seg0.ts', /dot segment/], ['/hls/demo/a/..', /dot segment/],
    ['/hls/x/..\\t\\seg0.ts', /backslash/], ['/hls\\demo\\a.ts', /backslash/],
    ['/hls/demo//a.ts', /empty path segment/], ['//hls/demo/a.ts', /empty path segment/], ['/api//edges', /empty path segment/],
    ['/healthz/', /empty path segment/], ['/hls/demo/', /missing path|empty/], ['/hls', /missing path/],
    ['HTTPS://h/hls/demo/a.ts', /absolute-form/], ['http:///hls/demo/a.ts', /absolute-form/], ['http://u:p@h/hls/demo/a.ts', /absolute-form/],
    ['http://[zz]/hls/demo/a.ts', /absolute-form/], ['http://h:99999/hls/demo/a.ts', /absolute-form/], ['ftp://h/hls/demo/a.ts', /absolute-form/],
    ['http://h/hls/x/%2e%2e/t/seg0.ts', /percent/], ['http://h/hls/demo/./a.ts', /dot segment/], ['http://h\\hls/demo/a.ts', /absolute-form/],
    ['*', /origin-form/], ['', /origin-form/], ['hls/demo/a.ts', /origin-form/],
    ['/hls/demo/a.ts#x', /fragment/], ['/hls/demo/a.ts?x#y', /fragment/],
    ['/hls/demo/a;b.ts', /invalid character/], ['/hls/demo/é.ts', /invalid character/], ['/hls/demo/\uff0e\uff0e/a.ts', /invalid character/],
    ['/hls/demo/a.ts?x=%zz', /query/], ['/hls/demo/a.ts?x=é', /query/], ['/hls/demo/a.ts?x="', /query/],
    [`/hls/demo/a.ts?${'x'.repeat(MAX_TARGET_LENGTH)}`, /longer/],
    ['/metrics/..', /dot segment/], ['/play/%64emo', /percent/],
  ];
  for (const [raw, reason] of cases) {
    const r = parseRequestTarget(raw);
    assert.equal(r.ok, false, raw);
    assert.match(r.ok ? '' : r.reason, reason, raw);
  }
});

test('property: an accepted target is exactly what the URL parser and decoding make of it; the rest is refused', () => {
  fc.assert(fc.property(hostileTarget, (raw) => {
    const r = parseRequestTarget(raw);
    if (!r.ok) {
      assert.ok(r.reason.length > 0);
      return;
    }
    const url = new URL(raw, 'http://h');
    // The WHATWG parser (what Hono routes on) sees the path as written...
    assert.equal(url.pathname, r.value.pathname, raw);
    // ...decoding changes nothing...
    assert.equal(decodeURIComponent(r.value.pathname), r.value.pathname, raw);
    assert.equal(url.search, r.value.query === '' ? '' : `?${r.value.query.replaceAll("'", '%27')}`, raw);
    // ...and a stream path names exactly the stream and path the validator returned.
    const parsed = parseStreamPath(url.pathname, { token: true });
    if (r.value.stream) {
      assert.deepEqual(parsed, { ok: true, value: r.value.stream }, raw);
      assert.equal(streamUrlPath(r.value.stream.stream, r.value.stream.path, r.value.stream.token), r.value.pathname);
    } else {
      assert.equal(url.pathname.startsWith('/hls/'), false, raw);
    }
  }), { numRuns: 5000 });
});
