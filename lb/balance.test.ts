// Bounded loads (lb/balance.ts with Selector.pickBounded) in a simulation of players: thousands of clients,
// a hot spot from one edge group's network, each player reloading through the LB every few seconds (and so
// moving only at its next reload), and edges reporting viewers over their window, so a player that moved
// still counts at its old edge for a while. The LB sees only those reports. Goal (issue 15): every edge at
// or below (1 + epsilon) x its weighted share, and no more than 5 points more clients moved than the
// minimum — the total-variation argument of docs/lb.md: whatever an edge holds above its bound must move,
// so the least any scheme moves is the sum of the excesses of the unbounded assignment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { silentLogger } from '../src/log.js';
import { BALANCE_RULES, BoundedLoads, waterFill } from './balance.js';
import { cidrGroups, type EdgeGroup } from './edge-groups.js';
import { Selector } from './selector.js';
import { clientKeys } from './selector-eval.js';

interface Scenario {
  weights: Record<string, number>;
  /** Edges of the group whose network is the hot spot. */
  group: string[];
  /** Share of all clients that come from the group's network. */
  hot: number;
  epsilon: number;
  clients: number;
}

interface Outcome {
  /** Each edge's final share over its weighted share. */
  ratios: Record<string, number>;
  /** One client as such a ratio, per edge: the bound allows one viewer of noise (as the controller does). */
  oneClient: Record<string, number>;
  moved: number;
  minimum: number;
  /** Times the spill fractions changed, and the last time (ms). */
  changes: number;
  lastChangeAt: number;
}

const WINDOW_MS = 10_000;
const RELOAD_MS = 2_000;
const STEP_MS = 500;

/**
 * Runs the LB's controller against simulated players for `durationMs`. Each client reloads every RELOAD_MS
 * at its own phase and takes the LB's current choice then; an edge reports the distinct clients that
 * reloaded from it within WINDOW_MS, every second, and the LB reads them every STEP_MS.
 */
function simulate(s: Scenario, durationMs = 240_000, noise = 0): Outcome {
  const edges = Object.entries(s.weights).map(([id, weight]) => ({ id, weight }));
  const selector = new Selector(edges);
  const groups: EdgeGroup[] = s.group.length ? [{ name: 'venue', edges: s.group, cidrs: ['10.1.0.0/16'] }] : [];
  const selectEdges = cidrGroups(groups);
  const hotCount = Math.round(s.clients * s.hot);
  const keys = [
    ...Array.from({ length: hotCount }, (_, i) => `10.1.${i >> 8}.${i & 255}`),
    ...clientKeys(s.clients - hotCount),
  ];
  const candidates = edges.map((e) => ({ id: e.id, url: `http://${e.id}`, weight: e.weight, healthy: true }));
  const preferred = keys.map((clientAddress) => {
    const chosen = selectEdges({ clientAddress, edges: candidates, stream: 'demo', request: new Request('http://lb/'), log: silentLogger }) as string[] | undefined;
    const set = new Set(chosen ?? edges.map((e) => e.id));
    return (e: { id: string }) => set.has(e.id);
  });
  let now = 0;
  const balance = new BoundedLoads(s.epsilon, () => now);
  const assign = () => keys.map((k, i) => selector.pickBounded(k, preferred[i]!, () => true, (e) => balance.spill(e.id), (e) => balance.room(e.id))!.id);
  // The assignment in force from each time on: recomputed only when a fraction changes.
  const epochs: { from: number; edgeOf: string[] }[] = [{ from: -Infinity, edgeOf: assign() }];
  const phase = keys.map((_, i) => (Math.imul(i + 1, 2654435761) >>> 0) % RELOAD_MS);
  const edgeAt = (client: number, t: number) => {
    let e = epochs.length - 1;
    while (epochs[e]!.from > t) e--;
    return epochs[e]!.edgeOf[client]!;
  };
  let reports = new Map<string, number>();
  const epochCounts = new Map<number, Map<string, number>>();
  let changes = 0;
  let lastChangeAt = 0;
  let spills = '';
  for (now = 0; now <= durationMs; now += STEP_MS) {
    if (now % 1000 === 0) {
      // Each edge's report: the clients whose reloads within the window reached it (while no change is
      // within a window and a reload of now, that is where each client is now: counted once per epoch).
      const settled = epochs.at(-1)!.from <= now - WINDOW_MS - RELOAD_MS;
      let counts = settled ? epochCounts.get(epochs.length) : undefined;
      if (!counts) {
        counts = new Map<string, number>();
        for (let c = 0; c < keys.length; c++) {
          const seen = new Set<string>();
          for (let r = now - ((now - phase[c]! + RELOAD_MS * 1000) % RELOAD_MS); r > now - WINDOW_MS && r >= 0; r -= RELOAD_MS) seen.add(edgeAt(c, r));
          for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
        }
        if (settled) epochCounts.set(epochs.length, counts);
      }
      reports = new Map([...counts].map(([id, n]) => [id, Math.max(0, Math.round(n * (1 + noise * Math.sin(now / 1000 + id.length * 7 + n))))]));
    }
    balance.observe(edges.map((e) => ({ ...e, usable: true, viewers: reports.get(e.id) ?? 0, windowMs: WINDOW_MS })));
    const nowSpills = edges.map((e) => balance.spill(e.id)).join();
    if (nowSpills !== spills) {
      if (spills !== '') {
        changes++;
        lastChangeAt = now;
      }
      spills = nowSpills;
      epochs.push({ from: now, edgeOf: assign() });
    }
  }
  const base = epochs[0]!.edgeOf;
  const final = epochs.at(-1)!.edgeOf;
  const totalWeight = edges.reduce((sum, e) => sum + e.weight, 0);
  const share = (list: string[], id: string) => list.filter((x) => x === id).length / list.length;
  let minimum = 0;
  for (const e of edges) minimum += Math.max(0, share(base, e.id) - ((1 + s.epsilon) * e.weight) / totalWeight);
  return {
    ratios: Object.fromEntries(edges.map((e) => [e.id, share(final, e.id) / (e.weight / totalWeight)])),
    oneClient: Object.fromEntries(edges.map((e) => [e.id, 1 / keys.length / (e.weight / totalWeight)])),
    moved: final.filter((id, i) => id !== base[i]).length / final.length,
    minimum,
    changes,
    lastChangeAt,
  };
}

const describe = (s: Scenario, o: Outcome) =>
  `${JSON.stringify(s)}: ratios ${Object.entries(o.ratios).map(([id, r]) => `${id} ${r.toFixed(3)}`).join(', ')}; moved ${(o.moved * 100).toFixed(2)}% vs minimum ${(o.minimum * 100).toFixed(2)}%; ${o.changes} changes`;

function assertGoal(s: Scenario, o: Outcome): void {
  for (const [id, ratio] of Object.entries(o.ratios)) assert.ok(ratio <= 1 + s.epsilon + o.oneClient[id]!, `${id} within its bound: ${describe(s, o)}`);
  assert.ok(o.moved <= o.minimum + 0.05, `moved at most 5 points above the minimum: ${describe(s, o)}`);
}

test('the hot spot of issue 15: a third of all players from one group\'s network; every edge <= 1.25 x its share, moves <= minimum + 5 points', () => {
  const scenario: Scenario = { weights: { e1: 100, e2: 100, e3: 100, e4: 100, e5: 100 }, group: ['e1'], hot: 1 / 3, epsilon: 0.25, clients: 6000 };
  const outcome = simulate(scenario);
  console.log(describe(scenario, outcome));
  assert.ok(outcome.minimum > 0.08, 'the hot spot is over its bound without balancing');
  assertGoal(scenario, outcome);
  assert.ok(outcome.changes <= 2, `settled in few steps: ${outcome.changes}`);
});

test('property: over random weights, groups, hot spots and factors, the goal holds and the fractions settle', () => {
  const scenarioArb = fc.record({
    weights: fc.array(fc.integer({ min: 50, max: 200 }), { minLength: 3, maxLength: 7 })
      .map((ws) => Object.fromEntries(ws.map((w, i) => [`e${i + 1}`, w]))),
    groupSize: fc.integer({ min: 1, max: 3 }),
    hot: fc.double({ min: 0.05, max: 0.6, noNaN: true }),
    epsilon: fc.constantFrom(0.1, 0.25, 0.5),
  }).map(({ weights, groupSize, hot, epsilon }): Scenario => {
    const ids = Object.keys(weights);
    return { weights, group: ids.slice(0, Math.min(groupSize, ids.length - 1)), hot, epsilon, clients: 2000 };
  });
  fc.assert(fc.property(scenarioArb, (scenario) => {
    const outcome = simulate(scenario, 200_000);
    assertGoal(scenario, outcome);
    assert.ok(outcome.lastChangeAt <= 120_000, `settled: ${describe(scenario, outcome)}`);
  }), { numRuns: 40 });
});

test('reports that wobble by ±3% every second move nobody once settled (hysteresis)', () => {
  const scenario: Scenario = { weights: { e1: 100, e2: 100, e3: 100, e4: 100 }, group: ['e1', 'e2'], hot: 1 / 3, epsilon: 0.25, clients: 4000 };
  const outcome = simulate(scenario, 240_000, 0.03);
  assertGoal(scenario, outcome);
  assert.ok(outcome.lastChangeAt <= 60_000, `no change after settling: ${describe(scenario, outcome)}`);
});

test('no hot spot, no move: balanced weights leave every fraction at 0', () => {
  const scenario: Scenario = { weights: { e1: 100, e2: 50, e3: 150 }, group: [], hot: 0, epsilon: 0.25, clients: 4000 };
  const outcome = simulate(scenario, 60_000);
  assert.equal(outcome.moved, 0);
  assert.equal(outcome.changes, 0);
});

test('waterFill: own clients over aim x bound are passed on, the others get room for them in proportion', () => {
  const aim = BALANCE_RULES.aim;
  // From scratch: a holds 300 of its own against a bound of 200; b and c have room.
  const first = waterFill([{ viewers: 300, bound: 200, spill: 0, room: 0 }, { viewers: 50, bound: 200, spill: 0, room: 0 }, { viewers: 100, bound: 200, spill: 0, room: 0 }]);
  assert.equal(first[0]!.spill, Math.round((1 - (aim * 200) / 300) * 1000) / 1000);
  assert.deepEqual(first.slice(1), [{ spill: 0, room: Math.round(aim * 200 - 50) }, { spill: 0, room: Math.round(aim * 200 - 100) }]);
  // Where that state led (a kept aim x bound; b and c took the rest by room): the same state again.
  const passed = 300 - aim * 200;
  const [rb, rc] = [first[1]!.room, first[2]!.room];
  const again = waterFill([
    { viewers: 300 * (1 - first[0]!.spill), bound: 200, spill: first[0]!.spill, room: 0 },
    { viewers: 50 + (passed * rb) / (rb + rc), bound: 200, spill: 0, room: rb },
    { viewers: 100 + (passed * rc) / (rb + rc), bound: 200, spill: 0, room: rc },
  ]);
  assert.equal(again[0]!.spill, first[0]!.spill);
  assert.deepEqual(again.map((e) => e.room), first.map((e) => e.room));
  // Nobody over: nothing passed on.
  assert.deepEqual(waterFill([{ viewers: 100, bound: 200, spill: 0, room: 0 }]).map((e) => e.spill), [0]);
  assert.ok(waterFill([{ viewers: 1e6, bound: 1, spill: 0, room: 0 }])[0]!.spill <= BALANCE_RULES.maxSpill);
});

test('the controller: off at epsilon 0, waits out a change of the edge set, and holds after every change', () => {
  let now = 0;
  const off = new BoundedLoads(0, () => now);
  off.observe([{ id: 'a', weight: 100, usable: true, viewers: 1000, windowMs: 1000 }, { id: 'b', weight: 100, usable: true, viewers: 10, windowMs: 1000 }]);
  now = 60_000;
  off.observe([{ id: 'a', weight: 100, usable: true, viewers: 1000, windowMs: 1000 }, { id: 'b', weight: 100, usable: true, viewers: 10, windowMs: 1000 }]);
  assert.equal(off.active, false);
  assert.equal(off.view('a')?.over, true, 'the view still says who is over');

  const b = new BoundedLoads(0.25, () => now);
  const read = (a: number, c: number, weightB = 100) => b.observe([
    { id: 'a', weight: 100, usable: true, viewers: a, windowMs: 1000 },
    { id: 'b', weight: weightB, usable: true, viewers: c, windowMs: 1000 },
  ]);
  now = 0;
  read(300, 100);
  assert.equal(b.active, false, 'a new edge set: held until players arrive');
  now = 4_999;
  read(300, 100);
  assert.equal(b.active, false, 'hold: two windows plus the margin');
  now = 5_000;
  read(300, 100);
  assert.ok(b.spill('a') > 0 && b.spill('b') === 0 && b.room('b') > 0, 'a over its bound passes clients on, to b');
  const first = b.spill('a');
  now = 6_000;
  read(400, 100);
  assert.equal(b.spill('a'), first, 'held after a change, whatever the next report says');
  now = 11_000;
  read(200, 200, 50);
  assert.equal(b.spill('a'), first, 'a weight changed: held again');
  const view = b.view('b')!;
  assert.deepEqual({ ...view, bound: Math.round(view.bound * 1e9) / 1e9 }, { loadShare: 0.5, fairShare: 50 / 150, bound: Math.round((1.25 * 50 / 150) * 1e9) / 1e9, over: true, spill: 0 });
});

test('property: whatever the reports say (zero, huge, missing, edges coming and going), the state stays in range', () => {
  // A fixed edge set per run, so the controller gets past its holds (in about 60% of the runs some edge
  // passes clients on); now and then a report is missing or an edge unusable, which changes the set.
  const edgesArb = fc.uniqueArray(fc.record({ id: fc.constantFrom('a', 'b', 'c', 'd'), weight: fc.integer({ min: 1, max: 1_000_000 }) }), { selector: (e) => e.id, minLength: 2, maxLength: 4 });
  const viewersArb = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 1e8 }) }, { weight: 1, arbitrary: fc.constant(undefined) });
  fc.assert(fc.property(edgesArb, fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.array(viewersArb, { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 20 })), { maxLength: 40 }),
    fc.constantFrom(0, 0.1, 0.25, 3), (edges, steps, epsilon) => {
      let now = 0;
      let active = false;
      const b = new BoundedLoads(epsilon, () => now);
      for (const [dt, viewers, down] of steps) {
        now += dt;
        b.observe(edges.map((e, i) => ({ ...e, usable: down !== i, viewers: viewers[i], windowMs: 1000 })));
        active ||= b.active;
        for (const { id } of edges) {
          const spill = b.spill(id);
          assert.ok(spill >= 0 && spill <= BALANCE_RULES.maxSpill, `spill ${spill}`);
          assert.ok(Number.isFinite(b.room(id)) && b.room(id) >= 0, `room ${b.room(id)}`);
          const view = b.view(id);
          if (view) assert.ok([view.loadShare, view.fairShare, view.bound].every((x) => Number.isFinite(x) && x >= 0), JSON.stringify(view));
        }
      }
      if (epsilon === 0) assert.equal(active, false);
    }), { numRuns: 300 });
});
