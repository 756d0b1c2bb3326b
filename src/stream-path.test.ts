import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStreamPath } from './stream-path.js';

test('valid stream paths', () => {
  assert.deepEqual(parseStreamPath('/hls/demo/index.m3u8'), { ok: true, value: { stream: 'demo', path: 'index.m3u8' } });
  assert.deepEqual(parseStreamPath('/hls/a_b-1/720p/x/y/seg1.ts'), { ok: true, value: { stream: 'a_b-1', path: '720p/x/y/seg1.ts' } });
});

test('invalid stream paths', () => {
  for (const p of ['/hls/demo/', '/hls/demo', '/hls/de mo/x.ts', '/hls/demo/../x.ts', '/hls/demo/a//b.ts', '/hls/demo/./b.ts',
    '/hls/demo/a/b/c/d/e.ts', '/hls/demo/a%2e.ts', '/hls/' + 'x'.repeat(65) + '/a.ts', '/other/demo/a.ts']) {
    assert.equal(parseStreamPath(p).ok, false, p);
  }
});
