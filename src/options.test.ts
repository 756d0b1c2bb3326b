import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDefault, formatHelp, parseBytes, parseDuration, parseOptions, UsageError } from './options.js';

const spec = {
  port: { type: 'int', default: 8090, min: 0, max: 65535, help: 'port' },
  'data-dir': { type: 'string', help: 'dir' },
  'cache-size': { type: 'bytes', default: '512m', help: 'size' },
  edge: { type: 'string', repeat: true, help: 'edges' },
  verbose: { type: 'bool', default: false, help: 'v' },
  hash: { type: 'string', default: 'client', choices: ['client', 'stream'], help: 'h' },
} as const;

test('flags win over environment, environment over defaults', () => {
  const { options } = parseOptions(spec, ['--port', '9000'], { CASCADE_PORT: '7000', CASCADE_DATA_DIR: '/tmp/x' });
  assert.equal(options.port, 9000);
  assert.equal(options['data-dir'], '/tmp/x');
  assert.equal(options['cache-size'], 512 * 1024 * 1024);
  assert.equal(options.verbose, false);
});

test('repeatable options from flags and from comma-separated env', () => {
  assert.deepEqual(parseOptions(spec, ['--edge', 'a=http://x', '--edge=b=http://y'], {}).options.edge, ['a=http://x', 'b=http://y']);
  assert.deepEqual(parseOptions(spec, [], { CASCADE_EDGE: 'a=http://x,b=http://y' }).options.edge, ['a=http://x', 'b=http://y']);
});

test('bad options and values are usage errors with the option named', () => {
  assert.throws(() => parseOptions(spec, ['--nope'], {}), (e: Error) => e instanceof UsageError && /--nope/.test(e.message));
  assert.throws(() => parseOptions(spec, ['--port', 'abc'], {}), /--port: not a whole number/);
  assert.throws(() => parseOptions(spec, ['--port', '70000'], {}), /--port: must be at most 65535/);
  assert.throws(() => parseOptions(spec, ['--hash', 'ip'], {}), /--hash: must be one of client, stream/);
  assert.throws(() => parseOptions(spec, ['--port'], {}), /--port needs a value/);
  assert.throws(() => parseOptions(spec, [], { CASCADE_PORT: 'x' }), /--port/);
});

test('sizes and durations', () => {
  assert.equal(parseBytes('64m'), 64 * 1024 * 1024);
  assert.equal(parseBytes('1MiB'), 1024 * 1024);
  assert.equal(parseBytes('100'), 100);
  assert.throws(() => parseBytes('12q'));
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('2'), 2000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.throws(() => parseDuration('soon'));
});

test('--help and --no-flag', () => {
  assert.equal(parseOptions(spec, ['--help'], {}).help, true);
  assert.equal(parseOptions(spec, ['--verbose'], {}).options.verbose, true);
  assert.equal(parseOptions(spec, ['--no-verbose'], { CASCADE_VERBOSE: '1' }).options.verbose, false);
});

test('a size or duration default given as a number is shown in --help as a user writes it', () => {
  assert.equal(formatDefault({ type: 'bytes', default: 64 * 1024 ** 2, help: '' }), '64m');
  assert.equal(formatDefault({ type: 'bytes', default: 1024 ** 3, help: '' }), '1g');
  assert.equal(formatDefault({ type: 'bytes', default: 1000, help: '' }), '1000');
  assert.equal(formatDefault({ type: 'duration', default: 10_000, help: '' }), '10s');
  assert.equal(formatDefault({ type: 'duration', default: 1500, help: '' }), '1500ms');
  assert.equal(formatDefault({ type: 'duration', default: 0, help: '' }), '0');
  assert.equal(formatDefault({ type: 'duration', default: '2s', help: '' }), '2s');
  assert.equal(formatDefault({ type: 'int', default: 3000, help: '' }), '3000');
  assert.equal(formatDefault({ type: 'bool', default: false, help: '' }), undefined);
  const help = formatHelp('u', 'd', { 'max-file-size': { type: 'bytes', default: 64 * 1024 ** 2, help: 'largest' } });
  assert.match(help, /largest \(default 64m\)/);
});

test('what --help shows as a default parses back to the default', () => {
  fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (n) => {
    assert.equal(parseBytes(formatDefault({ type: 'bytes', default: n, help: '' })!), n);
    assert.equal(parseDuration(formatDefault({ type: 'duration', default: n, help: '' })!), n);
    const { options } = parseOptions({ d: { type: 'duration', default: n, help: '' } }, [], {});
    assert.equal(options.d, n);
  }), { numRuns: 500 });
});
