import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateRange, notModified } from './http-range.js';

const h = (o: Record<string, string>) => new Headers(o);

test('ranges', () => {
  assert.deepEqual(evaluateRange(h({}), 100), { type: 'full' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9' }), 100), { type: 'partial', start: 0, end: 9 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=90-' }), 100), { type: 'partial', start: 90, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=-10' }), 100), { type: 'partial', start: 90, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=50-500' }), 100), { type: 'partial', start: 50, end: 99 });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=100-' }), 100), { type: 'unsatisfiable' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-1,5-6' }), 100), { type: 'full' });
  assert.deepEqual(evaluateRange(h({ range: 'bytes=0-9', 'if-range': '"old"' }), 100, { etag: '"new"' }), { type: 'full' });
});

test('conditionals', () => {
  assert.equal(notModified(h({ 'if-none-match': '"a"' }), { etag: '"a"' }), true);
  assert.equal(notModified(h({ 'if-none-match': 'W/"a", "b"' }), { etag: '"a"' }), true);
  assert.equal(notModified(h({ 'if-none-match': '"b"' }), { etag: '"a"' }), false);
  const t = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(notModified(h({ 'if-modified-since': new Date(t).toUTCString() }), { lastModified: t + 500 }), true);
  assert.equal(notModified(h({ 'if-modified-since': new Date(t).toUTCString() }), { lastModified: t + 1500 }), false);
});
