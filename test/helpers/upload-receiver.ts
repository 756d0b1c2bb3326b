// A tiny HTTP server standing in for the origin: records every upload ffmpeg sends (PUT/POST/DELETE).
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upload {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

export interface UploadReceiver {
  url: string;
  uploads: Upload[];
  /** Latest body stored under a path (PUT), undefined after DELETE. */
  files: Map<string, Buffer>;
  /** Resolves when some upload satisfies the predicate (checked on each new upload), or rejects at the deadline. */
  waitFor(pred: (u: Upload, all: Upload[]) => boolean, timeoutMs: number, what: string): Promise<Upload>;
  close(): Promise<void>;
}

export async function startUploadReceiver(): Promise<UploadReceiver> {
  const uploads: Upload[] = [];
  const files = new Map<string, Buffer>();
  const waiters = new Set<(u: Upload) => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const u: Upload = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), at: Date.now() };
      uploads.push(u);
      if (u.method === 'DELETE') files.delete(u.path);
      else files.set(u.path, u.body);
      res.statusCode = u.method === 'DELETE' ? 204 : 201;
      res.end();
      for (const w of [...waiters]) w(u);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    uploads,
    files,
    waitFor(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const found = uploads.find((u) => pred(u, uploads));
        if (found) return resolve(found);
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${uploads.length} uploads: ${uploads.slice(-8).map((u) => `${u.method} ${u.path}`).join(', ')}`)); }, timeoutMs);
        const check = (u: Upload) => {
          if (pred(u, uploads)) { clearTimeout(timer); waiters.delete(check); resolve(u); }
        };
        waiters.add(check);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
