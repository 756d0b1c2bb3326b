// Upstream fault injection: origins that stall, cut the connection, lie about lengths, break chunked
// framing, send garbage heads, or fail and then recover. Whatever the origin does, for every client that
// shared the fetch: the same outcome; a body that is not whole is never framed as complete (the client
// sees a cut connection); nothing broken is stored (the next request fetches again); never a 500; done
// within a bounded time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rawGet, type RawResponse } from './helpers/edge-client.js';
import { startScriptedOrigin, type ScriptedOrigin, type Step } from './helpers/edge-fake-origin.js';
import { startTestEdge, type EdgeHarness } from './helpers/edge-harness.js';

// Above the time a loaded machine may take to bring every client into the flight (the scripts' gate):
// with 400 ms a burst's first fetch could time out before the last client joined, which then started a
// fetch of its own and saw another outcome (504 against 502).
const TIMEOUT_MS = 1500;
/** Generous: a stalled fetch ends after TIMEOUT_MS; the rest is a loaded 2-core machine. */
const BOUND_MS = TIMEOUT_MS + 4_000;
const CLIENTS = 6;
const BODY = Buffer.from('0123456789'.repeat(400));

const head = (status: number, fields: string[]) => `HTTP/1.1 ${status} X\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`;
const cl = (n: number) => `content-length: ${n}`;
const CHUNKED = 'transfer-encoding: chunked';
const chunk = (b: Buffer | string) => Buffer.concat([Buffer.from(`${Buffer.byteLength(b).toString(16)}\r\n`), Buffer.from(b), Buffer.from('\r\n')]);
const GOOD: Step[] = [{ write: head(200, [cl(4), 'cache-control: max-age=60']) + 'good' }];

type Expect = { kind: 'complete'; body: Buffer } | { kind: 'cut' } | { kind: 'error'; status: number[] };

/** `plays`: how many upstream requests get the broken script (then GOOD); that many are expected. */
const SCENARIOS: { name: string; script: Step[]; expect: Expect; plays?: number }[] = [
  { name: 'headers never come', script: [{ stall: true }], expect: { kind: 'error', status: [504] } },
  // The idle keep-alive race: the edge asks once more on another connection, and only then gives up.
  { name: 'connection closed before any byte, once: asked again', script: [{ end: true }], expect: { kind: 'complete', body: Buffer.from('good') }, plays: 1 },
  { name: 'connection closed before any byte, twice: 502', script: [{ end: true }], expect: { kind: 'error', status: [502] }, plays: 2 },
  { name: 'connection reset before any byte, twice: 502', script: [{ destroy: true }], expect: { kind: 'error', status: [502] }, plays: 2 },
  { name: 'body stops mid-way (Content-Length), connection kept open', script: [{ write: head(200, [cl(BODY.length)]) }, { write: BODY.subarray(0, 1500) }, { stall: true }], expect: { kind: 'cut' } },
  { name: 'body stops mid-way (chunked), connection kept open', script: [{ write: head(200, [CHUNKED]) }, { write: chunk(BODY.subarray(0, 1500)) }, { stall: true }], expect: { kind: 'cut' } },
  { name: 'connection reset mid-body (Content-Length)', script: [{ write: head(200, [cl(BODY.length)]) }, { write: BODY.subarray(0, 1500) }, { waitMs: 20 }, { destroy: true }], expect: { kind: 'cut' } },
  { name: 'connection reset mid-body (chunked)', script: [{ write: head(200, [CHUNKED]) }, { write: chunk(BODY.subarray(0, 1500)) }, { waitMs: 20 }, { destroy: true }], expect: { kind: 'cut' } },
  { name: 'Content-Length larger than the body, then a clean close', script: [{ write: head(200, [cl(BODY.length + 100)]) }, { write: BODY }, { end: true }], expect: { kind: 'cut' } },
  { name: 'chunked without the last chunk, then a clean close', script: [{ write: head(200, [CHUNKED]) }, { write: chunk(BODY) }, { end: true }], expect: { kind: 'cut' } },
  { name: 'chunked with a garbage chunk size', script: [{ write: head(200, [CHUNKED]) }, { write: chunk(BODY.subarray(0, 100)) }, { write: 'ZZ\r\nxx\r\n0\r\n\r\n' }, { stall: true }], expect: { kind: 'cut' } },
  { name: 'chunked with chunk data longer than its size', script: [{ write: head(200, [CHUNKED]) }, { write: `5\r\nhello-and-more\r\n0\r\n\r\n` }, { stall: true }], expect: { kind: 'cut' } },
  { name: 'garbage status line', script: [{ write: 'HELLO WORLD\r\n\r\n' }, { end: true }], expect: { kind: 'error', status: [502] } },
  { name: 'header line without a colon', script: [{ write: 'HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 2\r\n\r\nok' }, { stall: true }], expect: { kind: 'error', status: [502] } },
  { name: 'NUL in a header value', script: [{ write: 'HTTP/1.1 200 OK\r\nx-a: b\0c\r\ncontent-length: 2\r\n\r\nok' }, { stall: true }], expect: { kind: 'error', status: [502] } },
  { name: 'two different Content-Lengths', script: [{ write: head(200, [cl(2), cl(4)]) + 'okok' }, { stall: true }], expect: { kind: 'error', status: [502] } },
  { name: 'Content-Length and chunked together', script: [{ write: head(200, [cl(4), CHUNKED]) + chunk('okok') + '0\r\n\r\n' }, { stall: true }], expect: { kind: 'error', status: [502] } },
  { name: 'Content-Length smaller than the bytes sent: the framed body, nothing of the rest', script: [{ write: head(200, [cl(5), 'cache-control: max-age=60']) + 'helloGARBAGE HTTP/1.1 200 OK\r\n\r\n' }], expect: { kind: 'complete', body: Buffer.from('hello') } },
  { name: 'no framing at all: the body ends with the connection (RFC 9112 §6.3)', script: [{ write: head(200, []) }, { write: BODY }, { end: true }], expect: { kind: 'complete', body: BODY } },
];

/** A scripted origin and an edge in front of it. */
interface Rig { origin: ScriptedOrigin; h: EdgeHarness }

async function startRig(): Promise<Rig> {
  const origin = await startScriptedOrigin();
  const h = await startTestEdge({ origins: [origin.url], upstreamTimeoutMs: TIMEOUT_MS, originRetryMs: 0 });
  return { origin, h };
}

async function stopRig({ origin, h }: Rig): Promise<void> {
  await h.stop();
  await origin.close();
}

describe('edge: upstream faults', () => {
  let rig: Rig;
  let n = 0;
  before(async () => { rig = await startRig(); });
  after(() => stopRig(rig));

  /** Resolves once CLIENTS requests for `path` reached the edge: the origin answers only then. */
  function allArrived({ h }: Rig, path: string): Promise<void> {
    return new Promise((resolve) => {
      let seen = 0;
      const onRequest = (req: { url?: string }) => {
        if (req.url !== path || ++seen < CLIENTS) return;
        h.server.server.off('request', onRequest);
        resolve();
      };
      h.server.server.on('request', onRequest);
    });
  }

  /**
   * Resolves once CLIENTS requests for `path` joined the edge's fetch: having reached the server is not
   * enough, since on a loaded machine a request can take longer than the upstream timeout to get from
   * there to the flight, and would then start a fetch of its own.
   */
  async function allJoined(rig: Rig, path: string): Promise<void> {
    await allArrived(rig, path);
    const deadline = Date.now() + BOUND_MS;
    while (Date.now() < deadline && await clientsWaiting(rig) < CLIENTS) await new Promise((r) => setTimeout(r, 5));
  }

  async function clientsWaiting({ h }: Rig): Promise<number> {
    const { body } = await h.edge.metrics.render();
    return Number(/^cascade_edge_clients_waiting(?:\{[^}]*\})? (\d+)/m.exec(body)?.[1] ?? 0);
  }

  /**
   * CLIENTS concurrent GETs over their own connections, judged by their framing. The script's answer
   * waits until every client has arrived, so all of them share the one fetch however fast it fails.
   */
  async function burst(rig: Rig, path: string, script: Step[], plays = 1): Promise<{ results: RawResponse[]; ms: number }> {
    const { origin, h } = rig;
    origin.route(path, [{ gate: allJoined(rig, path) }, ...script], ...Array.from({ length: plays - 1 }, () => script), GOOD);
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: CLIENTS }, () => rawGet(h.url + path)));
    return { results, ms: performance.now() - started };
  }

  /** Same outcome for everyone, no 500, bounded time, and the expected class. */
  function check(results: RawResponse[], ms: number, expect: Expect, label: string): void {
    assert.ok(ms < BOUND_MS, `${label}: took ${Math.round(ms)} ms`);
    const first = results[0]!;
    for (const r of results) {
      assert.notEqual(r.status, 500, label);
      assert.deepEqual([r.status, r.complete, r.sha], [first.status, first.complete, first.sha], `${label}: every client the same outcome`);
    }
    if (expect.kind === 'cut') {
      assert.equal(first.status, 200, label);
      assert.equal(first.complete, false, `${label}: a body that is not whole must look cut`);
    } else if (expect.kind === 'error') {
      assert.ok(expect.status.includes(first.status), `${label}: status ${first.status}`);
      assert.equal(first.complete, true);
    } else {
      assert.equal(first.status, 200, label);
      assert.equal(first.complete, true, label);
      assert.ok(first.body.equals(expect.body), `${label}: body`);
    }
  }

  /** After a broken fetch nothing is stored: the next request goes upstream again and gets the good answer. */
  async function refetches({ origin, h }: Rig, path: string, label: string): Promise<void> {
    const before = origin.count(path);
    const r = await rawGet(h.url + path);
    assert.equal(origin.count(path), before + 1, `${label}: refetched`);
    assert.equal(r.status, 200, label);
    assert.equal(r.body.toString(), 'good', label);
    assert.equal(r.headers['x-cache'], 'MISS', label);
  }

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      const { origin, h } = rig;
      const path = `/hls/fault${++n}/seg.ts`;
      const { results, ms } = await burst(rig, path, s.script, s.plays);
      check(results, ms, s.expect, s.name);
      const closedFirst = s.plays !== undefined;
      assert.equal(origin.count(path), closedFirst ? s.plays! + (s.expect.kind === 'complete' ? 1 : 0) : 1, 'one upstream fetch for all clients');
      if (s.expect.kind !== 'complete') await refetches(rig, path, s.name);
      // Whatever the broken exchange left on a pooled connection must not leak into another response.
      const other = `/hls/fault${n}/other.ts`;
      origin.route(other, GOOD);
      const r = await rawGet(h.url + other);
      assert.equal(r.body.toString(), 'good', 'the next response on the same origin is intact');
    });
  }

  it('5xx, then 200: the error passes through unstored, the next request gets the object', async () => {
    const path = `/hls/fault${++n}/seg.ts`;
    const { results, ms } = await burst(rig, path, [{ write: head(503, [cl(4)]) + 'down' }]);
    check(results, ms, { kind: 'error', status: [503] }, '503');
    await refetches(rig, path, '503 then 200');
  });

  it('property: any mix of status, framing lie and way of breaking off gives one honest outcome (fuzzed)', async () => {
    const framing = fc.constantFrom('exact', 'larger', 'smaller', 'chunked', 'chunked-unterminated', 'chunked-bad-size', 'none');
    const ending = fc.constantFrom('keep', 'fin', 'reset', 'stall');
    await fc.assert(fc.asyncProperty(fc.constantFrom(200, 404, 503), framing, ending, fc.integer({ min: 0, max: BODY.length }), fc.integer({ min: 0, max: 30 }),
      async (status, frame, end, cut, waitMs) => {
        const body = BODY.subarray(0, Math.max(1, cut));
        const script: Step[] = [];
        let whole: Buffer | undefined;
        if (frame === 'exact') { script.push({ write: head(status, [cl(body.length)]) }, { write: body }); whole = body; }
        if (frame === 'larger') script.push({ write: head(status, [cl(body.length + 7)]) }, { write: body });
        if (frame === 'smaller') { script.push({ write: head(status, [cl(body.length - 1)]) }, { write: body }); whole = body.subarray(0, body.length - 1); }
        if (frame === 'chunked') { script.push({ write: head(status, [CHUNKED]) }, { write: chunk(body) }, { write: '0\r\n\r\n' }); whole = body; }
        if (frame === 'chunked-unterminated') script.push({ write: head(status, [CHUNKED]) }, { write: chunk(body) });
        if (frame === 'chunked-bad-size') script.push({ write: head(status, [CHUNKED]) }, { write: `${(body.length + 3).toString(16)}\r\n` }, { write: body }, { write: '\r\n0\r\n\r\n' });
        if (frame === 'none') script.push({ write: head(status, []) }, { write: body });
        script.push({ waitMs });
        if (end === 'fin') script.push({ end: true });
        if (end === 'reset') script.push({ destroy: true });
        if (end === 'stall' || (end === 'keep' && whole === undefined && frame !== 'none')) script.push({ stall: true });
        // Without framing a close ends the body (a reset may arrive as a plain close, or cut it); a
        // kept-open connection is a stall.
        if (frame === 'none') whole = end === 'fin' || end === 'reset' ? body : undefined;
        // Each run on an origin and edge of its own: a script that stalls after a whole response leaves
        // a kept-alive upstream connection that never answers again, and a later run's fetch sent on it
        // never reaches its script, so never waits at its gate for every client to join (some then start
        // a fetch of their own, with another outcome).
        const own = await startRig();
        try {
          await judge(own, script, status, whole, `${status} ${frame} ${end} ${body.length}`);
        } finally {
          await stopRig(own);
        }
      }), { numRuns: 40 });
  });

  /** One burst of the fuzzed script: the same outcome for everyone, complete only when whole, nothing broken stored. */
  async function judge(rig: Rig, script: Step[], status: number, whole: Buffer | undefined, label: string): Promise<void> {
    const path = `/hls/fuzz${++n}/seg.ts`;
    const { results, ms } = await burst(rig, path, script);
    const first = results[0]!;
    assert.ok(ms < BOUND_MS, `${label}: ${Math.round(ms)} ms`);
    for (const r of results) {
      assert.notEqual(r.status, 500, label);
      assert.deepEqual([r.status, r.complete, r.sha], [first.status, first.complete, first.sha], `${label}: same outcome`);
    }
    if (first.complete && first.status === status) {
      assert.ok(whole !== undefined && first.body.equals(whole), `${label}: complete only when the framed body was whole`);
    }
    if (!first.complete || first.status >= 500) {
      // Whatever the upstream does next (a script's connection may never answer again), the edge
      // must go and ask: a broken response was not stored.
      const again = await rawGet(rig.h.url + path);
      assert.notEqual(again.headers['x-cache'], 'HIT', `${label}: nothing broken was stored`);
      assert.notEqual(again.status, 500, label);
    }
  }
});
