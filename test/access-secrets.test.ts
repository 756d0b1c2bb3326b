// Secrets never on a command line nor in logs, for the roles as operators run them: the LB and an edge
// take the playback secret from a file and the environment, the origin its upload token from the
// environment; a run at debug level with signed, forged and unsigned requests and uploads, right and
// wrong, leaves no secret in any log line nor in what `ps` shows. Given as a flag it still works, with a
// warning that every user of the machine can read it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signPlayback } from '../src/playback-token.js';
import { formatUrlToken } from '../src/url-token.js';
import { CLI, freePort, startChild, type Child } from './helpers/process.js';

const SECRET = 'playback-secret-file-0123456789';
const UPLOAD_TOKEN = 'upload-token-env-0123456789';

const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');

async function role(args: string[], env: Record<string, string>): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startChild(process.execPath, [...CLI, ...args, '--port', String(port), '--log-level', 'debug'], { env: { ...process.env, ...env } });
  await child.waitFor(/listening on/, 60_000);
  return { child, url: `http://127.0.0.1:${port}` };
}

test('secrets from a file and the environment: not on any command line, not in any log line of a debug run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-secrets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'playback-secret');
  writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
  const origin = await role(['origin'], { CASCADE_UPLOAD_TOKEN: UPLOAD_TOKEN });
  const edge = await role(['edge', '--origin', origin.url, '--id', 'e1', '--playback-secret-file', file], {});
  const lb = await role(['lb', '--edge', `e1=${edge.url}`], { CASCADE_PLAYBACK_SECRET_FILE: file });
  try {
    const put = (token: string) => fetch(`${origin.url}/hls/demo/a.ts`, { method: 'PUT', body: 'x', headers: { authorization: `Bearer ${token}` } });
    assert.equal((await put(UPLOAD_TOKEN)).status, 201);
    assert.equal((await put(`${UPLOAD_TOKEN.slice(0, 8)}-wrong`)).status, 403);
    const token = formatUrlToken(signPlayback(SECRET, { stream: 'demo', expiresAt: Date.now() / 1000 + 60 }));
    assert.equal((await fetch(`${lb.url}/hls/demo/${token}/a.ts`, { redirect: 'manual' })).status, 302);
    assert.equal((await fetch(`${lb.url}/hls/demo/a.ts`, { redirect: 'manual' })).status, 403);
    assert.equal((await fetch(`${edge.url}/hls/demo/${token}/a.ts`)).status, 200);
    assert.equal((await fetch(`${edge.url}/hls/demo/${formatUrlToken(signPlayback('forged-secret-0123456789', { stream: 'demo', expiresAt: Date.now() / 1000 + 60 }))}/a.ts`)).status, 403);
    for (const r of [origin, edge, lb]) {
      assert.ok(!cmdline(r.child.pid).includes(SECRET) && !cmdline(r.child.pid).includes(UPLOAD_TOKEN), cmdline(r.child.pid));
    }
    for (const r of [origin, edge, lb]) await r.child.kill('SIGTERM');
    const logs = [origin, edge, lb].map((r) => r.child.output()).join('\n');
    assert.match(logs, /"level":"debug"|"level":"info"/, 'the roles logged');
    assert.ok(!logs.includes(SECRET), 'no playback secret in the logs');
    assert.ok(!logs.includes(UPLOAD_TOKEN), 'no upload token in the logs');
  } finally {
    for (const r of [origin, edge, lb]) await r.child.kill('SIGKILL');
  }
});

test('a secret given as a flag works, with a warning naming the safe ways', async () => {
  const edge = await role(['edge', '--origin', 'http://127.0.0.1:9', '--playback-secret', SECRET], {});
  try {
    assert.match(edge.child.output(), /warning: --playback-secret on the command line is visible to every user \(ps\); use CASCADE_PLAYBACK_SECRET or --playback-secret-file/);
    assert.ok(!edge.child.output().includes(SECRET));
  } finally {
    await edge.child.kill('SIGTERM');
  }
});
