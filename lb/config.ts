// What createLb may be given (LbConfig), its defaults (LB_DEFAULTS, which `cascade lb`'s option spec and
// help also read) and the settings the LB runs with: every default resolved once, before any request.
import type { MiddlewareHandler } from 'hono';
import type { AccessConfig } from '../src/access.js';
import { DEFAULT_REDIS_PREFIX } from '../src/control-plane.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../src/hooks.js';
import { silentLogger, type Logger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import type { HashBy } from './client-key.js';
import type { EdgeGroup } from './edge-groups.js';
import type { EdgeSpec } from './edges.js';
import type { HealthOptions } from './health.js';
import type { LbHooks } from './hooks.js';

export interface LbConfig {
  edges?: readonly EdgeSpec[];
  hash?: HashBy;
  /** How many proxies in front of the LB append to X-Forwarded-For; 0 ignores the header. */
  trustProxyHops?: number;
  redirectCode?: 302 | 307;
  health?: Partial<HealthOptions>;
  redis?: { url: string; prefix?: string; pollMs?: number };
  /** Seconds a player should wait after a 503. */
  retryAfter?: number;
  /** Client networks routed to their own edges (a built-in selectEdges; a selectEdges hook replaces it). */
  edgeGroups?: EdgeGroup[];
  /** Origin base URLs whose `/api/streams` the dashboard and the player pages show (lb/streams.ts). */
  origins?: readonly string[];
  /** Epsilon of the bounded loads (lb/balance.ts): no edge above (1 + epsilon) x its weighted share of viewers; 0 = off. */
  balanceFactor?: number;
  /** Signed URLs, the new-session rate per client, its allow-list (docs/access.md). */
  access?: AccessConfig;
  /** Give each new player a session token in the redirect; on whenever `access.rate` is set. */
  sessionTokens?: boolean;
  hooks?: LbHooks;
  hookTimeoutMs?: number;
  /** Hono middleware from the config file, run before the routes. */
  use?: MiddlewareHandler[];
  log?: Logger;
  metrics?: Metrics;
}

export const LB_DEFAULTS = Object.freeze({
  port: 8080,
  hash: 'client' as HashBy,
  /** createLb ignores X-Forwarded-For unless told how many proxies append to it. */
  trustProxyHops: 0,
  redirectCode: 302 as 302 | 307,
  health: Object.freeze({ intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 2 } satisfies HealthOptions),
  redisPrefix: DEFAULT_REDIS_PREFIX,
  // docs/contract.md, "Redis": a plain HSET applies within 1 second.
  redisPollMs: 500,
  retryAfter: 2,
  /** `--session-rate 50` without a window: per 10 s, the CCC's haproxy rule. */
  sessionRateWindowMs: 10_000,
  hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
  /** haproxy's hash-balance-factor 125 is 0.25 here. */
  balanceFactor: 0.25,
});

export interface LbSettings {
  edges: readonly EdgeSpec[];
  hash: HashBy;
  trustProxyHops: number;
  redirectCode: 302 | 307;
  health: HealthOptions;
  redis: { url: string; prefix: string; pollMs: number } | undefined;
  /** Already the header value. */
  retryAfter: string;
  edgeGroups: readonly EdgeGroup[];
  origins: readonly string[];
  balanceFactor: number;
  access: AccessConfig;
  sessionTokens: boolean;
  hookTimeoutMs: number;
  log: Logger;
  metrics: Metrics;
}

export function lbSettings(config: LbConfig): LbSettings {
  return {
    edges: config.edges ?? [],
    hash: config.hash ?? LB_DEFAULTS.hash,
    trustProxyHops: config.trustProxyHops ?? LB_DEFAULTS.trustProxyHops,
    redirectCode: config.redirectCode ?? LB_DEFAULTS.redirectCode,
    health: { ...LB_DEFAULTS.health, ...config.health },
    redis: config.redis && {
      url: config.redis.url,
      prefix: config.redis.prefix ?? LB_DEFAULTS.redisPrefix,
      pollMs: config.redis.pollMs ?? LB_DEFAULTS.redisPollMs,
    },
    retryAfter: String(config.retryAfter ?? LB_DEFAULTS.retryAfter),
    edgeGroups: config.edgeGroups ?? [],
    origins: config.origins ?? [],
    balanceFactor: config.balanceFactor ?? LB_DEFAULTS.balanceFactor,
    access: config.access ?? {},
    sessionTokens: (config.sessionTokens ?? false) || config.access?.rate !== undefined,
    hookTimeoutMs: config.hookTimeoutMs ?? LB_DEFAULTS.hookTimeoutMs,
    log: config.log ?? silentLogger,
    metrics: config.metrics ?? new Metrics({ role: 'lb' }),
  };
}
