// One rendition's recording index (origin/recording-index.ts) on its own: memory bound over 70,000
// segments, reading back, reloading, and numbers that stay in their chunk when index writes fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailingStorage } from '../test/helpers/failing-storage.js';
import { MemoryStorage } from './memory-storage.js';
import { CHUNK_SIZE, RecordingIndex, type SegmentDraft } from './recording-index.js';

const T0 = Date.UTC(2026, 0, 1);
const body = new Uint8Array(16);
const draft = (msn: number): SegmentDraft => ({ msn, ldisc: 0, discontinuity: false, name: `seg${msn}.0.ts`, dur: 0.1, pdt: T0 + msn * 100, ext: 'ts', at: T0 });

test('memory stays bounded: after 70,000 segments the index holds at most a few chunks of segments and one summary per chunk', async () => {
  const storage = new MemoryStorage();
  const index = RecordingIndex.empty(storage, 's/record/0', (err) => assert.fail(String(err)));
  for (let msn = 0; msn < 70_000; msn++) {
    void index.append(draft(msn), async () => body, async () => body);
    if (msn % 1000 === 999) await index.settled();
  }
  await index.settled();
  const memory = index.memory;
  assert.ok(memory.segments <= CHUNK_SIZE * 5, `segments held: ${memory.segments}`);
  assert.equal(memory.summaries, Math.floor(70_000 / CHUNK_SIZE));
  // Reading the whole of it (a 2-hour playlist) goes a chunk at a time and keeps the bound.
  let count = 0;
  for await (const chunk of index.walk(0)) count += chunk.length;
  assert.equal(count, 70_000);
  assert.ok(index.memory.segments <= CHUNK_SIZE * 5);
  assert.equal((await index.lastStartingBefore(T0 + 35_000 * 100 + 50, false))?.pos, 35_000);
  const reloaded = await RecordingIndex.load(storage, 's/record/0', (err) => assert.fail(String(err)));
  assert.equal(reloaded.last?.pos, 69_999);
  assert.ok(reloaded.memory.segments <= CHUNK_SIZE * 5);
});


test('a full chunk whose closing write fails stays open and refuses segments until it closes: no number leaves its chunk', async () => {
  const storage = new FailingStorage(new MemoryStorage());
  const failures: unknown[] = [];
  const index = RecordingIndex.empty(storage, 's/record/0', (err) => failures.push(err));
  for (let msn = 0; msn < CHUNK_SIZE - 1; msn++) assert.equal(await index.append(draft(msn), async () => body, async () => body), 'recorded');
  storage.fail('EIO', ['put'], /index\/0\.json$/);
  assert.equal(await index.append(draft(CHUNK_SIZE - 1), async () => body, async () => body), 'recorded', 'the last of the chunk is recorded; closing fails');
  assert.equal(await index.append(draft(CHUNK_SIZE), async () => body, async () => body), 'unstored');
  assert.ok(failures.length >= 2);
  storage.heal();
  assert.equal(await index.append(draft(CHUNK_SIZE + 1), async () => body, async () => body), 'recorded');
  await index.settled();
  const last = index.last!;
  assert.equal(last.seq, CHUNK_SIZE, 'the first number of the next chunk');
  assert.equal(last.pos, CHUNK_SIZE);
  assert.equal(last.disc, true, 'a segment left out is a discontinuity');
  assert.equal((await index.bySeq(CHUNK_SIZE))?.msn, CHUNK_SIZE + 1);
  assert.equal((await index.bySeq(CHUNK_SIZE - 1))?.msn, CHUNK_SIZE - 1);
  const reloaded = await RecordingIndex.load(storage, 's/record/0', (err) => assert.fail(String(err)));
  assert.equal(reloaded.last?.seq, CHUNK_SIZE);
});

test('a segment whose bytes cannot be read is left out, and takes no number', async () => {
  const index = RecordingIndex.empty(new MemoryStorage(), 's/record/0', (err) => assert.fail(String(err)));
  assert.equal(await index.append(draft(0), async () => body, async () => body), 'recorded');
  assert.equal(await index.append(draft(1), async () => { throw new Error('gone'); }, async () => body), 'unreadable');
  assert.equal(await index.append(draft(2), async () => body, async () => body), 'recorded');
  assert.deepEqual([index.last!.seq, index.last!.pos, index.last!.disc], [1, 1, true]);
});
