import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { OriginPool } from './origin-pool.js';

/** A throwaway self-signed certificate for 127.0.0.1, trusted by this test process only. */
function trustedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-tls-'));
  try {
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
    assert.equal(made.status, 0, `openssl: ${made.stderr ?? made.error}`);
    const pair = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    setDefaultCACertificates([...getCACertificates('default'), pair.cert]);
    return pair;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('speaks HTTP/1.1 to a TLS origin that also offers h2 (undici 8 would pick h2 by ALPN)', async (t) => {
  const versions: string[] = [];
  const server = createSecureServer({ ...trustedCertificate(), allowHTTP1: true }, (req, res) => {
    versions.push(req.httpVersion);
    res.writeHead(200, { 'content-type': 'video/mp2t' }).end('segment');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const pool = new OriginPool([`https://127.0.0.1:${(server.address() as AddressInfo).port}`], {
    timeoutMs: 10_000, retryMs: 1_000, userAgent: 'cascade-test', now: Date.now,
  });
  t.after(() => pool.close());

  const res = await pool.fetch('/live/seg1.ts');
  assert.equal(res.status, 200);
  assert.equal(Buffer.concat(await res.body.toArray()).toString(), 'segment');
  assert.deepEqual(versions, ['1.1']);
});

/** An origin stand-in answering each path from `answers` (status, body), else 404; `hits` counts requests by path. */
async function stubOrigin(t: { after(fn: () => unknown): void }, answers: Record<string, [number, string]>): Promise<{ url: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    hits.set(req.url!, (hits.get(req.url!) ?? 0) + 1);
    const [status, body] = answers[req.url!] ?? [404, 'not found'];
    res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

test('a segment one origin answers 404 for is asked of the next origin once; a playlist 404 is the answer (issue 13)', async (t) => {
  const a = await stubOrigin(t, { '/hls/s/index.m3u8': [404, 'no playlist'] });
  const b = await stubOrigin(t, { '/hls/s/seg1.ts': [200, 'from b'], '/hls/s/index.m3u8': [200, '#EXTM3U'] });
  const c = await stubOrigin(t, { '/hls/s/seg2.ts': [200, 'from c'] });
  const next: string[] = [];
  const pool = new OriginPool([a.url, b.url, c.url], { timeoutMs: 10_000, retryMs: 60_000, userAgent: 'cascade-test', now: Date.now, onNotFoundNext: (o) => next.push(o) });
  t.after(() => pool.close());
  const text = async (res: { body: Readable }) => Buffer.concat(await res.body.toArray()).toString();

  const seg = await pool.fetch('/hls/s/seg1.ts');
  assert.deepEqual([seg.status, seg.origin, await text(seg)], [200, b.url, 'from b']);
  assert.deepEqual(next, [a.url]);

  const playlist = await pool.fetch('/hls/s/index.m3u8');
  assert.deepEqual([playlist.status, playlist.origin], [404, a.url], 'a playlist 404 is an answer');
  await text(playlist);
  assert.equal(b.hits.get('/hls/s/index.m3u8'), undefined);

  // Only one try at the next: seg2 is on c only, and b's 404 stands (a's, the first, is the one answered).
  const missing = await pool.fetch('/hls/s/seg2.ts');
  assert.deepEqual([missing.status, missing.origin], [404, b.url]);
  assert.equal(await text(missing), 'not found');
  assert.equal(c.hits.get('/hls/s/seg2.ts'), undefined);
  assert.deepEqual(next, [a.url, a.url]);
  assert.deepEqual(pool.candidates().map((x) => x.healthy), [true, true, true], 'a 404 benches no origin');
});

test('a segment\'s 404 stands when the next origin fails', async (t) => {
  const a = await stubOrigin(t, {});
  const b = await stubOrigin(t, { '/hls/s/seg1.ts': [503, 'down'] });
  const pool = new OriginPool([a.url, b.url], { timeoutMs: 10_000, retryMs: 60_000, userAgent: 'cascade-test', now: Date.now });
  t.after(() => pool.close());
  const res = await pool.fetch('/hls/s/seg1.ts');
  assert.deepEqual([res.status, res.origin], [404, a.url]);
  assert.equal(Buffer.concat(await res.body.toArray()).toString(), 'not found');
});
