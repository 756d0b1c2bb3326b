// TLS for every role: HTTP/2, with HTTP/1.1 on the same port for clients that do not offer h2 in ALPN
// (ffmpeg's uploads, curl --http1.1, older players), and the certificate re-read on SIGHUP. LL-HLS
// players keep several blocking reloads open at once; over HTTP/2 they share one connection, and
// Apple's players expect HTTP/2 for LL-HLS.
import { readFileSync } from 'node:fs';
import { constants, createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSecureContext } from 'node:tls';

/** PEM files of the certificate (chain) and its private key. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export class TlsFilesError extends Error {
  override name = 'TlsFilesError';
}

/** A request as either server hands it over: HTTP/1.1 (plain or TLS) or an HTTP/2 stream. */
export type AnyRequest = IncomingMessage | Http2ServerRequest;
export type AnyResponse = ServerResponse | Http2ServerResponse;

/** Reads and checks the pair (a key that does not match the certificate is refused here, not at the first handshake). */
export function readTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new TlsFilesError(`cannot read the TLS ${what} '${path}': ${(err as Error).message}`);
    }
  };
  const pair = { cert: read(files.certFile, 'certificate'), key: read(files.keyFile, 'key') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new TlsFilesError(`TLS certificate '${files.certFile}' and key '${files.keyFile}' unusable: ${(err as Error).message}`);
  }
  return pair;
}

export function createTlsServer(files: TlsFiles, onRequest: (req: Http2ServerRequest, res: Http2ServerResponse) => void): Http2SecureServer {
  // ALPN offers h2 then http/1.1 (allowHTTP1); a client without ALPN gets HTTP/1.1.
  return createSecureServer({ ...readTls(files), allowHTTP1: true }, onRequest);
}

/**
 * New handshakes use the files as they are now; connections already open keep their session. A pair
 * that cannot be read or does not match throws, and the server keeps the one it had.
 */
export function reloadTls(server: Http2SecureServer, files: TlsFiles): void {
  server.setSecureContext(readTls(files));
}

/**
 * Whether the client is gone (or the response was cut). Roles write to Node's HTTP/1 ServerResponse API;
 * over HTTP/2 the same object is the compatibility response (typed as a ServerResponse by
 * @hono/node-server), which has everything they use but `destroyed`: its stream has it.
 */
export function responseGone(res: AnyResponse): boolean {
  return 'stream' in res ? res.stream.destroyed : res.destroyed;
}

/**
 * Ends a response whose body is cut (the upstream failed mid-body), so the client cannot take it for
 * complete: HTTP/1.1 has only the closed connection to say so; HTTP/2 resets the stream with
 * INTERNAL_ERROR (a bare destroy would reset it with NO_ERROR, which clients read as a normal end).
 */
export function cutResponse(res: AnyResponse): void {
  if ('stream' in res) res.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}
