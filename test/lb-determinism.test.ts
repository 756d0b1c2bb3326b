// Every LB process with the same edges and weights makes the same choice: an LB in this process and one
// started as `cascade lb` in a child process answer 10,000 clients identically.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { clientKeys, weightShares } from '../lb/selector-eval.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';
import { edgeOf, mapLimit, startLb, type RunningLb } from './helpers/lb-harness.js';

// Nothing listens at these URLs: with checks off the LB never contacts its edges.
const edges = [
  { id: 'alpha', url: 'http://127.0.0.1:9/a', weight: 100 },
  { id: 'beta', url: 'http://127.0.0.1:9/b', weight: 50 },
  { id: 'gamma', url: 'http://127.0.0.1:9/c', weight: 150 },
];
let inProcess: RunningLb;
let child: Child;
let childUrl: string;
const agent = new Agent({ connections: 16 });

before(async () => {
  inProcess = await startLb({ edges, trustProxyHops: 1, health: { intervalMs: 0 } });
  const port = await freePort();
  child = startChild(process.execPath, [...CLI, 'lb', '--port', String(port), '--trust-proxy', '--health-interval', '0',
    ...edges.flatMap((e) => ['--edge', `${e.id}=${e.url}@${e.weight}`])]);
  childUrl = (await child.waitFor(/listening on (http:\S+)/, 30_000))[1]!;
});
after(async () => {
  await child?.kill();
  await inProcess?.close();
  await agent.close();
});

async function choices(lbUrl: string, keys: readonly string[]): Promise<(string | undefined)[]> {
  return mapLimit(keys, 16, async (key) => {
    const res = await request(`${lbUrl}/hls/demo/index.m3u8`, { headers: { 'X-Forwarded-For': key }, dispatcher: agent });
    await res.body.dump();
    assert.equal(res.statusCode, 302);
    return edgeOf(res.headers.location as string, edges);
  });
}

test('two LB processes agree on all of 10,000 clients, in proportion to the weights', async () => {
  const keys = clientKeys(10_000);
  const [a, b] = await Promise.all([choices(inProcess.url, keys), choices(childUrl, keys)]);
  const disagree = keys.filter((_, i) => a[i] !== b[i]);
  assert.equal(disagree.length, 0, `disagree on ${disagree.slice(0, 5).join(', ')}`);
  const expected = weightShares(Object.fromEntries(edges.map((e) => [e.id, e.weight])));
  for (const [id, share] of expected) {
    const observed = a.filter((x) => x === id).length / keys.length;
    assert.ok(Math.abs(observed - share) / share <= 0.05, `${id}: ${observed} vs ${share}`);
  }
});
