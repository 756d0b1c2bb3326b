// A retained body read by several origins at their own pace, over random chunkings, paces, late starts and
// failures: a reader that ends normally got exactly the body; none ends normally when the body broke off;
// the fastest reader is never cut; a cut reader hears of it at once (its consumer may not be pulling).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BodyFailed, RetainedBody, TooSlow } from './retained-body.js';

type Ending = { ok: Buffer } | { err: Error };

async function consume(body: RetainedBody, maxLag: number, delays: number[], cuts: Error[]): Promise<Ending> {
  const got: Buffer[] = [];
  try {
    let i = 0;
    for await (const chunk of body.read(maxLag, new AbortController().signal, (err) => cuts.push(err))) {
      got.push(chunk);
      const d = delays[i++ % delays.length]!;
      if (d > 0) await new Promise((r) => setTimeout(r, d));
    }
    return { ok: Buffer.concat(got) };
  } catch (err) {
    return { err: err as Error };
  }
}

test('found by the property: a fast reader parked for the next chunk is not cut when a reader ahead of it in the turn takes that chunk first', async () => {
  const body = new RetainedBody();
  const slowFirst = consume(body, 1, [3], []);
  const fast = consume(body, 1, [0], []);
  await new Promise((r) => setImmediate(r));
  body.push(Buffer.from([0, 0]));
  await new Promise((r) => setImmediate(r));
  body.end();
  assert.ok('ok' in (await fast), 'the fast reader got the whole body');
  assert.ok('ok' in (await slowFirst));
});

test('property: readers get the whole body or an error, never a short body as whole; the fastest is never cut', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 30 }),
    // Per reader: its pace (ms per chunk, 0 = as fast as it can) and how many chunks arrive before it starts.
    fc.array(fc.record({ delays: fc.array(fc.constantFrom(0, 0, 1, 3), { minLength: 1, maxLength: 4 }), startAfter: fc.nat({ max: 10 }) }), { minLength: 1, maxLength: 4 }),
    fc.option(fc.nat({ max: 30 })),
    fc.integer({ min: 1, max: 200 }),
    async (chunks, readers, failAt, maxLag) => {
      const body = new RetainedBody();
      const whole = Buffer.concat(chunks);
      const cuts = readers.map(() => [] as Error[]);
      const started: Promise<Ending>[] = [];
      const startDue = (arrived: number) => readers.forEach((r, i) => {
        if (started[i] === undefined && r.startAfter <= arrived) started[i] = consume(body, maxLag, r.delays, cuts[i]!);
      });
      const fastest = readers.findIndex((r) => r.delays.every((d) => d === 0) && r.startAfter === 0);
      for (const [n, c] of chunks.entries()) {
        startDue(n);
        if (failAt === n) break;
        body.push(Buffer.from(c));
        await new Promise((r) => setImmediate(r));
      }
      startDue(Infinity);
      if (failAt !== null && failAt < chunks.length) body.fail();
      else body.end();
      const endings = await Promise.all(started);
      const failed = body.state === 'failed';
      for (const [i, e] of endings.entries()) {
        if ('ok' in e) {
          assert.ok(!failed, 'no reader ends normally when the body broke off');
          assert.ok(e.ok.equals(whole), 'a reader that ends normally got exactly the body');
        } else {
          assert.ok(e.err instanceof TooSlow || e.err instanceof BodyFailed, String(e.err));
          if (e.err instanceof TooSlow) assert.equal(cuts[i]![0], e.err, 'the cut was reported when it happened');
        }
      }
      if (fastest !== -1 && !failed) assert.ok('ok' in endings[fastest]!, 'the fastest reader is never cut');
    },
  ), { numRuns: 150 });
});
