// The redirect phase through the whole LB, in process (app.request): over random edge sets, targets,
// methods and response hooks that edit headers, throw or answer garbage, every request gets exactly one of
// the three answers docs/lb.md names, each with CORS and no-store, and the outcomes add up in /metrics
// and in the LB's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Metrics } from '../src/metrics.js';
import { createLb } from './index.js';

const HOOK_MODES = ['none', 'header', 'throw', 'invalid'] as const;
type HookMode = (typeof HOOK_MODES)[number];

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,8}$/);
const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD'),
  stream: segment,
  path: fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')),
  query: fc.option(fc.stringMatching(/^[a-z0-9=&_.~-]{1,20}$/), { nil: undefined }),
  client: fc.ipV4(),
  mode: fc.constantFrom<HookMode>(...HOOK_MODES),
});

/** The value of one series in Prometheus text, 0 when absent. */
function sample(text: string, name: string, label: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('property: a 302 to the pick with the target byte for byte, a 503 with Retry-After, or a 500 for a failing hook; outcomes add up', async () => {
  const edgesArb = fc.uniqueArray(fc.record({ id: fc.constantFrom('e1', 'e2', 'e3'), weight: fc.constantFrom(0, 100) }), { selector: (e) => e.id, maxLength: 3 });
  await fc.assert(fc.asyncProperty(edgesArb, fc.array(requestArb, { minLength: 1, maxLength: 12 }), async (specs, requests) => {
    const edges = specs.map((e) => ({ ...e, url: `http://${e.id}.example:8081/base` }));
    const lb = createLb({
      edges, health: { intervalMs: 0 }, trustProxyHops: 1, metrics: new Metrics({ role: 'lb' }, false),
      hooks: {
        response({ request, headers }) {
          const mode = request.headers.get('x-mode') as HookMode;
          if (mode === 'throw') throw new Error('boom');
          if (mode === 'invalid') return 42 as never;
          if (mode === 'header') headers.set('X-Test', 'set');
        },
      },
    });
    const outcomes = { redirect: 0, no_edge: 0, hook_failed: 0 };
    const perEdge = new Map<string, number>();
    try {
      for (const r of requests) {
        const target = `/hls/${r.stream}/${r.path}${r.query === undefined ? '' : `?${r.query}`}`;
        const res = await lb.app.request(target, { method: r.method, headers: { 'x-forwarded-for': r.client, 'x-mode': r.mode } });
        assert.equal(res.headers.get('access-control-allow-origin'), '*', target);
        assert.equal(res.headers.get('cache-control'), 'no-store', target);
        if (r.mode === 'throw' || r.mode === 'invalid') {
          assert.equal(res.status, 500);
          if (r.method === 'GET') assert.match(await res.text(), /^hook response (threw|returned an invalid value)/);
          outcomes.hook_failed++;
          continue;
        }
        assert.equal(res.headers.get('x-test'), r.mode === 'header' ? 'set' : null);
        if (edges.every((e) => e.weight === 0)) {
          assert.equal(res.status, 503);
          assert.equal(res.headers.get('retry-after'), '2');
          outcomes.no_edge++;
          continue;
        }
        assert.equal(res.status, 302);
        const location = res.headers.get('location') ?? '';
        const edge = edges.find((e) => e.weight > 0 && location === e.url + target);
        assert.ok(edge, `${target} -> ${location}`);
        assert.equal(res.headers.get('content-length'), '0');
        outcomes.redirect++;
        perEdge.set(edge.id, (perEdge.get(edge.id) ?? 0) + 1);
      }
      const metrics = await (await lb.app.request('/metrics')).text();
      for (const [outcome, n] of Object.entries(outcomes)) {
        assert.equal(sample(metrics, 'cascade_lb_requests_total', `outcome="${outcome}"`), n, outcome);
      }
      for (const e of lb.status().edges) {
        assert.equal(e.redirects, perEdge.get(e.id) ?? 0, e.id);
        assert.equal(sample(metrics, 'cascade_lb_redirects_total', `edge="${e.id}"`), perEdge.get(e.id) ?? 0, e.id);
      }
    } finally {
      await lb.close();
    }
  }), { numRuns: 60 });
});

test('other methods under /hls/ get a 405 naming the allowed ones, counted as method_not_allowed', async () => {
  const lb = createLb({ edges: [{ id: 'e1', url: 'http://e1.example', weight: 100 }], health: { intervalMs: 0 }, metrics: new Metrics({ role: 'lb' }, false) });
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await lb.app.request('/hls/s/index.m3u8', { method });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, OPTIONS');
  }
  assert.equal(sample(await (await lb.app.request('/metrics')).text(), 'cascade_lb_requests_total', 'outcome="method_not_allowed"'), 4);
  await lb.close();
});
