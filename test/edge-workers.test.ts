// `cascade edge --workers 2`: one port served by two processes, one origin fetch per object per host
// (edge/worker-shield.ts), /metrics summed over the workers, and SIGTERM stopping every worker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { ownerOf } from '../edge/worker-shield.js';
import { clientAgent, get } from './helpers/edge-client.js';
import { startFakeOrigin, type FakeOrigin } from './helpers/edge-fake-origin.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';

const PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:2.0,\nseg1.ts\n';
const SEGMENT = Buffer.alloc(300 * 1024, 5);
const CLIENTS = 200;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The sum of a counter's series with these label values in a Prometheus text page. */
function counterSum(page: string, name: string, labels: RegExp = /.*/): number {
  return page.split('\n').filter((l) => l.startsWith(name + '{') && labels.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

describe('edge --workers 2', () => {
  let origin: FakeOrigin;
  let child: Child;
  let base: string;
  before(async () => {
    origin = await startFakeOrigin();
    // Slow answers make a herd: every client asks while the one fetch is still running.
    origin.route('/hls/w/index.m3u8', { headers: { 'content-type': 'application/vnd.apple.mpegurl' }, body: PLAYLIST, delayMs: 300 });
    origin.route('/hls/w/seg1.ts', { headers: { 'content-type': 'video/mp2t' }, body: SEGMENT, delayMs: 300, splitAt: 1000 });
    const port = await freePort();
    child = startChild(process.execPath, [...CLI, 'edge', '--workers', '2', '--port', String(port), '--origin', origin.url, '--id', 'ew']);
    const m = await child.waitFor(/listening on (\S+) \(2 workers\)/, 60_000);
    base = m[1]!;
  });
  after(async () => {
    await child.kill('SIGKILL');
    await origin.close();
  });

  it('200 concurrent clients on both workers: exactly one origin fetch per object, every body whole', async () => {
    const agent = clientAgent(CLIENTS * 2);
    try {
      const paths = ['/hls/w/index.m3u8', '/hls/w/seg1.ts', '/hls/w/missing.ts'];
      const results = await Promise.all(paths.flatMap((p) => Array.from({ length: CLIENTS }, () => get(agent, base + p))));
      for (const [i, p] of paths.entries()) {
        const mine = results.slice(i * CLIENTS, (i + 1) * CLIENTS);
        assert.ok(mine.every((r) => r.complete), `${p}: every body complete`);
        assert.equal(new Set(mine.map((r) => `${r.status} ${r.sha}`)).size, 1, `${p}: everyone got the same answer`);
        assert.equal(origin.count(p), 1, `${p}: one origin fetch`);
      }
      assert.ok(results[0]!.body.equals(Buffer.from(PLAYLIST)));
      assert.ok(results[CLIENTS]!.body.equals(SEGMENT));
      assert.equal(results[2 * CLIENTS]!.status, 404);
      // /metrics, answered by either worker, sums both: every request counted, 3 origin fetches, and a miss
      // per object in each worker that saw it (the kernel spreads connections, so a worker may see none of
      // an object: 3 to 6 misses).
      const page = (await get(agent, base + '/metrics')).body.toString();
      const misses = counterSum(page, 'cascade_edge_requests_total', /result="(MISS|PASS)"/);
      assert.ok(misses >= 3 && misses <= 6, page.split('\n').filter((l) => l.includes('edge_requests_total')).join('\n'));
      assert.equal(counterSum(page, 'cascade_edge_requests_total'), 3 * CLIENTS);
      assert.equal(counterSum(page, 'cascade_edge_upstream_requests_total'), 3);
    } finally {
      await agent.close();
    }
  });

  it('SIGTERM: every worker stops, the command exits 0', async () => {
    const workers = execFileSync('pgrep', ['-P', String(child.pid), '-f', 'main.ts edge'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    assert.equal(workers.length, 2);
    assert.equal(await child.kill('SIGTERM', 15_000), 0);
    assert.deepEqual(workers.filter(alive), []);
  });
});

describe('ownerOf', () => {
  it('names one of the workers, the same one every time', () => {
    fc.assert(fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (path, count) => {
      const owner = ownerOf(path, count);
      assert.ok(Number.isInteger(owner) && owner >= 0 && owner < count);
      assert.equal(ownerOf(path, count), owner);
    }));
  });

  it('spreads segment names over the workers', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[ownerOf(`/hls/demo/720p/seg-${i}.ts`, 4)]!++;
    assert.ok(counts.every((n) => n > 800 && n < 1200), String(counts));
  });
});
