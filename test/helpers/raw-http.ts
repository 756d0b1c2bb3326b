// HTTP/1.1 over a plain socket: the request target goes on the wire byte for byte (fetch, undici and
// node:http all normalise or refuse hostile targets before sending them).
import { connect } from 'node:net';

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
