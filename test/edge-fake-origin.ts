// An in-process origin for edge tests: plain node:http on a loopback port, counting every request and
// answering from per-path routes that can delay, hold (until a gate opens), dribble or cut the body.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

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
