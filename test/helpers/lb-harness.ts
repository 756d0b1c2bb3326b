// Shared by the test/lb-*.test.ts files: in-process stand-in edges, an LB on a free port, bounded polling.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { createLb, type Lb, type LbConfig } from '../../lb/index.js';
import { listen, type Listening } from '../../src/serve.js';

const TYPES: Record<string, string> = { '.m3u8': 'application/vnd.apple.mpegurl', '.ts': 'video/mp2t', '.m4s': 'video/iso.segment', '.mp4': 'video/mp4' };

export interface FakeEdge {
  id: string;
  port: number;
  url: string;
  hits: number;
  /** Health checks answered. */
  checks: number;
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/**
 * A minimal edge: /healthz, and /hls/<stream>/<path> from `dir` (or a one-line body), with the headers a
 * real edge sends players (X-Served-By, CORS exposing it).
 */
export async function startFakeEdge(id: string, dir?: string, keepAliveMs = 1000): Promise<FakeEdge> {
  let server: Server | undefined;
  let port = 0;
  const edge: FakeEdge = {
    id,
    port: 0,
    url: '',
    hits: 0,
    checks: 0,
    async start() {
      const srv = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0]!;
        res.setHeader('X-Served-By', id);
        res.setHeader('Access-Control-Allow-Origin', '*');
        res.setHeader('Access-Control-Expose-Headers', 'X-Served-By');
        res.setHeader('Cache-Control', 'no-store');
        if (path === '/healthz') {
          edge.checks++;
          return void res.end('ok\n');
        }
        if (!path.startsWith('/hls/')) return void res.writeHead(404).end();
        edge.hits++;
        if (!dir) return void res.end(`${id}\n`);
        const file = join(dir, path.split('/').slice(3).join('/'));
        readFile(file).then(
          (body) => res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
          () => res.writeHead(404).end(),
        );
      });
      srv.keepAliveTimeout = keepAliveMs;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => resolve());
      });
      port = (srv.address() as AddressInfo).port;
      edge.port = port;
      edge.url = `http://127.0.0.1:${port}`;
      server = srv;
    },
    async stop() {
      const srv = server;
      server = undefined;
      if (!srv) return;
      // Like a killed process: open connections die too.
      srv.closeAllConnections();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
  await edge.start();
  return edge;
}

export interface RunningLb {
  lb: Lb;
  url: string;
  listening: Listening;
  close(): Promise<void>;
}

export async function startLb(config: LbConfig): Promise<RunningLb> {
  const lb = createLb(config);
  // With the LB's raw-socket fast path, as `cascade lb` runs it.
  const listening = await listen(lb.app, { port: 0, host: '127.0.0.1', ...(lb.fastPath ? { fastPath: lb.fastPath } : {}) });
  return {
    lb,
    url: listening.url,
    listening,
    async close() {
      await listening.close(1000);
      await lb.close();
    },
  };
}

export interface Redirect {
  status: number;
  location: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/** One request to the LB, redirects not followed. */
export async function ask(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' | 'OPTIONS' = 'GET'): Promise<Redirect> {
  const res = await request(url, { method, headers });
  await res.body.dump();
  const location = res.headers.location;
  return { status: res.statusCode, location: typeof location === 'string' ? location : undefined, headers: res.headers };
}

/** The edge id a Location points at, given the edges' URLs. */
export function edgeOf(location: string | undefined, edges: readonly { id: string; url: string }[]): string | undefined {
  return edges.find((e) => location?.startsWith(e.url + '/'))?.id;
}

/** Polls `check` until it returns a value other than undefined, for at most `deadlineMs`. */
export async function pollUntil<T>(check: () => Promise<T | undefined> | T | undefined, deadlineMs: number, what: string, intervalMs = 20): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  }));
  return out;
}

export async function apiEdges(lbUrl: string): Promise<{ id: string; url: string; weight: number; healthy: boolean; share: number; drain: boolean; health: string }[]> {
  const res = await request(`${lbUrl}/api/edges`);
  return (await res.body.json()) as never;
}
