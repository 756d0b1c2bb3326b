// Serving a role's Hono app on Node's HTTP server, with a bounded graceful stop.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { shieldBadTarget } from './app.js';
import { answerFirst, type FastAnswer } from './fast-http.js';
import { hostPortUrl } from './url.js';

export interface FetchApp {
  fetch: (request: Request, env: any) => Response | Promise<Response>;
}

export interface Listening {
  server: Server;
  port: number;
  host: string;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  /** Keep-alive idle timeout for client connections (ms). */
  keepAliveTimeout?: number;
  /** Share the port with other processes (SO_REUSEPORT; src/workers.ts), bypassing cluster's primary. */
  reusePort?: boolean;
  /** Answers plain requests on the raw socket before Node's HTTP server (src/fast-http.ts). */
  fastPath?: FastAnswer;
}

export function listen(app: FetchApp, options: ListenOptions): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const handle = getRequestListener(app.fetch);
    const server = createServer((incoming, outgoing) => {
      // The app checks the raw target itself (with CORS and a reason); @hono/node-server must not see a
      // malformed one first, or it answers a bare 400 of its own before the app runs.
      shieldBadTarget(incoming);
      void handle(incoming, outgoing);
    });
    server.keepAliveTimeout = options.keepAliveTimeout ?? 65_000;
    const fast = options.fastPath && answerFirst(server, options.fastPath, server.keepAliveTimeout);
    // Uploads from ffmpeg and long-polling players can legitimately take a while; the roles bound idle time themselves.
    server.requestTimeout = 0;
    server.headersTimeout = 30_000;
    let inFlight = 0;
    let drained: (() => void) | undefined;
    server.on('request', (_req, res) => {
      inFlight++;
      res.once('close', () => {
        inFlight--;
        if (inFlight === 0) drained?.();
      });
    });
    server.once('error', reject);
    server.listen({ port: options.port, host: options.host, ...(options.reusePort ? { reusePort: true, exclusive: true } : {}) });
    server.once('listening', () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      let closing: Promise<void> | undefined;
      resolve({
        server,
        port: addr.port,
        host: options.host,
        url: hostPortUrl(options.host, addr.port),
        close(graceMs = 10_000) {
          closing ??= new Promise<void>((done) => {
            const closed = new Promise<void>((r) => server.close(() => r()));
            server.closeIdleConnections();
            fast?.endAll();
            const idle = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => { drained = r; });
            const timer = setTimeout(() => {
              server.closeAllConnections();
              fast?.destroyAll();
            }, graceMs);
            void idle.then(() => {
              // Keep-alive sockets that just finished a response are idle now.
              server.closeIdleConnections();
              return closed;
            }).then(() => {
              clearTimeout(timer);
              done();
            });
          });
          return closing;
        },
      });
    });
  });
}
