// The edge's hooks, each declared once: its context type, the check of what it returns, and the
// built-in decision that stands when it is absent or returns undefined, in phase order
// (docs/hooks.md). `EdgeHookPhases` runs them; src/hooks.ts only knows how to call a hook.
import type { CachedObject } from './cache-store.js';
import type { CacheOutcome } from './outcome.js';
import type { Reply } from './respond.js';
import { checkRelativePath } from '../src/stream-path.js';
import { createHookRunner, isOptionalString, isUndefined, type Awaitable, type BaseContext, type HookRunner, type HookSpecs } from '../src/hooks.js';
import type { Logger } from '../src/log.js';
import type { Metrics } from '../src/metrics.js';

// ---- request: answer, deny or rewrite before anything is cached or fetched. Built in: none. -------

export interface EdgeRequestContext extends BaseContext {
  stream: string;
  path: string;
  /** The query string the edge would use (without '?'), may be rewritten by returning { path, query }. */
  query: string;
  edgeId: string;
}

/** What `request` may decide before the cache: answer, deny, rewrite, or nothing (undefined). */
export type EdgeRequestDecision =
  | undefined
  | Response
  | { deny: number; message?: string }
  | { path?: string; query?: string };

function isRequestDecision(v: unknown): boolean {
  if (v === undefined || v instanceof Response) return true;
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  if ('deny' in d) return Number.isInteger(d.deny) && (d.deny as number) >= 400 && (d.deny as number) <= 599 && (d.message === undefined || typeof d.message === 'string');
  return (d.path === undefined || (typeof d.path === 'string' && checkRelativePath(d.path) === undefined)) &&
    (d.query === undefined || typeof d.query === 'string');
}

// ---- cacheKey: the key the object is stored under. Built in: the path plus --cache-key-params. ------

export interface CacheKeyContext extends BaseContext {
  stream: string;
  path: string;
  /** The built-in key: path plus the _HLS_ parameters. */
  defaultKey: string;
}

// ---- selectOrigin: the origins to try, in order, for a fetch that goes upstream. -------------------
// Built in: the configured order, failing origins last. Only configured origins may be named: the
// edge is never a proxy to anywhere else.

export interface OriginCandidate {
  url: string;
  healthy: boolean;
}

export interface SelectOriginContext extends BaseContext {
  stream: string;
  path: string;
  /** The configured origins in order; the edge tries them in the order returned. */
  origins: OriginCandidate[];
}

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, '');

/** The shape; which origins are configured is the running edge's to check (EdgeHookPhases). */
const isOriginList = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string'));

// ---- ttl: the freshness lifetime of a response about to be stored. Built in: RFC 9111, else the HLS
// defaults (edge/freshness.ts). A failing ttl hook means "do not store": the response already went out.

export interface TtlContext {
  stream: string;
  path: string;
  status: number;
  headers: Headers;
  /** The built-in freshness lifetime (ms). */
  defaultTtlMs: number;
  log: Logger;
}

const isOptionalTtl = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);

// ---- response: headers on the way out. Built in: none. ---------------------------------------------

export interface EdgeResponseContext extends BaseContext {
  stream: string;
  path: string;
  status: number;
  /** Response headers on the way out; change them in place. */
  headers: Headers;
  cache: string;
}

export interface EdgeHooks {
  request?(ctx: EdgeRequestContext): Awaitable<EdgeRequestDecision>;
  cacheKey?(ctx: CacheKeyContext): Awaitable<string | undefined>;
  selectOrigin?(ctx: SelectOriginContext): Awaitable<string[] | undefined>;
  /** Freshness lifetime in ms for this response (0 = do not cache), undefined keeps the default. */
  ttl?(ctx: TtlContext): Awaitable<number | undefined>;
  response?(ctx: EdgeResponseContext): Awaitable<void>;
}

/** Each hook's return check, in phase order; the names a config file may use are these keys. */
export const EDGE_HOOKS: HookSpecs<EdgeHooks> = {
  request: { valid: isRequestDecision },
  cacheKey: { valid: isOptionalString },
  selectOrigin: { valid: isOriginList },
  ttl: { valid: isOptionalTtl },
  response: { valid: isUndefined },
};
const EDGE_HOOK_NAMES = Object.keys(EDGE_HOOKS) as (keyof EdgeHooks)[];

/** The request a hook is asked about: what every request-time context starts with. */
export interface HookedRequest extends BaseContext {
  stream: string;
  path: string;
}

export interface EdgeHookPhasesOptions {
  timeoutMs: number;
  log: Logger;
  metrics: Metrics;
  edgeId: string;
  /** Whether selectOrigin named one of the configured origins. */
  isConfiguredOrigin: (url: string) => boolean;
}

/**
 * The edge's hook phases. Each returns the built-in decision when its hook is absent, without building
 * a context; each throws HookFailed (already logged and counted) when its hook fails.
 */
export class EdgeHookPhases {
  private readonly runner: HookRunner<EdgeHooks>;
  /** selectOrigin may only name configured origins: the edge is never a proxy to anywhere else. */
  private readonly isOriginChoice: (v: unknown) => boolean;
  /** Whether any hook is configured: they must see every request, so the fast hit path is off. */
  readonly any: boolean;

  constructor(hooks: EdgeHooks | undefined, private readonly options: EdgeHookPhasesOptions) {
    this.runner = createHookRunner('edge', hooks, options);
    this.isOriginChoice = (v) => EDGE_HOOKS.selectOrigin.valid(v) &&
      (v === undefined || (v as string[]).every((url) => options.isConfiguredOrigin(withoutTrailingSlash(url))));
    this.any = EDGE_HOOK_NAMES.some((name) => this.runner.has(name));
  }

  has(name: keyof EdgeHooks): boolean {
    return this.runner.has(name);
  }

  async request(req: HookedRequest, query: string): Promise<EdgeRequestDecision> {
    if (!this.runner.has('request')) return undefined;
    return this.runner.call('request', { ...req, query, edgeId: this.options.edgeId }, EDGE_HOOKS.request.valid);
  }

  async cacheKey(req: HookedRequest, defaultKey: string): Promise<string> {
    if (!this.runner.has('cacheKey')) return defaultKey;
    return (await this.runner.call('cacheKey', { ...req, defaultKey }, EDGE_HOOKS.cacheKey.valid)) ?? defaultKey;
  }

  /** The origins to try in order, or undefined for the pool's own order. */
  async selectOrigin(req: HookedRequest, candidates: () => OriginCandidate[]): Promise<string[] | undefined> {
    if (!this.runner.has('selectOrigin')) return undefined;
    const chosen = await this.runner.call('selectOrigin', { ...req, origins: candidates() }, this.isOriginChoice);
    return chosen?.map(withoutTrailingSlash);
  }

  /** The freshness lifetime to store `obj` with (the cache calls it only when the hook is set: has('ttl')). */
  async ttl(target: { stream: string; path: string }, obj: CachedObject, defaultTtlMs: number): Promise<number> {
    if (!this.runner.has('ttl')) return defaultTtlMs;
    const ctx = { stream: target.stream, path: target.path, status: obj.status, headers: new Headers(obj.headers), defaultTtlMs, log: this.options.log.child({ stream: target.stream }) };
    return (await this.runner.call('ttl', ctx, EDGE_HOOKS.ttl.valid)) ?? defaultTtlMs;
  }

  /** Lets the response hook edit `reply`'s headers (Set-Cookie lines included) in place. */
  async response(req: HookedRequest, reply: Reply, outcome: CacheOutcome): Promise<void> {
    if (!this.runner.has('response')) return;
    const headers = new Headers(reply.headers);
    for (const line of reply.setCookie ?? []) headers.append('set-cookie', line);
    await this.runner.call('response', { ...req, status: reply.status, headers, cache: outcome }, EDGE_HOOKS.response.valid);
    const cookies = headers.getSetCookie();
    headers.delete('set-cookie');
    reply.headers = {};
    headers.forEach((value, name) => { reply.headers[name] = value; });
    if (cookies.length > 0) reply.setCookie = cookies;
    else delete reply.setCookie;
  }
}
