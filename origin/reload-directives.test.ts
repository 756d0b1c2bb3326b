// Delivery directives and the blocking-reload rules of draft-pantos-hls-rfc8216bis 6.2.5.2, against
// positions built in the test, and as properties over random positions and requests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { advancePartLimit, parseDirectives, satisfies, tooFarAhead } from './reload-directives.js';
import type { LowLatencyPosition } from './publisher.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);

function at(msn: number, parts: number, partial?: { msn: number; parts: number }, partTargetMs = 500): LowLatencyPosition {
  return { msn, parts, ...(partial ? { partial } : {}), partTargetMs, targetDuration: 2, endList: false };
}

const parse = (query: string) => parseDirectives(new URLSearchParams(query));

describe('parseDirectives', () => {
  it('reads _HLS_msn, _HLS_part and _HLS_skip, and ignores other parameters', () => {
    assert.deepEqual(parse('_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&x=1'), { ok: true, value: { msn: 12, part: 3, skip: true } });
    assert.deepEqual(parse('_HLS_skip=v2'), { ok: true, value: { skip: true } });
    assert.deepEqual(parse(''), { ok: true, value: { skip: false } });
    assert.deepEqual(parse('_HLS_msn=0'), { ok: true, value: { msn: 0, skip: false } });
  });

  it('refuses what a client cannot mean: _HLS_part without _HLS_msn, non-integers, repeats, unknown skip values', () => {
    for (const [query, reason] of [
      ['_HLS_part=1', /_HLS_part without _HLS_msn/],
      ['_HLS_msn=-1', /not a decimal-integer/], ['_HLS_msn=1.5', /not a decimal-integer/], ['_HLS_msn=', /not a decimal-integer/],
      ['_HLS_msn=1e3', /not a decimal-integer/], ['_HLS_msn=9007199254740993', /not a decimal-integer/],
      ['_HLS_msn=1&_HLS_part=x', /_HLS_part is not/], ['_HLS_msn=1&_HLS_msn=2', /given 2 times/],
      ['_HLS_skip=yes', /YES or v2/], ['_HLS_skip=YES&_HLS_skip=YES', /once/],
    ] as const) {
      const r = parse(query);
      assert.equal(r.ok, false, query);
      assert.match((r as { reason: string }).reason, reason, query);
    }
  });
});

describe('satisfies (6.2.5.2)', () => {
  it('_HLS_msn alone waits for that segment complete', () => {
    const p = at(10, 4, { msn: 11, parts: 2 });
    assert.equal(satisfies(p, { msn: 10 }), true);
    assert.equal(satisfies(p, { msn: 11 }), false, 'parts of 11 are not segment 11');
    assert.equal(satisfies(at(11, 0), { msn: 11 }), true);
  });

  it('_HLS_part waits for that part of that segment, or anything later', () => {
    const p = at(10, 4, { msn: 11, parts: 2 });
    assert.equal(satisfies(p, { msn: 11, part: 1 }), true);
    assert.equal(satisfies(p, { msn: 11, part: 2 }), false);
    assert.equal(satisfies(p, { msn: 10, part: 3 }), true);
    assert.equal(satisfies(p, { msn: 9, part: 9 }), true, 'an older segment is complete');
    assert.equal(satisfies(p, { msn: 12, part: 0 }), false);
  });

  it('a part past the last of a complete segment is part 0 of the next', () => {
    assert.equal(satisfies(at(10, 4), { msn: 10, part: 4 }), false, 'segment 11 has no part yet');
    assert.equal(satisfies(at(10, 4, { msn: 11, parts: 1 }), { msn: 10, part: 4 }), true);
    assert.equal(satisfies(at(10, 4, { msn: 11, parts: 1 }), { msn: 10, part: 9 }), true);
  });

  it('a complete segment without parts holds any part of it', () => {
    assert.equal(satisfies(at(10, 0), { msn: 10, part: 3 }), true);
    assert.equal(satisfies(at(11, 0), { msn: 10, part: 7 }), true);
  });

  it('property: once satisfied, a request stays satisfied as the playlist moves on', () => {
    // A position advances by a part of the segment in progress, or by that segment completing.
    type Step = 'part' | 'complete';
    fc.assert(fc.property(fc.array(fc.constantFrom<Step>('part', 'part', 'part', 'complete'), { maxLength: 40 }), fc.nat(12), fc.option(fc.nat(6), { nil: undefined }),
      (steps, msn, part) => {
        let p = at(0, 0);
        let was = false;
        for (const step of steps) {
          if (step === 'part') p = at(p.msn, p.parts, { msn: p.msn + 1, parts: (p.partial?.parts ?? 0) + 1 });
          else p = at(p.msn + 1, p.partial?.parts ?? 0);
          const now = satisfies(p, { msn, ...(part !== undefined ? { part } : {}) });
          assert.ok(now || !was, `satisfied, then not, at ${JSON.stringify(p)}`);
          was = now;
        }
      }), { numRuns: RUNS });
  });
});

describe('tooFarAhead (6.2.5.2)', () => {
  it('refuses an _HLS_msn more than two segments past the last', () => {
    assert.equal(tooFarAhead(at(10, 4), { msn: 12 }), undefined);
    assert.match(tooFarAhead(at(10, 4), { msn: 13 })!, /more than two segments past the last one \(10\)/);
  });

  it('the Advance Part Limit: 3 / PART-TARGET below one second, else 3', () => {
    assert.equal(advancePartLimit(500), 6);
    assert.equal(advancePartLimit(200), 15);
    assert.equal(advancePartLimit(1000), 3);
    assert.equal(advancePartLimit(2000), 3);
    const p = at(10, 4, { msn: 11, parts: 2 });
    // The last part is 11/1: 11/7 is 6 parts past it, 11/8 seven.
    assert.equal(tooFarAhead(p, { msn: 11, part: 7 }), undefined);
    assert.match(tooFarAhead(p, { msn: 11, part: 8 })!, /7 parts past the last one, more than 6/);
    // A later segment's part counts from that segment's start at least.
    assert.equal(tooFarAhead(p, { msn: 12, part: 5 }), undefined);
    assert.match(tooFarAhead(p, { msn: 12, part: 6 })!, /more than 6/);
    // With one-second parts the limit is 3.
    assert.match(tooFarAhead(at(10, 2, undefined, 1000), { msn: 10, part: 5 })!, /4 parts past the last one, more than 3/);
    assert.equal(tooFarAhead(at(10, 2, undefined, 1000), { msn: 10, part: 4 }), undefined);
  });
});
