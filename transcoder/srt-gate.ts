// The SRT front door of a transcoder with publish keys: a UDP relay in front of ffmpeg's SRT listener,
// which cannot check a stream id (libsrt's listen callback is not exposed by libavformat/libsrt.c). SRT
// carries the stream id in the caller's conclusion handshake (extension SRT_CMD_SID). The relay gives
// every caller (address:port) its own socket towards ffmpeg and passes the induction on; a conclusion
// whose stream id is `publish/<stream>/<key>` with a good key is passed on too and the caller relayed
// from then on; any other conclusion is answered with a rejection (SRT_REJX_FORBIDDEN, "403") and never
// reaches ffmpeg, whose listener therefore never accepts the caller: nothing is decoded or uploaded.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { isIPv6 } from 'node:net';
import { srtPublisher, type Door, type DoorOptions, type PublishRefusal } from './publish-key.js';

const HEADER_BYTES = 16;
const HANDSHAKE_CIF_BYTES = 48;
const HS_TYPE_AT = HEADER_BYTES + 20;
const HS_SOCKET_AT = HEADER_BYTES + 24;
const HS_CONCLUSION = 0xffffffff;
const SRT_CMD_SID = 5;
/** URQ_FAILURE_TYPES (1000) + SRT_REJX_FORBIDDEN (1403): the caller reports "rejected: forbidden". */
const HS_REJECT_FORBIDDEN = 1000 + 1403;
/** Callers relayed at once (each holds a socket). */
export const MAX_CALLERS = 64;
const IDLE_MS = 30_000;

/** The stream id of an SRT conclusion handshake packet; null for a conclusion without one; undefined for other packets. */
export function conclusionStreamId(packet: Buffer): string | null | undefined {
  if (packet.length < HEADER_BYTES + HANDSHAKE_CIF_BYTES || (packet[0]! & 0x80) === 0) return undefined;
  if ((packet.readUInt32BE(0) & 0x7fff0000) !== 0) return undefined; // control type 0: handshake
  if (packet.readUInt32BE(HS_TYPE_AT) !== HS_CONCLUSION) return undefined;
  let at = HEADER_BYTES + HANDSHAKE_CIF_BYTES;
  while (at + 4 <= packet.length) {
    const type = packet.readUInt16BE(at);
    const bytes = packet.readUInt16BE(at + 2) * 4;
    const content = packet.subarray(at + 4, at + 4 + bytes);
    if (content.length < bytes) return null;
    if (type === SRT_CMD_SID) {
      // Written as 32-bit words in the sender's little-endian order: each word's bytes reversed.
      const out = Buffer.alloc(bytes);
      for (let w = 0; w < bytes; w += 4) for (let b = 0; b < 4; b++) out[w + b] = content[w + 3 - b]!;
      return out.toString('utf8').replace(/\0+$/, '');
    }
    at += 4 + bytes;
  }
  return null;
}

/** The answer to a conclusion that is refused: the caller's own handshake, typed as a rejection, to its socket. */
export function rejection(conclusion: Buffer): Buffer {
  const out = Buffer.from(conclusion.subarray(0, HEADER_BYTES + HANDSHAKE_CIF_BYTES));
  out.writeUInt32BE(0x80000000, 0);
  out.writeUInt32BE(0, 4);
  out.writeUInt32BE(conclusion.readUInt32BE(HS_SOCKET_AT), 12);
  out.writeUInt32BE(HS_REJECT_FORBIDDEN, HS_TYPE_AT);
  return out;
}

interface Caller {
  socket: Socket;
  state: 'new' | 'allowed' | 'refused';
  seen: number;
}

/** Starts the SRT door; resolves once it is bound. */
export async function startSrtGate(options: DoorOptions): Promise<Door> {
  const { keys, onEvent } = options;
  const family = isIPv6(options.host) ? 'udp6' : 'udp4';
  const door = createSocket(family);
  const callers = new Map<string, Caller>();

  const forget = (key: string) => {
    callers.get(key)?.socket.close();
    callers.delete(key);
  };
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, c] of callers) if (now - c.seen > IDLE_MS) forget(key);
  }, 5000);
  sweep.unref();

  function callerOf(from: RemoteInfo): Caller | undefined {
    const key = `${from.address}|${from.port}`;
    let caller = callers.get(key);
    if (caller) return caller;
    if (callers.size >= MAX_CALLERS) {
      // Full: the oldest caller that is not publishing makes room, so a flood of handshakes from made-up
      // ports cannot keep the real publisher out; a table of publishers takes nobody new.
      const idle = [...callers].find(([, c]) => c.state !== 'allowed');
      if (!idle) return undefined;
      forget(idle[0]);
    }
    const socket = createSocket(isIPv6(options.upstreamHost) ? 'udp6' : 'udp4');
    socket.on('message', (packet, source) => {
      if (source.port === options.upstreamPort) door.send(packet, from.port, from.address);
    });
    socket.on('error', () => forget(key));
    caller = { socket, state: 'new', seen: Date.now() };
    callers.set(key, caller);
    return caller;
  }

  door.on('message', (packet, from) => {
    const caller = callerOf(from);
    if (!caller) return;
    caller.seen = Date.now();
    const streamId = conclusionStreamId(packet);
    if (caller.state === 'refused') {
      // The caller repeats its conclusion until answered: a lost rejection is sent again.
      if (streamId !== undefined) door.send(rejection(packet), from.port, from.address);
      return;
    }
    if (caller.state === 'new' && streamId !== undefined) {
      const publisher = streamId === null ? undefined : srtPublisher(streamId);
      const reason: PublishRefusal | undefined = keys.check(publisher);
      const peer = `${from.address}:${from.port}`;
      if (reason) {
        caller.state = 'refused';
        onEvent('publish_refused', { stream: publisher?.stream ?? keys.stream, peer, reason });
        door.send(rejection(packet), from.port, from.address);
        return;
      }
      caller.state = 'allowed';
      onEvent('publish_allowed', { stream: keys.stream, peer });
    }
    // Before its conclusion a caller only shakes hands (the induction carries no stream id yet).
    if (caller.state === 'allowed' || (packet[0]! & 0x80) !== 0) caller.socket.send(packet, options.upstreamPort, options.upstreamHost);
  });

  door.bind(options.port, options.host);
  await once(door, 'listening');
  return {
    port: door.address().port,
    async close() {
      clearInterval(sweep);
      for (const key of [...callers.keys()]) forget(key);
      await new Promise<void>((resolve) => door.close(() => resolve()));
    },
  };
}
