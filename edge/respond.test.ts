import { it } from 'node:test';
import assert from 'node:assert/strict';
import { notModified, parseRange } from './respond.js';

it('parses single byte ranges and ignores what it should', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), [0, 9]);
  assert.deepEqual(parseRange('bytes=90-', 100), [90, 99]);
  assert.deepEqual(parseRange('bytes=50-500', 100), [50, 99]);
  assert.deepEqual(parseRange('bytes=-10', 100), [90, 99]);
  assert.deepEqual(parseRange('bytes=-500', 100), [0, 99]);
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('items=0-1', 100), undefined);
  assert.equal(parseRange('bytes=9-1', 100), undefined);
});

it('evaluates If-None-Match (weakly) before If-Modified-Since', () => {
  const stored = { etag: 'W/"a"', 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT' };
  assert.equal(notModified({ 'if-none-match': '"a"' }, stored), true);
  assert.equal(notModified({ 'if-none-match': '"b", W/"a"' }, stored), true);
  assert.equal(notModified({ 'if-none-match': '"b"', 'if-modified-since': 'Wed, 02 Sep 2026 10:00:00 GMT' }, stored), false);
  assert.equal(notModified({ 'if-modified-since': 'Wed, 02 Sep 2026 10:00:00 GMT' }, stored), true);
  assert.equal(notModified({ 'if-modified-since': 'Mon, 31 Aug 2026 10:00:00 GMT' }, stored), false);
  assert.equal(notModified({}, stored), false);
});
