import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostPortUrl, urlHost } from './url.js';

test('host:port -> URL: IPv6 literals get brackets (and a zone id its %25), everything else stays', () => {
  assert.equal(hostPortUrl('127.0.0.1', 8080), 'http://127.0.0.1:8080');
  assert.equal(hostPortUrl('::1', 8080), 'http://[::1]:8080');
  assert.equal(hostPortUrl('[::1]', 8080), 'http://[::1]:8080');
  assert.equal(hostPortUrl('::', 1935, 'rtmp'), 'rtmp://[::]:1935');
  assert.equal(hostPortUrl('2001:db8::7', 6379, 'redis'), 'redis://[2001:db8::7]:6379');
  assert.equal(hostPortUrl('fe80::1%eth0', 80), 'http://[fe80::1%25eth0]:80');
  assert.equal(hostPortUrl('edge-1.example', 8081), 'http://edge-1.example:8081');
  assert.equal(urlHost('0.0.0.0'), '0.0.0.0');
  for (const host of ['127.0.0.1', '::1', '2001:db8::7', 'localhost']) {
    assert.equal(new URL(hostPortUrl(host, 9)).port, '9', host);
  }
});
