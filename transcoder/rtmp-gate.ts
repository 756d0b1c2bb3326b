// The RTMP front door of a transcoder with publish keys: a TCP relay in front of ffmpeg's RTMP listener
// (which takes any stream name: libavformat/rtmpproto.c only warns "Unexpected stream"). The relay reads
// what the publisher sends (the handshake, then the chunk stream) and passes on only whole chunks it has
// read. The first command that names a stream (releaseStream, FCPublish or publish, in that order from
// ffmpeg and OBS) decides: with a good key the relay steps aside and copies bytes both ways; with a bad
// one, or a `play`, or media before any name, both connections are closed before that command reaches
// ffmpeg. ffmpeg has then received no media, so it has transcoded and uploaded nothing; its listener
// gives up on the cut connection and the transcoder's supervisor starts it again.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { rtmpPublisher, type Door, type DoorOptions, type PublishKeys, type PublishRefusal } from './publish-key.js';

/** C0 + C1 + C2: the client's side of the simple handshake, before any chunk. */
const HANDSHAKE_BYTES = 1 + 1536 + 1536;
const DEFAULT_CHUNK_SIZE = 128;
/** Commands before the verdict are small; anything bigger is no publisher we want to read further. */
const MAX_MESSAGE_BYTES = 64 * 1024;
const MSG_SET_CHUNK_SIZE = 1;
const MSG_AMF3_COMMAND = 17;
const MSG_AMF0_COMMAND = 20;
const MEDIA_TYPES = new Set([8, 9, 15, 18]);
const NAMING_COMMANDS = new Set(['releaseStream', 'FCPublish', 'publish']);

export class RtmpFormatError extends Error {}

interface ChunkStream {
  length: number;
  typeId: number;
  extended: boolean;
  parts: Buffer[];
  received: number;
}

export interface RtmpMessage {
  typeId: number;
  payload: Buffer;
}

/**
 * Reads the client-to-server side of an RTMP connection into messages. `read` consumes whole chunks
 * only, and says how many bytes it consumed: the relay passes on exactly those.
 */
export class RtmpClientReader {
  private handshakeLeft = HANDSHAKE_BYTES;
  private chunkSize = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, ChunkStream>();

  /** Parses whole chunks at the start of `data`; returns the messages they completed and the bytes consumed. Throws RtmpFormatError. */
  read(data: Buffer): { messages: RtmpMessage[]; consumed: number } {
    const messages: RtmpMessage[] = [];
    let at = 0;
    if (this.handshakeLeft > 0) {
      const n = Math.min(this.handshakeLeft, data.length);
      if (n >= 1 && this.handshakeLeft === HANDSHAKE_BYTES && data[0] !== 3) throw new RtmpFormatError('not RTMP (version byte)');
      this.handshakeLeft -= n;
      at = n;
    }
    if (this.handshakeLeft > 0) return { messages, consumed: at };
    for (;;) {
      const chunk = this.chunkAt(data, at);
      if (chunk === undefined) return { messages, consumed: at };
      at = chunk.end;
      if (chunk.message) messages.push(chunk.message);
    }
  }

  /** The chunk starting at `at`, or undefined when it is not all there yet. */
  private chunkAt(data: Buffer, start: number): { end: number; message?: RtmpMessage } | undefined {
    let at = start;
    if (at >= data.length) return undefined;
    const fmt = data[at]! >> 6;
    let csid = data[at]! & 0x3f;
    at++;
    if (csid === 0) {
      if (at + 1 > data.length) return undefined;
      csid = 64 + data[at]!;
      at += 1;
    } else if (csid === 1) {
      if (at + 2 > data.length) return undefined;
      csid = 64 + data[at]! + data[at + 1]! * 256;
      at += 2;
    }
    const headerBytes = [11, 7, 3, 0][fmt]!;
    if (at + headerBytes > data.length) return undefined;
    const previous = this.streams.get(csid);
    if (fmt !== 0 && previous === undefined) throw new RtmpFormatError(`chunk stream ${csid} continues nothing`);
    const next: ChunkStream = previous ? { ...previous } : { length: 0, typeId: 0, extended: false, parts: [], received: 0 };
    if (fmt <= 2) next.extended = data.readUIntBE(at, 3) === 0xffffff;
    if (fmt <= 1) {
      next.length = data.readUIntBE(at + 3, 3);
      next.typeId = data[at + 6]!;
    }
    at += headerBytes;
    if (next.extended) {
      if (at + 4 > data.length) return undefined;
      at += 4;
    }
    if (fmt !== 3 && next.received > 0) throw new RtmpFormatError(`chunk stream ${csid}: a new message inside another`);
    if (next.length > MAX_MESSAGE_BYTES) throw new RtmpFormatError(`message of ${next.length} bytes before the stream was named`);
    const size = Math.min(this.chunkSize, next.length - next.received);
    if (at + size > data.length) return undefined;
    next.parts = next.received === 0 ? [] : next.parts;
    next.parts.push(data.subarray(at, at + size));
    next.received += size;
    at += size;
    let message: RtmpMessage | undefined;
    if (next.received === next.length) {
      message = { typeId: next.typeId, payload: Buffer.concat(next.parts) };
      next.parts = [];
      next.received = 0;
      if (message.typeId === MSG_SET_CHUNK_SIZE) {
        if (message.payload.length < 4) throw new RtmpFormatError('short Set Chunk Size');
        this.chunkSize = message.payload.readUInt32BE(0) & 0x7fffffff;
        if (this.chunkSize < 1) throw new RtmpFormatError('chunk size 0');
      }
    }
    this.streams.set(csid, next);
    return message ? { end: at, message } : { end: at };
  }
}

/** The leading AMF0 values of a command message: its name and, for naming commands, the stream name. */
export function readCommand(message: RtmpMessage): { command: string; name?: string } | undefined {
  let p = message.typeId === MSG_AMF3_COMMAND ? 1 : 0;
  const b = message.payload;
  const string = (): string | undefined => {
    if (b[p] !== 0x02 || p + 3 > b.length) return undefined;
    const len = b.readUInt16BE(p + 1);
    if (p + 3 + len > b.length) return undefined;
    const s = b.toString('utf8', p + 3, p + 3 + len);
    p += 3 + len;
    return s;
  };
  const command = string();
  if (command === undefined) return undefined;
  if (!NAMING_COMMANDS.has(command) && command !== 'play') return { command };
  // Transaction id (a number), then the command object (null or undefined for these commands).
  if (b[p] !== 0x00 || p + 9 > b.length) return undefined;
  p += 9;
  if (b[p] !== 0x05 && b[p] !== 0x06) return undefined;
  p += 1;
  const name = string();
  return name === undefined ? undefined : { command, name };
}

export type GateVerdict = { allow: true; stream: string } | { allow: false; reason: PublishRefusal; stream?: string };

/** The verdict on a publisher from the messages read so far, or undefined while nothing decides yet. */
export function judge(messages: readonly RtmpMessage[], keys: PublishKeys): GateVerdict | undefined {
  for (const message of messages) {
    if (MEDIA_TYPES.has(message.typeId)) return { allow: false, reason: 'not-publish' };
    if (message.typeId !== MSG_AMF0_COMMAND && message.typeId !== MSG_AMF3_COMMAND) continue;
    const command = readCommand(message);
    if (command === undefined) return { allow: false, reason: 'unreadable' };
    if (command.command === 'play') return { allow: false, reason: 'not-publish' };
    if (command.name === undefined) continue;
    const publisher = rtmpPublisher(command.name);
    const reason = keys.check(publisher);
    return reason ? { allow: false, reason, stream: publisher.stream } : { allow: true, stream: publisher.stream };
  }
  return undefined;
}

export interface GateOptions extends DoorOptions {
  /** A publisher that has not named its stream after this long is cut (ms). */
  verdictTimeoutMs?: number;
}

function relay(client: Socket, options: GateOptions): void {
  const { keys, onEvent } = options;
  const peer = `${client.remoteAddress}:${client.remotePort}`;
  const reader = new RtmpClientReader();
  const timeoutMs = options.verdictTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let upstream: Socket | undefined;
  /** Bytes read and passed, waiting for ffmpeg's listener to take the connection. */
  let queued: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let decided = false;
  let closed = false;
  const cut = () => {
    closed = true;
    client.destroy();
    upstream?.destroy();
  };
  const timer = setTimeout(() => {
    onEvent('publish_refused', { stream: keys.stream, peer, reason: 'timeout' });
    cut();
  }, timeoutMs);
  const refuse = (reason: PublishRefusal, stream?: string) => {
    clearTimeout(timer);
    onEvent('publish_refused', { stream: stream ?? keys.stream, peer, reason });
    cut();
  };
  const pass = (bytes: Buffer) => {
    if (bytes.length === 0) return;
    if (upstream) upstream.write(bytes);
    else queued.push(bytes);
  };

  // ffmpeg's listener takes one connection and is started again after each (by the supervisor): while
  // it is away the publisher is held, not refused, so a refused publisher cannot lock out the next one.
  const connectUpstream = () => {
    const socket = connect(options.upstreamPort, options.upstreamHost);
    socket.once('error', () => {
      if (upstream === socket || closed) return cut();
      if (Date.now() > deadline) return cut();
      setTimeout(connectUpstream, 200);
    });
    socket.once('connect', () => {
      if (closed) return socket.destroy();
      upstream = socket;
      socket.on('error', cut);
      socket.on('close', () => client.destroy());
      for (const bytes of queued) socket.write(bytes);
      queued = [];
      socket.pipe(client);
      if (decided) client.pipe(socket);
    });
  };
  connectUpstream();

  client.on('data', (data: Buffer) => {
    if (decided) {
      // Before ffmpeg took the connection; from then on the pipe carries everything.
      if (!upstream) queued.push(data);
      return;
    }
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    let read: ReturnType<RtmpClientReader['read']>;
    try {
      read = reader.read(pending);
    } catch {
      return refuse('unreadable');
    }
    const verdict = judge(read.messages, keys);
    if (verdict && !verdict.allow) return refuse(verdict.reason, verdict.stream);
    if (verdict?.allow) {
      clearTimeout(timer);
      decided = true;
      onEvent('publish_allowed', { stream: verdict.stream, peer });
      pass(pending);
      if (upstream) client.pipe(upstream);
      return;
    }
    pass(pending.subarray(0, read.consumed));
    pending = pending.subarray(read.consumed);
    if (pending.length > MAX_MESSAGE_BYTES + 64) refuse('unreadable');
  });
  client.on('error', cut);
  client.on('close', () => {
    clearTimeout(timer);
    closed = true;
    upstream?.destroy();
  });
}

/** Starts the RTMP door; resolves once it listens. */
export async function startRtmpGate(options: GateOptions): Promise<Door> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    relay(client, options);
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
