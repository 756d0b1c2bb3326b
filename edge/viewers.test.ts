import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ViewerCounter } from './viewers.js';

describe('viewer counter', () => {
  it('counts distinct clients per stream within the window, with a memory cap', () => {
    let now = 0;
    const v = new ViewerCounter({ windowMs: 60_000, maxPerStream: 3, maxStreams: 10, now: () => now });
    v.touch('a', '10.0.0.1');
    v.touch('a', '10.0.0.1');
    v.touch('a', '10.0.0.2');
    v.touch('b', '10.0.0.1');
    assert.deepEqual([...v.counts()], [['a', 2], ['b', 1]]);
    now = 30_000;
    v.touch('a', '10.0.0.1');
    now = 60_001;
    assert.deepEqual([...v.counts()], [['a', 1]], 'sightings older than a minute expire; idle streams disappear');
    for (const ip of ['1', '2', '3', '4', '5']) v.touch('a', ip);
    assert.equal(v.counts().get('a'), 3);
    v.close();
  });

  it('tracks at most maxStreams streams; a new one waits until another goes idle', () => {
    let now = 0;
    const v = new ViewerCounter({ windowMs: 1_000, maxPerStream: 10, maxStreams: 2, now: () => now });
    v.touch('a', '1');
    v.touch('b', '1');
    v.touch('c', '1');
    assert.deepEqual([...v.counts().keys()], ['a', 'b']);
    now = 500;
    v.touch('a', '2');
    now = 1_001;
    v.touch('c', '1');
    assert.deepEqual([...v.counts().keys()], ['a', 'c'], 'b went idle and made room');
    v.close();
  });

  it('prunes on a timer, without a scrape', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let now = 0;
    const v = new ViewerCounter({ windowMs: 4_000, maxPerStream: 10, maxStreams: 10, now: () => now });
    const streams = (v as unknown as { streams: Map<string, unknown> }).streams;
    v.touch('a', '1');
    now = 5_000;
    t.mock.timers.tick(1_000);
    assert.equal(streams.size, 0);
    v.close();
  });

  it('property: counts within a shorter window are the distinct clients whose last sighting is inside it', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.constantFrom('a', 'b'), fc.constantFrom('1', '2', '3', '4', '5')), { maxLength: 60 }),
      fc.integer({ min: 1, max: 12_000 }),
      (sightings, within) => {
        let now = 0;
        const v = new ViewerCounter({ windowMs: 10_000, maxPerStream: 100, maxStreams: 10, now: () => now });
        const last = new Map<string, number>();
        for (const [step, stream, client] of sightings) {
          now += step;
          v.touch(stream, client);
          last.set(`${stream} ${client}`, now);
        }
        now += 1_000;
        const expected = new Map<string, number>();
        for (const [key, at] of last) {
          const stream = key.split(' ')[0]!;
          if (at > now - Math.min(within, 10_000)) expected.set(stream, (expected.get(stream) ?? 0) + 1);
        }
        const got = v.counts(within);
        assert.deepEqual(new Map([...got].sort()), new Map([...expected].sort()));
        v.close();
      },
    ));
  });
});
