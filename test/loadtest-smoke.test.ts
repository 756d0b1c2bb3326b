// A short k6 run (loadtest/hls-viewers.js) against a real `cascade stack` (ffmpeg test source, transcoder,
// origin, two edges, LB): the k6 thresholds (no stall, no error, segments played) pass, the viewers are
// spread over both edges by the LB, and every edge fetched each segment from the origin at most once
// (the coalescing factor is 1) — checked from the edges' X-Cache and, independently, from the origin's
// own request counter. Skipped when k6 has not been built (bash loadtest/install-k6.sh).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  K6, ROOT, k6Available, readK6Samples, runK6, stackTargets, startLoadStack, startSampler, thresholds, waitForStream,
} from '../loadtest/lib.js';

const skip = k6Available() ? false : `k6 is not built (${K6} missing): run bash loadtest/install-k6.sh (needs Go)`;

test('k6 smoke: HLS viewers through the LB, thresholds pass, coalescing factor 1', { skip, timeout: 90_000 }, async () => {
  const dir = join(ROOT, 'test-results', 'loadtest-smoke');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log: string[] = [];
  const stack = await startLoadStack({ edges: 2, write: (l) => log.push(l) });
  let passed = false;
  try {
    await waitForStream(stack.urls.lb, 'demo', 2);
    const sampler = startSampler(stackTargets(stack), 1000);
    const k6 = await runK6({ url: stack.urls.lb, stream: 'demo', viewers: 8, rampS: 2, durationS: 12, rendition: 'random', dir });
    const scraped = await sampler.stop();
    const samples = await readK6Samples(k6.jsonPath);

    const failed = thresholds(k6.summary).filter((t) => !t.ok);
    assert.deepEqual(failed, [], `k6 thresholds failed:\n${k6.log.slice(-3000)}`);
    assert.equal(k6.exitCode, 0, k6.log.slice(-3000));
    assert.ok((k6.summary.metrics.hls_segments?.count ?? 0) >= 8, 'every viewer played segments');

    // The LB's client hash spread the viewers (one loopback address each) over both edges.
    assert.deepEqual(Object.keys(samples.redirects).sort(), ['edge-1', 'edge-2'], JSON.stringify(samples.redirects));

    // Coalescing, as the viewers saw it: per edge, at most one upstream fetch (X-Cache MISS) per segment.
    assert.equal(samples.coalescing.length, 2, JSON.stringify(samples.coalescing));
    for (const e of samples.coalescing) {
      assert.ok(e.segments > 0, `${e.edge} served segments`);
      assert.ok(e.worst <= 1, `${e.edge}: a segment was fetched upstream ${e.worst} times: ${JSON.stringify(e)}`);
      assert.equal(e.factor, 1, `${e.edge}: upstream fetches per segment ${e.factor}: ${JSON.stringify(e)}`);
    }
    // And as the origin counted it: segment GETs <= distinct (edge, segment) pairs.
    const origin = scraped.usage.find((u) => u.role === 'origin')!;
    const originSegmentGets = (origin.requests.file ?? 0) + (origin.requests.streaming ?? 0) + (origin.requests.partial ?? 0);
    const pairs = samples.coalescing.reduce((a, e) => a + e.segments, 0);
    assert.ok(originSegmentGets > 0 && originSegmentGets <= pairs, `origin segment GETs ${originSegmentGets} for ${pairs} (edge, segment) pairs`);
    passed = true;
  } finally {
    await stack.stop();
    writeFileSync(join(dir, 'stack.log'), log.join('\n') + '\n');
    if (passed) rmSync(join(dir, 'k6.json'), { force: true });
  }
});

test('k6 smoke, LL=1: LL-HLS viewers (blocking reloads through the LB, parts, rendition reports), no stall, each part fetched once per edge', { skip, timeout: 120_000 }, async () => {
  const dir = join(ROOT, 'test-results', 'loadtest-smoke-ll');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const log: string[] = [];
  const stack = await startLoadStack({ edges: 1, lowLatency: true, write: (l) => log.push(l) });
  let passed = false;
  try {
    await waitForStream(stack.urls.lb, 'demo', 2);
    const k6 = await runK6({ url: stack.urls.lb, stream: 'demo', viewers: 8, rampS: 2, durationS: 12, rendition: 'random', dir, lowLatency: true });
    const samples = await readK6Samples(k6.jsonPath);
    const failed = thresholds(k6.summary).filter((t) => !t.ok);
    assert.deepEqual(failed, [], `k6 thresholds failed:\n${k6.log.slice(-3000)}`);
    const m = k6.summary.metrics;
    // 12 s at 0.5 s parts: a viewer that kept up downloaded about 24 parts.
    assert.ok((m.hls_parts?.count ?? 0) >= 8 * 10, `parts downloaded: ${m.hls_parts?.count}`);
    assert.ok((m.hls_ll_blocking_reload_time?.med ?? Infinity) < 2000, `blocking reloads are held about a part target: ${JSON.stringify(m.hls_ll_blocking_reload_time)}`);
    assert.ok((m.hls_ll_rendition_reports?.count ?? 0) > 0, 'the playlists carry rendition reports');
    assert.ok((m.hls_ll_rendition_report_lag?.max ?? Infinity) <= 1, `rendition reports within a segment: ${JSON.stringify(m.hls_ll_rendition_report_lag)}`);
    for (const e of samples.coalescing) assert.ok(e.worst <= 1, `${e.edge}: a part was fetched upstream ${e.worst} times: ${JSON.stringify(e)}`);
    passed = true;
  } finally {
    await stack.stop();
    writeFileSync(join(dir, 'stack.log'), log.join('\n') + '\n');
    if (passed) rmSync(join(dir, 'k6.json'), { force: true });
  }
});
