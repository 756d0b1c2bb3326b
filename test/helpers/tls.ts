// A self-signed certificate made by openssl for 127.0.0.1, and clients that speak HTTP/2 or HTTP/1.1
// over TLS to a role and say which protocol was used and which certificate the server showed.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as h2connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

export interface TestCert {
  certFile: string;
  keyFile: string;
  pem: string;
  fingerprint: string;
}

/** Writes `<name>.crt` and `<name>.key` into `dir`: EC P-256, valid for a day, for 127.0.0.1 and localhost. */
export function makeCert(dir: string, name: string): TestCert {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const pem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

export interface TlsAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** 'h2' or 'http/1.1', as negotiated by ALPN. */
  protocol: string;
  /** SHA-256 fingerprint of the certificate the server showed. */
  fingerprint: string;
}

/** An HTTP/2 session to `url` trusting `ca`; `get` sends a request on it (several may be in flight). */
export function h2Session(url: string, ca: string | string[]): { session: ClientHttp2Session; get(path: string, headers?: Record<string, string>): Promise<TlsAnswer>; close(): void } {
  const session = h2connect(url, { ca });
  return {
    session,
    get(path, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = session.request({ ':path': path, ...headers });
        const chunks: Buffer[] = [];
        let head: IncomingHttpHeaders = {};
        req.on('response', (h) => { head = h; });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.resume();
        // As a player would: a reset stream, or fewer bytes than announced, is an error, not a body.
        req.on('close', () => {
          const length = head['content-length'];
          if (req.rstCode !== constants.NGHTTP2_NO_ERROR) return reject(new Error(`stream reset (code ${req.rstCode})`));
          if (length !== undefined && Number(length) !== Buffer.concat(chunks).length) return reject(new Error(`cut at ${Buffer.concat(chunks).length} of ${length} bytes`));
          const socket = session.socket as TLSSocket;
          resolve({
            status: Number(head[':status']), headers: head, body: Buffer.concat(chunks),
            protocol: socket.alpnProtocol || '', fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '',
          });
        });
        req.on('error', reject);
        req.end();
      });
    },
    close() { session.close(); },
  };
}

/** One HTTPS request over HTTP/1.1 (ALPN offers only http/1.1), on a fresh connection. */
export function h1Request(url: string, ca: string | string[], method = 'GET', body?: Buffer, headers: Record<string, string> = {}): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const options: RequestOptions & { ALPNProtocols: string[] } = { method, ca, ALPNProtocols: ['http/1.1'], agent: false, headers };
    const req = httpsRequest(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const socket = res.socket as TLSSocket;
        resolve({
          status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks),
          protocol: socket.alpnProtocol || '', fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '',
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
