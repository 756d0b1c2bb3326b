// Answering from a cached (or still arriving) object: conditional requests, ranges, HEAD, then writing
// to Node's ServerResponse with backpressure per client. Written directly rather than through a web
// Response: hits become one `res.end(buffer)`, and an upstream abort can destroy the socket, which is
// the only way to tell an HTTP/1.1 client that a body with Content-Length or chunked framing is cut.
// In-process requests (`app.request`, no socket) get the same reply as a web Response instead.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { cutResponse, responseGone } from '../src/tls.js';
import type { CachedObject } from './cache-store.js';
import type { CacheOutcome } from './outcome.js';
import { BodyCursor, type SharedBody } from './shared-body.js';
import { DENIED_HEADER } from '../src/access.js';
import { corsHeaders } from '../src/cors.js';
import { ResponseHead } from '../src/fast-http.js';
import { evaluateRange, notModified, validatorsOf } from '../src/http-range.js';

/** The edge's own headers a browser player may read across origins, besides the standard ones. */
export const EDGE_EXPOSED_HEADERS = ['X-Cache', 'X-Served-By', DENIED_HEADER] as const;
const CORS = corsHeaders(EDGE_EXPOSED_HEADERS);

export interface Delivery {
  method: string;
  request: IncomingHttpHeaders;
  outcome: CacheOutcome;
  servedBy: string;
  now: number;
}

/** What every edge answer carries, written to the socket or not: X-Cache, X-Served-By and CORS. */
export function edgeHeaders(outcome: CacheOutcome, servedBy: string): Record<string, string> {
  return { 'x-cache': outcome, 'x-served-by': servedBy, ...CORS };
}

/** What to answer: status, headers, and the body (whole, or still being written), if any. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  /** Set-Cookie lines: only for the request whose fetch received them, never stored. */
  setCookie?: string[];
  body?: Buffer | SharedBody;
}

export function headersOut(reply: Reply): Record<string, string | string[]> {
  return reply.setCookie ? { ...reply.headers, 'set-cookie': reply.setCookie } : reply.headers;
}

/** `Age` in whole seconds (RFC 9111 §5.1); the upstream's part may have a fraction (from a sibling worker). */
export function ageOf(obj: CachedObject, now: number): number {
  return Math.floor(obj.upstreamAge + Math.max(0, now - obj.receivedAt) / 1000);
}

/** RFC 9110 §6.4.1: these never have content, nor a Content-Length that would announce some. */
const NO_CONTENT = new Set([204, 304]);

export function replyFor(obj: CachedObject, d: Delivery): Reply {
  const headers: Record<string, string> = { ...obj.headers, ...edgeHeaders(d.outcome, d.servedBy) };
  headers.age = String(ageOf(obj, d.now));
  const body = obj.body;
  const head = d.method === 'HEAD';
  if (obj.status === 200) {
    const validators = validatorsOf(obj.headers);
    if (notModified(d.request, validators)) return { status: 304, headers: notModifiedHeaders(headers) };
    headers['accept-ranges'] = 'bytes';
    if (body.state === 'complete') {
      const range = evaluateRange(d.request, body.length, validators);
      if (range.type === 'unsatisfiable') {
        headers['content-range'] = `bytes */${body.length}`;
        headers['content-length'] = '0';
        return { status: 416, headers };
      }
      if (range.type === 'partial') {
        const { start, end } = range;
        headers['content-range'] = `bytes ${start}-${end}/${body.length}`;
        headers['content-length'] = String(end - start + 1);
        return { status: 206, headers, ...(head ? {} : { body: body.buffer.subarray(start, end + 1) }) };
      }
    }
  }
  if (NO_CONTENT.has(obj.status)) return { status: obj.status, headers };
  // A known length lets the client tell a cut body from a complete one; without it the response is
  // chunked, and the missing terminator says the same.
  const length = body.state === 'complete' ? body.length : body.expectedLength;
  if (length !== undefined) headers['content-length'] = String(length);
  if (head) return { status: obj.status, headers };
  return { status: obj.status, headers, body: body.state === 'complete' ? body.buffer : body };
}

/** Whether a GET can take the plain-hit path: nothing conditional or partial about it. */
export function isPlainGet(request: IncomingHttpHeaders): boolean {
  return request.range === undefined && request['if-none-match'] === undefined && request['if-modified-since'] === undefined;
}

/**
 * The head of a whole 200 to a plain GET from a complete object — a hit, or one of the waiters a fetch
 * releases together: the same headers as `replyFor`, built once per object and X-Cache value, with `Date`
 * and `Age` redone at most once a second when it goes out on the raw socket (src/fast-http.ts).
 */
export function wholeHeadOf(obj: CachedObject, outcome: CacheOutcome, servedBy: string): ResponseHead {
  const heads = (obj.wholeHeads ??= {});
  let head = heads[outcome];
  if (head === undefined) {
    const { headers } = replyFor(obj, { method: 'GET', request: {}, outcome, servedBy, now: obj.receivedAt });
    delete headers.age;
    head = heads[outcome] = new ResponseHead(200, 'OK', Object.entries(headers).flat(), (now) => ageOf(obj, now));
  }
  return head;
}

/** The hot path through Node's response (HTTP/2, TLS, and connections the raw fast path handed over): the pre-built head as the flat list `writeHead` takes. */
export function writeWhole(res: ServerResponse, obj: CachedObject, outcome: CacheOutcome, servedBy: string, now: number, onBytes: (n: number) => void): void {
  res.writeHead(200, [...wholeHeadOf(obj, outcome, servedBy).fields, 'age', String(ageOf(obj, now))]);
  onBytes(obj.body.length);
  res.end(obj.body.buffer);
}

export function writeReply(res: ServerResponse, reply: Reply, onBytes: (n: number) => void): void {
  if (responseGone(res)) return; // the client left while the fetch it waited for was running
  res.writeHead(reply.status, headersOut(reply));
  const { body } = reply;
  if (body === undefined) {
    res.end();
  } else if (Buffer.isBuffer(body)) {
    onBytes(body.length);
    res.end(body);
  } else {
    // Headers go out now, not with the first body write: with hundreds of readers, each new chunk is
    // written to every socket in turn, and the last reader's headers would queue behind all of that.
    res.flushHeaders();
    streamBody(res, body, onBytes);
  }
}

/** Follows a body still being written, one shared chunk at a time, waiting for `drain` on slow clients. */
function streamBody(res: ServerResponse, body: SharedBody, onBytes: (n: number) => void): void {
  const cursor = new BodyCursor(body);
  let awaitingDrain = false;
  const pump = (): void => {
    if (awaitingDrain) return;
    if (responseGone(res)) return stop();
    for (let chunk = cursor.next(); chunk !== undefined; chunk = cursor.next()) {
      onBytes(chunk.length);
      if (!res.write(chunk)) {
        awaitingDrain = true;
        res.once('drain', resume);
        return;
      }
    }
    if (body.state === 'complete') {
      stop();
      res.end();
    } else if (body.state === 'aborted') {
      stop();
      cutResponse(res);
    }
  };
  const resume = (): void => {
    awaitingDrain = false;
    pump();
  };
  const unsubscribe = body.subscribe(pump);
  const stop = (): void => {
    unsubscribe();
    res.off('close', stop);
  };
  res.once('close', stop);
  pump();
}

/** A reply as a web Response, for in-process requests: same status, headers and bytes; a cut body errors the stream. */
export function webResponse(reply: Reply, onBytes: (n: number) => void): Response {
  const headers = new Headers(reply.headers);
  for (const line of reply.setCookie ?? []) headers.append('set-cookie', line);
  const { body } = reply;
  if (body === undefined) return new Response(null, { status: reply.status, headers });
  if (Buffer.isBuffer(body)) {
    onBytes(body.length);
    return new Response(body as Uint8Array<ArrayBuffer>, { status: reply.status, headers });
  }
  return new Response(readableOf(body, onBytes), { status: reply.status, headers });
}

/** Follows a body still being written, as a web stream (no backpressure: in-process readers are tests and tools). */
function readableOf(body: SharedBody, onBytes: (n: number) => void): ReadableStream<Uint8Array> {
  const cursor = new BodyCursor(body);
  let unsubscribe = (): void => undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const pump = (): void => {
        for (let chunk = cursor.next(); chunk !== undefined; chunk = cursor.next()) {
          onBytes(chunk.length);
          controller.enqueue(chunk);
        }
        if (body.state === 'complete') {
          unsubscribe();
          controller.close();
        } else if (body.state === 'aborted') {
          unsubscribe();
          controller.error(new Error('upstream body cut short'));
        }
      };
      unsubscribe = body.subscribe(pump);
      pump();
    },
    cancel() {
      unsubscribe();
    },
  });
}

/** RFC 9110 §15.4.5: the fields a 200 would have carried that describe the selected representation. */
const NOT_MODIFIED_FIELDS = ['etag', 'last-modified', 'cache-control', 'expires', 'vary', 'content-location', 'date', 'age', 'x-cache', 'x-served-by', ...Object.keys(CORS)];

function notModifiedHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    if (headers[name] !== undefined) out[name] = headers[name];
  }
  return out;
}
