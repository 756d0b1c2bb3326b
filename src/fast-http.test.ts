// The raw-socket fast path against Node's own server behind it: pipelined, split and malformed requests,
// hand-over mid-connection, Connection: close, graceful close. The fast answer says "fast" for /fast,
// the app behind it says "slow" for everything, so each response tells which path made it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { Hono } from 'hono';
import { ResponseHead, writeFast, type FastAnswer } from './fast-http.js';
import { listen, type Listening } from './serve.js';

const HEAD = new ResponseHead(200, 'OK', ['content-type', 'text/plain', 'content-length', '4', 'x-path', 'fast']);
const answer: FastAnswer = (req) => {
  if (req.target !== '/fast') return false;
  writeFast(req, HEAD.at(Date.now()), Buffer.from('fast'));
  return true;
};

const app = new Hono();
app.all('*', (c) => c.text('slow', 200, { 'x-path': 'slow' }));

/** Sends `chunks` one write each, reads until the server closes or `expect` responses arrived; returns what came back. */
function exchange(port: number, chunks: (string | Buffer)[], expect: number): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    const timer = setTimeout(() => { done = true; socket.destroy(); reject(new Error(`timed out; got:\n${text}`)); }, 10_000);
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if ((text.match(/HTTP\/1\.1 /g) ?? []).length >= expect && bodiesComplete(text)) setImmediate(() => finish(false));
    });
    socket.on('end', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setImmediate(r));
      }
    });
  });
}

/** Every response in `text` has its whole Content-Length body. */
function bodiesComplete(text: string): boolean {
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) return false;
    const length = Number(/content-length: (\d+)/i.exec(text.slice(at, end))?.[1] ?? 0);
    at = end + 4 + length;
    if (at > text.length) return false;
  }
  return true;
}

function paths(text: string): string[] {
  return [...text.matchAll(/x-path: (\w+)/gi)].map((m) => m[1]!);
}

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;

describe('fast path in front of Node', () => {
  let server: Listening;
  before(async () => { server = await listen(app, { port: 0, host: '127.0.0.1', fastPath: answer }); });
  after(async () => { await server.close(500); });

  it('answers plain requests itself and hands the rest, with everything after, to Node in order', async () => {
    const { text } = await exchange(server.port, [get('/fast') + get('/fast') + get('/other') + get('/fast')], 4);
    assert.deepEqual(paths(text), ['fast', 'fast', 'slow', 'slow'], 'once handed over, the connection stays with Node');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(text, /\r\ndate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    assert.match(text, /\r\nconnection: keep-alive\r\nkeep-alive: timeout=65\r\n\r\nfast/);
  });

  it('is not plain: conditionals, ranges, bodies, HTTP/1.0, other methods, no Host, odd Connection', async () => {
    const cases = [
      get('/fast', 'If-None-Match: "x"\r\n'), get('/fast', 'Range: bytes=0-1\r\n'), get('/fast', 'If-Modified-Since: Mon, 30 Nov 2026 00:00:00 GMT\r\n'),
      'GET /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab', 'GET /fast HTTP/1.0\r\nHost: x\r\n\r\n', 'POST /fast HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      get('/fast', 'Connection: upgrade\r\nUpgrade: websocket\r\n'),
    ];
    for (const c of cases) {
      const { text } = await exchange(server.port, [c], 1);
      assert.deepEqual(paths(text), ['slow'], JSON.stringify(c));
    }
    const noHost = await exchange(server.port, ['GET /fast HTTP/1.1\r\n\r\n'], 1);
    assert.match(noHost.text, /^HTTP\/1\.1 400 /, 'Node refuses what it refuses');
  });

  it('malformed heads are Node\'s to refuse, never answered here', async () => {
    for (const bad of ['GET /fast HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 'GET /fast HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n', 'GET /fast HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n']) {
      const { text } = await exchange(server.port, [bad], 1);
      assert.doesNotMatch(text, /x-path: fast/i, JSON.stringify(bad));
    }
  });

  it('Connection: close: the answer, then the server closes', async () => {
    const r = await exchange(server.port, [get('/fast', 'Connection: close\r\n')], 99);
    assert.deepEqual(paths(r.text), ['fast']);
    assert.match(r.text, /\r\nconnection: close\r\n\r\nfast$/);
    assert.equal(r.closedByServer, true);
  });

  it('property: any split of a pipelined mix gives every response, in order, each from the right path', async () => {
    const request = fc.oneof(fc.constant(get('/fast')), fc.constant(get('/slow')), fc.constant(get('/fast', 'Accept: */*\r\nX-Forwarded-For: 1.2.3.4\r\n')));
    await fc.assert(fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), async (reqs, cuts) => {
      const bytes = Buffer.from(reqs.join(''), 'latin1');
      const chunks: Buffer[] = [];
      let at = 0;
      for (const n of cuts) {
        if (at >= bytes.length) break;
        chunks.push(bytes.subarray(at, at + n));
        at += n;
      }
      if (at < bytes.length) chunks.push(bytes.subarray(at));
      const { text } = await exchange(server.port, chunks, reqs.length);
      const firstSlow = reqs.findIndex((r) => r.startsWith('GET /slow'));
      const expected = reqs.map((r, i) => (firstSlow !== -1 && i >= firstSlow) || r.startsWith('GET /slow') ? 'slow' : 'fast');
      assert.deepEqual(paths(text), expected);
    }), { numRuns: 40 });
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
});
