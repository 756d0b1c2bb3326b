// The decision phase against its definition (docs/lb.md, "Which edge"): over random edge sets, health,
// clients, proxy chains and hook answers, the edge chosen is the selector's pick of the right key among
// the right candidates, and a hook answer of the wrong shape fails the request instead of being guessed at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createHookRunner, HookFailed } from '../src/hooks.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { clientAddress } from '../src/client-address.js';
import type { HashBy } from './client-key.js';
import { BoundedLoads } from './balance.js';
import { createDecision, decisionWithoutHooks } from './decision.js';
import { EdgeSet } from './edge-set.js';
import type { EdgeEntry } from './edges.js';
import { HealthChecker } from './health.js';
import { LB_HOOKS, type EdgeCandidate, type LbHooks } from './hooks.js';
import { Selector } from './selector.js';

const RUNS = 200;

const edgesArb = fc.uniqueArray(
  fc.record({ id: fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/), weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })) }),
  { selector: (e) => e.id, maxLength: 8 },
).map((list) => list.map((e) => ({ ...e, url: `http://${e.id}.edge.example` })));

const ip = fc.oneof(fc.ipV4(), fc.ipV4().map((a) => `::ffff:${a}`), fc.ipV6());

const requestArb = fc.record({
  hash: fc.constantFrom<HashBy>('client', 'stream'),
  trustProxyHops: fc.integer({ min: 0, max: 3 }),
  peer: fc.option(ip, { nil: undefined }),
  forwardedFor: fc.option(fc.array(ip, { maxLength: 4 }).map((a) => a.join(', ')), { nil: undefined }),
  stream: fc.stringMatching(/^[a-z0-9_-]{1,12}$/),
});
type Req = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

/** An edge set over `specs` (health checks off) and a decision whose health is `down`. */
function setup(specs: { id: string; url: string; weight: number }[], down: ReadonlySet<string>, hash: HashBy, trustProxyHops: number, hooks?: LbHooks) {
  const health = new HealthChecker({ intervalMs: 0, timeoutMs: 1000, rise: 1, fall: 1 }, silentLogger);
  const edgeSet = new EdgeSet(specs, health, silentLogger);
  const usable = (e: EdgeEntry) => !down.has(e.id);
  const runner = createHookRunner('lb', hooks, { timeoutMs: 1000, log: silentLogger, metrics: new Metrics({}, false) });
  return { health, edgeSet, usable, decide: createDecision({ hash, trustProxyHops, edgeSet, usable, hooks: runner }) };
}

function requestOf(r: Req) {
  const headers = r.forwardedFor === undefined ? undefined : { 'x-forwarded-for': r.forwardedFor };
  return { request: new Request(`http://lb.test/hls/${r.stream}/index.m3u8`, { headers }), stream: r.stream, peer: r.peer, log: silentLogger };
}

/** The definition: the selector's pick of the client (or stream) key among usable edges that `allowed` admits. */
function expected(specs: { id: string; weight: number }[], down: ReadonlySet<string>, r: Req, allowed: (id: string) => boolean = () => true) {
  const client = clientAddress(r.peer, r.trustProxyHops > 0 ? r.forwardedFor : undefined, r.trustProxyHops);
  const key = r.hash === 'stream' ? r.stream : client;
  return new Selector(specs).pick(key, (e) => !down.has(e.id) && allowed(e.id))?.id;
}

test('property: without hooks, the pick of the client (or stream) key among the usable edges', async () => {
  await fc.assert(fc.asyncProperty(edgesArb, fc.array(fc.nat(7)), requestArb, async (specs, downIdx, r) => {
    const down = new Set(downIdx.map((i) => specs[i]?.id).filter((id) => id !== undefined));
    const { decide, health } = setup(specs, down, r.hash, r.trustProxyHops);
    try {
      assert.equal((await decide(requestOf(r)))?.id, expected(specs, down, r));
    } finally {
      await health.close();
    }
  }), { numRuns: RUNS });
});

test('property: hashKey and selectEdges narrow the choice exactly; undefined keeps the built-in decision', async () => {
  // Edges by index into the configured list (past its end: an id no edge has), as ids or as candidates.
  const hookArb = fc.record({
    key: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    selection: fc.option(fc.array(fc.record({ index: fc.nat(9), asCandidate: fc.boolean() }), { maxLength: 8 }), { nil: undefined }),
  });
  await fc.assert(fc.asyncProperty(edgesArb, fc.array(fc.nat(7)), requestArb, hookArb, async (specs, downIdx, r, answer) => {
    const down = new Set(downIdx.map((i) => specs[i]?.id).filter((id) => id !== undefined));
    const selection = answer.selection?.map(({ index, asCandidate }) => {
      const id = specs[index]?.id ?? `unknown${index}`;
      return asCandidate ? { id, url: 'http://ignored', weight: 1, healthy: true } : id;
    });
    const seen: { defaultKey?: string; edges?: EdgeCandidate[] } = {};
    const { decide, health } = setup(specs, down, r.hash, r.trustProxyHops, {
      hashKey: ({ defaultKey }) => { seen.defaultKey = defaultKey; return answer.key; },
      selectEdges: ({ edges }) => { seen.edges = edges; return selection; },
    });
    try {
      const picked = (await decide(requestOf(r)))?.id;
      const keyed = answer.key === undefined ? r : { ...r, hash: 'stream' as const, stream: answer.key };
      const ids = selection && new Set(selection.map((x) => (typeof x === 'string' ? x : x.id)));
      assert.equal(picked, expected(specs, down, keyed, (id) => ids?.has(id) ?? true));
      // What the hooks were shown: the built-in key, and every edge with its weight and health.
      assert.equal(seen.defaultKey, r.hash === 'stream' ? r.stream : clientAddress(r.peer, r.trustProxyHops > 0 ? r.forwardedFor : undefined, r.trustProxyHops));
      assert.deepEqual(seen.edges, [...specs].sort((a, b) => (a.id < b.id ? -1 : 1)).map((e) => ({ id: e.id, url: e.url, weight: e.weight, healthy: !down.has(e.id) })));
    } finally {
      await health.close();
    }
  }), { numRuns: RUNS });
});

test('property: a hook answer of the wrong shape fails the request (HookFailed), whatever it is', async () => {
  const specs = [{ id: 'a', url: 'http://a', weight: 100 }, { id: 'b', url: 'http://b', weight: 100 }];
  await fc.assert(fc.asyncProperty(fc.anything(), fc.anything(), async (key, selection) => {
    const { decide, health } = setup(specs, new Set(), 'client', 0, { hashKey: () => key as string, selectEdges: () => selection as string[] });
    const request = requestOf({ hash: 'client', trustProxyHops: 0, peer: '192.0.2.1', forwardedFor: undefined, stream: 's' });
    try {
      const outcome = await decide(request).then(() => 'decided', (err: unknown) => {
        assert.ok(err instanceof HookFailed, String(err));
        assert.equal(err.reason, 'invalid');
        return err.hook;
      });
      // Which shapes are right is lb/hooks.test.ts's business; here: the decision applies those checks.
      assert.equal(outcome, !LB_HOOKS.hashKey.valid(key) ? 'hashKey' : !LB_HOOKS.selectEdges.valid(selection) ? 'selectEdges' : 'decided');
    } finally {
      await health.close();
    }
  }), { numRuns: RUNS });
});

test('property: the raw-socket decision (lb/fast-redirect.ts) is the Hono route\'s without hooks, bounded loads passing clients on or not', async () => {
  let active = 0;
  await fc.assert(fc.asyncProperty(
    edgesArb.filter((specs) => specs.filter((e) => e.weight > 0).length >= 2),
    fc.array(fc.nat(7)),
    fc.array(fc.nat(5000), { minLength: 8, maxLength: 8 }),
    fc.array(requestArb, { minLength: 1, maxLength: 20 }),
    async (specs, downIdx, viewers, requests) => {
      const down = new Set(downIdx.map((i) => specs[i]?.id).filter((id) => id !== undefined));
      let now = 0;
      const balance = new BoundedLoads(0.1, () => now);
      // Two reports a hold apart: the first sets the composition (held), the second may pass clients on.
      const report = () => balance.observe(specs.map((e, i) => ({ id: e.id, weight: e.weight, usable: !down.has(e.id), viewers: viewers[i]!, windowMs: 1000 })));
      report();
      now += 60_000;
      report();
      if (balance.active) active++;
      for (const r of requests) {
        const { edgeSet, usable } = setup(specs, down, r.hash, r.trustProxyHops);
        const runner = createHookRunner('lb', undefined, { timeoutMs: 1000, log: silentLogger, metrics: new Metrics({}, false) });
        const viaHono = await createDecision({ hash: r.hash, trustProxyHops: r.trustProxyHops, edgeSet, usable, hooks: runner, balance })(requestOf(r));
        const viaRaw = decisionWithoutHooks({ hash: r.hash, trustProxyHops: r.trustProxyHops, edgeSet, usable, balance, healthChanges: () => 0 })(r.stream, r.peer, r.forwardedFor);
        assert.equal(viaRaw?.id, viaHono?.id);
      }
    },
  ), { numRuns: RUNS });
  assert.ok(active > RUNS / 10, `bounded loads passed clients on in ${active} of ${RUNS} runs`);
});
