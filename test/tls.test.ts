// HTTPS on every role (src/tls.ts through src/serve.ts): HTTP/2 and HTTP/1.1 on one port by ALPN, the
// edge's direct writes (fast hits, released waiters, read-while-write bodies, cut bodies) over HTTP/2
// streams, LL-HLS blocking reloads multiplexed on one connection and coalesced, the LB's redirect, an
// upload to the origin, the certificate re-read (in process and on SIGHUP), and the CLI's checks.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEdge, type Edge } from '../edge/index.js';
import { createLb } from '../lb/index.js';
import { createOrigin } from '../origin/index.js';
import { listen, type Listening } from '../src/serve.js';
import { startFakeEdge } from './helpers/lb-harness.js';
import { startLlFakeOrigin, type LlFakeOrigin } from './helpers/ll-fake-origin.js';
import { CLI, freePort, startChild } from './helpers/process.js';
import { h1Request, h2Session, makeCert, type TestCert } from './helpers/tls.js';

let dir: string;
let cert: TestCert;
let origin: LlFakeOrigin;
let edge: Edge;
let edgeServer: Listening;
const closers: (() => Promise<void>)[] = [];
let rawAnswers = 0;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cascade-tls-'));
  cert = makeCert(dir, 'first');
  origin = await startLlFakeOrigin({ partTargetMs: 500, partBytes: 64 * 1024 });
  edge = createEdge({ id: 'edge-tls', origins: [origin.url] });
  // Given the edge's raw-socket fast path, as `cascade edge` gives it: a TLS server must never run it.
  assert.ok(edge.fastPath);
  const fastPath = edge.fastPath;
  edgeServer = await listen(edge.app, { port: 0, host: '127.0.0.1', tls: cert, fastPath: (req) => { rawAnswers++; return fastPath(req); } });
  closers.push(async () => { await edgeServer.close(500); await edge.close(); }, () => origin.close());
});
after(async () => {
  for (const close of closers.reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

test('the edge speaks HTTP/2 and HTTP/1.1 on one TLS port: a miss, then a fast-path hit, the same bytes', async () => {
  assert.match(edgeServer.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const h2 = h2Session(edgeServer.url, cert.pem);
  try {
    const path = origin.paths.segment('media_0', 10);
    const miss = await h2.get(path);
    assert.equal(miss.protocol, 'h2');
    assert.equal(miss.status, 200);
    assert.equal(miss.headers['x-cache'], 'MISS');
    const hit = await h2.get(path);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.body.equals(miss.body) && hit.body.length === 4 * 64 * 1024, 'the whole segment, twice');
    const h1 = await h1Request(edgeServer.url + path, cert.pem);
    assert.equal(h1.protocol, 'http/1.1');
    assert.equal(h1.headers['x-cache'], 'HIT');
    assert.ok(h1.body.equals(miss.body));
    assert.equal(origin.count(path), 1);
    assert.equal(rawAnswers, 0, 'the raw fast path (plain TCP only) never saw a TLS connection');
    const ranged = await h2.get(path, { range: 'bytes=10-19' });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(miss.body.subarray(10, 20)));
  } finally {
    h2.close();
  }
});

test('HTTP/2: 200 blocking reloads of one playlist version on one connection, one upstream request, all released', async () => {
  const h2 = h2Session(edgeServer.url, cert.pem);
  try {
    const { msn, parts } = origin.position;
    const path = origin.paths.playlist('media_0', `_HLS_msn=${msn}&_HLS_part=${parts}`);
    const answers = Array.from({ length: 200 }, () => h2.get(path));
    // The hinted part, asked before it exists, streamed while the origin writes it.
    const hinted = origin.paths.part('media_0', msn, parts);
    const part = h2.get(hinted);
    while (origin.count(path) === 0 || origin.count(hinted) === 0) await new Promise((r) => setTimeout(r, 10));
    origin.advance();
    const got = await Promise.all(answers);
    assert.deepEqual(new Set(got.map((a) => a.status)), new Set([200]));
    assert.equal(new Set(got.map((a) => a.body.toString())).size, 1, 'every waiter got the same playlist');
    assert.match(got[0]!.body.toString(), new RegExp(`seg-${msn}\\.p${parts}\\.m4s`));
    assert.equal(origin.count(path), 1, 'one upstream request for 200 waiters');
    const p = await part;
    assert.equal(p.protocol, 'h2');
    assert.ok(p.body.equals(origin.partBytes('media_0', msn, parts)), 'the hinted part, whole');
    assert.equal(origin.count(hinted), 1);
  } finally {
    h2.close();
  }
});

test('HTTP/2: a body the upstream cuts is reset on the client\'s stream, never ended as complete', async () => {
  let release!: () => void;
  const cutting: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': '100000' });
    res.write(Buffer.alloc(30_000, 1));
    release = () => res.destroy();
  });
  await new Promise<void>((r) => cutting.listen(0, '127.0.0.1', r));
  const cutEdge = createEdge({ id: 'edge-cut', origins: [`http://127.0.0.1:${(cutting.address() as AddressInfo).port}`] });
  const server = await listen(cutEdge.app, { port: 0, host: '127.0.0.1', tls: cert });
  const h2 = h2Session(server.url, cert.pem);
  try {
    const answer = h2.get('/hls/cut/seg-1.m4s').then(() => 'ended', (err: Error) => `error ${err.message}`);
    while (!release) await new Promise((r) => setTimeout(r, 10));
    release();
    // INTERNAL_ERROR (2): a reset with NO_ERROR is how a server ends a stream normally.
    assert.match(await answer, /^error .*(NGHTTP2_INTERNAL_ERROR|code 2\))/);
  } finally {
    h2.close();
    await server.close(200);
    await cutEdge.close();
    await new Promise((r) => cutting.close(r));
  }
});

test('the LB redirects over HTTP/2 (and HTTP/1.1), query kept', async () => {
  // A plain HTTP edge: the LB's health checks trust only the system's CAs (NODE_EXTRA_CA_CERTS adds one).
  const plainEdge = await startFakeEdge('edge-plain');
  const lb = createLb({ edges: [{ id: plainEdge.id, url: plainEdge.url, weight: 100 }] });
  const server = await listen(lb.app, { port: 0, host: '127.0.0.1', tls: cert });
  const h2 = h2Session(server.url, cert.pem);
  try {
    const target = '/hls/ll/media_0.m3u8?_HLS_msn=20&_HLS_part=1&_HLS_skip=YES';
    const r = await h2.get(target);
    assert.equal(r.protocol, 'h2');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, plainEdge.url + target);
    const h1 = await h1Request(server.url + target, cert.pem);
    assert.equal(h1.protocol, 'http/1.1');
    assert.equal(h1.headers.location, plainEdge.url + target);
  } finally {
    h2.close();
    await server.close(200);
    await lb.close();
    await plainEdge.stop();
  }
});

test('the origin takes uploads over HTTPS (HTTP/1.1, as ffmpeg sends them) and serves them over HTTP/2', async () => {
  const o = await createOrigin({});
  const server = await listen(o.app, { port: 0, host: '127.0.0.1', tls: cert });
  const h2 = h2Session(server.url, cert.pem);
  try {
    const put = await h1Request(`${server.url}/hls/up/seg-0.ts`, cert.pem, 'PUT', Buffer.from('segment bytes'));
    assert.equal(put.status, 201);
    const got = await h2.get('/hls/up/seg-0.ts');
    assert.equal(got.status, 200);
    assert.equal(got.body.toString(), 'segment bytes');
  } finally {
    h2.close();
    await server.close(200);
    await o.close();
  }
});

test('graceful stop over HTTP/2: a held blocking reload finishes, new connections are refused; what outlives the grace is cut', async () => {
  const o = await startLlFakeOrigin({ partTargetMs: 500, stream: 'stop' });
  const e = createEdge({ id: 'edge-stop', origins: [o.url] });
  const server = await listen(e.app, { port: 0, host: '127.0.0.1', tls: cert });
  const h2 = h2Session(server.url, cert.pem);
  try {
    const next = (msn: number, part: number) => o.paths.playlist('media_0', `_HLS_msn=${msn}&_HLS_part=${part}`);
    const { msn, parts } = o.position;
    const held = h2.get(next(msn, parts));
    while (o.count(next(msn, parts)) === 0) await new Promise((r) => setTimeout(r, 10));
    const closed = server.close(10_000);
    await assert.rejects(h1Request(`${server.url}/healthz`, cert.pem), 'no new connections once closing');
    o.advance();
    const answer = await held;
    assert.equal(answer.status, 200, 'the request in flight finished');
    await closed;

    // A second server: its held request outlives a short grace and is cut, not left hanging.
    const server2 = await listen(e.app, { port: 0, host: '127.0.0.1', tls: cert });
    const h2b = h2Session(server2.url, cert.pem);
    const { msn: m2, parts: p2 } = o.position;
    const stuck = h2b.get(next(m2, p2 + 1)).then(() => 'answered', (err: Error) => `cut: ${err.message}`);
    while (o.count(next(m2, p2 + 1)) === 0) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await server2.close(300);
    assert.ok(Date.now() - started < 5_000, 'close returned after the grace');
    assert.match(await stuck, /^cut: /);
    h2b.close();
  } finally {
    h2.close();
    await e.close();
    await o.close();
  }
});

test('curl --http2 negotiates h2 with the edge', { skip: !hasCurlHttp2() && 'curl without HTTP/2' }, async () => {
  // Not execFileSync: the edge answering curl runs in this process.
  const { stdout: out } = await promisify(execFile)('curl', ['-s', '--http2', '--cacert', cert.certFile, '-o', '/dev/null', '-w', '%{http_version} %{http_code}',
    `${edgeServer.url}${origin.paths.master}`], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(out, '2 200');
});

test('reloadTls: new connections get the new certificate, an open HTTP/2 session keeps working; a bad pair keeps the old', async () => {
  const o = await createOrigin({});
  const files = { certFile: join(dir, 'live.crt'), keyFile: join(dir, 'live.key') };
  copyFileSync(cert.certFile, files.certFile);
  copyFileSync(cert.keyFile, files.keyFile);
  const server = await listen(o.app, { port: 0, host: '127.0.0.1', tls: files });
  const next = makeCert(dir, 'second');
  const both = [cert.pem, next.pem];
  const old = h2Session(server.url, both);
  try {
    assert.equal((await old.get('/healthz')).fingerprint, cert.fingerprint);
    copyFileSync(next.certFile, files.certFile);
    copyFileSync(next.keyFile, files.keyFile);
    server.reloadTls!();
    const fresh = await h1Request(`${server.url}/healthz`, both);
    assert.equal(fresh.fingerprint, next.fingerprint);
    const kept = await old.get('/healthz');
    assert.equal(kept.status, 200);
    assert.equal(kept.fingerprint, cert.fingerprint, 'the open session still runs on the first certificate');
    writeFileSync(files.keyFile, 'not a key');
    assert.throws(() => server.reloadTls!(), /unusable/);
    assert.equal((await h1Request(`${server.url}/healthz`, both)).fingerprint, next.fingerprint);
  } finally {
    old.close();
    await server.close(200);
    await o.close();
  }
});

test('cascade lb --workers 2 --tls-cert/--tls-key: https from every worker, SIGHUP re-reads the pair in each; one without the other or unreadable files exit 2', { timeout: 90_000 }, async () => {
  const files = { certFile: join(dir, 'cli.crt'), keyFile: join(dir, 'cli.key') };
  copyFileSync(cert.certFile, files.certFile);
  copyFileSync(cert.keyFile, files.keyFile);
  const next = makeCert(dir, 'third');
  const both = [cert.pem, next.pem];
  const port = await freePort();
  const lb = startChild(process.execPath, [...CLI, 'lb', '--workers', '2', '--port', String(port), '--edge', 'e1=http://127.0.0.1:1', '--log-level', 'info',
    '--tls-cert', files.certFile, '--tls-key', files.keyFile]);
  // New connections, so the kernel spreads them over both workers.
  const fingerprints = async () => new Set(await Promise.all(Array.from({ length: 8 }, async () => (await h1Request(`https://127.0.0.1:${port}/healthz`, both)).fingerprint)));
  try {
    await lb.waitFor(/listening on https:\/\/127\.0\.0\.1:\d+ \(2 workers\)/, 30_000);
    assert.deepEqual(await fingerprints(), new Set([cert.fingerprint]));
    copyFileSync(next.certFile, files.certFile);
    copyFileSync(next.keyFile, files.keyFile);
    lb.proc.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((lb.output().match(/tls_reloaded/g) ?? []).length < 2) {
      assert.ok(Date.now() < deadline, `both workers re-read the pair:\n${lb.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(await fingerprints(), new Set([next.fingerprint]));
  } finally {
    await lb.kill('SIGTERM');
  }
  for (const args of [['--tls-cert', files.certFile], ['--tls-key', files.keyFile], ['--tls-cert', join(dir, 'missing.crt'), '--tls-key', files.keyFile]]) {
    const refused = startChild(process.execPath, [...CLI, 'lb', '--port', '0', '--edge', 'e1=http://127.0.0.1:1', ...args]);
    assert.equal(await refused.exited, 2, args.join(' '));
    assert.match(refused.output(), /--tls-cert and --tls-key go together|cannot read the TLS certificate/);
  }
});

function hasCurlHttp2(): boolean {
  try {
    return / HTTP2/.test(execFileSync('curl', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}
