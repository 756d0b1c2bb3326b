// The raw-socket fast path against Node's own server behind it: pipelined, split and malformed requests,
// declined requests served by Node on the connection's virtual twin (and the connection coming back),
// hand-over for good, Connection: close, aborts, backpressure, graceful close. The fast answer says
// "fast" for /fast (and "fast-a" for /fast-a, ...); the app behind it answers with the path's name, `x-path: slow`, so each response
// tells which path made it.
import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { getConnInfo } from '@hono/node-server/conninfo';
import fc from 'fast-check';
import { Hono } from 'hono';
import { parseResponses, RawConnection, type RawResponse } from '../test/helpers/raw-http.js';
import { ResponseHead, writeFast, type FastAnswer } from './fast-http.js';
import { listen, type Listening } from './serve.js';

/** /fast and /fast-<x> are the fast path's, answered with their name as the app would (so a request answered as another one shows). */
const FAST_TARGETS = ['/fast', '/fast-a', '/fast-b'];
const HEADS = new Map(FAST_TARGETS.map((t) => [t, new ResponseHead(200, 'OK', ['content-type', 'text/plain', 'content-length', String(t.length - 1), 'x-path', 'fast'])]));
/** The same body each time, as a cache entry's: its whole response is then made once and written again. */
const BODIES = new Map(FAST_TARGETS.map((t) => [t, Buffer.from(t.slice(1))]));
/** How many requests the fast path answered. */
let answered = 0;
/** /size/<n>: n bytes of "x", on both sides of writeFast's copying threshold. */
const SIZED = /^\/size\/(\d+)$/;
const answer: FastAnswer = (req) => {
  const sized = SIZED.exec(req.target);
  if (sized) {
    const n = Number(sized[1]);
    answered++;
    writeFast(req, new ResponseHead(200, 'OK', ['content-type', 'text/plain', 'content-length', String(n), 'x-path', 'fast']), Date.now(), Buffer.alloc(n, 'x'));
    return true;
  }
  const head = HEADS.get(req.target);
  if (!head) return false;
  answered++;
  writeFast(req, head, Date.now(), BODIES.get(req.target)!);
  return true;
};

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

/** The /hold request of the current test: entered by the app, released by the test, or aborted by the client. */
let hold = { entered: deferred(), release: deferred(), aborted: deferred() };
const newHold = () => (hold = { entered: deferred(), release: deferred(), aborted: deferred() });
/** Bytes of /big the app made so far. */
let produced = 0;
const BIG = 1024 * 1024 * 1024;

const app = new Hono();
app.get('/peer', (c) => {
  const { remote } = getConnInfo(c);
  return c.text(`${remote.address} ${remote.port} ${remote.addressType}`, 200, { 'x-path': 'slow' });
});
app.get('/hold', async (c) => {
  const h = hold;
  h.entered.resolve();
  const { signal } = c.req.raw;
  await Promise.race([h.release.promise, new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))]);
  if (signal.aborted) h.aborted.resolve();
  return c.text('held', 200, { 'x-path': 'slow' });
});
// The body fails after its first 100 bytes (an upstream cut): with a Content-Length of 1000, or chunked.
app.get('/abort', (c) => {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (!sent) {
        sent = true;
        return ctl.enqueue(new TextEncoder().encode('x'.repeat(100)));
      }
      await sleep(20);
      ctl.error(new Error('upstream cut'));
    },
  });
  return new Response(body, { headers: { 'x-path': 'slow', ...(c.req.query('chunked') === undefined ? { 'content-length': '1000' } : {}) } });
});
// 1 GiB (or ?size) made as it is read: how much was made tells how much waits in buffers.
app.get('/big', (c) => {
  produced = 0;
  const size = Number(c.req.query('size') ?? BIG);
  const chunk = new Uint8Array(64 * 1024);
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (produced >= size) return ctl.close();
      const next = chunk.subarray(0, Math.min(chunk.length, size - produced));
      produced += next.length;
      ctl.enqueue(next);
    },
  });
  return new Response(body, { headers: { 'content-length': String(size), 'x-path': 'slow' } });
});
app.get('/size/:n', (c) => c.text('x'.repeat(Number(c.req.param('n'))), 200, { 'x-path': 'slow' }));
app.all('*', (c) => c.text(c.req.path.slice(1), 200, { 'x-path': 'slow' }));

/** Sends `chunks` one write each (a turn apart); resolves with the first `expect` responses. */
async function exchange(port: number, chunks: (string | Buffer)[], expect: number): Promise<RawResponse[]> {
  const conn = new RawConnection(port);
  try {
    await conn.connected;
    for (const c of chunks) {
      conn.write(c);
      await new Promise((r) => setImmediate(r));
    }
    return (await conn.responses(expect)).slice(0, expect);
  } finally {
    conn.destroy();
  }
}

/** Sends each request once the response to the one before has arrived. */
async function oneByOne(port: number, requests: string[]): Promise<RawResponse[]> {
  const conn = new RawConnection(port);
  try {
    await conn.connected;
    for (let i = 0; i < requests.length; i++) {
      conn.write(requests[i]!);
      await conn.responses(i + 1);
    }
    return await conn.responses(requests.length);
  } finally {
    conn.destroy();
  }
}

const paths = (responses: RawResponse[]): string[] => responses.map((r) => r.headers['x-path'] ?? '');

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const NOT_PLAIN = get('/fast', 'If-None-Match: "x"\r\n');

describe('fast path in front of Node', () => {
  let server: Listening;
  /** The same app without the fast path: what every response must look like. */
  let plain: Listening;
  before(async () => {
    server = await listen(app, { port: 0, host: '127.0.0.1', fastPath: answer });
    plain = await listen(app, { port: 0, host: '127.0.0.1' });
  });
  after(async () => { await server.close(500); await plain.close(500); });

  it('a declined request goes to Node and the app; the requests after it come back to the fast path, on one socket', async () => {
    for (const pipelined of [false, true]) {
      const before = answered;
      const requests = [get('/fast'), get('/slow'), get('/fast'), get('/fast')];
      const responses = pipelined ? await exchange(server.port, [requests.join('')], 4) : await oneByOne(server.port, requests);
      assert.deepEqual(paths(responses), ['fast', 'slow', 'fast', 'fast'], pipelined ? 'pipelined' : 'one by one');
      assert.deepEqual(responses.map((r) => r.body), ['fast', 'slow', 'fast', 'fast']);
      assert.equal(answered - before, 3, 'the hits after the miss were the fast path\'s');
      assert.equal(responses[1]!.headers.connection, 'keep-alive');
    }
  });

  it('a request that is not plain hands the connection, with everything after, to Node for good', async () => {
    const responses = await exchange(server.port, [get('/fast') + get('/fast') + NOT_PLAIN + get('/fast')], 4);
    assert.deepEqual(paths(responses), ['fast', 'fast', 'slow', 'slow'], 'once handed over, the connection stays with Node');
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write(get('/fast')));
      socket.once('data', (d) => { socket.destroy(); resolve(d.toString('latin1')); }).once('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    assert.match(raw, /\r\nconnection: keep-alive\r\nkeep-alive: timeout=65\r\n\r\nfast/);
  });

  it('a connection that declines most of its requests is handed to Node for good; one that declines some is not', async () => {
    const before = answered;
    const mostly = await exchange(server.port, [[...Array(20).fill(get('/slow')), get('/fast')].join('')], 21);
    assert.equal(paths(mostly).at(-1), 'slow', 'after 16 declined and none answered, the hit is Node\'s');
    const mixed = await exchange(server.port, [Array(30).fill(get('/fast') + get('/slow')).join('')], 60);
    assert.deepEqual(paths(mixed), Array(30).fill(['fast', 'slow']).flat());
    assert.equal(answered - before, 30);
  });

  it('the declined request sees the peer\'s address and port', async () => {
    const conn = new RawConnection(server.port);
    await conn.connected;
    conn.write(get('/fast') + get('/peer'));
    const [hit, peer] = await conn.responses(2);
    assert.equal(hit!.headers['x-path'], 'fast');
    assert.equal(peer!.body, `127.0.0.1 ${conn.socket.localPort} IPv4`);
    conn.destroy();
  });

  it('a declined response whose body fails is cut: the client never sees it complete', async () => {
    const quiet = console.error; // @hono/node-server logs the body's error
    console.error = () => undefined;
    try {
      for (const target of ['/abort', '/abort?chunked']) {
        const conn = new RawConnection(server.port);
        conn.write(get('/fast') + get(target) + get('/fast'));
        await conn.closed;
        const { responses, partial } = parseResponses(conn.bytes);
        assert.deepEqual(paths(responses), ['fast'], target);
        assert.match(partial.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/, `${target}: its head and part of its body came`);
        assert.match(partial.toString('latin1'), /x{100}/);
        if (target === '/abort') assert.ok(partial.length - partial.indexOf('\r\n\r\n') - 4 < 1000);
        else assert.doesNotMatch(partial.toString('latin1'), /\r\n0\r\n\r\n/, 'no last chunk');
      }
    } finally {
      console.error = quiet;
    }
  });

  it('the client leaving (FIN or reset) while its declined request is held aborts the app\'s request', async () => {
    for (const leave of ['end', 'destroy'] as const) {
      newHold();
      const conn = new RawConnection(server.port);
      conn.write(get('/fast') + get('/hold'));
      await conn.responses(1);
      await hold.entered.promise;
      conn.socket[leave]();
      await hold.aborted.promise; // the test times out if it never comes
      await conn.closed;
    }
  });

  it('Connection: close on a declined request: the response says close, the socket is ended after it', async () => {
    const before = answered;
    const conn = new RawConnection(server.port);
    conn.write(get('/slow', 'Connection: close\r\n') + get('/fast'));
    await conn.closed;
    const { responses, partial } = parseResponses(conn.bytes);
    assert.deepEqual(responses.map((r) => [r.body, r.headers.connection]), [['slow', 'close']]);
    assert.equal(partial.length, 0);
    assert.equal(conn.endedByServer, true);
    assert.equal(answered, before, 'nothing after it is answered');
  });

  it('a large declined response to a client that does not read stays bounded in memory', async () => {
    const before = answered;
    const conn = new RawConnection(server.port);
    await conn.connected;
    conn.socket.pause();
    conn.write(get('/fast') + get('/big'));
    try {
      let last = -1;
      for (let i = 0; i < 50 && (produced !== last || produced === 0); i++) {
        last = produced;
        await sleep(200);
      }
      assert.equal(answered - before, 1);
      assert.ok(produced > 0 && produced < 64 * 1024 * 1024, `the app made ${produced} bytes of a 1 GiB body nobody read`);
    } finally {
      conn.destroy();
    }
  });

  it('a hit pipelined behind a large declined response waits for all of it', async () => {
    const size = 16 * 1024 * 1024;
    const conn = new RawConnection(server.port);
    await conn.connected;
    conn.socket.pause(); // the declined response backs up to the app while the hit after it is already read
    conn.write(get('/fast') + get(`/big?size=${size}`) + get('/fast'));
    await sleep(300);
    conn.socket.resume();
    const responses = await conn.responses(3, 60_000);
    assert.deepEqual(paths(responses), ['fast', 'slow', 'fast']);
    assert.equal(responses[1]!.body.length, size);
    assert.equal(parseResponses(conn.bytes).partial.length, 0);
    conn.destroy();
  });

  it('property: random hits, declined and non-plain requests, one by one or pipelined and split anywhere, answer as without the fast path', async () => {
    // Several hit heads, repeated in any order: a repeated head reuses its remembered request (the last two).
    const kinds = {
      hit: get('/fast'), hitA: get('/fast-a'), hitB: get('/fast-b'), hitWithFields: get('/fast', 'Accept: */*\r\n'),
      declined: get('/slow'), declinedWithFields: get('/other', 'Accept: */*\r\nX-Forwarded-For: 1.2.3.4\r\n'), notPlain: NOT_PLAIN,
    } as const;
    const kind = fc.constantFrom(...(Object.keys(kinds) as (keyof typeof kinds)[]));
    await fc.assert(fc.asyncProperty(fc.array(kind, { minLength: 1, maxLength: 12 }), fc.boolean(), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 8 }), async (sequence, pipelined, cuts) => {
      const requests = sequence.map((k) => kinds[k]);
      const send = async (port: number): Promise<RawResponse[]> => {
        if (!pipelined) return oneByOne(port, requests);
        const bytes = Buffer.from(requests.join(''), 'latin1');
        const chunks: Buffer[] = [];
        let at = 0;
        for (const n of cuts) {
          if (at >= bytes.length) break;
          chunks.push(bytes.subarray(at, at + n));
          at += n;
        }
        if (at < bytes.length) chunks.push(bytes.subarray(at));
        return exchange(port, chunks, requests.length);
      };
      const before = answered;
      const fast = await send(server.port);
      const fastAnswers = answered - before;
      const node = await send(plain.port);
      assert.deepEqual(fast.map((r) => [r.status, r.body]), node.map((r) => [r.status, r.body]));
      const handedOver = sequence.indexOf('notPlain');
      const expected = sequence.map((k, i) => (k.startsWith('hit') && (handedOver === -1 || i < handedOver) ? 'fast' : 'slow'));
      assert.deepEqual(paths(fast), expected);
      assert.equal(fastAnswers, expected.filter((p) => p === 'fast').length);
    }), { numRuns: 60 });
  });

  it('is not plain: conditionals, ranges, bodies, HTTP/1.0, other methods, no Host, odd Connection', async () => {
    const cases = [
      get('/fast', 'If-None-Match: "x"\r\n'), get('/fast', 'Range: bytes=0-1\r\n'), get('/fast', 'If-Modified-Since: Mon, 30 Nov 2026 00:00:00 GMT\r\n'),
      'GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab', 'GET /fast HTTP/1.0\r\nHost: x\r\n\r\n', 'POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      get('/fast', 'Connection: upgrade\r\nUpgrade: websocket\r\n'),
    ];
    for (const c of cases) assert.deepEqual(paths(await exchange(server.port, [c], 1)), ['slow'], JSON.stringify(c));
    const [noHost] = await exchange(server.port, ['GET /fast HTTP/1.1\r\n\r\n'], 1);
    assert.equal(noHost!.status, 400, 'Node refuses what it refuses');
  });

  it('malformed heads are Node\'s to refuse, never answered here', async () => {
    for (const bad of ['GET /fast HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 'GET /fast HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', 'GET /fast HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n']) {
      const [response] = await exchange(server.port, [bad], 1);
      assert.notEqual(response!.headers['x-path'], 'fast', JSON.stringify(bad));
    }
  });

  it('bodies on both sides of the copying threshold arrive whole and in order, pipelined; a small one with Connection: close too', async () => {
    const sizes = [1, 100, 16_383, 16_384, 16_385, 200_000, 1_048_576, 1_048_577, 7];
    const responses = await exchange(server.port, [sizes.map((n) => get(`/size/${n}`)).join('')], sizes.length);
    assert.deepEqual(paths(responses), sizes.map(() => 'fast'));
    assert.deepEqual(responses.map((r) => [r.headers['content-length'], r.body]), sizes.map((n) => [String(n), 'x'.repeat(n)]));
    const conn = new RawConnection(server.port);
    conn.write(get('/size/5', 'Connection: close\r\n'));
    await conn.closed;
    assert.match(conn.bytes.toString('latin1'), /\r\nx-path: fast\r\n[^]*\r\nconnection: close\r\n\r\nxxxxx$/);
  });

  it('GET, HEAD and GET again of one small body, pipelined: the HEAD goes without it, the GETs with it, each whole', async () => {
    const conn = new RawConnection(server.port);
    conn.write([get('/fast-a'), 'HEAD /fast-a HTTP/1.1\r\nHost: x\r\n\r\n', get('/fast-a'), get('/fast-b'), get('/fast-a', 'Connection: close\r\n')].join(''));
    await conn.closed;
    const answers = conn.bytes.toString('latin1').split('HTTP/1.1 200 OK\r\n').slice(1);
    assert.equal(answers.length, 5);
    assert.ok(answers.every((a) => a.includes('\r\nx-path: fast\r\n')));
    assert.deepEqual(answers.map((a) => a.slice(a.indexOf('\r\n\r\n') + 4)), ['fast-a', '', 'fast-a', 'fast-b', 'fast-a']);
    assert.match(answers[4]!, /\r\nconnection: close\r\n\r\nfast-a$/);
  });

  it('Connection: close: the answer, then the server closes', async () => {
    const conn = new RawConnection(server.port);
    conn.write(get('/fast', 'Connection: close\r\n'));
    await conn.closed;
    assert.match(conn.bytes.toString('latin1'), /\r\nconnection: close\r\n\r\nfast$/);
    assert.equal(conn.endedByServer, true);
  });

  it('an idle connection is closed after the keep-alive timeout, a head dribbled in after the headers timeout', async () => {
    const own = await listen(app, { port: 0, host: '127.0.0.1', fastPath: answer, keepAliveTimeout: 1000 });
    (own.server as Server).headersTimeout = 1000; // plain HTTP: the fast path never runs on the TLS server
    try {
      const closedWithin = async (send: (socket: Socket) => void): Promise<number> => {
        const socket = connect(own.port, '127.0.0.1');
        const started = Date.now();
        const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - started)));
        socket.on('error', () => undefined);
        socket.on('data', () => undefined);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        send(socket);
        return closed;
      };
      assert.ok(await closedWithin((s) => s.write(get('/fast'))) < 8_000, 'idle after an answer');
      let dribble: NodeJS.Timeout | undefined;
      const head = get('/fast');
      let i = 0;
      const ms = await closedWithin((s) => { dribble = setInterval(() => { if (i < head.length - 1) s.write(head[i++]!); }, 300); });
      clearInterval(dribble);
      assert.ok(ms < 6_000 && i < head.length - 1, `cut while its head was still arriving (${ms} ms, ${i} bytes)`);
      // A declined request held past the keep-alive timeout (a blocking playlist reload) is not idle.
      newHold();
      const conn = new RawConnection(own.port);
      conn.write(get('/fast') + get('/hold') + get('/fast'));
      await hold.entered.promise;
      await sleep(3_500);
      assert.equal(conn.socket.destroyed, false, 'cut while its request was held');
      hold.release.resolve();
      assert.deepEqual(paths(await conn.responses(3)), ['fast', 'slow', 'fast']);
      conn.destroy();
    } finally {
      await own.close(500);
    }
  });

  it('a graceful close ends the connections it holds', async () => {
    const own = await listen(app, { port: 0, host: '127.0.0.1', fastPath: answer });
    const socket = connect(own.port, '127.0.0.1');
    const ended = new Promise<void>((r) => socket.once('end', () => r()));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(get('/fast'));
    await new Promise((r) => socket.once('data', r));
    await own.close(5_000);
    await ended;
    socket.destroy();
  });

  it('a graceful close lets a declined request in flight finish, then ends its connection', async () => {
    const own = await listen(app, { port: 0, host: '127.0.0.1', fastPath: answer });
    newHold();
    const conn = new RawConnection(own.port);
    conn.write(get('/fast') + get('/hold'));
    await hold.entered.promise;
    const closing = own.close(10_000);
    await sleep(100); // the close has begun (and ended what was idle) before the response
    hold.release.resolve();
    await closing;
    await conn.closed;
    assert.deepEqual(parseResponses(conn.bytes).responses.map((r) => r.body), ['fast', 'held']);
    assert.equal(conn.endedByServer, true);
  });
});

describe('ResponseHead: a body\'s whole response, made once', () => {
  const MiB = 1024 * 1024;
  const TAIL = 'connection: keep-alive\r\n\r\n';
  /** What with() must return: the head as the fields say it, the Date of `now`, the tail, the body. */
  const expected = (n: number, now: number, tail: string, body: Buffer) => Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\nx-n: ${n}\r\ndate: ${new Date(Math.floor(now / 1000) * 1000).toUTCString()}\r\n${tail}`, 'latin1'), body]);
  // The Date field changes with the wall clock: a second boundary mid-test must not make a new head.
  before(() => mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 }));
  after(() => mock.timers.reset());

  it('a segment is copied behind its head once and written again; the copies held stay within 2 MiB, the least recently made dropped first', () => {
    const heads = Array.from({ length: 5 }, (_, i) => new ResponseHead(200, 'OK', ['x-n', String(i)]));
    const bodies = heads.map((_, i) => Buffer.alloc(700 * 1024, i));
    const now = Date.now();
    const made = heads.map((h, i) => h.with(now, TAIL, bodies[i]!));
    made.forEach((bytes, i) => assert.ok(bytes.equals(expected(i, now, TAIL, bodies[i]!))));
    assert.ok(ResponseHead.copiedBytes() <= 2 * MiB, `${ResponseHead.copiedBytes()} bytes held`);
    // Two copies of ~700 KiB fit, three do not: the last two are written again as they were made.
    for (const i of [3, 4]) assert.equal(heads[i]!.with(now, TAIL, bodies[i]!), made[i], `head ${i} kept`);
    // The others were dropped: made again, byte for byte the same.
    const again = heads[2]!.with(now, TAIL, bodies[2]!);
    assert.notEqual(again, made[2]);
    assert.ok(again.equals(made[2]!));
  });

  it('property: any mix of heads, bodies on both sides of the thresholds, tails and clock steps: always the exact bytes, never more than 2 MiB of copies held', () => {
    const bodies = [0, 10, 16 * 1024, 16 * 1024 + 1, 300 * 1024, MiB, MiB + 1].map((n, i) => Buffer.alloc(n, 97 + i));
    const tails = [TAIL, 'connection: close\r\n\r\n'];
    fc.assert(fc.property(
      fc.array(fc.record({ head: fc.nat(4), body: fc.nat(bodies.length - 1), tail: fc.nat(1), stepMs: fc.constantFrom(0, 0, 300, 1000) }), { minLength: 1, maxLength: 30 }),
      (ops) => {
        const heads = Array.from({ length: 5 }, (_, i) => new ResponseHead(200, 'OK', ['x-n', String(i)]));
        for (const op of ops) {
          mock.timers.tick(op.stepMs);
          const now = Date.now();
          const bytes = heads[op.head]!.with(now, tails[op.tail]!, bodies[op.body]!);
          assert.ok(bytes.equals(expected(op.head, now, tails[op.tail]!, bodies[op.body]!)));
          assert.ok(ResponseHead.copiedBytes() <= 2 * MiB, `${ResponseHead.copiedBytes()} bytes held`);
        }
      },
    ), { numRuns: 150 });
  });
});
