// Serving a role's Hono app on Node's HTTP server (or, with TLS, HTTP/2 and HTTP/1.1 on one port:
// src/tls.ts), with a bounded graceful stop.
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { shieldBadTarget } from './app.js';
import { answerFirst, type FastAnswer } from './fast-http.js';
import { createTlsServer, reloadTls, type AnyRequest, type AnyResponse, type TlsFiles } from './tls.js';
import { hostPortUrl } from './url.js';

export interface FetchApp {
  fetch: (request: Request, env: any) => Response | Promise<Response>;
}

export interface Listening {
  server: Server | Http2SecureServer;
  port: number;
  host: string;
  /** Base URL, e.g. http://127.0.0.1:8080 (https:// with TLS) */
  url: string;
  /** With TLS: re-reads the certificate and key for new connections; throws (keeping the old pair) if they are unusable. */
  reloadTls?(): void;
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  /** Keep-alive idle timeout for client connections (ms). */
  keepAliveTimeout?: number;
  /** Serve HTTPS (HTTP/2 and HTTP/1.1 via ALPN) with this certificate instead of plain HTTP/1.1. */
  tls?: TlsFiles;
  /** Share the port with other processes (SO_REUSEPORT; src/workers.ts), bypassing cluster's primary. */
  reusePort?: boolean;
  /** Answers plain requests on the raw socket before Node's HTTP server (src/fast-http.ts); plain HTTP only, ignored with TLS. */
  fastPath?: FastAnswer;
}

export function listen(app: FetchApp, options: ListenOptions): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const handle = getRequestListener(app.fetch);
    const onRequest = (incoming: AnyRequest, outgoing: AnyResponse): void => {
      // The app checks the raw target itself (with CORS and a reason); @hono/node-server must not see a
      // malformed one first, or it answers a bare 400 of its own before the app runs.
      shieldBadTarget(incoming as IncomingMessage);
      void handle(incoming, outgoing);
    };
    const { tls } = options;
    const server = tls ? createTlsServer(tls, onRequest) : createServer(onRequest);
    // HTTP/1.1 connections on the TLS server are run by Node's HTTP/1 code, which reads these same fields.
    const http1 = server as Server;
    const keepAliveTimeout = options.keepAliveTimeout ?? 65_000;
    http1.keepAliveTimeout = keepAliveTimeout;
    // The raw fast path reads plain TCP: a TLS server's sockets carry ciphertext (and HTTP/2), never it.
    const fast = !tls && options.fastPath ? answerFirst(http1, options.fastPath, keepAliveTimeout) : undefined;
    // Uploads from ffmpeg and long-polling players can legitimately take a while; the roles bound idle time themselves.
    http1.requestTimeout = 0;
    http1.headersTimeout = 30_000;
    // TLS sockets, to cut what is left when the grace runs out (an HTTP/2 session may carry many requests).
    const tlsSockets = new Set<Socket>();
    if (tls) {
      // HTTP/2 sessions idle this long are closed, like kept-alive HTTP/1.1 connections.
      server.setTimeout(keepAliveTimeout);
      server.on('secureConnection', (socket: Socket) => {
        tlsSockets.add(socket);
        socket.once('close', () => tlsSockets.delete(socket));
      });
    }
    const closeAll = (): void => {
      if (tls) for (const socket of tlsSockets) socket.destroy();
      else http1.closeAllConnections();
    };
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
        url: hostPortUrl(options.host, addr.port, tls ? 'https' : 'http'),
        ...(tls ? { reloadTls: () => reloadTls(server as Http2SecureServer, tls) } : {}),
        close(graceMs = 10_000) {
          closing ??= new Promise<void>((done) => {
            // With TLS, close() also asks every HTTP/2 session to finish its streams and end (GOAWAY).
            const closed = new Promise<void>((r) => server.close(() => r()));
            http1.closeIdleConnections();
            fast?.endAll();
            const idle = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => { drained = r; });
            const timer = setTimeout(() => {
              closeAll();
              fast?.destroyAll();
            }, graceMs);
            void idle.then(() => {
              // Keep-alive sockets that just finished a response are idle now.
              http1.closeIdleConnections();
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
