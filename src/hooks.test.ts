import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from './log.js';
import { Metrics } from './metrics.js';
import { createHookRunner, isOptionalString, type Awaitable } from './hooks.js';

// A role's hooks in miniature (the runner knows no role's hooks; the LB's look like these).
interface HashKeyContext {
  stream: string;
  defaultKey: string;
}
interface LbHooks {
  hashKey?(ctx: HashKeyContext): Awaitable<string | undefined>;
  selectEdges?(ctx: HashKeyContext): Awaitable<string[] | undefined>;
}

const options = () => ({ timeoutMs: 1000, log: silentLogger, metrics: new Metrics({}, false) });
const ctx: HashKeyContext = { stream: 's', defaultKey: 'k' };

test('hooks are called as methods: state and helpers on `this` work, in plain objects and class instances', async () => {
  const plain = {
    prefix: 'p-',
    calls: 0,
    hashKey(c: HashKeyContext) {
      this.calls++;
      return this.prefix + c.stream;
    },
  };
  const runner = createHookRunner<LbHooks>('lb', plain, options());
  assert.equal(await runner.call('hashKey', ctx, isOptionalString), 'p-s');
  assert.equal(plain.calls, 1);

  class Sticky implements LbHooks {
    #seen = new Map<string, number>();
    hashKey(c: HashKeyContext) {
      return `${c.stream}#${this.#bump(c.stream)}`;
    }
    #bump(key: string) {
      const n = (this.#seen.get(key) ?? 0) + 1;
      this.#seen.set(key, n);
      return n;
    }
  }
  const instance = createHookRunner<LbHooks>('lb', new Sticky(), options());
  assert.equal(instance.has('hashKey'), true, 'a method on the prototype counts');
  assert.equal(await instance.call('hashKey', ctx, isOptionalString), 's#1');
  assert.equal(await instance.call('hashKey', ctx, isOptionalString), 's#2');
});

test('built-in hooks fill in where the operator has none, and are never mixed into their object', async () => {
  const builtIn: LbHooks = { hashKey: () => 'built-in', selectEdges: () => ['e1'] };
  const operator = { tag: 'op', hashKey(this: { tag: string }) { return this.tag; } };
  const runner = createHookRunner<LbHooks>('lb', operator, options(), builtIn);
  assert.equal(await runner.call('hashKey', ctx, isOptionalString), 'op');
  assert.deepEqual(await runner.call('selectEdges', ctx, () => true), ['e1']);
  assert.deepEqual(Object.keys(operator), ['tag', 'hashKey']);
  assert.equal(createHookRunner<LbHooks>('lb', undefined, options(), builtIn).has('selectEdges'), true);
  assert.equal(createHookRunner<LbHooks>('lb', undefined, options()).has('selectEdges'), false);
});
