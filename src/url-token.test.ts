import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatUrlToken, parseUrlToken, withUrlToken, type UrlToken } from './url-token.js';
import { parseRequestTarget } from './stream-path.js';

test('url token: fields in, fields out, in a fixed order', () => {
  assert.equal(formatUrlToken({ s: 'AbC', k: 'sig', e: '17' }), '~e17~ksig~sAbC');
  assert.deepEqual(parseUrlToken('~ksig~e17'), { k: 'sig', e: '17' });
  for (const bad of ['~', '~x1', '~e', '~e1~e2', 'e1', '~e1~', '~e1~~k2', '~e1/x']) assert.equal(parseUrlToken(bad), undefined, bad);
  assert.throws(() => formatUrlToken({}), /at least one field/);
  assert.throws(() => formatUrlToken({ e: 'a/b' }), /not a URL token/);
});

test('url token: set in a target, everything else byte for byte', () => {
  assert.equal(withUrlToken('/hls/demo/index.m3u8?a=1', 'demo', undefined, '~sX'), '/hls/demo/~sX/index.m3u8?a=1');
  assert.equal(withUrlToken('/hls/demo/~e1~kY/a/b.ts', 'demo', '~e1~kY', '~e1~kY~sX'), '/hls/demo/~e1~kY~sX/a/b.ts');
  assert.equal(withUrlToken('/hls/demo/~e1~kY/a/b.ts?q', 'demo', '~e1~kY', undefined), '/hls/demo/a/b.ts?q');
});

const value = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
const token = fc.record({ e: value, n: value, k: value, s: value }, { requiredKeys: [] })
  .filter((t) => Object.keys(t).length > 0) as fc.Arbitrary<UrlToken>;

test('property: a token put into any stream target parses back, and the stream path is the same as without it', () => {
  const path = fc.array(fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/), { minLength: 1, maxLength: 4 }).map((p) => p.join('/'));
  fc.assert(fc.property(token, path, fc.constantFrom('', '?_HLS_msn=3', '?x=1&y=2'), (t, p, query) => {
    const plain = `/hls/demo/${p}.ts${query}`;
    const segment = formatUrlToken(t);
    assert.deepEqual(parseUrlToken(segment), { ...t });
    const tokened = withUrlToken(plain, 'demo', undefined, segment);
    const a = parseRequestTarget(plain);
    const b = parseRequestTarget(tokened);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(b.value.stream, { ...a.value.stream, token: segment });
    assert.equal(b.value.query, a.value.query);
    // Relative resolution against the tokened URL keeps the token, as players do.
    assert.equal(new URL('seg.ts', `http://edge${tokened}`).pathname.split('/')[3], segment);
  }), { numRuns: 500 });
});
