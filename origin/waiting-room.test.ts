// The waiting room with a fake timer: release on notify, time out, bounds per stream and in total, a
// client that leaves, close; and random interleavings of waits, notifications, timeouts and aborts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { WaitingRoom, type Timer } from './waiting-room.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

function fakeTimer() {
  const pending = new Set<{ at: number; fn: () => void }>();
  let now = 0;
  const timer: Timer = (ms, fn) => {
    const t = { at: now + ms, fn };
    pending.add(t);
    return () => pending.delete(t);
  };
  return {
    timer,
    pending,
    advance(ms: number) {
      now += ms;
      for (const t of [...pending].sort((a, b) => a.at - b.at)) {
        if (t.at <= now && pending.delete(t)) t.fn();
      }
    },
  };
}

const settled = async <T>(p: Promise<T>): Promise<{ value: T } | undefined> => {
  let out: { value: T } | undefined;
  void p.then((value) => { out = { value }; });
  await new Promise((r) => setImmediate(r));
  return out;
};

describe('WaitingRoom', () => {
  it('answers at once when ready, releases on notify of its key only, times out with false', async () => {
    const clock = fakeTimer();
    const room = new WaitingRoom({ perStream: 10, total: 10 }, clock.timer);
    assert.equal(await room.wait('s', 'a', () => true, 1000), true);
    let ready = false;
    const waiting = room.wait('s', 'a', () => ready, 1000)!;
    const other = room.wait('s', 'b', () => ready, 1000)!;
    assert.equal(room.size, 2);
    ready = true;
    room.notify('s', 'a');
    assert.deepEqual(await settled(waiting), { value: true });
    assert.equal(await settled(other), undefined, 'b was not notified');
    clock.advance(999);
    assert.equal(await settled(other), undefined);
    clock.advance(1);
    assert.deepEqual(await settled(other), { value: false });
    assert.equal(room.size, 0);
    assert.equal(clock.pending.size, 0, 'no timer left behind');
  });

  it('is bounded per stream and in total; a freed place can be taken again', async () => {
    const room = new WaitingRoom({ perStream: 2, total: 3 }, fakeTimer().timer);
    const never = () => false;
    const a1 = room.wait('a', 'p', never, 1000);
    assert.ok(room.wait('a', 'p', never, 1000));
    assert.equal(room.wait('a', 'q', never, 1000), undefined, 'stream a is full');
    assert.ok(room.wait('b', 'p', never, 1000));
    assert.equal(room.wait('c', 'p', never, 1000), undefined, 'the room is full');
    assert.equal(room.size, 3);
    const left = new AbortController();
    room.close();
    assert.equal(await a1, false);
    assert.equal(room.size, 0);
    const w = room.wait('c', 'p', never, 1000, left.signal)!;
    left.abort();
    assert.equal(await w, false, 'a client that leaves frees its place');
    assert.equal(room.size, 0);
  });

  it('property: every waiter ends exactly once, true only when ready, and the counts return to zero', async () => {
    type Op = { op: 'wait'; stream: number; key: number } | { op: 'ready'; key: number } | { op: 'tick'; ms: number } | { op: 'abort'; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant('wait' as const), stream: fc.nat(2), key: fc.nat(3) }),
      fc.record({ op: fc.constant('ready' as const), key: fc.nat(3) }),
      fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(100, 600, 1000) }),
      fc.record({ op: fc.constant('abort' as const), pick: fc.nat() }),
    );
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
      const clock = fakeTimer();
      const room = new WaitingRoom({ perStream: 4, total: 6 }, clock.timer);
      const ready = new Set<number>();
      const open: { key: number; abort: AbortController; ended: number; result?: boolean }[] = [];
      for (const o of ops) {
        if (o.op === 'wait') {
          const w = { key: o.key, abort: new AbortController(), ended: 0 } as (typeof open)[number];
          const p = room.wait(`s${o.stream}`, `k${o.key}`, () => ready.has(o.key), 1000, w.abort.signal);
          if (p === undefined) {
            assert.ok(room.size >= 4, 'refused only when full');
            continue;
          }
          void p.then((r) => { w.ended++; w.result = r; });
          open.push(w);
        } else if (o.op === 'ready') {
          ready.add(o.key);
          for (const s of [0, 1, 2]) room.notify(`s${s}`, `k${o.key}`);
        } else if (o.op === 'tick') {
          clock.advance(o.ms);
        } else if (open.length > 0) {
          open[o.pick % open.length]!.abort.abort();
        }
        await new Promise((r) => setImmediate(r));
        for (const w of open) {
          assert.ok(w.ended <= 1);
          if (w.result === true) assert.ok(ready.has(w.key), 'released true only when ready');
        }
      }
      room.close();
      await new Promise((r) => setImmediate(r));
      assert.ok(open.every((w) => w.ended === 1), 'every waiter ended once');
      assert.equal(room.size, 0);
      assert.equal(clock.pending.size, 0);
    }), { numRuns: RUNS });
  });

  it('one notify releases 500 waiters with real timers and client signals in the same turn (measured)', async () => {
    const room = new WaitingRoom({ perStream: 1000, total: 1000 });
    let ready = false;
    const waits = Array.from({ length: 500 }, () => room.wait('s', 'p', () => ready, 60_000, new AbortController().signal)!);
    assert.equal(room.size, 500);
    ready = true;
    const t0 = performance.now();
    room.notify('s', 'p');
    const ms = performance.now() - t0;
    assert.equal(room.size, 0, 'every waiter released by the notify itself');
    assert.deepEqual(new Set(await Promise.all(waits)), new Set([true]));
    console.log(`# 500 waiters released in ${ms.toFixed(2)} ms`);
    assert.ok(ms < 1000, `${ms} ms`);
  });
});
