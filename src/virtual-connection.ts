// The requests of a raw connection that its owner (src/fast-http.ts) leaves to Node's HTTP server, served
// while the connection itself stays with the owner. Node's server is given, once per connection, an
// in-memory Duplex that looks like the socket (the peer's and our address, no-op socket options); the
// owner pushes one request head at a time into it. What Node writes goes to the real socket in order,
// each write acknowledged only once the socket takes more, so a response to a client that does not read
// stops in ServerResponse and the app's stream, as it would on the socket itself.
//
// Each request ends one of three ways: its response's last byte has gone to the socket (the owner goes
// on; Node keeps the Duplex as an idle kept-alive connection for the next declined request, so its
// parser is set up once per connection, not per request); Node ends the Duplex (the response said
// `Connection: close`, or the client sent its FIN), and the socket is ended after the response; or Node
// destroys it before the response is complete (the app's body failed), and the socket is destroyed, so a
// truncated body never looks complete.
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * What became of the request in flight: the socket is the owner's again ('done'), it was ended after the
 * response ('ended'), it was cut ('cut'); or Node let go of the idle Duplex ('dropped': a graceful stop
 * closes idle connections), and the next declined request needs a new one.
 */
export type VirtualOutcome = 'done' | 'ended' | 'cut' | 'dropped';

export class VirtualConnection extends Duplex {
  // Read by the roles through IncomingMessage.socket (@hono/node-server/conninfo, access control).
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** A request head was pushed and its response is not yet all on the socket. */
  inFlight = false;
  /** Node's ServerResponse for the request in flight has finished: every byte of it was written here. */
  private responded = false;
  private settled = false;
  /** The write callback held until the socket drains. */
  private waiting: (() => void) | undefined;
  private readonly onDrain = (): void => {
    const done = this.waiting;
    this.waiting = undefined;
    done?.();
    this.settleIfFlushed();
  };

  constructor(readonly socket: Socket, private readonly done: (outcome: VirtualOutcome) => void) {
    // Node's strings (response heads) go to the socket as strings: no Buffer made for them here.
    super({ highWaterMark: socket.writableHighWaterMark, decodeStrings: false });
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.remoteFamily = socket.remoteFamily;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
  }

  // Node's server times connections out and sets socket options; the real socket's owner does that.
  setTimeout(): this { return this; }
  setNoDelay(): this { return this; }
  setKeepAlive(): this { return this; }

  /** Gives Node's server one complete request head (no body: the owner only leaves plain requests). */
  serve(head: Buffer): void {
    this.inFlight = true;
    this.responded = false;
    this.push(head);
  }

  /** Node's ServerResponse for the request finished (its 'finish'): the socket is the owner's once flushed. */
  responseFinished(): void {
    this.responded = true;
    this.settleIfFlushed();
  }

  override _read(): void {
    // The owner pushes request heads and, on the client's FIN, the end.
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, callback: () => void): void {
    this.forward(chunk.length === 0 || this.socket.write(chunk, encoding), callback);
  }

  override _writev(chunks: { chunk: Buffer | string; encoding: BufferEncoding }[], callback: () => void): void {
    let flowing = true;
    this.socket.cork();
    for (const { chunk, encoding } of chunks) if (chunk.length > 0) flowing = this.socket.write(chunk, encoding);
    this.socket.uncork();
    this.forward(flowing, callback);
  }

  /** Node ended the connection (the response said close, or the client sent its FIN): so is the socket, after it. */
  override _final(callback: () => void): void {
    this.settle('ended');
    this.socket.end();
    callback();
    // Node's server lets go of its parser and aborts a request still held (the client left).
    process.nextTick(destroyQuietly, this);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.off('drain', this.onDrain);
    // In flight: destroyed by Node (the app's body failed, the grace of a stop ran out) or because the client left.
    const outcome = this.inFlight ? 'cut' : 'dropped';
    if (outcome === 'cut') this.socket.destroy();
    this.settle(outcome);
    callback(error);
  }

  private forward(flowing: boolean, callback: () => void): void {
    if (!flowing && !this.socket.destroyed) {
      this.waiting = callback;
      this.socket.once('drain', this.onDrain);
      return;
    }
    callback();
    if (this.responded) this.settleIfFlushed();
  }

  private settleIfFlushed(): void {
    // Ended by Node: _final settles it, after the last write.
    if (!this.inFlight || !this.responded || this.waiting || this.writableLength > 0 || this.writableEnded) return;
    this.inFlight = false;
    this.done('done');
  }

  /** The Duplex is finished with: told once. */
  private settle(outcome: 'ended' | 'cut' | 'dropped'): void {
    if (this.settled) return;
    this.settled = true;
    this.inFlight = false;
    this.done(outcome);
  }
}

/**
 * Outside the write callback that finished the response: a Writable destroyed inside one makes an error
 * (with its stack) for callbacks it does not have.
 */
function destroyQuietly(connection: VirtualConnection): void {
  connection.destroy();
}
