import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
