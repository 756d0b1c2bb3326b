// HTTP/1.1 over a plain socket: the request target goes on the wire byte for byte (fetch, undici and
// node:http all normalise or refuse hostile targets before sending them).
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  host?: string;
}

function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) break;
    const size = parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/** One request on its own connection (`Connection: close`); resolves with the parsed response. */
export function rawRequest(port: number, target: string, options: RawRequestOptions = {}): Promise<RawResponse> {
  const method = options.method ?? 'GET';
  const body = options.body !== undefined ? Buffer.from(options.body) : undefined;
  const head = [`${method} ${target} HTTP/1.1`, `Host: ${options.host ?? `127.0.0.1:${port}`}`, 'Connection: close',
    ...Object.entries(options.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    ...(body ? [`Content-Length: ${body.length}`] : []), '', ''].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(30_000, () => socket.destroy(new Error(`no response to ${method} ${JSON.stringify(target)} in 30 s`)));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end === -1) return reject(new Error(`no complete response to ${method} ${JSON.stringify(target)}: ${JSON.stringify(all.toString('latin1'))}`));
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const colon = l.indexOf(':');
        headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
      }
      let rest: Buffer = all.subarray(end + 4);
      if (headers['transfer-encoding'] === 'chunked') rest = dechunk(rest);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: rest.toString('utf8') });
    });
    // The target as UTF-8 bytes, as a careless client would send non-ASCII.
    socket.write(Buffer.concat([Buffer.from(head, 'utf8'), body ?? Buffer.alloc(0)]));
  });
}

/**
 * The responses in the bytes of one connection, in order, as far as they are complete (a Content-Length
 * body, or chunked up to its last chunk); `partial` is the start of one that is not (a cut response).
 */
export function parseResponses(bytes: Buffer): { responses: RawResponse[]; partial: Buffer } {
  const responses: RawResponse[] = [];
  let at = 0;
  for (;;) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const [statusLine, ...lines] = bytes.subarray(at, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const colon = l.indexOf(':');
      headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
    }
    let bodyEnd: number;
    if (headers['transfer-encoding'] === 'chunked') {
      const last = bytes.indexOf('\r\n0\r\n\r\n', end + 2);
      if (last === -1) break;
      bodyEnd = last + 7;
    } else {
      bodyEnd = end + 4 + Number(headers['content-length'] ?? 0);
      if (bodyEnd > bytes.length) break;
    }
    let body: Buffer = bytes.subarray(end + 4, bodyEnd);
    if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
    responses.push({ status: Number(statusLine!.split(' ')[1]), headers, body: body.toString('utf8') });
    at = bodyEnd;
  }
  return { responses, partial: bytes.subarray(at) };
}

/** One kept-alive connection read as a whole: write requests, wait for responses, see how it ended. */
export class RawConnection {
  readonly socket: Socket;
  private received = Buffer.alloc(0);
  private readonly waiters = new Set<() => void>();
  /** Resolves when the connection is closed, with whether the server ended or cut it first. */
  readonly closed: Promise<void>;
  endedByServer = false;
  connected: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.connected = new Promise((r) => this.socket.once('connect', () => r()));
    this.socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
      for (const w of this.waiters) w();
    });
    this.socket.on('end', () => { this.endedByServer = true; });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((r) => this.socket.once('close', () => r()));
    void this.closed.then(() => { for (const w of this.waiters) w(); });
  }

  get bytes(): Buffer { return this.received; }

  write(data: string | Buffer): void { this.socket.write(data); }

  /** Waits until `count` complete responses arrived (rejects if the connection closes first, or after `ms`). */
  responses(count: number, ms = 15_000): Promise<RawResponse[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const { responses } = parseResponses(this.received);
        if (responses.length >= count) return done(() => resolve(responses));
        if (this.socket.destroyed) done(() => reject(new Error(`closed after ${responses.length} of ${count} responses: ${JSON.stringify(this.received.toString('latin1').slice(-400))}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${count} responses not in ${ms} ms: ${JSON.stringify(this.received.toString('latin1').slice(-400))}`))), ms);
      const done = (then: () => void) => { clearTimeout(timer); this.waiters.delete(check); then(); };
      this.waiters.add(check);
      check();
    });
  }

  destroy(): void { this.socket.destroy(); }
}
