// In-process origins for edge tests: plain node:http on a loopback port, counting every request and
// answering from per-path routes that can delay, hold (until a gate opens), dribble or cut the body; and
// a raw TCP one that writes scripted bytes, for upstreams that break HTTP itself.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

export interface Route {
  status?: number;
  /** An array value is sent as repeated field lines. */
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
  /** Wait before sending headers. */
  delayMs?: number;
  /** Headers wait until this resolves. */
  gate?: Promise<void>;
  /** Send the first N body bytes, then wait for `bodyGate` before the rest. */
  splitAt?: number;
  bodyGate?: Promise<void>;
  /** Send headers (with the full Content-Length unless `chunked`) and this many bytes, then destroy the socket. */
  abortAfter?: number;
  chunked?: boolean;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface FakeOrigin {
  url: string;
  server: Server;
  /** Requests per path (with query) seen so far. */
  count(pathWithQuery: string): number;
  total(): number;
  /** Paths with query as received, in order. */
  seen: string[];
  route(pathWithQuery: string, route: Route | Handler): void;
  close(): Promise<void>;
}

export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

export async function startFakeOrigin(): Promise<FakeOrigin> {
  const routes = new Map<string, Route | Handler>();
  const counts = new Map<string, number>();
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    seen.push(url);
    counts.set(url, (counts.get(url) ?? 0) + 1);
    const route = routes.get(url) ?? routes.get(url.split('?')[0]!);
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such route\n');
      return;
    }
    if (typeof route === 'function') return route(req, res);
    void answer(route, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    seen,
    count: (p) => counts.get(p) ?? 0,
    total: () => seen.length,
    route: (p, r) => { routes.set(p, r); },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function answer(route: Route, res: ServerResponse): Promise<void> {
  if (route.delayMs) await new Promise((r) => setTimeout(r, route.delayMs));
  if (route.gate) await route.gate;
  const body = Buffer.from(route.body ?? '');
  const headers: Record<string, string | string[]> = { ...route.headers };
  if (!route.chunked) headers['content-length'] = String(body.length);
  res.writeHead(route.status ?? 200, headers);
  if (route.abortAfter !== undefined) {
    res.write(body.subarray(0, route.abortAfter), () => res.destroy());
    return;
  }
  if (route.splitAt !== undefined) {
    res.write(body.subarray(0, route.splitAt));
    await route.bodyGate;
    res.end(body.subarray(route.splitAt));
    return;
  }
  res.end(body);
}

/** One step of a scripted upstream: raw bytes, a pause, or how the connection ends. */
export type Step =
  | { write: string | Buffer }
  | { waitMs: number }
  /** Wait until this resolves. */
  | { gate: Promise<void> }
  /** Close our side cleanly (FIN) after what was written. */
  | { end: true }
  /** Reset the connection. */
  | { destroy: true }
  /** Send nothing more and keep the connection open until the server closes. */
  | { stall: true };

export interface ScriptedOrigin {
  url: string;
  /** Each request for `path` plays the next script of the list (the last one repeats). */
  route(path: string, ...scripts: Step[][]): void;
  count(path: string): number;
  close(): Promise<void>;
}

/**
 * An origin that writes exactly the bytes a test scripts, for upstreams that lie, stall and cut. After
 * a script that neither ends nor resets, the connection stays open for the next request (keep-alive), so
 * bytes written beyond the response's framing reach whoever reads that connection next.
 */
export async function startScriptedOrigin(): Promise<ScriptedOrigin> {
  const scripts = new Map<string, Step[][]>();
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    let busy = false;
    const next = async (): Promise<void> => {
      const split = pending.indexOf('\r\n\r\n');
      if (busy || split === -1) return;
      busy = true;
      const path = pending.subarray(0, split).toString('latin1').split(' ')[1] ?? '/';
      pending = pending.subarray(split + 4);
      const n = counts.get(path) ?? 0;
      counts.set(path, n + 1);
      const list = scripts.get(path) ?? [[{ write: 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n' }]];
      for (const step of list[Math.min(n, list.length - 1)]!) {
        if (socket.destroyed) return;
        if ('write' in step) socket.write(step.write);
        else if ('waitMs' in step) await new Promise((r) => setTimeout(r, step.waitMs));
        else if ('gate' in step) await step.gate;
        else if ('end' in step) return void socket.end();
        else if ('destroy' in step) return void socket.destroy();
        else return; // stall
      }
      busy = false;
      void next();
    };
    socket.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      void next();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    route: (path, ...list) => { scripts.set(path, list); },
    count: (path) => counts.get(path) ?? 0,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
