// The control plane's rules for what an edge id, weight and URL are (Redis entries and CLI values alike).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkEdgeUrl, parseWeight } from './control-plane.js';

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
