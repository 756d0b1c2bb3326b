// An HTTP server standing in for the origin that records how uploads arrive, not only what: for every
// PUT/POST/DELETE the path, headers, the arrival time of each body chunk, and the final bytes. Used to
// study what ffmpeg's dash muxer streams in low-latency mode (docs/low-latency.md) and to check it in tests.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with PDT and ffmpeg's clock). */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export interface CapturedChunk {
  /** Wall-clock arrival, ms. */
  at: number;
  /** Offset of the chunk's first byte in the body. */
  offset: number;
  bytes: Buffer;
}

export interface CapturedRequest {
  /** Arrival order, from 0. */
  index: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Wall-clock ms when the request head arrived. */
  startedAt: number;
  chunks: CapturedChunk[];
  /** Wall-clock ms when the body ended (or the client went away). */
  endedAt?: number;
  /** 'open' while the body streams; 'complete' after its end; 'aborted' when the client left mid-body. */
  state: 'open' | 'complete' | 'aborted';
  /** The whole body (so far, while open). */
  body(): Buffer;
}

export type CaptureEvent = 'start' | 'chunk' | 'end';

export interface UploadCapture {
  url: string;
  requests: CapturedRequest[];
  /** Latest complete body per path (PUT/POST); removed by DELETE. */
  files: Map<string, Buffer>;
  /** Called on every request start, body chunk and end, in arrival order. */
  onEvent(listener: (event: CaptureEvent, request: CapturedRequest) => void): () => void;
  /** Resolves with the first request for which `pred` holds after some event, or rejects at the deadline. */
  waitFor(pred: (r: CapturedRequest, all: CapturedRequest[]) => boolean, timeoutMs: number, what: string): Promise<CapturedRequest>;
  close(): Promise<void>;
}

export interface CaptureOptions {
  /** Upper bound on requests kept (the oldest complete ones are dropped first); default 20,000. */
  maxRequests?: number;
  /** The status a request is answered with once its body ended (default 201, DELETE 204); a file is kept only for a 2xx. */
  status?: (r: CapturedRequest) => number;
  /** Requests whose body is never read: an origin that stalls (TCP backpressure reaches the sender). */
  stall?: (r: CapturedRequest) => boolean;
}

export async function startUploadCapture(options: CaptureOptions = {}): Promise<UploadCapture> {
  const maxRequests = options.maxRequests ?? 20_000;
  const requests: CapturedRequest[] = [];
  const files = new Map<string, Buffer>();
  const listeners = new Set<(event: CaptureEvent, r: CapturedRequest) => void>();
  let count = 0;
  const emit = (event: CaptureEvent, r: CapturedRequest) => { for (const l of [...listeners]) l(event, r); };

  const server: Server = createServer((req, res) => {
    const chunks: CapturedChunk[] = [];
    let length = 0;
    const r: CapturedRequest = {
      index: count++, method: req.method ?? '', path: req.url ?? '', headers: req.headers, startedAt: wallMs(), chunks, state: 'open',
      body: () => Buffer.concat(chunks.map((c) => c.bytes)),
    };
    requests.push(r);
    if (requests.length > maxRequests) {
      const drop = requests.findIndex((x) => x.state !== 'open');
      if (drop !== -1) requests.splice(drop, 1);
    }
    emit('start', r);
    const aborted = () => {
      if (r.state !== 'open') return;
      r.endedAt = wallMs();
      r.state = 'aborted';
      emit('end', r);
    };
    req.on('close', aborted);
    // Never read: it sees nothing of the client going away either (it reads no FIN).
    if (options.stall?.(r)) {
      req.pause();
      return;
    }
    req.on('data', (d: Buffer) => {
      chunks.push({ at: wallMs(), offset: length, bytes: d });
      length += d.length;
      emit('chunk', r);
    });
    req.on('end', () => {
      r.endedAt = wallMs();
      r.state = 'complete';
      res.statusCode = options.status?.(r) ?? (r.method === 'DELETE' ? 204 : 201);
      if (res.statusCode < 300 && r.method === 'DELETE') files.delete(r.path);
      else if (res.statusCode < 300) files.set(r.path, r.body());
      res.end();
      emit('end', r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    files,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitFor(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const found = requests.find((r) => pred(r, requests));
        if (found) return resolve(found);
        const check = (_e: CaptureEvent, r: CapturedRequest) => {
          if (!pred(r, requests)) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve(r);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          const last = requests.slice(-8).map((r) => `${r.method} ${r.path} (${r.state})`).join(', ');
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${requests.length} requests, last: ${last}`));
        }, timeoutMs);
        listeners.add(check);
      });
    },
    close() {
      listeners.clear();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
