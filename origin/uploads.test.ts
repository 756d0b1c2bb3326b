// Which upload of a path wins (origin/uploads.ts): the one that started last, whatever order they end in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UploadVersion } from './upload-version.js';
import { UploadTable } from './uploads.js';

function begin(t: UploadTable, id: number, path = 'seg1.ts'): UploadVersion {
  const b = new UploadVersion(id, path);
  t.begin(b);
  return b;
}

function finish(t: UploadTable, b: UploadVersion): boolean {
  b.complete('h' + b.id, 0);
  return t.complete(b);
}

test('an older upload completing after a newer one is superseded and changes nothing', () => {
  const t = new UploadTable();
  const a = begin(t, 1);
  const b = begin(t, 2);
  assert.equal(t.current('seg1.ts'), b, 'while both run, the path means the newer one');
  assert.equal(finish(t, b), true);
  assert.equal(t.isSuperseded(a), true);
  assert.equal(finish(t, a), false, 'A is superseded');
  assert.equal(t.current('seg1.ts'), b);
  assert.deepEqual([...t.blobs()], [b], 'and no longer tracked');
});

test('an older upload completing first is kept only as a fallback while the newer one runs', () => {
  const t = new UploadTable();
  const a = begin(t, 1);
  const b = begin(t, 2);
  assert.equal(finish(t, a), true);
  assert.equal(t.current('seg1.ts'), b, 'the path is still being written: the newer upload is what it means');
  assert.equal(t.current('seg1.ts', b.id), a, 'what the path meant before B started: A, complete');
  t.abort(b);
  assert.equal(t.current('seg1.ts'), a, 'the newer one failed: back to the older complete one');
});

test('every upload in progress stays tracked, superseded or not, until it ends', () => {
  const t = new UploadTable();
  const a = begin(t, 1);
  const b = begin(t, 2);
  finish(t, b);
  assert.deepEqual(new Set([...t.blobs()].map((x) => x.id)), new Set([1, 2]), 'A is still being written');
  assert.equal(t.forget('seg1.ts'), b);
  assert.deepEqual([...t.blobs()], [a], 'forgetting the completed version keeps what is in progress');
  t.abort(a);
  assert.deepEqual([...t.blobs()], []);
  assert.equal(t.current('seg1.ts'), undefined);
  assert.equal(t.size, 0, 'nothing of the path is left');
});

test('an upload that started before a DELETE stays superseded by what the DELETE removed, and leaves nothing behind', () => {
  const t = new UploadTable();
  const a = begin(t, 1);
  const b = begin(t, 2);
  finish(t, b);
  t.forget('seg1.ts');
  assert.equal(finish(t, a), false, 'A started before B, which completed: A must not come back');
  assert.equal(t.current('seg1.ts'), undefined);
  assert.equal(t.size, 0, 'the path is forgotten once its last upload ended');
});

test('property: the path always means its newest upload that did not fail and is not older than the newest completed one', () => {
  // Model: every upload with its start order and fate; the table must agree with the rule after every step.
  const step = fc.record({ kind: fc.constantFrom('begin', 'complete', 'abort'), pick: fc.nat() });
  fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
    const t = new UploadTable();
    const all: { blob: UploadVersion; fate: 'writing' | 'complete' | 'superseded' | 'aborted' }[] = [];
    let next = 0;
    for (const s of steps) {
      const running = all.filter((u) => u.fate === 'writing');
      if (s.kind === 'begin' || running.length === 0) {
        all.push({ blob: begin(t, next++), fate: 'writing' });
      } else {
        const u = running[s.pick % running.length]!;
        const newestDone = Math.max(-1, ...all.filter((x) => x.fate === 'complete').map((x) => x.blob.id));
        if (s.kind === 'complete') {
          const won = finish(t, u.blob);
          assert.equal(won, u.blob.id > newestDone, 'superseded exactly when a newer upload completed first');
          u.fate = won ? 'complete' : 'superseded';
        } else {
          t.abort(u.blob);
          u.fate = 'aborted';
        }
      }
      const newestDone = Math.max(-1, ...all.filter((x) => x.fate === 'complete').map((x) => x.blob.id));
      const candidates = all.filter((x) => (x.fate === 'writing' && x.blob.id > newestDone) || x.blob.id === newestDone);
      assert.equal(t.current('seg1.ts')?.id, candidates.at(-1)?.blob.id);
      const tracked = new Set([...t.blobs()].map((b) => b.id));
      for (const u of all) {
        if (u.fate === 'writing') assert.ok(tracked.has(u.blob.id), 'an upload in progress is always tracked');
        if (u.fate === 'aborted' || u.fate === 'superseded') assert.ok(!tracked.has(u.blob.id));
      }
      assert.equal(t.size, tracked.size > 0 ? 1 : 0, 'a path is forgotten once nothing of it is left');
    }
  }), { numRuns: 300 });
});
