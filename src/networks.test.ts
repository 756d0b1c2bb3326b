import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Networks, normalizeAddress, parseCidr } from './networks.js';

test('networks: IPv4 and IPv6 prefixes, plain addresses, mapped addresses', () => {
  const n = new Networks(['94.45.224.0/19', '2001:67c:20a1::/48', '198.51.100.7']);
  assert.equal(n.has('94.45.230.7'), true);
  assert.equal(n.has('::ffff:94.45.230.7'), true);
  assert.equal(n.has('94.45.192.1'), false);
  assert.equal(n.has('2001:67c:20a1:ffff::1'), true);
  assert.equal(n.has('2001:67c:20a2::1'), false);
  assert.equal(n.has('198.51.100.7'), true);
  assert.equal(n.has('198.51.100.8'), false);
  for (const junk of ['', 'x', '1.2.3', '::g', '10.0.0.1/8']) assert.equal(n.has(junk), false, junk);
  assert.equal(normalizeAddress(' ::ffff:10.0.0.1 '), '10.0.0.1');
});

test('networks: anything that is not a network is refused with its text', () => {
  for (const bad of ['300.1.1.1/8', '10.0.0.0/33', '::/129', 'example.org', '10.0.0.0/', '10.0.0.0/-1', '']) {
    assert.equal(parseCidr(bad), undefined, bad);
    assert.throws(() => new Networks([bad]), new RegExp(`bad network '${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}'`));
  }
});

test('property: an IPv4 /n contains exactly the addresses that share its first n bits', () => {
  const ip = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
  fc.assert(fc.property(ip, ip, fc.integer({ min: 0, max: 32 }), (net, addr, bits) => {
    const n = new Networks([`${net.join('.')}/${bits}`]);
    const toInt = (a: number[]) => a.reduce((x, b) => x * 256 + b, 0);
    const same = bits === 0 || Math.floor(toInt(net) / Math.pow(2, 32 - bits)) === Math.floor(toInt(addr) / Math.pow(2, 32 - bits));
    assert.equal(n.has(addr.join('.')), same);
  }), { numRuns: 2000 });
});
