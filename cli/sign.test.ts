// `cascade sign`: the URL it prints is one the LB's and the edges' verifier accepts (for its stream, until
// its expiry, from its scope), and the command takes its secret the way they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlaybackVerifier } from '../src/playback-token.js';
import { parseStreamPath } from '../src/stream-path.js';
import { CLI } from '../test/helpers/process.js';
import { signedUrl } from './sign.js';

const SECRET = 'sign-test-secret-0123456789';
const NOW = 1_800_000_000_000;

function verdict(url: string, client: string, at: number, secrets = [SECRET]): string | undefined {
  const parsed = parseStreamPath(new URL(url).pathname, { token: true });
  assert.ok(parsed.ok);
  return new PlaybackVerifier(secrets, () => at).check(parsed.value.stream, parsed.value.token, client);
}

test('the signed URL plays for its stream until its expiry, from its scope only', () => {
  const url = signedUrl({ secret: SECRET, stream: 'paid', ttlMs: 4 * 3_600_000, lb: 'https://lb.example/', path: 'index.m3u8', player: false, now: NOW });
  assert.match(url, /^https:\/\/lb\.example\/hls\/paid\/~e\d+~k[A-Za-z0-9_-]{22}\/index\.m3u8$/);
  assert.equal(verdict(url, '198.51.100.7', NOW + 4 * 3_600_000 - 1000), undefined);
  assert.equal(verdict(url, '198.51.100.7', NOW + 4 * 3_600_000), 'expired');
  assert.equal(verdict(url, '198.51.100.7', NOW, ['another-secret-0123456789']), 'bad-signature');
  assert.equal(verdict(url.replace('/paid/', '/free/'), '198.51.100.7', NOW), 'bad-signature', 'signed for its stream only');
  const scoped = signedUrl({ secret: SECRET, stream: 'paid', ttlMs: 60_000, scope: '203.0.113.0/24', lb: 'http://lb', path: '360p/index.m3u8', player: false, now: NOW });
  assert.match(scoped, /~n203\.0\.113\.0_24~/);
  assert.ok(scoped.endsWith('/360p/index.m3u8'));
  assert.equal(verdict(scoped, '203.0.113.9', NOW), undefined);
  assert.equal(verdict(scoped, '198.51.100.7', NOW), 'scope');
});

test('--player: the LB player page with the signed URL as its source', () => {
  const page = new URL(signedUrl({ secret: SECRET, stream: 'paid', ttlMs: 60_000, lb: 'http://lb:8080', path: 'index.m3u8', player: true, now: NOW }));
  assert.equal(page.pathname, '/play/paid');
  assert.equal(verdict(`http://lb:8080${page.searchParams.get('src')}`, '198.51.100.7', NOW), undefined);
});

test('the command: secret from a file or the environment (never needed on the command line); mistakes exit 2', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-sign-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret');
  writeFileSync(file, `# rotated 2026-11\n${SECRET}\nold-secret-0123456789\n`);
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [...CLI, 'sign', ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000,
  });
  const fromFile = run(['paid', '--ttl', '90m', '--lb', 'http://lb.example', '--playback-secret-file', file]);
  assert.equal(fromFile.status, 0, fromFile.stderr);
  assert.equal(fromFile.stderr, '');
  const printed = fromFile.stdout.trim();
  assert.equal(verdict(printed, '192.0.2.1', Date.now()), undefined, 'signed with the first secret in the file');
  const expiry = Number(/~e(\d+)/.exec(printed)![1]);
  assert.ok(Math.abs(expiry - (Date.now() / 1000 + 90 * 60)) < 120, 'expires in 90 minutes');
  const fromEnv = run(['paid'], { CASCADE_PLAYBACK_SECRET: SECRET });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
  assert.match(fromEnv.stdout, /^http:\/\/127\.0\.0\.1:8080\/hls\/paid\/~e\d+~k/);
  for (const [args, env, message] of [
    [['paid'], {}, /no secret/],
    [['paid'], { CASCADE_PLAYBACK_SECRET: 'short' }, /at least 16/],
    [['bad/name'], { CASCADE_PLAYBACK_SECRET: SECRET }, /not a stream name/],
    [['paid', '--scope', '203.0.113.0/33'], { CASCADE_PLAYBACK_SECRET: SECRET }, /--scope/],
    [['paid', '--path', '../x.m3u8'], { CASCADE_PLAYBACK_SECRET: SECRET }, /--path/],
  ] as const) {
    const r = run([...args], env);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
