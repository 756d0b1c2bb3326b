// Per-stream upload credentials at the origin: a stream's token uploads to that stream only, the global
// token to all; the file and the Redis hash are re-read while the origin runs, and a bad reload keeps
// the last good table. The authorizeUpload hook still has the last word.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import fc from 'fast-check';
import { createLogger } from '../src/log.js';
import { startRedis } from '../test/helpers/redis.js';
import { checkUploadAuth } from '../src/upload-auth.js';
import { createOrigin, type Origin } from './index.js';
import { parseStreamTokens, UPLOAD_TOKENS_KEY } from './upload-credentials.js';

const GLOBAL = 'global-token-0123456789';
const DEMO = 'demo-token-0123456789ab';
const TALK = 'talk-token-0123456789ab';
const dir = mkdtempSync(join(tmpdir(), 'cascade-upload-tokens-'));
const origins: Origin[] = [];
after(async () => {
  for (const o of origins) await o.close();
  rmSync(dir, { recursive: true, force: true });
});

async function upload(origin: Origin, stream: string, token: string | undefined, basic = false): Promise<number> {
  const authorization = token === undefined ? undefined : basic ? `Basic ${Buffer.from(`ffmpeg:${token}`).toString('base64')}` : `Bearer ${token}`;
  const res = await origin.app.request(`/hls/${stream}/seg${Math.floor(Math.random() * 1e9)}.ts`, {
    method: 'PUT', body: 'segment bytes', headers: authorization ? { authorization } : {},
  });
  return res.status;
}

/** Resolves once `check` holds (re-read by a poll or a signal), within `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, 'the change was picked up in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a tokens file: each line a stream and its token; a bad line is named, its token never', () => {
  assert.deepEqual([...parseStreamTokens(`# events\ndemo ${DEMO}\n\n  talk\t${TALK}  \n`)], [['demo', DEMO], ['talk', TALK]]);
  for (const [text, message] of [
    [`demo`, /line 1: expected/], [`demo ${DEMO} extra`, /line 1: expected/], [`bad/name ${DEMO}`, /line 1: 'bad\/name' is not a stream name/],
    [`demo short`, /line 1: the token of 'demo' is shorter than 16/], [`demo ${DEMO}\ndemo ${TALK}`, /line 2: 'demo' given twice/],
  ] as const) {
    assert.throws(() => parseStreamTokens(text), (err: Error) => message.test(err.message) && !err.message.includes(DEMO) && !err.message.includes(TALK));
  }
});

test('a stream token uploads to its stream only; the global token to every stream; Bearer or Basic', async () => {
  const file = join(dir, 'scoped');
  writeFileSync(file, `demo ${DEMO}\ntalk ${TALK}\n`);
  const origin = await createOrigin({ uploadToken: GLOBAL, uploadTokens: { file } });
  origins.push(origin);
  assert.equal(await upload(origin, 'demo', DEMO), 201);
  assert.equal(await upload(origin, 'demo', DEMO, true), 201);
  assert.equal(await upload(origin, 'talk', DEMO), 403, "demo's token does not upload to talk");
  assert.equal(await upload(origin, 'other', DEMO), 403, 'nor to a stream without a token');
  assert.equal(await upload(origin, 'talk', TALK), 201);
  for (const stream of ['demo', 'talk', 'other']) assert.equal(await upload(origin, stream, GLOBAL), 201);
  assert.equal(await upload(origin, 'demo', undefined), 401);
  assert.equal(await upload(origin, 'demo', `${DEMO}x`), 403);
});

test('per-stream tokens alone: from loopback too, a stream without one cannot be uploaded to', async () => {
  const file = join(dir, 'alone');
  writeFileSync(file, `demo ${DEMO}\n`);
  const origin = await createOrigin({ uploadTokens: { file } });
  origins.push(origin);
  assert.equal(await upload(origin, 'demo', DEMO), 201);
  assert.equal(await upload(origin, 'other', undefined), 401, 'no loopback exception once credentials are configured');
  assert.equal(await upload(origin, 'other', DEMO), 403);
});

test('the file is re-read when it changes (also replaced by rename) and on SIGHUP; a bad version keeps the last good one', async () => {
  const file = join(dir, 'reloaded');
  writeFileSync(file, `demo ${DEMO}\n`);
  const lines: string[] = [];
  const origin = await createOrigin({ uploadTokens: { file }, uploadTokensPollMs: 50, log: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
  origins.push(origin);
  assert.equal(await upload(origin, 'talk', TALK), 403);
  writeFileSync(`${file}.new`, `demo ${DEMO}\ntalk ${TALK}\n`);
  renameSync(`${file}.new`, file);
  await eventually(async () => (await upload(origin, 'talk', TALK)) === 201);
  // A typo must not lock every transcoder out: the table stays as it was, and the log says why.
  writeFileSync(file, `demo ${DEMO}\ntalk\n`);
  await eventually(async () => lines.some((l) => l.includes('upload_tokens_reload_failed') && l.includes('line 2')));
  assert.equal(await upload(origin, 'talk', TALK), 201);
  assert.equal(await upload(origin, 'demo', DEMO), 201);
  assert.ok(lines.every((l) => !l.includes(DEMO) && !l.includes(TALK)), 'no token in the logs');
  // Revoked: talk's line removed, picked up at once by SIGHUP (the poll would too).
  writeFileSync(file, `demo ${DEMO}\n`);
  process.kill(process.pid, 'SIGHUP');
  await eventually(async () => (await upload(origin, 'talk', TALK)) === 403);
});

test('a Redis hash: stream -> token, changes picked up while running; Redis away keeps the last table', async () => {
  const redis = await startRedis();
  const client = new Redis(redis.url);
  try {
    await client.hset(UPLOAD_TOKENS_KEY, 'demo', DEMO, 'bad/name', TALK, 'short', 'x');
    const origin = await createOrigin({ uploadToken: GLOBAL, uploadTokens: { redis: redis.url }, uploadTokensPollMs: 50 });
    origins.push(origin);
    assert.equal(await upload(origin, 'demo', DEMO), 201, 'the hash is read before the origin serves');
    assert.equal(await upload(origin, 'short', 'x'), 403, 'bad fields are skipped');
    await client.hset(UPLOAD_TOKENS_KEY, 'talk', TALK);
    await eventually(async () => (await upload(origin, 'talk', TALK)) === 201);
    await client.hdel(UPLOAD_TOKENS_KEY, 'talk');
    await eventually(async () => (await upload(origin, 'talk', TALK)) === 403);
    client.disconnect();
    await redis.stop();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await upload(origin, 'demo', DEMO), 201, 'the last table while Redis is away');
    assert.equal(await upload(origin, 'talk', GLOBAL), 201);
  } finally {
    client.disconnect();
    await redis.stop();
  }
});

test('property: the built-in check allows exactly a presented token that is one of the stream\'s', () => {
  const token = fc.string({ minLength: 1, maxLength: 24 }).filter((t) => !/\s/.test(t) && !t.includes(':'));
  fc.assert(fc.property(fc.array(token, { maxLength: 3 }), token, fc.boolean(), (tokens, presented, basic) => {
    const header = basic ? `Basic ${Buffer.from(`u:${presented}`).toString('base64')}` : `Bearer ${presented}`;
    assert.equal(checkUploadAuth(header, tokens, '192.0.2.1'), tokens.includes(presented) ? 'ok' : 'wrong');
    assert.equal(checkUploadAuth(undefined, tokens, '127.0.0.1'), 'missing');
  }));
});
