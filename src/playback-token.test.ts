import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PlaybackVerifier, scopeFromField, scopeToField, signPlayback } from './playback-token.js';
import { newSession, sessionId } from './session-token.js';
import { formatUrlToken, parseUrlToken } from './url-token.js';

const NOW = 1_800_000_000_000;
const at = (ms: number) => () => ms;
const signed = (secret: string, stream: string, expiresAt: number, scope?: string) =>
  formatUrlToken(signPlayback(secret, { stream, expiresAt, ...(scope ? { scope } : {}) }));

test('a signed URL is good for its stream until it expires, from its network', () => {
  const v = new PlaybackVerifier(['s3cret'], at(NOW));
  const token = signed('s3cret', 'demo', NOW / 1000 + 60);
  assert.equal(v.check('demo', token, '198.51.100.1'), undefined);
  assert.equal(v.check('other', token, '198.51.100.1'), 'bad-signature');
  assert.equal(new PlaybackVerifier(['s3cret'], at(NOW + 60_000)).check('demo', token, '198.51.100.1'), 'expired');
  const scoped = signed('s3cret', 'demo', NOW / 1000 + 60, '203.0.113.0/24');
  assert.match(scoped, /~n203\.0\.113\.0_24~k/);
  assert.equal(v.check('demo', scoped, '203.0.113.77'), undefined);
  assert.equal(v.check('demo', scoped, '::ffff:203.0.113.77'), undefined);
  assert.equal(v.check('demo', scoped, '203.0.114.1'), 'scope');
  const v6 = signed('s3cret', 'demo', NOW / 1000 + 60, '2001:db8::/32');
  assert.equal(v.check('demo', v6, '2001:db8:1::5'), undefined);
  assert.equal(v.check('demo', v6, '2001:db9::5'), 'scope');
});

test('missing, malformed and forged tokens each get their reason', () => {
  const v = new PlaybackVerifier(['s3cret'], at(NOW));
  const good = parseUrlToken(signed('s3cret', 'demo', NOW / 1000 + 60))!;
  assert.equal(v.check('demo', undefined, '1.2.3.4'), 'missing');
  assert.equal(v.check('demo', '~sAAAAAAAAAAAAAAAA', '1.2.3.4'), 'missing', 'a session alone is no signed URL');
  assert.equal(v.check('demo', '~x1', '1.2.3.4'), 'malformed');
  assert.equal(v.check('demo', formatUrlToken({ e: good.e! }), '1.2.3.4'), 'malformed');
  assert.equal(v.check('demo', formatUrlToken({ ...good, e: String(Number(good.e) + 3600) }), '1.2.3.4'), 'bad-signature', 'a later expiry is a forgery');
  assert.equal(v.check('demo', formatUrlToken({ ...good, n: scopeToField('0.0.0.0/0') }), '1.2.3.4'), 'bad-signature', 'a wider scope is a forgery');
  assert.equal(v.check('demo', formatUrlToken({ ...good, n: 'not_a_net' }), '1.2.3.4'), 'malformed');
  assert.equal(new PlaybackVerifier(['other'], at(NOW)).check('demo', formatUrlToken(good), '1.2.3.4'), 'bad-signature');
  // The session field is not signed: the LB adds it to a signed URL.
  assert.equal(v.check('demo', formatUrlToken({ ...good, s: 'AAAAAAAAAAAAAAAA' }), '1.2.3.4'), undefined);
});

test('rotation: every configured secret is accepted, the first signs', () => {
  const v = new PlaybackVerifier(['new-secret', 'old-secret'], at(NOW));
  assert.equal(v.check('demo', signed('old-secret', 'demo', NOW / 1000 + 60), '1.2.3.4'), undefined);
  assert.equal(v.check('demo', signed('new-secret', 'demo', NOW / 1000 + 60), '1.2.3.4'), undefined);
  assert.equal(v.check('demo', signed('retired', 'demo', NOW / 1000 + 60), '1.2.3.4'), 'bad-signature');
});

test('property: any change to a signed token\'s fields or stream is refused', () => {
  const v = new PlaybackVerifier(['k1', 'k2'], at(NOW));
  const value = fc.stringMatching(/^[A-Za-z0-9._-]{1,24}$/);
  fc.assert(fc.property(fc.constantFrom('e', 'n', 'k'), value, fc.integer({ min: 1, max: 1e6 }), (field, replacement, ttl) => {
    const t = parseUrlToken(signed('k2', 'demo', NOW / 1000 + ttl, '10.0.0.0/8'))!;
    assert.equal(v.check('demo', formatUrlToken(t), '10.1.2.3'), undefined);
    fc.pre(replacement !== t[field as 'e' | 'n' | 'k']);
    const verdict = v.check('demo', formatUrlToken({ ...t, [field]: replacement }), '10.1.2.3');
    assert.ok(verdict === 'bad-signature' || verdict === 'malformed', `${field}=${replacement}: ${verdict}`);
  }), { numRuns: 1000 });
});

test('scope fields round-trip through the URL alphabet', () => {
  for (const cidr of ['203.0.113.0/24', '2001:db8::/32', '::1/128', '10.1.2.3']) assert.equal(scopeFromField(scopeToField(cidr)), cidr);
});

test('sessions: random ids, signed with a secret, refused when made up', () => {
  const a = newSession([]);
  assert.match(a, /^[A-Za-z0-9_-]{16}$/);
  assert.equal(sessionId(a, []), a);
  assert.notEqual(newSession([]), a);
  const s = newSession(['k1']);
  const id = s.split('.')[0]!;
  assert.equal(sessionId(s, ['k1']), id);
  assert.equal(sessionId(s, ['k0', 'k1']), id, 'rotation');
  assert.equal(sessionId(a, ['k1']), undefined, 'unsigned while the deployment signs');
  assert.equal(sessionId(`${id}.AAAAAAAAAAA`, ['k1']), undefined);
  for (const bad of [undefined, '', 'short', `${id}.`, `${id}!`]) assert.equal(sessionId(bad, []), undefined, String(bad));
});
