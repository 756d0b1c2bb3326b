// Secret options: from the environment or a file as well as a flag, and never in a log line.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLogger, hideInLogs, maskSecrets } from './log.js';
import { formatHelp, parseOptions } from './options.js';

const spec = {
  token: { type: 'string', secret: true, help: 'a token' },
  secrets: { type: 'string', secret: true, repeat: true, help: 'keys' },
  redis: { type: 'redis-url', secret: true, help: 'redis' },
  plain: { type: 'string', help: 'not secret' },
} as const;
const dir = mkdtempSync(join(tmpdir(), 'cascade-secret-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

test('secret options: flag, file flag, environment, file environment, in that order', () => {
  const f = file('token', 'from-file-1\n');
  assert.equal(parseOptions(spec, ['--token-file', f], {}).options.token, 'from-file-1');
  assert.equal(parseOptions(spec, [`--token-file=${f}`], { CASCADE_TOKEN: 'from-env-1' }).options.token, 'from-file-1');
  assert.equal(parseOptions(spec, [], { CASCADE_TOKEN: 'from-env-1', CASCADE_TOKEN_FILE: f }).options.token, 'from-env-1');
  assert.equal(parseOptions(spec, [], { CASCADE_TOKEN_FILE: f }).options.token, 'from-file-1');
  assert.equal(parseOptions(spec, ['--token', 'on-the-line'], { CASCADE_TOKEN_FILE: f }).options.token, 'on-the-line');
  // Several secrets (rotation): one per line, comments and blank lines skipped.
  const keys = file('keys', '# current first\nnew-secret-1\n\nold-secret-1\n');
  assert.deepEqual(parseOptions(spec, ['--secrets-file', keys], {}).options.secrets, ['new-secret-1', 'old-secret-1']);
  assert.deepEqual(parseOptions(spec, [], { CASCADE_SECRETS: 'a1234,b1234' }).options.secrets, ['a1234', 'b1234']);
});

test('secret options: a file that is missing, empty or has several values is one clear usage error', () => {
  assert.throws(() => parseOptions(spec, ['--token-file', join(dir, 'nope')], {}), /--token-file: cannot read '.*nope': ENOENT/);
  assert.throws(() => parseOptions(spec, ['--token-file', file('empty', '\n# only a comment\n')], {}), /holds no value/);
  assert.throws(() => parseOptions(spec, ['--token-file', file('two', 'a1234\nb1234\n')], {}), /more than one line/);
  assert.throws(() => parseOptions(spec, ['--token', 'x1234', '--token-file', file('t', 'y1234')], {}), /given both/);
  assert.throws(() => parseOptions(spec, ['--plain-file', 'x'], {}), /unknown option '--plain-file'/);
});

test('secret options: given on the command line they are reported as exposed; a Redis URL only with a password', () => {
  assert.deepEqual(parseOptions(spec, ['--token', 'exposed-1', '--redis', 'redis://h:6379'], {}).exposed, ['token']);
  assert.deepEqual(parseOptions(spec, ['--redis', 'redis://:pw-exposed@h:6379'], {}).exposed, ['redis']);
  assert.deepEqual(parseOptions(spec, [], { CASCADE_TOKEN: 'hidden-1' }).exposed, []);
  assert.match(formatHelp('u', 'd', spec), /--token-file <path> +the same from a file .*env CASCADE_TOKEN_FILE/);
});

test('every secret a command parsed is masked in every log line, a URL only its password', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(l), fields: { role: 'test' } });
  parseOptions(spec, ['--redis', 'redis://user:p%40ss-word@redis.example:6379/0'], { CASCADE_TOKEN: 'tok-"quoted"\\1', CASCADE_SECRETS: 'rot-a-1,rot-b-2' });
  log.warn('event', { url: 'redis://user:p%40ss-word@redis.example:6379/0', decoded: 'p@ss-word', msg: 'Bearer tok-"quoted"\\1 and rot-b-2', err: new Error('rot-a-1 failed') });
  const [line] = lines;
  for (const secret of ['p%40ss-word', 'p@ss-word', 'tok-', 'rot-a-1', 'rot-b-2']) assert.ok(!line!.includes(secret), `${secret} in ${line}`);
  assert.match(line!, /redis:\/\/user:\*\*\*@redis\.example:6379\/0/);
  assert.match(line!, /"err":"\*\*\* failed"/);
});

test('property: no log line contains a hidden secret, whatever surrounds it', () => {
  fc.assert(fc.property(fc.string({ minLength: 6, maxLength: 24 }), fc.string(), fc.string(), (secret, before, after) => {
    hideInLogs(secret);
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).error('e', { text: before + secret + after });
    assert.ok(!lines[0]!.includes(JSON.stringify(secret).slice(1, -1)), lines[0]);
    assert.ok(!maskSecrets(before + secret + after).includes(secret));
  }), { numRuns: 300 });
});
