// Reading an upload body: every byte passed on in order, refused exactly past the limit, an idle or broken
// upload refused with its reason, whatever the chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readUploadBody, UploadBodyError } from './upload-body.js';

function bodyOf(chunks: Uint8Array[], end: 'close' | 'stall' | 'error' = 'close'): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else if (end === 'close') controller.close();
      else if (end === 'error') controller.error(new Error('connection reset'));
      // 'stall': nothing more, ever
    },
  });
}

const reasonOf = (err: unknown) => (err instanceof UploadBodyError ? err.reason : err);

test('property: the body is passed on whole and in order up to the limit, refused as too_large one byte past it', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 12 }),
    // Limits around the body's size, where an off-by-one would show.
    fc.integer({ min: -3, max: 3 }),
    async (chunks, slack) => {
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const limit = Math.max(0, total + slack);
      const seen: Buffer[] = [];
      const read = readUploadBody(bodyOf(chunks), limit, 60_000, (chunk) => seen.push(Buffer.from(chunk)));
      if (total <= limit) {
        assert.equal(await read, total);
        assert.deepEqual(Buffer.concat(seen), Buffer.concat(chunks));
      } else {
        await assert.rejects(read, (err) => reasonOf(err) === 'too_large');
        assert.ok(Buffer.concat(seen).length <= limit, 'nothing past the limit is passed on');
      }
    },
  ), { numRuns: 300 });
});

test('an upload that stops sending is refused as idle_timeout; one whose connection breaks as aborted', async () => {
  await assert.rejects(readUploadBody(bodyOf([new Uint8Array(3)], 'stall'), 100, 50, () => undefined), (err) => reasonOf(err) === 'idle_timeout');
  await assert.rejects(readUploadBody(bodyOf([new Uint8Array(3)], 'error'), 100, 60_000, () => undefined), (err) => reasonOf(err) === 'aborted');
  assert.equal(await readUploadBody(null, 100, 50, () => undefined), 0);
});
