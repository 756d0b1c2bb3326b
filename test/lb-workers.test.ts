// `cascade lb --workers 2`: one port served by two processes that make the same choice, /metrics summed
// over the workers, SIGTERM stopping every worker.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'undici';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';

const EDGES = ['e1=http://127.0.0.1:9101@100', 'e2=http://127.0.0.1:9102@50', 'e3=http://127.0.0.1:9103@150'];

describe('lb --workers 2', () => {
  let child: Child;
  let base: string;
  before(async () => {
    const port = await freePort();
    child = startChild(process.execPath, [...CLI, 'lb', '--workers', '2', '--port', String(port), '--health-interval', '0', '--trust-proxy',
      ...EDGES.flatMap((e) => ['--edge', e])]);
    base = (await child.waitFor(/listening on (\S+) \(2 workers\)/, 60_000))[1]!;
  });
  after(async () => { await child.kill('SIGKILL'); });

  it('every connection, whichever worker takes it, gets the same edge for the same client; /metrics counts all', async () => {
    const clients = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`);
    const locations = new Map<string, Set<string>>();
    // A new connection per request (Connection: close), so the kernel spreads them over both workers.
    for (let round = 0; round < 3; round++) {
      for (const client of clients) {
        const res = await request(`${base}/hls/demo/720p/seg-1.ts`, { headers: { 'x-forwarded-for': client, connection: 'close' } });
        await res.body.dump();
        assert.equal(res.statusCode, 302);
        const set = locations.get(client) ?? new Set<string>();
        set.add(String(res.headers.location));
        locations.set(client, set);
      }
    }
    assert.ok([...locations.values()].every((s) => s.size === 1), 'one edge per client');
    assert.ok(new Set([...locations.values()].map((s) => [...s][0])).size > 1, 'clients spread over the edges');
    const page = await (await request(`${base}/metrics`)).body.text();
    assert.match(page, new RegExp(`cascade_lb_requests_total\\{outcome="redirect"[^}]*\\} ${clients.length * 3}\\n`));
    // State every worker holds alike is not summed: e1's weight is 100, not 100 per worker.
    assert.match(page, /cascade_lb_edge_weight\{edge="e1"[^}]*\} 100\n/);
    assert.match(page, /cascade_lb_edge_healthy\{edge="e1"[^}]*\} 1\n/);
  });

  const workerPids = (): number[] => {
    try {
      return execFileSync('pgrep', ['-P', String(child.pid), '-f', 'main.ts lb'], { encoding: 'utf8' }).trim().split('\n').map(Number);
    } catch {
      return []; // pgrep exits 1 when nothing matches
    }
  };

  it('a worker that dies is started again, and the port keeps answering meanwhile', async () => {
    const [victim, survivor] = workerPids();
    assert.ok(victim && survivor);
    process.kill(victim, 'SIGKILL');
    await child.waitFor(/"event":"worker_exited"/, 10_000);
    const deadline = Date.now() + 30_000;
    while (!(workerPids().length === 2 && !workerPids().includes(victim))) {
      const res = await request(`${base}/hls/demo/index.m3u8`, { headers: { connection: 'close' } });
      await res.body.dump();
      assert.equal(res.statusCode, 302, 'the surviving worker answers');
      assert.ok(Date.now() < deadline, 'a new worker within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(workerPids().includes(survivor));
  });

  it('SIGTERM: every worker stops, the command exits 0', async () => {
    const workers = workerPids();
    assert.equal(workers.length, 2);
    assert.equal(await child.kill('SIGTERM', 15_000), 0);
    assert.deepEqual(workers.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } }), []);
  });
});
