// The control plane's rules for what an edge id, weight and URL are (Redis entries and CLI values alike).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkEdgeUrl, parseEdgeLoad, parseWeight, type EdgeLoad } from './control-plane.js';

test('edge URLs: the same rule for --edge and for Redis registrations', () => {
  assert.deepEqual(checkEdgeUrl('https://Edge.Example:443/base/'), { url: 'https://edge.example/base' });
  for (const [bad, reason] of [['javascript:alert(1)', /http/], ['data:text/html,x', /http/], ['http://u:p@h', /credentials/], ['http://u@h', /credentials/],
    ['http://h/#x', /fragment/], ['http://h/?', /query/], ['http://h\r\n.x', /control/], [' http://h', /space/], ['http://bücher.example', /non-ASCII/],
    ['//h', /not a URL/], ['http://h:99999', /not a URL/], [`http://h/${'a'.repeat(3000)}`, /longer/]] as const) {
    const r = checkEdgeUrl(bad);
    assert.ok('reason' in r && reason.test(r.reason), `${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
  }
});

test('weights: whole numbers 0..1000000, from the CLI and from Redis alike', () => {
  assert.deepEqual(['0', '50', '1000000', ' 7 '].map(parseWeight), [0, 50, 1_000_000, 7]);
  for (const bad of ['-1', '1.5', '1e3', '0x10', 'NaN', '', '1000001', '99999999', 'Infinity', '5 5']) assert.equal(parseWeight(bad), undefined, bad);
});

test('load reports: a valid report reads back as written; anything else is rejected with a reason, never thrown', () => {
  const load: EdgeLoad = { viewers: 12, streams: { demo: 10, talk_2: 2 }, windowMs: 10_000, bytesPerSecond: 1_250_000, requestsPerSecond: 6.5, hitRatio: 0.98, loopLagMs: 11.2, cpu: 0.4, at: 1_780_000_000_000 };
  assert.deepEqual(parseEdgeLoad(JSON.stringify(load)), { load });
  assert.deepEqual(parseEdgeLoad(JSON.stringify({ ...load, hitRatio: null })), { load: { ...load, hitRatio: null } });
  for (const bad of [{ ...load, viewers: -1 }, { ...load, viewers: 1.5 }, { ...load, cpu: 'high' }, { ...load, streams: { demo: 13 } },
    { ...load, streams: { 'a b': 1 } }, { ...load, streams: [] }, { ...load, hitRatio: 1.2 }, { ...load, at: undefined }]) {
    assert.ok('reason' in parseEdgeLoad(JSON.stringify(bad)), JSON.stringify(bad));
  }
  for (const bad of ['', 'null', '[]', '{', `{"viewers":1,"x":"${'a'.repeat(20_000)}"}`]) assert.ok('reason' in parseEdgeLoad(bad), bad.slice(0, 40));
  fc.assert(fc.property(fc.oneof(fc.string(), fc.json(), fc.record({ viewers: fc.anything(), streams: fc.anything(), windowMs: fc.anything() }).map((r) => JSON.stringify({ ...load, ...r }))), (text) => {
    const parsed = parseEdgeLoad(text);
    if ('load' in parsed) assert.ok(Number.isInteger(parsed.load.viewers) && Object.values(parsed.load.streams).every((n) => n <= parsed.load.viewers));
  }));
});
