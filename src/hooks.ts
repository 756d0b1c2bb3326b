// Hooks: operator code that changes a role's decisions at fixed phases (Pingora's ProxyHttp phases and
// Varnish's subroutines are the model). Each hook is named after the decision it makes, may be async,
// and gets a typed context. A hook that throws, times out or returns something of the wrong shape fails
// that one request with a 5xx, a log line and a metric; the default decision is never silently replaced.
import type { MiddlewareHandler } from 'hono';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export type Awaitable<T> = T | Promise<T>;

/** What every hook's context has (a role's hook contexts extend it). */
export interface BaseContext {
  /** The incoming request (read-only by convention). */
  request: Request;
  log: Logger;
}

/** How long a hook may take before its request fails (ms; `--hook-timeout`). */
export const DEFAULT_HOOK_TIMEOUT_MS = 1000;

/**
 * One hook as its role declares it, beside its context type (`<role>/hooks.ts`): the check of what it
 * returned. What applies without the hook (its default) is said there too.
 */
export interface HookSpec {
  valid(value: unknown): boolean;
}

/** Every hook of a role (H: its hooks interface), declared once: the names are these keys. */
export type HookSpecs<H> = { readonly [K in keyof H]-?: HookSpec };

export type RoleName = 'origin' | 'edge' | 'lb';

/** What a `--config` module exports (as default export or as named exports) for a role whose hooks are H. */
export interface RoleConfigModule<H> {
  /** Options by their CLI name (`cache-size`) or camelCase (`cacheSize`); flags and env win over these. */
  options?: Record<string, unknown>;
  hooks?: H;
  /** Hono middleware run before the role's own routes (auth, logging, rate limits). */
  use?: MiddlewareHandler[];
}

export class HookFailed extends Error {
  override name = 'HookFailed';
  constructor(readonly hook: string, readonly reason: 'threw' | 'timeout' | 'invalid', message: string) {
    super(message);
  }
}

export interface HookRunner<H> {
  has(name: keyof H & string): boolean;
  /**
   * Calls a hook; `valid` checks the shape of what it returned. Throws HookFailed (already logged and
   * counted) when it throws, times out or returns something invalid.
   */
  call<K extends keyof H & string>(
    name: K,
    ctx: H[K] extends ((ctx: infer C) => unknown) | undefined ? C : never,
    valid: (value: unknown) => boolean,
  ): Promise<H[K] extends ((ctx: never) => Awaitable<infer T>) | undefined ? T : never>;
}

/**
 * Runs a role's hooks. They are called as methods of the object they came in (`hooks.hashKey(ctx)`), so
 * a hook object or class instance may keep state and helpers on `this`. `builtIn` hooks (e.g. the LB's
 * CIDR edge groups) apply where the operator's object has none; they never get mixed into it.
 */
export function createHookRunner<H extends object>(role: RoleName, hooks: H | undefined, options: { timeoutMs: number; log: Logger; metrics: Metrics }, builtIn: Partial<H> = {}): HookRunner<H> {
  const failures = options.metrics.counter('hook_failures_total', 'Hook calls that threw, timed out or returned an invalid value', ['role', 'hook', 'reason']);
  type Table = Record<string, ((ctx: unknown) => unknown) | undefined>;
  const ownerOf = (name: string): Table | undefined =>
    [hooks as Table | undefined, builtIn as Table].find((t) => typeof t?.[name] === 'function');
  return {
    has: (name) => ownerOf(name) !== undefined,
    async call(name, ctx, valid) {
      const owner = ownerOf(name)!;
      let timer: NodeJS.Timeout | undefined;
      const fail = (reason: HookFailed['reason'], message: string): never => {
        failures.inc({ role, hook: name, reason });
        options.log.error('hook_failed', { hook: name, reason, msg: message });
        throw new HookFailed(name, reason, `hook ${name} ${message}`);
      };
      let value: unknown;
      try {
        value = await Promise.race([
          Promise.resolve().then(() => owner[name]!(ctx)),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new HookTimeout()), options.timeoutMs); }),
        ]);
      } catch (err) {
        if (err instanceof HookTimeout) fail('timeout', `timed out after ${options.timeoutMs} ms`);
        fail('threw', `threw: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        clearTimeout(timer);
      }
      if (!valid(value)) fail('invalid', `returned an invalid value: ${describe(value)}`);
      return value as never;
    },
  };
}

class HookTimeout extends Error {}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value)?.slice(0, 100) ?? String(value);
  } catch {
    return typeof value;
  }
}

export const isOptionalString = (v: unknown): boolean => v === undefined || typeof v === 'string';
export const isUndefined = (v: unknown): boolean => v === undefined;
