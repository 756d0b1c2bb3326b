// Property-based tests of the origin (docs/origin.md, "How it is tested"): random interleavings of segment and playlist uploads,
// encoder restarts, duplicates, late playlists, aborted, overlapping and failing (disk) uploads, the clock,
// retention and origin restarts, against a real in-process origin, with the publishing invariants checked
// after every step (test/helpers/origin-harness.ts):
// - every published URI serves, until its grace period ends, the bytes it was first published with, and
//   those are the bytes of an upload of its path that won (never a superseded, aborted or failed one);
// - per rendition the media sequence, discontinuity sequence and target duration never go back, a media
//   sequence number keeps its URI, and a URI is never published under another media sequence number;
// - renditions agree on the discontinuity sequence of a media sequence number both publish;
// - the target duration covers every EXTINF; a superseded upload changes nothing;
// - a restarted origin publishes what it published; no temporary file or unreachable blob stays on disk;
// - with LL-HLS uploads (real CMAF fed fragment by fragment while held open): parts are published only of
//   bytes that arrived, every listed part serves exactly its byte range of the upload it was cut from (and of
//   the finished segment, which its parts tile), a part URI keeps its bytes and its media sequence number,
//   parts are listed from 0 and named after their segment, the preload hint names the next part and answers.
// Shrunk counterexamples become the named tests at the end. PROPERTY_RUNS=n runs n cases per property.
import { test } from 'node:test';
import fc from 'fast-check';
import { runScenario, type HarnessOptions, type Op } from './helpers/origin-harness.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 60);

const r = fc.nat({ max: 1 });
const dur = fc.constantFrom(2, 2, 2, 1.5, 2.4, 3.6);

/** With `ll`, the muxer's way weighs more: the next segment held open and fed while playlists hint it. */
function ops(storage: boolean, ll = false): fc.Arbitrary<Op[]> {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 20, arbitrary: fc.record({ op: fc.constant('cycle' as const), r, dur }) },
    { weight: 10, arbitrary: fc.record({ op: fc.constant('segment' as const), r, dur }) },
    { weight: 10, arbitrary: fc.record({ op: fc.constant('playlist' as const), r }) },
    { weight: ll ? 10 : 4, arbitrary: fc.record({ op: fc.constant('begin' as const), r, back: ll ? fc.constantFrom(0, 0, 0, 1) : fc.nat({ max: 3 }), dur }) },
    { weight: ll ? 16 : 2, arbitrary: fc.record({ op: fc.constant('feed' as const), pick: fc.nat(), count: fc.constantFrom(1, 2, 5) }) },
    { weight: ll ? 8 : 4, arbitrary: fc.record({ op: fc.constant('end' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('abort' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('duplicate' as const), r, back: fc.nat({ max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), kind: fc.constantFrom('same' as const, 'fresh' as const, 'jump' as const) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('late' as const), r, back: fc.nat({ max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), r, back: fc.nat({ max: 2 }) }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(500, 2000, 6000) }) },
    { weight: 2, arbitrary: fc.constant({ op: 'sweep' as const }) },
    ...(storage ? [
      { weight: 1, arbitrary: fc.record({ op: fc.constant('diskFull' as const), code: fc.constantFrom('ENOSPC' as const, 'EIO' as const) }) },
      { weight: 2, arbitrary: fc.constant({ op: 'diskOk' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'originRestart' as const }) },
    ] : []),
  );
  return fc.array(op, { minLength: 1, maxLength: 60, size: 'max' });
}

function options(storage: boolean): fc.Arbitrary<HarnessOptions> {
  return fc.record({
    storage: fc.constant(storage),
    listSize: fc.constantFrom(2, 3, 4, 5),
    fmp4: fc.boolean(),
    prefetch: fc.boolean(),
    // Small enough that uploads no playlist names get evicted (in memory only: stored bytes use none).
    maxMemoryBytes: fc.constantFrom(1024 * 1024 * 1024, 2000),
  });
}

for (const storage of [false, true]) {
  test(`property: the publishing invariants hold after every step (${storage ? 'data dir with a failing disk' : 'in memory'})`, { timeout: 600_000 }, async () => {
    await fc.assert(fc.asyncProperty(ops(storage), options(storage), async (steps, opts) => {
      await runScenario(steps, opts);
    }), { numRuns: RUNS });
  });
  test(`property: with LL-HLS uploads in progress, the part invariants hold too (${storage ? 'data dir with a failing disk' : 'in memory'})`, { timeout: 600_000 }, async () => {
    const llOptions = fc.record({ storage: fc.constant(storage), listSize: fc.constantFrom(2, 3, 4, 5), ll: fc.constant(true), maxMemoryBytes: fc.constantFrom(1024 * 1024 * 1024, 2000) });
    await fc.assert(fc.asyncProperty(ops(storage, true), llOptions, async (steps, opts) => {
      await runScenario(steps, opts);
    }), { numRuns: RUNS });
  });
}

// ---- shrunk counterexamples, kept as regression tests ---------------------------------------------------

function regression(name: string, options: HarnessOptions, steps: Op[]) {
  test(`found by the property: ${name}`, async () => runScenario(steps, options));
}

const memory = (listSize: number): HarnessOptions => ({ storage: false, listSize });
const disk = (listSize: number): HarnessOptions => ({ storage: true, listSize });

regression('a late playlist of the previous encoder run is not a restart (it republished an old segment)', memory(2), [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'restart', kind: 'fresh' }, { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 },
  { op: 'playlist', r: 0 }, { op: 'late', r: 0, back: 3 }, { op: 'playlist', r: 0 },
]);

regression('a held-back playlist never binds an upload that started after it (the next run\'s segment under the same name)', disk(2), [
  { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'restart', kind: 'same' },
  { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 },
]);

regression('a jump keeps the upload floor, and the upload that fills a gap later is no restart', memory(4), [
  { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'end', pick: 0 }, { op: 'begin', r: 1, back: 0, dur: 2 },
  { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'duplicate', r: 1, back: 2 },
  { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 0, dur: 2 },
]);

regression('a rendition joining a restart\'s epoch starts at its first segment (renditions disagreed on the discontinuity sequence)', memory(2), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 },
  { op: 'playlist', r: 1 }, { op: 'cycle', r: 0, dur: 2 },
]);

regression('a rendition whose first playlist was held back belongs to the epoch it starts publishing in', disk(3), [
  { op: 'diskFull', code: 'ENOSPC' }, { op: 'cycle', r: 0, dur: 2 }, { op: 'diskOk' }, { op: 'cycle', r: 1, dur: 2 },
  { op: 'restart', kind: 'same' }, { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 0, dur: 2 },
  { op: 'restart', kind: 'same' }, { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 },
]);

regression('gap entries that reach into a newer epoch carry its discontinuity', memory(2), [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 1, dur: 2 }, { op: 'end', pick: 0 },
  { op: 'playlist', r: 1 }, { op: 'segment', r: 1, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'playlist', r: 1 },
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'end', pick: 0 },
]);

regression('a late playlist of the same run opens no epoch, and a lagging rendition never takes an epoch\'s numbers', disk(2), [
  { op: 'segment', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 },
  { op: 'playlist', r: 0 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'late', r: 1, back: 2 },
  { op: 'cycle', r: 0, dur: 2 }, { op: 'sweep' },
]);

regression('a rendition two epochs behind starts its window over instead of guessing the numbers in between', memory(2), [
  { op: 'segment', r: 1, dur: 2 }, { op: 'playlist', r: 1 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'segment', r: 0, dur: 2 },
  { op: 'playlist', r: 0 }, { op: 'segment', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'restart', kind: 'same' },
  { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'playlist', r: 0 },
]);

regression('a restarted rendition whose first playlist was held back while another restart came belongs to the newest epoch', memory(2), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'cycle', r: 0, dur: 2 },
  { op: 'segment', r: 1, dur: 2 }, { op: 'playlist', r: 1 }, { op: 'restart', kind: 'same' }, { op: 'cycle', r: 0, dur: 2 },
  { op: 'segment', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 },
  { op: 'cycle', r: 0, dur: 2 },
]);

regression('a name hinted for a complete upload keeps that upload stored when a newer upload of the path is hinted instead', { storage: true, listSize: 2, prefetch: true }, [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'begin', r: 0, back: 1, dur: 2 }, { op: 'end', pick: 0 },
  { op: 'restart', kind: 'same' }, { op: 'cycle', r: 0, dur: 2 }, { op: 'segment', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 },
]);

const ll = (listSize: number, storage = false): HarnessOptions => ({ storage, listSize, ll: true });

regression('LL: a late playlist hinting a finished segment opens no partial (its parts were listed again under the next number)', ll(2), [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'segment', r: 0, dur: 2 }, { op: 'playlist', r: 0 }, { op: 'late', r: 0, back: 1 },
]);

regression('LL: a gap entry borrows the last segment\'s URI, not its parts', ll(2), [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'segment', r: 0, dur: 2 }, { op: 'segment', r: 0, dur: 2 },
  { op: 'segment', r: 0, dur: 2 }, { op: 'playlist', r: 0 },
]);

regression('LL: a restarted origin withdraws the parts of a segment whose upload it lost (they were listed, unservable)', ll(2, true), [
  { op: 'segment', r: 0, dur: 2 }, { op: 'playlist', r: 0 }, { op: 'begin', r: 0, back: 0, dur: 2 }, { op: 'feed', pick: 0, count: 5 },
  { op: 'originRestart' },
]);

regression('LL: a restarted origin publishes no preload hint of an upload it lost (the state was not written at every part)', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'originRestart' },
]);

regression('LL: parts withdrawn at a restart are never listed again under another number (the old upload went on under the same name)', ll(2), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'feed', pick: 0, count: 1 }, { op: 'restart', kind: 'same' },
  { op: 'cycle', r: 1, dur: 2 },
]);

regression('LL: a hint the low-latency playlist does not carry claims no name (the claim kept a superseded upload stored while its rendition waited to join an epoch)', ll(2, true), [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 1, dur: 2 }, { op: 'end', pick: 0 },
  { op: 'cycle', r: 0, dur: 2 }, { op: 'playlist', r: 1 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'begin', r: 0, back: 1, dur: 2 },
  { op: 'end', pick: 0 }, { op: 'playlist', r: 0 },
]);

regression('LL: the upload a listed partial was cut from stays stored while a newer upload of its path completes (reachable through its parts)', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 1, dur: 2 }, { op: 'end', pick: 0 },
]);

regression('LL: the upload a preload hint named stays stored, while a newer upload of its path completes, until a segment is listed at its number', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'begin', r: 1, back: 1, dur: 2 }, { op: 'end', pick: 0 }, { op: 'end', pick: 0 },
]);

regression('LL: ... and is dropped once the segment is listed (under the newer upload\'s content name)', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'begin', r: 1, back: 1, dur: 2 }, { op: 'end', pick: 0 }, { op: 'end', pick: 0 },
  { op: 'playlist', r: 1 },
]);

regression('LL: a name the window lists serves its entry\'s upload, not the failed one that held the name (an encoder restarted under the same names; its new upload of a segment, one part listed, was cut)', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'segment', r: 1, dur: 2 }, { op: 'restart', kind: 'same' },
  { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'abort', pick: 0 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 },
  { op: 'feed', pick: 0, count: 1 }, { op: 'playlist', r: 1 }, { op: 'abort', pick: 0 }, { op: 'tick', ms: 500 },
]);

regression('a restarted origin publishes no prefetch hint of an upload it lost (a restarted encoder hinted an upload of its next segment\'s name still in progress)', { storage: true, listSize: 2, prefetch: true }, [
  { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'cycle', r: 0, dur: 2 }, { op: 'begin', r: 0, back: 2, dur: 2 },
  { op: 'restart', kind: 'same' }, { op: 'cycle', r: 0, dur: 2 }, { op: 'originRestart' }, { op: 'diskOk' },
]);

regression('LL: a restarted origin publishes what it published after a late older playlist (it had replaced the newer one in memory, not in the state written)', ll(2, true), [
  { op: 'cycle', r: 1, dur: 2 }, { op: 'cycle', r: 1, dur: 2 }, { op: 'begin', r: 1, back: 0, dur: 2 }, { op: 'segment', r: 1, dur: 2 },
  { op: 'playlist', r: 1 }, { op: 'late', r: 1, back: 2 }, { op: 'originRestart' }, { op: 'cycle', r: 0, dur: 2 },
]);
