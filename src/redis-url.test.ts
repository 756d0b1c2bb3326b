// What `--redis` accepts: plain URLs as ioredis reads them, and Sentinel deployments by a URL of their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseOptions } from './options.js';
import { REDIS_OPTIONS } from './command.js';
import { parseRedisUrl, redactRedisUrl, redisConnection } from './redis-url.js';

test('plain redis:// and rediss:// URLs go to ioredis as they are', () => {
  assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6379/2'), { kind: 'direct', url: 'redis://127.0.0.1:6379/2' });
  assert.deepEqual(parseRedisUrl('rediss://:pw@redis.example:6380'), { kind: 'direct', url: 'rediss://:pw@redis.example:6380' });
  assert.deepEqual(redisConnection(parseRedisUrl('redis://h:1')), { url: 'redis://h:1', options: {} });
});

test('redis-sentinel://: sentinels (default port 26379), the master name, credentials and db', () => {
  assert.deepEqual(parseRedisUrl('redis-sentinel://10.0.0.1:26380,sentinel-b,[::1]:5000/mymaster'), {
    kind: 'sentinel', name: 'mymaster', db: 0,
    sentinels: [{ host: '10.0.0.1', port: 26380 }, { host: 'sentinel-b', port: 26379 }, { host: '::1', port: 5000 }],
  });
  assert.deepEqual(parseRedisUrl('redis-sentinel://app:p%40ss@h:1/cascade?db=3&sentinelPassword=s3'), {
    kind: 'sentinel', name: 'cascade', db: 3, username: 'app', password: 'p@ss', sentinelPassword: 's3', sentinels: [{ host: 'h', port: 1 }],
  });
  const { url, options } = redisConnection(parseRedisUrl('redis-sentinel://:pw@h:1,i:2/m'), { failoverDetector: true });
  assert.equal(url, undefined);
  assert.deepEqual(
    { sentinels: options.sentinels, name: options.name, password: options.password, failoverDetector: options.failoverDetector },
    { sentinels: [{ host: 'h', port: 1 }, { host: 'i', port: 2 }], name: 'm', password: 'pw', failoverDetector: true },
  );
});

test('bad --redis values are usage errors that say what is wrong, with passwords masked', () => {
  const parse = (v: string) => parseOptions(REDIS_OPTIONS, ['--redis', v], {});
  for (const [bad, reason] of [
    ['http://h:6379', /expected redis:\/\/, rediss:\/\/ or redis-sentinel:\/\//],
    ['redis-sentinel://h:1', /needs the master's name/],
    ['redis-sentinel://h:1/', /bad master name/],
    ['redis-sentinel://h:1/a b', /bad master name/],
    ['redis-sentinel://h:99999/m', /bad sentinel address 'h:99999'/],
    ['redis-sentinel://h:1,,i:2/m', /bad sentinel address ''/],
    ['redis-sentinel://h:x/m', /bad sentinel address/],
    ['redis-sentinel://h:1/m?db=x', /unknown or bad parameter 'db=x'/],
    ['redis-sentinel://h:1/m?tls=1', /unknown or bad parameter/],
    [`redis-sentinel://${Array.from({ length: 17 }, (_, i) => `h${i}`).join(',')}/m`, /more than 16 sentinels/],
    ['redis://[bad', /not a URL/],
    ['ftp://:secret@h/', /expected redis/],
  ] as const) {
    assert.throws(() => parse(bad), (e: Error) => e.name === 'UsageError' && /^--redis: /.test(e.message) && reason.test(e.message) && !/secret/.test(e.message), bad);
  }
  assert.equal(parse('redis-sentinel://a,b,c/mymaster').options.redis, 'redis-sentinel://a,b,c/mymaster');
  assert.equal(parse('redis://127.0.0.1:6379').options.redis, 'redis://127.0.0.1:6379');
});

test('redaction masks both passwords and keeps the rest', () => {
  assert.equal(redactRedisUrl('redis-sentinel://u:pw@h:1,i:2/m?db=1&sentinelPassword=sp'), 'redis-sentinel://u:***@h:1,i:2/m?db=1&sentinelPassword=***');
  assert.equal(redactRedisUrl('redis://:pw@h:6379'), 'redis://:***@h:6379');
  assert.equal(redactRedisUrl('redis://h:6379'), 'redis://h:6379');
});

test('any list of sentinel addresses round-trips through the URL', () => {
  const host = fc.oneof(fc.ipV4(), fc.domain().filter((d) => d.length <= 253), fc.ipV6().map((a) => `[${a}]`));
  fc.assert(fc.property(fc.array(fc.tuple(host, fc.option(fc.integer({ min: 1, max: 65535 }))), { minLength: 1, maxLength: 16 }), fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), (list, name) => {
    const url = `redis-sentinel://${list.map(([h, p]) => (p === null ? h : `${h}:${p}`)).join(',')}/${name}`;
    const parsed = parseRedisUrl(url);
    assert.equal(parsed.kind, 'sentinel');
    if (parsed.kind !== 'sentinel') return;
    assert.equal(parsed.name, name);
    assert.deepEqual(parsed.sentinels, list.map(([h, p]) => ({ host: h.replace(/^\[|\]$/g, ''), port: p ?? 26379 })));
  }));
});
