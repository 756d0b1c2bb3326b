// The raw-socket fast path of plain HTTP/1.1: a role's answer that needs nothing but the request line and
// a few header fields (an edge's fresh hit, the LB's redirect) is written to the socket as pre-built bytes
// in one corked write, before Node's HTTP parser, IncomingMessage, ServerResponse or Hono exist for it.
// Node's own server with a flat writeHead + end(buffer) measured 39.7k req/s where nginx did 70k; the
// same response pre-built on a raw socket 80.7k (issue 14; docs/benchmarks.md has ours).
//
// Every connection starts here. Each complete request head is parsed just enough to see whether it is
// plain (GET/HEAD, HTTP/1.1, a Host, no body, nothing conditional or ranged, nothing Node would refuse);
// a plain request the role answers is answered here. A plain request the role leaves alone (an edge's
// miss, a stale entry, a blocking playlist reload) is served by Node's HTTP server and the app as
// usual, on the connection's virtual twin (src/virtual-connection.ts), and the requests after it come
// back here once its response has all gone to the socket. The first request that is not plain hands the
// connection, with every unanswered byte, to Node's HTTP server for good, and so does a connection that
// declines most of its requests (HAND_OFF_*): what Node serves is the ordinary path (Hono, hooks,
// middleware), so behaviour never depends on this module. Only for plain TCP: TLS and HTTP/2 servers
// never get here.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseRequestTarget, type Checked, type RequestTarget } from './stream-path.js';
import { VirtualConnection, type VirtualOutcome } from './virtual-connection.js';

/** One plain request, as the fast path's answer sees it. */
export interface FastRequest {
  method: 'GET' | 'HEAD';
  /** The raw request target, as received. */
  target: string;
  /** The client asked for `Connection: close`. */
  close: boolean;
  /** X-Forwarded-For as received (only the LB behind trusted proxies reads it). */
  forwardedFor: string | undefined;
  socket: Socket;
  /** `target` parsed, once: a repeated head reuses its request (see Held.last), and with it this. */
  parsed: Checked<RequestTarget> | undefined;
  /** What the role's answer made of this request alone, kept with it for when its head repeats (the LB's redirect, what the edge looks up). */
  memo: object | undefined;
}

/** The request's target parsed (src/stream-path.ts), parsed once per request object. */
export function parsedTarget(req: FastRequest): Checked<RequestTarget> {
  return (req.parsed ??= parseRequestTarget(req.target));
}

/** Writes the whole response (writeFast) and returns true, or returns false to leave the request to Node. */
export type FastAnswer = (req: FastRequest) => boolean;

/** Largest request head taken here; Node's limit (16 KiB) and its 431 apply to anything larger. */
const MAX_HEAD_BYTES = 16 * 1024;
const END_OF_HEAD = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Fields that make a request more than a plain GET: a body, an upgrade, preconditions, ranges. */
const NOT_PLAIN = new Set([
  'content-length', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings',
  'range', 'if-range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since',
]);

/**
 * A connection that declines most of its requests goes to Node for good: a declined request costs ~20 µs
 * more on the virtual connection than on Node's own kept-alive connection (76 against 55 µs of server CPU,
 * a hit 30 µs: bench/fast-declined.ts), so past ~55% declined the fast path no longer pays. Handed off
 * well past that (3 declined to 1 answered), after enough requests that a few misses in a row (a new
 * viewer, a playlist expiring) do not count.
 */
const HAND_OFF_DECLINES = 16;
const HAND_OFF_SHARE = 3;

const CLOSE_TAIL = 'connection: close\r\n\r\n';

/** The connection fields and the blank line that end a kept-alive head (what Node's server writes). */
function keepAliveTail(keepAliveMs: number): string {
  return `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n\r\n`;
}

let dateSecond = -1;
let dateField = '';

/** `date: <IMF-fixdate>\r\n` of the wall clock, made at most once a second. */
export function dateLine(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateField;
}

/**
 * A response head built once: status line and fields as a flat name/value list, and as bytes with
 * `Date` (and an `Age` from `ageAt` on the role's clock, if given) redone at most once a second.
 */
export class ResponseHead {
  private date = '';
  private age = -1;
  private bytes = Buffer.alloc(0);
  private readonly fixed: string;
  /** The body's whole response (head, connection fields, body), for as long as all three are unchanged. */
  private whole: { head: Buffer; tail: string; body: Buffer; bytes: Buffer } | undefined;
  /** The heads holding the whole response of a large body, least recently made first, and its bytes. */
  private static readonly largeCopies = new Set<ResponseHead>();
  private static largeCopiesBytes = 0;

  constructor(status: number, reason: string, readonly fields: readonly string[], private readonly ageAt?: (now: number) => number) {
    let head = `HTTP/1.1 ${status} ${reason}\r\n`;
    for (let i = 0; i < fields.length; i += 2) head += `${fields[i]}: ${fields[i + 1]}\r\n`;
    this.fixed = head;
  }

  /** The head's bytes (without the connection fields and the blank line: writeFast adds them). */
  at(now: number): Buffer {
    const date = dateLine();
    const age = this.ageAt ? this.ageAt(now) : 0;
    if (date !== this.date || age !== this.age) {
      this.date = date;
      this.age = age;
      this.bytes = Buffer.from(this.fixed + date + (this.ageAt ? `age: ${age}\r\n` : ''), 'latin1');
    }
    return this.bytes;
  }

  /**
   * The head, `tail` and `body` as one buffer, made again only when one of them changed (the head at most
   * once a second): a playlist hit is then one write of bytes already made. A new buffer each time, never
   * one rewritten, since a write still queued on a slow socket may hold the last one.
   */
  with(now: number, tail: string, body: Buffer): Buffer {
    const head = this.at(now);
    const made = this.whole;
    if (made !== undefined && made.head === head && made.tail === tail && made.body === body) return made.bytes;
    const bytes = Buffer.allocUnsafe(head.length + tail.length + body.length);
    head.copy(bytes, 0);
    bytes.write(tail, head.length, 'latin1');
    body.copy(bytes, head.length + tail.length);
    this.keep({ head, tail, body, bytes });
    return bytes;
  }

  /** Bytes of large bodies' whole responses held in this process (at most COPIES_BYTES). */
  static copiedBytes(): number {
    return ResponseHead.largeCopiesBytes;
  }

  /** Keeps `whole`; a large body's counts against COPIES_BYTES, and the least recently made go first. */
  private keep(whole: NonNullable<ResponseHead['whole']>): void {
    const copies = ResponseHead.largeCopies;
    if (copies.delete(this)) ResponseHead.largeCopiesBytes -= this.whole!.bytes.length;
    this.whole = whole;
    if (whole.body.length <= COPIED_BODY_BYTES) return;
    copies.add(this);
    ResponseHead.largeCopiesBytes += whole.bytes.length;
    for (const oldest of copies) {
      if (ResponseHead.largeCopiesBytes <= COPIES_BYTES) break;
      copies.delete(oldest);
      ResponseHead.largeCopiesBytes -= oldest.whole!.bytes.length;
      oldest.whole = undefined;
    }
  }
}

/**
 * A body goes out in one buffer with its head (ResponseHead.with), made once and written again while
 * neither changes, which skips the stream layer's cork, its buffered list and the writev. Bodies up to
 * COPIED_BODY_BYTES (a playlist) are always copied. Larger ones (a segment), up to LARGEST_COPIED, are
 * copied while the copies held in the process stay within COPIES_BYTES, the least recently made dropped
 * first: a segment that the players fetch in the same second is one write of bytes made once (at a
 * player's pace 119 against 133 µs of edge CPU per request, half of them segments, against the corked
 * writev, 10 alternating rounds of bench/paced's load), and the memory beyond the cache stays bounded:
 * the copies, and at most as much again in bodies the cache has dropped since (a copy's head holds its
 * body). Per process, so per worker. A body larger than LARGEST_COPIED is written uncopied.
 */
const COPIED_BODY_BYTES = 16 * 1024;
const LARGEST_COPIED = 1024 * 1024;
const COPIES_BYTES = 2 * 1024 * 1024;

/**
 * Writes a response in one write: the head (its fields; the connection fields end it), then the body,
 * sent for GET only. A string head (a redirect) has no body.
 */
export function writeFast(req: FastRequest, head: string): void;
export function writeFast(req: FastRequest, head: ResponseHead, now: number, body: Buffer): void;
export function writeFast(req: FastRequest, head: ResponseHead | string, now = 0, body?: Buffer): void {
  const { socket } = req;
  const tail = req.close ? CLOSE_TAIL : (socket as FastSocket)[HELD]?.front.keepAliveTail ?? keepAliveTail(5000);
  if (typeof head === 'string') {
    socket.write(head + tail, 'latin1');
    return;
  }
  const sent = req.method === 'GET' ? body! : EMPTY;
  if (sent.length <= LARGEST_COPIED) {
    socket.write(head.with(now, tail, sent));
    return;
  }
  // A very large body: head and body in one corked writev, the body not copied.
  socket.cork();
  socket.write(head.at(now));
  socket.write(tail, 'latin1');
  socket.write(sent);
  socket.uncork();
}

const EMPTY = Buffer.alloc(0);

export interface FastPath {
  /** Ends the connections the fast path still holds (graceful stop): pending bytes are flushed first. */
  endAll(): void;
  /** Cuts them. */
  destroyAll(): void;
}

/** What the fast path knows of a server: shared by its connections, whose listeners are shared too. */
interface Front {
  server: Server;
  answer: FastAnswer;
  nodeListeners: ((socket: Socket) => void)[];
  /** The connection fields that end a kept-alive head, with this server's timeout. */
  keepAliveTail: string;
  held: Set<FastSocket>;
  closing: boolean;
  /** Seconds counted by the idle sweep: a connection's last activity is noted in these, not in clock reads. */
  tick: number;
}

/** A connection the fast path holds: its unanswered bytes, when it was last active, when its unfinished head began. */
interface Held {
  front: Front;
  pending: Buffer | undefined;
  activeAt: number;
  headFrom: number;
  /** Node's side of this connection (src/virtual-connection.ts), made at its first declined request. */
  virtual: VirtualConnection | undefined;
  /** Requests answered here and declined, for when to hand the connection to Node for good. */
  answers: number;
  declines: number;
  /**
   * The last two distinct heads answered here, copies, with their requests, newest first: a player repeats
   * the same head byte for byte (a playlist reload, a redirect asked again), which then is not parsed
   * again. Two, because a player fetches a segment between two reloads of its playlist.
   */
  last: Remembered | undefined;
  before: Remembered | undefined;
}

interface Remembered { head: Buffer; req: FastRequest }

const HELD = Symbol('cascade.fastPath');
type FastSocket = Socket & { [HELD]?: Held };

/**
 * Puts `answer` in front of `server`'s own connection handling. `keepAliveMs` is the idle timeout of a
 * connection between requests (the server's keepAliveTimeout, announced the same way). Per connection
 * it costs one small object: the listeners are shared, and one sweep a second closes idle connections
 * instead of a timer each.
 */
export function answerFirst(server: Server, answer: FastAnswer, keepAliveMs: number): FastPath {
  const front: Front = {
    server, answer, keepAliveTail: keepAliveTail(keepAliveMs), held: new Set(), closing: false, tick: 0,
    nodeListeners: server.listeners('connection') as ((socket: Socket) => void)[],
  };
  server.removeAllListeners('connection');
  server.on('connection', (socket: FastSocket) => {
    if (front.closing) return void socket.destroy();
    socket[HELD] = { front, pending: undefined, activeAt: front.tick, headFrom: front.tick, virtual: undefined, answers: 0, declines: 0, last: undefined, before: undefined };
    front.held.add(socket);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
  });
  // Prepended: the response must be watched before the app can finish it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const connection = req.socket;
    if (connection instanceof VirtualConnection) res.once('finish', () => connection.responseFinished());
  });
  const idleTicks = Math.max(1, Math.ceil(keepAliveMs / 1000));
  const sweep = setInterval(() => {
    front.tick++;
    const headTicks = Math.ceil(server.headersTimeout / 1000);
    for (const s of front.held) {
      const held = s[HELD]!;
      // A declined request may be held for seconds (a blocking playlist reload): Node's server times it.
      if (held.virtual?.inFlight) continue;
      // Idle past the keep-alive timeout, or a head dribbled in for longer than Node's headersTimeout allows.
      if ((front.tick - held.activeAt > idleTicks && s.writableLength === 0) || (held.pending && front.tick - held.headFrom > headTicks)) s.destroy();
    }
  }, 1000).unref();
  server.once('close', () => clearInterval(sweep));
  return {
    endAll() {
      front.closing = true;
      // One with a declined request in flight is ended once its response is complete.
      for (const s of front.held) if (!s[HELD]!.virtual?.inFlight) s.end();
    },
    destroyAll() {
      front.closing = true;
      for (const s of front.held) s.destroy();
    },
  };
}

function onData(this: FastSocket, chunk: Buffer): void {
  const held = this[HELD];
  if (!held || held.front.closing) return; // ended: what is still written flushes, nothing new is answered
  held.activeAt = held.front.tick;
  if (!held.pending) held.headFrom = held.front.tick;
  held.pending = held.pending ? Buffer.concat([held.pending, chunk]) : chunk;
  if (held.virtual?.inFlight) {
    // Requests pipelined behind a declined one wait for it; past a head's worth, the client waits too.
    if (held.pending.length > MAX_HEAD_BYTES) this.pause();
    return;
  }
  if (!this.isPaused()) pump(this, held);
}

/** The client's FIN reaches a declined request as it would reach Node's server (which ends the connection). */
function onEnd(this: FastSocket): void {
  const virtual = this[HELD]?.virtual;
  if (virtual?.inFlight) virtual.push(null);
}

/** A reset by the client, as Node's server takes it: the socket is gone, nothing else to do. */
function onError(this: FastSocket): void {
  this.destroy();
}

function onClose(this: FastSocket): void {
  const held = this[HELD];
  if (!held) return;
  held.front.held.delete(this);
  // The client left: the app sees its request aborted (a held blocking reload is released).
  held.virtual?.destroy();
}

function onDrain(this: FastSocket): void {
  const held = this[HELD];
  this.resume();
  if (held) pump(this, held);
}

/** Answers the complete requests received, in order, until one is not the fast path's. */
function pump(socket: FastSocket, held: Held): void {
  const { front } = held;
  while (held.pending && !held.virtual?.inFlight) {
    const pending = held.pending;
    const again = repeated(held.last, pending) ? held.last : repeated(held.before, pending) ? held.before : undefined;
    const end = again ? again.head.length : pending.indexOf(END_OF_HEAD);
    if (end === -1) {
      if (pending.length > MAX_HEAD_BYTES) handOff(socket, held);
      return;
    }
    const req = again ? again.req : parsePlain(pending.toString('latin1', 0, end), socket);
    if (req === undefined) return handOff(socket, held);
    const answered = front.answer(req);
    if (answered && (again === undefined || again === held.before)) {
      held.before = held.last;
      held.last = again ?? { head: Buffer.from(pending.subarray(0, end)), req };
    }
    if (!answered && ++held.declines >= HAND_OFF_DECLINES && held.declines > HAND_OFF_SHARE * held.answers) return handOff(socket, held);
    held.pending = end + 4 < pending.length ? pending.subarray(end + 4) : undefined;
    held.headFrom = front.tick;
    if (!answered) return serveDeclined(socket, held, pending.subarray(0, end + 4));
    held.answers++;
    if (req.close) {
      // Nothing more is read; the error handler stays until the socket is gone.
      socket.off('data', onData);
      socket.end();
      return;
    }
    // A client that does not read is not read from until it drains: pipelined requests cannot queue
    // responses without bound.
    if (socket.writableNeedDrain) {
      socket.pause();
      socket.once('drain', onDrain);
      return;
    }
  }
}

/**
 * Whether `pending` begins with the remembered head and its blank line. Its first blank line is then
 * where the remembered head's was (the same bytes lead up to it), so no search for it is needed.
 */
function repeated(remembered: Remembered | undefined, pending: Buffer): remembered is Remembered {
  if (remembered === undefined) return false;
  const end = remembered.head.length;
  return pending.length >= end + 4 && pending[end] === 13 && pending[end + 1] === 10 && pending[end + 2] === 13 && pending[end + 3] === 10
    && pending.compare(remembered.head, 0, end, 0, end) === 0;
}

/**
 * A plain request the role declined goes to Node's server and the app on the connection's virtual twin
 * (src/virtual-connection.ts); the requests after it come back here.
 */
function serveDeclined(socket: FastSocket, held: Held, head: Buffer): void {
  if (!held.virtual) {
    const virtual = new VirtualConnection(socket, (outcome) => afterDeclined(socket, held, outcome));
    held.virtual = virtual;
    for (const l of held.front.nodeListeners) l.call(held.front.server, virtual as unknown as Socket);
  }
  held.virtual.serve(head);
}

function afterDeclined(socket: FastSocket, held: Held, outcome: VirtualOutcome): void {
  const { front } = held;
  held.activeAt = front.tick;
  held.headFrom = front.tick;
  if (outcome === 'dropped') return void (held.virtual = undefined);
  if (outcome !== 'done') {
    // Ended after the response, or cut: nothing more is read.
    held.virtual = undefined;
    socket.off('data', onData);
    return;
  }
  if (front.closing) {
    socket.off('data', onData);
    socket.end();
    return;
  }
  socket.resume();
  pump(socket, held);
}

/** From this request on, the connection is Node's, with every byte not answered here. */
function handOff(socket: FastSocket, held: Held): void {
  const { front } = held;
  front.held.delete(socket);
  socket.off('data', onData);
  socket.off('end', onEnd);
  socket.off('close', onClose);
  socket.off('error', onError);
  delete socket[HELD];
  // Node's server forgets the idle virtual twin: the socket itself is its connection now.
  held.virtual?.destroy();
  // Paused while the bytes go back, so none is emitted before Node's parser listens.
  socket.pause();
  if (held.pending) socket.unshift(held.pending);
  for (const l of front.nodeListeners) l.call(front.server, socket);
  socket.resume();
}

/** The request if its head is plain and well-formed; anything else (or anything unsure) is Node's. */
function parsePlain(head: string, socket: Socket): FastRequest | undefined {
  const lineEnd = head.indexOf('\r\n');
  const requestLine = lineEnd === -1 ? head : head.slice(0, lineEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 === -1 || sp2 === -1 || requestLine.slice(sp2 + 1) !== 'HTTP/1.1') return undefined;
  const method = requestLine.slice(0, sp1);
  if (method !== 'GET' && method !== 'HEAD') return undefined;
  const target = requestLine.slice(sp1 + 1, sp2);
  if (target.length === 0 || !/^[\x21-\x7e]+$/.test(target)) return undefined;
  let host = false;
  let close = false;
  let forwardedFor: string | undefined;
  let at = lineEnd;
  while (at !== -1) {
    const start = at + 2;
    const next = head.indexOf('\r\n', start);
    const line = next === -1 ? head.slice(start) : head.slice(start, next);
    at = next;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined; // folded or malformed lines are Node's to refuse
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name) || NOT_PLAIN.has(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (/[\0\r\n]/.test(value)) return undefined;
    if (name === 'host') {
      if (host) return undefined;
      host = true;
    } else if (name === 'connection') {
      const tokens = value.toLowerCase().split(',').map((t) => t.trim());
      if (tokens.some((t) => t !== 'close' && t !== 'keep-alive')) return undefined;
      close ||= tokens.includes('close');
    } else if (name === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    }
  }
  if (!host) return undefined;
  return { method, target, close, forwardedFor, socket, parsed: undefined, memo: undefined };
}
