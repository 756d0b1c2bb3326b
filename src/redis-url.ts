// What `--redis` accepts, in one place: a plain `redis://` / `rediss://` URL (ioredis reads it as it is), or
// `redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/<master>[?db=N&sentinelPassword=P]`, a
// Sentinel deployment: the roles ask the sentinels where the primary is and follow it when they fail over.
// The option parser, the role connections and the ops commands all take the URL through here, so no command
// accepts a URL another one refuses. Not a WHATWG URL: a host list with ports (`a:26379,b:26379`) has none.
import type { RedisOptions } from 'ioredis';

/** Sentinel's own default port. */
export const SENTINEL_PORT = 26379;
/** More sentinels than anyone runs (a quorum of 3 or 5); a longer list is a mistake, not a deployment. */
const MAX_SENTINELS = 16;
const MASTER_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HOST_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})$/;

export type RedisTarget =
  | { kind: 'direct'; url: string }
  | {
    kind: 'sentinel';
    sentinels: { host: string; port: number }[];
    /** The master group name the sentinels monitor. */
    name: string;
    username?: string;
    password?: string;
    sentinelPassword?: string;
    db: number;
  };

/** Parses a `--redis` value; throws an Error whose message says what is wrong with it. */
export function parseRedisUrl(text: string): RedisTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') {
    if (!URL.canParse(text)) throw new Error(`not a URL: '${redactRedisUrl(text)}'`);
    return { kind: 'direct', url: text };
  }
  if (scheme !== 'redis-sentinel') throw new Error(`expected redis://, rediss:// or redis-sentinel://, got '${redactRedisUrl(text)}'`);
  const rest = text.slice('redis-sentinel://'.length);
  const slash = rest.indexOf('/');
  if (slash === -1) throw new Error("redis-sentinel:// needs the master's name: redis-sentinel://host:port,host:port/mymaster");
  const authority = rest.slice(0, slash);
  const [path = '', query = ''] = rest.slice(slash + 1).split('?', 2);
  const at = authority.lastIndexOf('@');
  const target: Extract<RedisTarget, { kind: 'sentinel' }> = { kind: 'sentinel', sentinels: [], name: decodeURIComponent(path), db: 0 };
  if (at !== -1) {
    const [user = '', password] = authority.slice(0, at).split(/:(.*)/s, 2);
    if (user) target.username = decodeURIComponent(user);
    if (password) target.password = decodeURIComponent(password);
  }
  for (const entry of authority.slice(at + 1).split(',')) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(entry);
    const port = m?.[2] === undefined ? SENTINEL_PORT : Number(m[2]);
    if (!m || !HOST_RE.test(m[1]!) || port < 1 || port > 65535) throw new Error(`bad sentinel address '${entry}' (expected host[:port])`);
    target.sentinels.push({ host: m[1]!.replace(/^\[|\]$/g, ''), port });
  }
  if (target.sentinels.length > MAX_SENTINELS) throw new Error(`more than ${MAX_SENTINELS} sentinels`);
  if (!MASTER_NAME_RE.test(target.name)) throw new Error(`bad master name '${path}' (expected [A-Za-z0-9._-], as in sentinel.conf)`);
  for (const [key, value] of new URLSearchParams(query)) {
    if (key === 'db' && /^\d{1,5}$/.test(value)) target.db = Number(value);
    else if (key === 'sentinelPassword') target.sentinelPassword = value;
    else throw new Error(`unknown or bad parameter '${key}=${value}' (known: db=N, sentinelPassword=P)`);
  }
  return target;
}

/** The URL with its passwords masked, for logs and error messages. */
export function redactRedisUrl(text: string): string {
  return text
    .replace(/^([a-z-]+:\/\/[^:@/]*:)[^@/]*@/i, '$1***@')
    .replace(/([?&]sentinelPassword=)[^&]*/, '$1***');
}

/**
 * How ioredis reaches the primary. With sentinels, `failoverDetector` makes the client subscribe to the
 * sentinels' `+switch-master` and reconnect at once, rather than whenever its connection to the old
 * primary happens to break (a demoted primary that stays up would otherwise keep answering READONLY).
 */
export function redisConnection(target: RedisTarget, options: { failoverDetector?: boolean } = {}): { url?: string; options: RedisOptions } {
  if (target.kind === 'direct') return { url: target.url, options: {} };
  const { sentinels, name, username, password, sentinelPassword, db } = target;
  return {
    options: {
      sentinels, name, db,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
      // A sentinel that accepts the connection and then hangs must not hold up asking the next one.
      sentinelCommandTimeout: 1000,
      failoverDetector: options.failoverDetector ?? false,
    },
  };
}
