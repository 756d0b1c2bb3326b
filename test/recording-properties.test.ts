// Property: whatever the sequence of uploads, encoder restarts, ENDLISTs, origin restarts, failing disk
// writes and retention sweeps, every recording playlist (relive and DVR, every rendition) is a valid media
// playlist whose media sequence never goes back and whose segments keep their URIs while they stay; every
// URI it names is served with bytes the encoder uploaded for that rendition, in upload order; a restart of
// the encoder is a discontinuity; every init section (fMP4) is the one of its segment's run; after ENDLIST
// the relive is VOD. PROPERTY_RUNS=n runs n cases (default 30).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { parsePlaylist, type MediaPlaylist } from '../src/playlist.js';
import { createOrigin, type Origin } from '../origin/index.js';
import { DiskStorage } from '../origin/storage.js';
import { FailingStorage } from './helpers/failing-storage.js';
import { RecordingEncoder } from './helpers/recording-encoder.js';

type Op =
  | { op: 'segments'; n: number }
  | { op: 'restart'; gapMs: number }
  | { op: 'end' }
  | { op: 'originRestart' }
  | { op: 'diskFull'; on: boolean }
  | { op: 'sweep'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('segments' as const), n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('restart' as const), gapMs: fc.constantFrom(0, 500, 5000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('end' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('originRestart' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('diskFull' as const), on: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('sweep' as const), ms: fc.constantFrom(1000, 30_000, 600_000) }) },
);

const RENDITIONS = ['v0', 'v1'];
/** Recording keys only fail: the live uploads go on, so what is missing is the recording's copies. */
const RECORD_KEYS = /\/record\//;

test('property: recording playlists stay valid, monotonic and servable through uploads, restarts, ENDLIST, origin restarts, failing writes and sweeps', async () => {
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.boolean(), runOps), { numRuns: Number(process.env.PROPERTY_RUNS ?? 30) });
});

// Counterexamples the property found, shrunk.
test('an origin starting on a full disk starts, with the recording it had', async () => {
  await runOps([{ op: 'segments', n: 2 }, { op: 'diskFull', on: true }, { op: 'originRestart' }, { op: 'diskFull', on: false }, { op: 'segments', n: 1 }]);
});

test('a recording whose manifest could not be written at first keeps its segments across an origin restart once the disk is back', async () => {
  await runOps([{ op: 'diskFull', on: true }, { op: 'segments', n: 1 }, { op: 'diskFull', on: false }, { op: 'segments', n: 1 }, { op: 'originRestart' }, { op: 'segments', n: 1 }]);
});

test('a relive that ended while its manifest could not be written stays VOD across an origin restart', async () => {
  await runOps([{ op: 'segments', n: 1 }, { op: 'diskFull', on: true }, { op: 'end' }, { op: 'originRestart' }]);
});

async function runOps(ops: Op[], fmp4 = false): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cascade-recprop-'));
  const storage = new FailingStorage(new DiskStorage(dir));
  const clock = { now: Date.UTC(2026, 0, 1) };
  const config = { record: true, storage, sweepIntervalMs: 0, now: () => clock.now, recordRetentionMs: 3_600_000, reliveAfterMs: 60_000, dvrWindowMs: 10_000 };
  let origin: Origin = await createOrigin(config);
  const enc = new RecordingEncoder(origin, 'p', RENDITIONS, { start: clock.now, fmp4 });
  /** Per playlist path: media sequence number -> URI, as first seen. */
  const seen = new Map<string, Map<number, string>>();
  const lastSequence = new Map<string, number>();
  let ended = false;
  try {
    await enc.master();
    for (const op of ops) {
      switch (op.op) {
        case 'segments':
          for (let i = 0; i < op.n; i++) {
            await enc.segment();
            clock.now += 1000;
          }
          ended = false;
          break;
        case 'restart':
          enc.restart(op.gapMs);
          clock.now += op.gapMs;
          break;
        case 'end':
          if (enc.runSegments > 0) {
            await enc.end();
            ended = true;
          }
          break;
        case 'originRestart':
          await origin.close();
          origin = await createOrigin(config);
          enc.use(origin);
          break;
        case 'diskFull':
          if (op.on) storage.fail('ENOSPC', ['put'], RECORD_KEYS);
          else storage.heal();
          break;
        case 'sweep':
          clock.now += op.ms;
          await origin.sweep();
          break;
      }
      await origin.flushed();
      await check(origin, enc, seen, lastSequence, ended);
    }
  } finally {
    await origin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function check(origin: Origin, enc: RecordingEncoder, seen: Map<string, Map<number, string>>, lastSequence: Map<string, number>, ended: boolean): Promise<void> {
  const recording = origin.recorder!.get('p');
  if (recording === undefined) return;
  for (const [rendition, rid] of Object.entries(recording.renditions)) {
    const name = rendition.split('/')[0]!;
    const bodies = enc.sent.filter((s) => s.rendition === name);
    for (const view of ['_relive', '_dvr']) {
      const path = `/hls/p/${view}/${rid}.m3u8`;
      const res = await origin.app.request(path);
      const text = await res.text();
      if (res.status === 404) continue; // nothing recorded (yet, or any more)
      assert.equal(res.status, 200, `${path}: ${text}`);
      const pl = parsePlaylist(text) as MediaPlaylist;
      assert.equal(pl.type, 'media');
      assert.ok(pl.segments.length > 0);
      assert.ok(pl.mediaSequence >= (lastSequence.get(path) ?? 0), `${path}: the media sequence went back`);
      lastSequence.set(path, pl.mediaSequence);
      const known = seen.get(path) ?? new Map<number, string>();
      seen.set(path, known);
      let previous = -1;
      for (const [i, seg] of pl.segments.entries()) {
        const msn = pl.mediaSequence + i;
        const first = known.get(msn);
        if (first !== undefined) assert.equal(seg.uri, first, `${path}: msn ${msn} changed its URI`);
        known.set(msn, seg.uri);
        assert.ok(Number.isInteger(seg.duration * 1000) && seg.duration <= pl.targetDuration);
        const got = await origin.app.request(`/hls/p/${seg.uri.replace('../', '')}`);
        const body = await got.text();
        assert.equal(got.status, 200, `${seg.uri}`);
        const at = bodies.findIndex((b) => b.body === body);
        assert.ok(at > previous, `${seg.uri}: the bytes of an uploaded segment of ${name}, in upload order`);
        if (i > 0 && bodies[at]!.run !== bodies[previous]!.run) assert.ok(seg.discontinuity, `${path}: a restart without a discontinuity`);
        if (seg.map !== undefined) {
          const init = await origin.app.request(`/hls/p/${/URI="\.\.\/([^"]+)"/.exec(seg.map)![1]}`);
          assert.equal(await init.text(), enc.initBody(name, bodies[at]!.run), `${path}: the init section of the segment's run`);
        }
        previous = at;
      }
      if (view === '_relive' && ended) {
        assert.equal(pl.playlistType, 'VOD', 'relive after ENDLIST');
        assert.equal(pl.endList, true);
      }
    }
  }
}
