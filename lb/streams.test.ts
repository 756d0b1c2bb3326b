// The LB's stream directory: one origin read per ttl however many ask, the next origin when one fails,
// the last good list (marked down) when all fail, and no oversized or malformed answer taken.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { STREAM_DIRECTORY_DEFAULTS, StreamDirectory, viewersByStream } from './streams.js';

const servers: Server[] = [];
after(() => { for (const s of servers) { s.closeAllConnections(); s.close(); } });

const LIVE = { name: 'demo', state: 'live', restarts: 0, masters: ['index.m3u8'], renditions: [] };

async function origin(answer: () => { status: number; body: string }): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    const { status, body } = answer();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

test('one read per ttl for any number of callers; presence from it', async () => {
  const o = await origin(() => ({ status: 200, body: JSON.stringify({ streams: [LIVE] }) }));
  let now = 0;
  const dir = new StreamDirectory([o.url], undefined, STREAM_DIRECTORY_DEFAULTS, () => now);
  const views = await Promise.all(Array.from({ length: 20 }, () => dir.current()));
  assert.equal(o.hits(), 1);
  assert.ok(views.every((v) => v.origin === 'up' && v.streams[0]?.name === 'demo'));
  assert.deepEqual(await Promise.all(['demo', 'other'].map((n) => dir.presence(n))), ['live', 'absent']);
  assert.equal(o.hits(), 1);
  now += STREAM_DIRECTORY_DEFAULTS.ttlMs;
  await dir.current();
  assert.equal(o.hits(), 2);
  assert.equal((await new StreamDirectory([]).current()).origin, 'off');
  assert.equal(await new StreamDirectory([]).presence('demo'), 'unknown');
});

test('a failing origin: the next one answers; all failing: the last list, marked down, and presence unknown', async () => {
  let good = true;
  const broken = await origin(() => ({ status: 500, body: 'no' }));
  const flaky = await origin(() => (good ? { status: 200, body: JSON.stringify({ streams: [LIVE] }) } : { status: 200, body: '{"streams":' }));
  let now = 0;
  const dir = new StreamDirectory([broken.url, flaky.url], undefined, STREAM_DIRECTORY_DEFAULTS, () => now);
  assert.equal((await dir.current()).origin, 'up');
  good = false;
  now += 5000;
  const down = await dir.current();
  assert.equal(down.origin, 'down');
  assert.equal(down.streams[0]?.name, 'demo', 'the last good list');
  assert.equal(await dir.presence('demo'), 'unknown');
  assert.equal(broken.hits(), 2);
});

test('an answer over the size bound is not read to its end nor taken', async () => {
  const huge = await origin(() => ({ status: 200, body: JSON.stringify({ streams: [LIVE], pad: 'x'.repeat(200_000) }) }));
  const dir = new StreamDirectory([huge.url], undefined, { ...STREAM_DIRECTORY_DEFAULTS, maxBytes: 100_000 });
  assert.equal((await dir.current()).origin, 'down');
});

test('viewers per stream add up over the edges\' reports; none without reports', () => {
  assert.equal(viewersByStream(new Map()), null);
  assert.deepEqual([...viewersByStream(new Map<string, { streams: Record<string, number> }>([['e1', { streams: { a: 2, b: 1 } }], ['e2', { streams: { a: 3 } }]]))!], [['a', 5], ['b', 1]]);
});
