// HTTP client side of the edge tests: many concurrent GETs over their own sockets, with the moment each
// one's headers arrived, and whether its body was complete or cut.
import { Agent, request } from 'undici';
import { createHash } from 'node:crypto';
import { connect } from 'node:net';

export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** performance.now() when the response headers arrived. */
  headersAt: number;
  body: Buffer;
  /** The body ended cleanly (not reset, not short of Content-Length). */
  complete: boolean;
  sha: string;
}

export function clientAgent(connections = 600): Agent {
  return new Agent({ connections, pipelining: 0, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000 });
}

export async function get(agent: Agent, url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Fetched> {
  const res = await request(url, { dispatcher: agent, headers, method });
  const headersAt = performance.now();
  const chunks: Buffer[] = [];
  let complete = true;
  try {
    for await (const c of res.body) chunks.push(c as Buffer);
  } catch {
    complete = false;
  }
  const body = Buffer.concat(chunks);
  return { status: res.statusCode, headers: res.headers, headersAt, body, complete, sha: createHash('sha256').update(body).digest('hex') };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** performance.now() when the first response byte arrived. */
  firstByteAt: number;
  /** Framing says the body is whole: all Content-Length bytes, or the chunked terminator. */
  complete: boolean;
  sha: string;
}

/**
 * One GET over a fresh socket with `Connection: close`, recording when the first byte arrives and
 * judging completeness from the raw framing — what a player's HTTP stack would conclude.
 */
export function rawGet(url: string, extraHeaders: Record<string, string> = {}, requestTarget?: string): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    let firstByteAt = 0;
    socket.on('data', (d: Buffer) => {
      if (firstByteAt === 0) firstByteAt = performance.now();
      chunks.push(d);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks);
      const split = raw.indexOf('\r\n\r\n');
      if (split === -1) return reject(new Error(`no response head (${raw.length} bytes)`));
      const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      const rest = raw.subarray(split + 4);
      let body: Buffer = rest;
      let complete: boolean;
      if (headers['transfer-encoding'] === 'chunked') ({ body, complete } = dechunk(rest));
      else if (headers['content-length'] !== undefined) complete = rest.length === Number(headers['content-length']);
      else complete = false;
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body, firstByteAt, complete, sha: createHash('sha256').update(body).digest('hex') });
    });
    const head = Object.entries({ host: u.host, connection: 'close', ...extraHeaders }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET ${requestTarget ?? u.pathname + u.search} HTTP/1.1\r\n${head}\r\n`);
  });
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol === -1) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), complete: false };
    if (size === 0) return { body: Buffer.concat(parts), complete: data.indexOf('\r\n', eol + 2) !== -1 };
    if (eol + 2 + size > data.length) {
      parts.push(data.subarray(eol + 2));
      return { body: Buffer.concat(parts), complete: false };
    }
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
