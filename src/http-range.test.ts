import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRange, notModified, validatorsOf } from './http-range.js';

const h = (o: Record<string, string>) => new Headers(o);

test('single byte ranges; what should be ignored gets the full body', () => {
  assert.deepEqual(evaluateRange(h({}), 100), { type: 'full' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9' }), 100), { type: 'partial', start: 0, end: 9 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=90-' }), 100), { type: 'partial', start: 90, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=-10' }), 100), { type: 'partial', start: 90, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=-500' }), 100), { type: 'partial', start: 0, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=50-500' }), 100), { type: 'partial', start: 50, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=100-' }), 100), { type: 'unsatisfiable' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-' }), 0), { type: 'unsatisfiable' });
  for (const full of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-1']) assert.deepEqual(evaluateRange(h({ range: full }), 100), { type: 'full' }, full);
});

test('If-Range: a strong matching tag or the exact date applies the range; anything else gets the full body', () => {
  const v = validatorsOf({ etag: '"new"', 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9', 'if-range': '"new"' }), 100, v), { type: 'partial', start: 0, end: 9 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9', 'if-range': '"old"' }), 100, v), { type: 'full' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9', 'if-range': 'W/"new"' }), 100, v), { type: 'full' });
  assert.deepEqual(evaluateRange({ range: 'bytes=0-9', 'if-range': 'Tue, 01 Sep 2026 10:00:00 GMT' }, 100, v), { type: 'partial', start: 0, end: 9 });
  assert.deepEqual(evaluateRange({ range: 'bytes=0-9', 'if-range': 'Mon, 31 Aug 2026 10:00:00 GMT' }, 100, v), { type: 'full' });
});

test('If-None-Match (weakly) before If-Modified-Since, with Fetch and Node headers alike', () => {
  const stored = validatorsOf({ etag: 'W/"a"', 'last-modified': 'Tue, 01 Sep 2026 10:00:00 GMT' });
  assert.equal(notModified(h({ 'if-none-match': '"a"' }), stored), true);
  assert.equal(notModified({ 'if-none-match': '"b", W/"a"' }, stored), true);
  assert.equal(notModified({ 'if-none-match': '"b"', 'if-modified-since': 'Wed, 02 Sep 2026 10:00:00 GMT' }, stored), false);
  assert.equal(notModified({ 'if-modified-since': 'Wed, 02 Sep 2026 10:00:00 GMT' }, stored), true);
  assert.equal(notModified(h({ 'if-modified-since': 'Mon, 31 Aug 2026 10:00:00 GMT' }), stored), false);
  assert.equal(notModified({}, stored), false);
  const t = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(notModified(h({ 'if-modified-since': new Date(t).toUTCString() }), { lastModified: t + 500 }), true, 'second precision');
  assert.equal(notModified(h({ 'if-modified-since': new Date(t).toUTCString() }), { lastModified: t + 1500 }), false);
});
