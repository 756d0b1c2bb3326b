// The publish-key doors' readers, attacked: an RTMP chunk stream cut anywhere reads the same messages, and
// the relay passes on exactly whole chunks; garbage is refused, never a crash; an SRT stream id survives
// its word-swapped encoding; keys compare exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PublishKeys, rtmpPublisher, srtPublisher } from './publish-key.js';
import { judge, RtmpClientReader, RtmpFormatError, type RtmpMessage } from './rtmp-gate.js';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { conclusionStreamId, MAX_CALLERS, rejection, startSrtGate } from './srt-gate.js';

const amfString = (s: string) => {
  const b = Buffer.from(s);
  const head = Buffer.alloc(3);
  head[0] = 0x02;
  head.writeUInt16BE(b.length, 1);
  return Buffer.concat([head, b]);
};
const amfNumber = (n: number) => {
  const b = Buffer.alloc(9);
  b.writeDoubleBE(n, 1);
  return b;
};
const command = (name: string, txn: number, ...args: string[]): RtmpMessage => ({
  typeId: 20, payload: Buffer.concat([amfString(name), amfNumber(txn), Buffer.from([0x05]), ...args.map(amfString)]),
});

/** `messages` as a client writes them: the handshake, then each message in chunks (fmt 0, then fmt 3). */
function chunkStream(messages: RtmpMessage[], chunkSize = 128): Buffer {
  const parts: Buffer[] = [Buffer.from([3]), Buffer.alloc(1536 * 2, 7)];
  for (const m of messages) {
    for (let at = 0; at === 0 || at < m.payload.length; at += chunkSize) {
      const header = at === 0 ? Buffer.alloc(12) : Buffer.from([0xc0 | 3]);
      if (at === 0) {
        header[0] = 3;
        header.writeUIntBE(m.payload.length, 4, 3);
        header[7] = m.typeId;
      }
      parts.push(header, m.payload.subarray(at, at + chunkSize));
    }
  }
  return Buffer.concat(parts);
}

const CONNECT = command('connect', 1);
const publish = (name: string) => [CONNECT, command('releaseStream', 2, name), command('FCPublish', 3, name), command('createStream', 4), command('publish', 5, name, 'live')];

test('the RTMP publish name: stream and key; the SRT stream id publish/<stream>/<key>, escaped or not', () => {
  assert.deepEqual(rtmpPublisher('demo?key=abc&x=1'), { stream: 'demo', key: 'abc' });
  assert.deepEqual(rtmpPublisher('demo'), { stream: 'demo', key: undefined });
  assert.deepEqual(srtPublisher('publish/demo/k/with/slash'), { stream: 'demo', key: 'k/with/slash' });
  assert.deepEqual(srtPublisher('publish%2Fdemo%2Fabc'), { stream: 'demo', key: 'abc' });
  assert.equal(srtPublisher('play/demo'), undefined);
  const keys = new PublishKeys('demo', ['new-key', 'old-key']);
  assert.equal(keys.check({ stream: 'demo', key: 'old-key' }), undefined);
  assert.equal(keys.check({ stream: 'demo', key: 'new-ke' }), 'wrong-key');
  assert.equal(keys.check({ stream: 'demo', key: '' }), 'no-key');
  assert.equal(keys.check({ stream: 'other', key: 'new-key' }), 'wrong-stream');
  assert.equal(keys.check(undefined), 'not-publish');
});

test('the first command naming a stream decides; play and media before a name are refused', () => {
  const keys = new PublishKeys('demo', ['k1-0123456789']);
  assert.deepEqual(judge([CONNECT, command('createStream', 2)], keys), undefined);
  assert.deepEqual(judge(publish('demo?key=k1-0123456789'), keys), { allow: true, stream: 'demo' });
  assert.deepEqual(judge(publish('demo?key=nope'), keys), { allow: false, reason: 'wrong-key', stream: 'demo' });
  assert.deepEqual(judge([CONNECT, command('play', 2, 'demo')], keys), { allow: false, reason: 'not-publish' });
  assert.deepEqual(judge([CONNECT, { typeId: 9, payload: Buffer.alloc(10) }], keys), { allow: false, reason: 'not-publish' });
  assert.deepEqual(judge([{ typeId: 20, payload: Buffer.from([0x02, 0xff]) }], keys), { allow: false, reason: 'unreadable' });
});

test('property: cut anywhere, the reader reads the same messages and consumes whole chunks only', () => {
  fc.assert(fc.property(
    fc.array(fc.string({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 4 }),
    fc.integer({ min: 16, max: 400 }),
    fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 30 }),
    (names, chunkSize, cuts) => {
      const setChunk: RtmpMessage = { typeId: 1, payload: Buffer.from([0, 0, chunkSize >> 8, chunkSize & 0xff]) };
      // The Set Chunk Size message itself goes at the default size; everything after at the new one.
      const head = chunkStream([setChunk]);
      const rest = chunkStream(names.map((n) => command('FCPublish', 1, n)), chunkSize).subarray(1 + 1536 * 2);
      const stream = Buffer.concat([head, rest]);
      const reader = new RtmpClientReader();
      const got: RtmpMessage[] = [];
      let pending = Buffer.alloc(0);
      let at = 0;
      for (let i = 0; at < stream.length; i++) {
        const n = cuts[i % cuts.length]!;
        pending = Buffer.concat([pending, stream.subarray(at, at + n)]);
        at += n;
        const read = reader.read(pending);
        got.push(...read.messages);
        pending = pending.subarray(read.consumed);
      }
      assert.equal(pending.length, 0, 'everything consumed once the stream is whole');
      assert.deepEqual(got.slice(1).map((m) => m.payload.toString('hex')), names.map((n) => command('FCPublish', 1, n).payload.toString('hex')));
    },
  ), { numRuns: 200 });
});

test('fuzz: garbage after the handshake is refused with RtmpFormatError or waits for more, never another error', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, handshake) => {
    const reader = new RtmpClientReader();
    const data = handshake ? Buffer.concat([Buffer.from([3]), Buffer.alloc(3072), Buffer.from(bytes)]) : Buffer.from(bytes);
    try {
      const { consumed } = reader.read(data);
      assert.ok(consumed <= data.length);
    } catch (err) {
      assert.ok(err instanceof RtmpFormatError, String(err));
    }
  }), { numRuns: 500 });
});

/** A caller's conclusion handshake with `streamId` in its SID extension, as libsrt writes it. */
function conclusion(streamId: string | undefined, socketId = 0x1234abcd): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x80000000, 0);
  const cif = Buffer.alloc(48);
  cif.writeUInt32BE(5, 0);
  cif.writeUInt32BE(0xffffffff, 20);
  cif.writeUInt32BE(socketId, 24);
  const hsreq = Buffer.from('00010003000105010000000000780000', 'hex');
  if (streamId === undefined) return Buffer.concat([header, cif, hsreq]);
  const raw = Buffer.from(streamId);
  const padded = Buffer.alloc(Math.ceil(raw.length / 4) * 4);
  raw.copy(padded);
  for (let w = 0; w < padded.length; w += 4) padded.subarray(w, w + 4).reverse();
  const ext = Buffer.alloc(4);
  ext.writeUInt16BE(5, 0);
  ext.writeUInt16BE(padded.length / 4, 2);
  return Buffer.concat([header, cif, hsreq, ext, padded]);
}

test('property: the SRT stream id read back from any conclusion; other packets are no conclusion; the rejection goes to the caller', () => {
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 200 }).filter((s) => !s.includes('\0')), (id) => {
    assert.equal(conclusionStreamId(conclusion(id)), id);
  }), { numRuns: 300 });
  assert.equal(conclusionStreamId(conclusion(undefined)), null);
  const induction = conclusion('x');
  induction.writeUInt32BE(1, 36);
  assert.equal(conclusionStreamId(induction), undefined);
  assert.equal(conclusionStreamId(Buffer.alloc(100)), undefined, 'a data packet');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => { conclusionStreamId(Buffer.from(bytes)); }));
  const rejected = rejection(conclusion('publish/demo/bad', 0xcafe));
  assert.equal(rejected.readUInt32BE(12), 0xcafe, "to the caller's socket");
  assert.equal(rejected.readUInt32BE(36), 2403, 'SRT_REJX_FORBIDDEN');
});

test('SRT door over UDP: a wrong key is answered with a rejection and never reaches ffmpeg; a flood of handshakes cannot keep the publisher out', async () => {
  const upstream = createSocket('udp4');
  upstream.bind(0, '127.0.0.1');
  await once(upstream, 'listening');
  const conclusionsUpstream: string[] = [];
  upstream.on('message', (packet) => {
    const id = conclusionStreamId(packet);
    if (typeof id === 'string') conclusionsUpstream.push(id);
  });
  const events: string[] = [];
  const door = await startSrtGate({
    keys: new PublishKeys('demo', ['good-key-0123456789']), host: '127.0.0.1', port: 0,
    upstreamHost: '127.0.0.1', upstreamPort: upstream.address().port, onEvent: (event, f) => events.push(`${event} ${String(f.reason ?? '')}`),
  });
  const sockets: Socket[] = [];
  const caller = async () => {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    sockets.push(socket);
    return socket;
  };
  try {
    const induction = conclusion('x');
    induction.writeUInt32BE(1, 36);
    for (let i = 0; i < MAX_CALLERS * 2; i++) (await caller()).send(induction.subarray(0, 64), door.port, '127.0.0.1');
    const bad = await caller();
    const answer = once(bad, 'message', { signal: AbortSignal.timeout(10_000) });
    bad.send(conclusion('publish/demo/bad-key'), door.port, '127.0.0.1');
    const [rejected] = await answer as [Buffer];
    assert.equal(rejected.readUInt32BE(36), 2403);
    const good = await caller();
    good.send(conclusion('publish/demo/good-key-0123456789'), door.port, '127.0.0.1');
    const deadline = Date.now() + 10_000;
    while (!conclusionsUpstream.includes('publish/demo/good-key-0123456789')) {
      assert.ok(Date.now() < deadline, 'the good conclusion reached ffmpeg despite the flood');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!conclusionsUpstream.includes('publish/demo/bad-key'), 'the bad one never did');
    assert.deepEqual(events, ['publish_refused wrong-key', 'publish_allowed ']);
  } finally {
    for (const s of sockets) s.close();
    upstream.close();
    await door.close();
  }
});
